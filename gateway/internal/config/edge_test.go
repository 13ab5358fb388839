package config

import (
	"strings"
	"testing"
	"time"
)

func TestEdgeDefaults(t *testing.T) {
	c, err := Parse([]byte(`
upstreams: [{name: campus, instances: [{addr: "127.0.0.1:1"}]}]
routes:
  - {path_prefix: /api/, upstream: campus, cors: {allow_origins: ["https://*.campus.edu"]}}
headers: {hsts: {preload: false}}
`), nil)
	if err != nil {
		t.Fatal(err)
	}
	if !c.TLS.Watch || c.TLS.HandshakeTimeout != 10*time.Second || c.Headers.HSTS.MaxAge != 365*24*time.Hour || !c.Headers.HSTS.IncludeSubdomains {
		t.Fatalf("tls/hsts defaults: %+v %+v", c.TLS, c.Headers.HSTS)
	}
	r := c.Routes[0]
	if r.Auth != AuthNone || r.CORS.MaxAge != 10*time.Minute || len(r.CORS.AllowMethods) == 0 || r.CORS.ExposeHeaders[0] != "X-Request-ID" {
		t.Fatalf("route defaults: %+v", r)
	}
	if c.Auth.Cache.MaxEntries != 100_000 || c.Auth.JWKS.MinRefreshInterval != 10*time.Second {
		t.Fatalf("auth defaults: %+v", c.Auth)
	}
}

func TestEdgeValidation(t *testing.T) {
	doc := `
tls:
  min_version: "1.1"
  handshake_timeout: 2m
  certificates: [{name: "bad name!", cert_file: a.crt, key_file: a.key}]
headers:
  hsts: {max_age: 1h, preload: true}
  set: {Strict-Transport-Security: "max-age=1", "Bad Name": "x"}
auth:
  issuer: ""
  jwks: {urls: ["ftp://x/jwks", "http://user:pw@h/jwks"], min_refresh_interval: 1h}
upstreams:
  - name: campus
    instances: [{addr: "127.0.0.1:1"}]
    tls: {enabled: false, ca_file: ca.pem}
  - name: secure
    instances: [{addr: "127.0.0.1:2"}]
    tls: {enabled: true, cert_file: c.pem}
routes:
  - path_prefix: /api/
    upstream: campus
    auth: maybe
    roles: [admin]
    cors:
      allow_origins: ["*", "https://portal.campus.edu/x", "https://*.edu", "HTTPS://A.EDU", "https://ok.edu:99999"]
      allow_credentials: true
      allow_methods: [get]
      max_age: 48h
  - path_prefix: /b/
    upstream: campus
    auth: required
    cors: {allow_methods: [GET]}
    headers: {set: {Access-Control-Allow-Origin: "*"}}
`
	_, err := Parse([]byte(doc), nil)
	if err == nil {
		t.Fatal("accepted")
	}
	got := err.Error()
	for _, want := range []string{
		"tls.min_version:", "tls.handshake_timeout:", "tls.certificates[0].name:",
		"headers.hsts.preload:", "headers.set: \"Strict-Transport-Security\" is managed", `headers.set: "Bad Name" is not a header name`,
		"auth.issuer:", "auth.jwks.urls[0]:", "auth.jwks.urls[1]:", "auth.jwks.min_refresh_interval:",
		"upstreams[0].tls.enabled:", "upstreams[1].tls: cert_file and key_file go together",
		`routes[0].auth: "maybe"`, "routes[0].roles: roles need auth: required",
		`routes[0].cors.allow_origins[0]: "*" cannot be combined`, "routes[0].cors.allow_origins[1]:",
		"routes[0].cors.allow_origins[2]:", "routes[0].cors.allow_origins[3]:", "routes[0].cors.allow_origins[4]:",
		"routes[0].cors.allow_methods[0]:", "routes[0].cors.max_age:",
		"routes[1].cors.allow_origins: CORS options are set", "routes[1].headers.set:",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in:\n%s", want, got)
		}
	}
}

func TestOriginPattern(t *testing.T) {
	for o, ok := range map[string]bool{
		"https://portal.campus.edu": true, "http://localhost:5173": true, "https://*.campus.edu": true, "https://*.campus.edu:8443": true,
		"https://[::1]:8443": true, "https://*.edu": false, "https://a.*.edu": false, "campus.edu": false, "https://campus.edu/": false,
		"ws://campus.edu": false, "https://": false, "https://u@campus.edu": false,
	} {
		if got := originPattern(o) == ""; got != ok {
			t.Errorf("%q: ok=%v, want %v (%s)", o, got, ok, originPattern(o))
		}
	}
}
