package config

import (
	"strings"
	"testing"
	"time"
)

func TestRoutePolicyDefaultsAndOverrides(t *testing.T) {
	doc := `
server: {body_timeout: 7s, write_timeout: 9s, max_body_bytes: 2048}
upstreams: [{name: campus, instances: [{addr: "127.0.0.1:1"}]}]
routes:
  - {path_prefix: /api/, upstream: campus}
  - path_prefix: /api/files/
    upstream: campus
    body_timeout: 10m
    max_body_bytes: 104857600
    stream_request_body: true
    stream_response_body: true
    disable_compression: true
  - {path_prefix: /api/live/, upstream: campus, websocket: true}
`
	c, err := Parse([]byte(doc), nil)
	if err != nil {
		t.Fatal(err)
	}
	r0, r1, r2 := c.Routes[0], c.Routes[1], c.Routes[2]
	if r0.BodyTimeout != 7*time.Second || r0.WriteTimeout != 9*time.Second || r0.MaxBodyBytes != 2048 || r0.Name != "/api/" {
		t.Fatalf("inherited defaults: %+v", r0)
	}
	if r1.BodyTimeout != 10*time.Minute || r1.MaxBodyBytes != 100<<20 || !r1.StreamRequestBody || !r1.StreamResponseBody || !r1.DisableCompression {
		t.Fatalf("overrides: %+v", r1)
	}
	if !r2.WebSocket || r2.WebSocketIdleTimeout != 60*time.Second {
		t.Fatalf("websocket: %+v", r2)
	}
	if !c.Compression.Enabled || c.Compression.MinBytes != 1024 || len(c.Compression.Types) == 0 ||
		c.Server.MaxURIBytes != 8192 || c.TLS.HandshakeTimeout != 10*time.Second || c.Log.Access.FlushInterval != time.Second {
		t.Fatalf("scalar defaults: %+v %+v", c.Compression, c.Server)
	}
	sum := Summary(c)
	for _, want := range []string{"stream-request", "stream-response", "no-compression", "websocket(idle 1m0s)", "compression: zstd, br, gzip from 1024B"} {
		if !strings.Contains(sum, want) {
			t.Errorf("summary lacks %q:\n%s", want, sum)
		}
	}
}

func TestValidateNewKeys(t *testing.T) {
	doc := `
log: {access: {flush_interval: 0s}}
server: {max_uri_bytes: 10, body_timeout: -1s}
compression: {min_bytes: -5, types: ["text/html; charset=utf-8", "not a type"]}
upstreams: [{name: campus, instances: [{addr: "127.0.0.1:1"}]}]
routes:
  - {path_prefix: /a/, upstream: campus, body_timeout: -1s, write_timeout: -2s, websocket: true, stream_request_body: true}
`
	_, err := Parse([]byte(doc), nil)
	if err == nil {
		t.Fatal("accepted")
	}
	for _, want := range []string{
		"log.access.flush_interval:", "server.max_uri_bytes:", "server.body_timeout:",
		"compression.min_bytes:", "compression.types[0]:", "compression.types[1]:",
		"routes[0].body_timeout:", "routes[0].write_timeout:", "routes[0].websocket:",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in:\n%v", want, err)
		}
	}
}

func TestRedacted(t *testing.T) {
	c, err := Parse([]byte("redis: {url: 'redis://app:hunter2@10.0.0.20:6379/0'}\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := c.RedactedJSON()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "hunter2") || !strings.Contains(string(b), "redis://app:REDACTED@10.0.0.20:6379/0") {
		t.Fatalf("%s", b)
	}
	if c.Redis.URL != "redis://app:hunter2@10.0.0.20:6379/0" {
		t.Fatal("Redacted modified the running configuration")
	}
	if got := redactURL("redis://%zz:pw@h"); got != Redacted {
		t.Fatalf("unparseable URL shown as %q", got)
	}
}

// FuzzEnvOverride: any override either fails with an error naming the
// variable or yields a configuration that validates.
func FuzzEnvOverride(f *testing.F) {
	f.Add("SERVER__READ_TIMEOUT", "3s")
	f.Add("ROUTES__0__STREAM_REQUEST_BODY", "true")
	f.Add("UPSTREAMS__0__INSTANCES__2__ADDR", "127.0.0.1:9003")
	f.Add("COMPRESSION__TYPES", "text/*, application/json")
	f.Add("LISTEN__HTTPS__X", "1")
	f.Fuzz(func(t *testing.T, key, value string) {
		if strings.ContainsAny(key, "=\x00") {
			return
		}
		c, err := Load("", []string{EnvPrefix + key + "=" + value})
		if err != nil {
			return
		}
		if c.Validate() != nil {
			t.Fatal("Load accepted a configuration that fails Validate")
		}
	})
}
