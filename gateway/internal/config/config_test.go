package config

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestEmbeddedDefaultIsValid(t *testing.T) {
	c, err := Load("", nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen.HTTPS != "127.0.0.1:8443" || c.Listen.HTTP != "127.0.0.1:8080" || c.Listen.Admin != "127.0.0.1:9090" ||
		len(c.Upstreams) != 1 || len(c.Upstreams[0].Instances) != 2 {
		t.Fatalf("unexpected defaults: %+v", c)
	}
	// Development: loopback only, no HSTS pinning localhost, text logs.
	if c.Headers.HSTS.MaxAge != 0 || c.Log.Format != "text" {
		t.Fatalf("embedded defaults are not the development ones: hsts %v, log %q", c.Headers.HSTS.MaxAge, c.Log.Format)
	}
	if c.Routes[0].Timeout != 30*time.Second || c.Upstreams[0].Instances[0].Weight != 1 {
		t.Fatalf("per-element defaults not filled: %+v", c.Routes[0])
	}
}

// TestEmbeddedDefaultIsTheDevConfig keeps deploy/config/gateway.dev.yaml
// what it says it is: the embedded defaults (`make run`) written out.
func TestEmbeddedDefaultIsTheDevConfig(t *testing.T) {
	emb, err := Load("", nil)
	if err != nil {
		t.Fatal(err)
	}
	dev, err := Load(filepath.Join("..", "..", "..", "deploy", "config", "gateway.dev.yaml"), nil)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := emb.RedactedJSON()
	b, _ := dev.RedactedJSON()
	if string(a) != string(b) {
		t.Fatalf("embedded defaults and gateway.dev.yaml differ:\n%s\n%s", a, b)
	}
}

// TestProductionConfigsKeepHSTS: the configurations meant for real
// certificates send HSTS and listen beyond loopback.
func TestProductionConfigsKeepHSTS(t *testing.T) {
	for _, name := range []string{"gateway.yaml", "gateway.single-host.yaml", "gateway.cluster.yaml"} {
		c, err := Load(filepath.Join("..", "..", "..", "deploy", "config", name), nil)
		if err != nil {
			t.Fatal(err)
		}
		if c.Headers.HSTS.MaxAge < 180*24*time.Hour {
			t.Errorf("%s: HSTS max_age %v", name, c.Headers.HSTS.MaxAge)
		}
		if host, _, _ := strings.Cut(c.Listen.HTTPS, ":"); host != "" {
			t.Errorf("%s: HTTPS on %s, want every interface", name, c.Listen.HTTPS)
		}
	}
}

func TestDeployExampleIsValid(t *testing.T) {
	path := filepath.Join("..", "..", "..", "deploy", "config", "gateway.yaml")
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("documented example missing: %v", err)
	}
	if _, err := Load(path, nil); err != nil {
		t.Fatalf("deploy/config/gateway.yaml: %v", err)
	}
}

func TestUnknownKeyIsAnErrorWithLine(t *testing.T) {
	_, err := Parse([]byte("listen:\n  https: \":1\"\n  htps: \":2\"\n"), nil)
	if err == nil || !strings.Contains(err.Error(), `unknown field "htps"`) || !strings.Contains(err.Error(), "3") {
		t.Fatalf("err = %v", err)
	}
}

func TestValidateReportsEveryProblemWithPath(t *testing.T) {
	doc := `
log: {level: loud}
listen: {https: "nope", admin: "0.0.0.0:9090"}
trusted_proxies: ["10.0.0.0/8", "bogus"]
upstreams:
  - name: campus
    balancer: random
    instances: [{addr: "127.0.0.1:1"}, {addr: "127.0.0.1:1"}]
  - name: campus
    instances: []
routes:
  - path_prefix: /api/
    upstream: campus
  - path_prefix: api
    upstream: core
  - path_prefix: /api/
    upstream: campus
`
	_, err := Parse([]byte(doc), nil)
	ps, ok := err.(Problems)
	if !ok {
		t.Fatalf("err %T %v", err, err)
	}
	got := err.Error()
	for _, want := range []string{
		"log.level:",
		"listen.https:",
		"listen.admin:",
		"trusted_proxies[1]:",
		"upstreams[0].balancer:",
		"upstreams[0].instances[1].addr: duplicate",
		"upstreams[1].name: duplicate",
		"upstreams[1].instances: at least one",
		"routes[1].path_prefix:",
		`routes[1].upstream: unknown upstream "core"`,
		"routes[2]: same host and path_prefix as routes[0]",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in:\n%s", want, got)
		}
	}
	if len(ps) < 11 {
		t.Errorf("only %d problems", len(ps))
	}
}

func TestEnvOverrides(t *testing.T) {
	env := []string{
		"GATEWAY__LISTEN__HTTPS=127.0.0.1:9443",
		"GATEWAY__SERVER__READ_TIMEOUT=3s",
		"GATEWAY__UPSTREAMS__0__INSTANCES__2__ADDR=127.0.0.1:9003",
		"GATEWAY__TRUSTED_PROXIES=10.0.0.0/8, 192.168.0.0/16",
		"GATEWAY__LOG__ACCESS__ENABLED=false",
		"UNRELATED=1",
	}
	c, err := Load("", env)
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen.HTTPS != "127.0.0.1:9443" || c.Server.ReadTimeout != 3*time.Second ||
		len(c.Upstreams[0].Instances) != 3 || c.Upstreams[0].Instances[2].Weight != 1 ||
		len(c.TrustedProxies) != 2 || c.Log.Access.Enabled {
		t.Fatalf("overrides not applied: %+v", c)
	}
	for _, bad := range []string{
		"GATEWAY__LISTEN__HTTPX=1",
		"GATEWAY__SERVER__READ_TIMEOUT=soon",
		"GATEWAY__UPSTREAMS__5__NAME=x",
		"GATEWAY__LISTEN__HTTPS__DEEPER=1",
	} {
		if _, err := Load("", []string{bad}); err == nil || !strings.Contains(err.Error(), strings.SplitN(bad, "=", 2)[0]) {
			t.Errorf("%s: err = %v", bad, err)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add(DefaultYAML())
	f.Add([]byte("routes: [{path_prefix: /x, upstream: y}]"))
	f.Add([]byte("listen: {https: ':1'}\nupstreams: [{name: a, instances: [{addr: 'h:1', weight: 5}]}]"))
	f.Add([]byte("{{{"))
	f.Fuzz(func(t *testing.T, doc []byte) {
		c, err := Parse(doc, nil)
		if err != nil {
			return
		}
		// Anything accepted must be internally consistent.
		if c.Validate() != nil {
			t.Fatalf("Parse accepted a config that fails Validate")
		}
		pools := map[string]bool{}
		for _, u := range c.Upstreams {
			pools[u.Name] = true
		}
		for _, r := range c.Routes {
			if !pools[r.Upstream] || !strings.HasPrefix(r.PathPrefix, "/") {
				t.Fatalf("accepted bad route %+v", r)
			}
		}
	})
}

func TestRateLimitValidation(t *testing.T) {
	doc := `
upstreams:
  - name: campus
    instances: [{addr: "127.0.0.1:1"}]
redis: {url: "redis://127.0.0.1:6379/0"}
ratelimit:
  max_keys: 10
  store_timeout: 2s
  inflight: {per_ip: -1}
  policies:
    - {name: ok, rate: 10/s, key: ip}
    - {name: ok, rate: 10/h, key: ip}
    - {name: "bad name", rate: 0/s, burst: -1, key: "ip+cookie", scope: global, fallback: maybe}
    - {name: keyed, rate: 5/m, key: api_key, scope: shared}
    - {name: hdr, rate: "1.5/s", key: "header:X Bad"}
routes:
  - path_prefix: /api/
    upstream: campus
    rate_limits: [ok, missing, ok]
`
	_, err := Parse([]byte(doc), nil)
	if err == nil {
		t.Fatal("invalid rate limits accepted")
	}
	got := err.Error()
	for _, want := range []string{
		"ratelimit.max_keys:",
		"ratelimit.store_timeout:",
		"ratelimit.inflight.per_ip:",
		`ratelimit.policies[1].name: duplicate policy "ok"`,
		"ratelimit.policies[1].rate:",
		"ratelimit.policies[2].name:",
		"ratelimit.policies[2].rate:",
		"ratelimit.policies[2].burst:",
		"ratelimit.policies[2].key:",
		"ratelimit.policies[2].scope:",
		"ratelimit.policies[2].fallback:",
		"ratelimit.key_secret:",
		"ratelimit.policies[4].key:",
		`routes[0].rate_limits[1]: unknown rate limit policy "missing"`,
		`routes[0].rate_limits[2]: policy "ok" listed twice`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in:\n%s", want, got)
		}
	}
}

func TestRateLimitDefaultsAndParsing(t *testing.T) {
	c, err := Parse([]byte(`
upstreams: [{name: campus, instances: [{addr: "127.0.0.1:1"}]}]
ratelimit:
  key_secret: "0123456789abcdef-secret"
  policies:
    - {name: per-ip, rate: 2.5/s, key: ip}
    - {name: login, rate: 10/m, burst: 5, key: "login", scope: shared, fallback: fail_closed}
routes: [{path_prefix: /api/, upstream: campus, rate_limits: [per-ip, login]}]
`), []string{"GATEWAY__RATELIMIT__POLICIES__0__BURST=7"})
	if err != nil {
		t.Fatal(err)
	}
	p := c.RateLimit.Policies
	if p[0].Burst != 7 || p[0].Scope != "local" || p[0].Fallback != "fail_open" || p[1].UsernameField != "username" {
		t.Fatalf("defaults: %+v", p)
	}
	if r, per, _ := ParseRate("10/m"); r != 10.0/60 || per != time.Minute {
		t.Fatalf("10/m = %v per %v", r, per)
	}
	if k, _ := ParseKey("login"); strings.Join(k, "+") != "ip+username" {
		t.Fatalf("login = %v", k)
	}
	if k, _ := ParseKey("ip + header:x-tenant"); strings.Join(k, "+") != "ip+header:X-Tenant" {
		t.Fatalf("header = %v", k)
	}
	b, _ := json.Marshal(c.RateLimit)
	if strings.Contains(string(b), "0123456789abcdef-secret") {
		t.Fatal("key_secret shown in JSON")
	}
}
