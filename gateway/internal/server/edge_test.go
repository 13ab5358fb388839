package server

import (
	"bufio"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/campshub360/edge/gateway/internal/testpki"
	"github.com/campshub360/edge/shared/testkit"
	"github.com/campshub360/edge/shared/token"
)

// edgeEnv is a gateway with TLS certificates from a test CA, a JWKS
// endpoint, and routes exercising headers, CORS and auth.
type edgeEnv struct {
	*gw
	ca       *testpki.CA
	dir      string
	certFile string
	signer   *token.Signer
	pub      ed25519.PublicKey
	jwksHits atomic.Int64
}

const edgeRoutes = `routes:
  - name: api
    path_prefix: /api/
    upstream: campus
    timeout: 2s
    auth: optional
  - name: secure
    path_prefix: /api/secure/
    upstream: campus
    auth: required
  - name: admin
    path_prefix: /api/admin/
    upstream: campus
    auth: required
    roles: [admin, registrar]
  - name: upload
    path_prefix: /api/upload
    upstream: campus
    max_body_bytes: 10
  - name: cors
    path_prefix: /api/cors/
    upstream: campus
    auth: required
    headers:
      set: {Content-Security-Policy: "default-src 'self'"}
      remove: [X-Frame-Options]
    cors:
      allow_origins: ["https://portal.campus.edu", "https://*.campus.edu"]
      allow_methods: [GET, POST, PUT]
      allow_credentials: true
      max_age: 5m
  - name: dead
    path_prefix: /dead/
    upstream: dead
  - name: health
    path_prefix: /health/
    upstream: campus
`

func startEdge(t *testing.T, upstream string, extraRoutes string) *edgeEnv {
	t.Helper()
	return startEdgeWithUpstreams(t, upstream, extraRoutes, "")
}

func startEdgeWithUpstreams(t *testing.T, upstream, extraRoutes, extraUpstreams string) *edgeEnv {
	t.Helper()
	e := &edgeEnv{ca: testpki.NewCA(t, "edge test CA"), dir: t.TempDir()}
	e.certFile, _ = e.ca.Write(t, e.dir, "site", testpki.Leaf{CN: "first", DNSNames: []string{"localhost", "campus.test"}, IPs: []net.IP{net.IPv4(127, 0, 0, 1)}})

	pub, priv, _ := ed25519.GenerateKey(nil)
	e.pub = pub
	e.signer = &token.Signer{KeyID: token.KeyID(pub), Key: priv, Issuer: "campshub360", Audience: "campus-api", TTL: 15 * time.Minute}
	ks := token.NewKeySet(map[string]ed25519.PublicKey{e.signer.KeyID: pub})
	jwks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		e.jwksHits.Add(1)
		b, _ := ks.MarshalJWKS()
		_, _ = w.Write(b)
	}))
	t.Cleanup(jwks.Close)

	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := ln.Addr().String()
	ln.Close()
	doc := fmt.Sprintf(`runtime_dir: %s
listen:
  https: 127.0.0.1:0
  http: 127.0.0.1:0
  admin: 127.0.0.1:0
server:
  drain_delay: 0s
  shutdown_timeout: 5s
tls:
  certificates:
    - name: site
      cert_file: %s/site.crt
      key_file: %s/site.key
  handshake_timeout: 2s
headers:
  hsts: {max_age: 8760h, include_subdomains: true}
auth:
  jwks:
    urls: [%s/api/v1/auth/jwks.json]
    min_refresh_interval: 1s
upstreams:
  - name: campus
    dial_timeout: 500ms
    instances: [{addr: %s}]
  - name: dead
    dial_timeout: 500ms
    instances: [{addr: %s}]
%s%s%s`, e.dir, e.dir, e.dir, jwks.URL, upstream, dead, extraUpstreams, edgeRoutes, extraRoutes)
	path := filepath.Join(e.dir, "gateway.yaml")
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	g := serveFile(t, path, Options{})
	g.client.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: e.ca.Pool(), ServerName: "campus.test"}}
	e.gw = g
	// The key set is fetched in the background at start.
	pollUntil(t, func() bool { return e.jwksHits.Load() > 0 })
	return e
}

func (e *edgeEnv) token(t *testing.T, sub, role string, at time.Time) string {
	t.Helper()
	s := *e.signer
	s.Now = func() time.Time { return at }
	tok, _, err := s.Sign(sub, role, "jti-"+sub)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func pollUntil(t *testing.T, cond func() bool) {
	t.Helper()
	testkit.Poll(t, 10*time.Second, "the condition", cond)
}

var securityHeaders = []string{"X-Content-Type-Options", "Referrer-Policy", "Content-Security-Policy", "Cross-Origin-Resource-Policy", "Permissions-Policy"}

// Every kind of response the gateway sends carries the security headers;
// HSTS only over HTTPS.
func TestSecurityHeadersOnEveryResponse(t *testing.T) {
	up := startEcho(t, "a")
	e := startEdge(t, up.addr, "")
	good := e.token(t, "s-1", "student", time.Now())
	for _, tc := range []struct {
		name     string
		do       func() *http.Response
		status   int
		https    bool
		frameOpt string
	}{
		{"proxied 200", func() *http.Response { r, _ := e.do(t, "GET", "/api/v1/x", nil, ""); return r }, 200, true, "DENY"},
		{"404 no route", func() *http.Response { r, _ := e.do(t, "GET", "/nothing", nil, ""); return r }, 404, true, "DENY"},
		{"502 upstream down", func() *http.Response { r, _ := e.do(t, "GET", "/dead/x", nil, ""); return r }, 502, true, "DENY"},
		{"413 body too large", func() *http.Response {
			r, _ := e.do(t, "POST", "/api/upload", nil, strings.Repeat("x", 100))
			return r
		}, 413, true, "DENY"},
		{"401 no token", func() *http.Response { r, _ := e.do(t, "GET", "/api/secure/x", nil, ""); return r }, 401, true, "DENY"},
		{"403 role", func() *http.Response {
			r, _ := e.do(t, "GET", "/api/admin/x", map[string]string{"Authorization": "Bearer " + good}, "")
			return r
		}, 403, true, "DENY"},
		{"204 preflight", func() *http.Response {
			r, _ := e.do(t, "OPTIONS", "/api/cors/x", map[string]string{"Origin": "https://portal.campus.edu", "Access-Control-Request-Method": "PUT"}, "")
			return r
		}, 204, true, ""},
		{"308 redirect", func() *http.Response {
			r, err := e.client.Get("http://" + e.addrs.HTTP + "/api/v1/x")
			if err != nil {
				t.Fatal(err)
			}
			r.Body.Close()
			return r
		}, 308, false, "DENY"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.do()
			if r.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", r.StatusCode, tc.status)
			}
			for _, h := range securityHeaders {
				if r.Header.Get(h) == "" {
					t.Errorf("%s missing", h)
				}
			}
			if got := r.Header.Get("X-Frame-Options"); got != tc.frameOpt {
				t.Errorf("X-Frame-Options %q, want %q", got, tc.frameOpt)
			}
			hsts := r.Header.Get("Strict-Transport-Security")
			if tc.https && hsts != "max-age=31536000; includeSubDomains" {
				t.Errorf("HSTS %q on HTTPS", hsts)
			}
			if !tc.https && hsts != "" {
				t.Errorf("HSTS %q on plain HTTP", hsts)
			}
			if r.Header.Get("X-Request-ID") == "" || r.Header.Get("Server") != "" {
				t.Errorf("request id %q, server %q", r.Header.Get("X-Request-ID"), r.Header.Get("Server"))
			}
		})
	}
	// The per-route override.
	r, _ := e.do(t, "OPTIONS", "/api/cors/x", map[string]string{"Origin": "https://portal.campus.edu", "Access-Control-Request-Method": "GET"}, "")
	if r.Header.Get("Content-Security-Policy") != "default-src 'self'" {
		t.Fatalf("route CSP %q", r.Header.Get("Content-Security-Policy"))
	}
}

func TestCORSAtTheEdge(t *testing.T) {
	up := startEcho(t, "a")
	e := startEdge(t, up.addr, "")
	good := e.token(t, "f-1", "faculty", time.Now())
	for _, tc := range []struct {
		origin, method, headers string
		status                  int
	}{
		{"https://portal.campus.edu", "PUT", "authorization, content-type", 204},
		{"https://attendance.campus.edu", "POST", "", 204},
		{"https://evil.example", "GET", "", 403},
		{"https://campus.edu", "GET", "", 403},
		{"https://portal.campus.edu", "DELETE", "", 403},
		{"https://portal.campus.edu", "GET", "x-unknown", 403},
	} {
		hdr := map[string]string{"Origin": tc.origin, "Access-Control-Request-Method": tc.method}
		if tc.headers != "" {
			hdr["Access-Control-Request-Headers"] = tc.headers
		}
		r, body := e.do(t, "OPTIONS", "/api/cors/students", hdr, "")
		if r.StatusCode != tc.status {
			t.Fatalf("%+v: status %d: %s", tc, r.StatusCode, body)
		}
		acao := r.Header.Get("Access-Control-Allow-Origin")
		if (tc.status == 204) != (acao == tc.origin) || !strings.Contains(strings.Join(r.Header.Values("Vary"), ","), "Origin") {
			t.Fatalf("%+v: ACAO %q Vary %q", tc, acao, r.Header.Get("Vary"))
		}
		if tc.status == 204 && r.Header.Get("Access-Control-Allow-Credentials") != "true" {
			t.Fatal("credentials header missing")
		}
	}
	if up.hits.Load() != 0 {
		t.Fatalf("preflights reached the backend %d times", up.hits.Load())
	}
	// Actual request: allowed origin echoed, Vary: Origin; a 401 too
	// carries CORS headers, so the browser lets the script read it.
	r, _ := e.do(t, "GET", "/api/cors/students", map[string]string{"Origin": "https://portal.campus.edu", "Authorization": "Bearer " + good}, "")
	if r.StatusCode != 200 || r.Header.Get("Access-Control-Allow-Origin") != "https://portal.campus.edu" || !strings.Contains(strings.Join(r.Header.Values("Vary"), ","), "Origin") {
		t.Fatalf("%d %v", r.StatusCode, r.Header)
	}
	r, _ = e.do(t, "GET", "/api/cors/students", map[string]string{"Origin": "https://portal.campus.edu"}, "")
	if r.StatusCode != 401 || r.Header.Get("Access-Control-Allow-Origin") != "https://portal.campus.edu" {
		t.Fatalf("401 without CORS: %d %v", r.StatusCode, r.Header)
	}
	r, _ = e.do(t, "GET", "/api/cors/students", map[string]string{"Origin": "https://evil.example", "Authorization": "Bearer " + good}, "")
	if r.Header.Get("Access-Control-Allow-Origin") != "" || r.Header.Get("Access-Control-Allow-Credentials") != "" {
		t.Fatal("CORS headers for a disallowed origin")
	}
}

// The bad-input list over real HTTPS: every one is 401 with no backend
// hit; a good token reaches the backend with the verified identity.
func TestTokenBadInputNeverReachesBackend(t *testing.T) {
	up := startEcho(t, "a")
	e := startEdge(t, up.addr, "")
	now := time.Now()
	good := e.token(t, "user-1", "student", now)
	parts := strings.Split(good, ".")
	b64 := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	other := *e.signer
	otherPub, otherPriv, _ := ed25519.GenerateKey(nil)
	other.Key = otherPriv
	forged, _, _ := other.Sign("user-1", "admin", "j")
	other.KeyID = token.KeyID(otherPub)
	unknownKid, _, _ := other.Sign("user-1", "student", "j")
	iss := *e.signer
	iss.Issuer = "evil"
	wrongIss, _, _ := iss.Sign("u", "student", "j")
	aud := *e.signer
	aud.Audience = "other"
	wrongAud, _, _ := aud.Sign("u", "student", "j")
	hsHeader := b64(`{"alg":"HS256","typ":"JWT","kid":"` + e.signer.KeyID + `"}`)
	mac := hmac.New(sha256.New, e.pub)
	mac.Write([]byte(hsHeader + "." + parts[1]))
	hs := hsHeader + "." + parts[1] + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
	exp := now.Add(time.Hour).Unix()
	tampered := parts[0] + "." + b64(fmt.Sprintf(`{"sub":"user-1","role":"admin","iss":"campshub360","aud":["campus-api"],"exp":%d}`, exp)) + "." + parts[2]

	cases := map[string]struct{ path, authz, want string }{
		"expired":          {"/api/secure/x", "Bearer " + e.token(t, "u", "student", now.Add(-time.Hour)), `error="invalid_token"`},
		"not yet valid":    {"/api/secure/x", "Bearer " + e.token(t, "u", "student", now.Add(time.Hour)), `error="invalid_token"`},
		"wrong issuer":     {"/api/secure/x", "Bearer " + wrongIss, `error="invalid_token"`},
		"wrong audience":   {"/api/secure/x", "Bearer " + wrongAud, `error="invalid_token"`},
		"unknown kid":      {"/api/secure/x", "Bearer " + unknownKid, `error="invalid_token"`},
		"forged":           {"/api/secure/x", "Bearer " + forged, `error="invalid_token"`},
		"tampered payload": {"/api/secure/x", "Bearer " + tampered, `error="invalid_token"`},
		"alg none":         {"/api/secure/x", "Bearer " + b64(`{"alg":"none"}`) + "." + parts[1] + ".", `error="invalid_token"`},
		"hs256 public key": {"/api/secure/x", "Bearer " + hs, `error="invalid_token"`},
		"huge token":       {"/api/secure/x", "Bearer " + strings.Repeat("A", 6000), `error="invalid_token"`},
		"malformed base64": {"/api/secure/x", "Bearer %%%.***.!!!", `error="invalid_token"`},
		"token in query":   {"/api/secure/x?access_token=" + good, "", `error="invalid_request"`},
		"query, optional":  {"/api/v1/x?access_token=" + good, "", `error="invalid_request"`},
		"bad on optional":  {"/api/v1/x", "Bearer " + forged, `error="invalid_token"`},
		"missing":          {"/api/secure/x", "", `Bearer realm="campshub360"`},
	}
	for name, tc := range cases {
		hdr := map[string]string{"X-Authenticated-Subject": "admin"}
		if tc.authz != "" {
			hdr["Authorization"] = tc.authz
		}
		r, body := e.do(t, "GET", tc.path, hdr, "")
		if r.StatusCode != 401 || !strings.Contains(r.Header.Get("WWW-Authenticate"), tc.want) {
			t.Errorf("%s: %d %q %s", name, r.StatusCode, r.Header.Get("WWW-Authenticate"), body)
		}
		assertProblem(t, r, body, problemSlug(body))
	}
	if n := up.hits.Load(); n != 0 {
		t.Fatalf("bad tokens reached the backend %d times", n)
	}

	r, body := e.do(t, "GET", "/api/secure/x", map[string]string{"Authorization": "Bearer " + good, "X-Authenticated-Subject": "admin", "X-Authenticated-Role": "admin"}, "")
	if r.StatusCode != 200 {
		t.Fatalf("good token: %d %s", r.StatusCode, body)
	}
	if !strings.Contains(string(body), `"X-Authenticated-Subject":"user-1"`) || !strings.Contains(string(body), `"X-Authenticated-Role":"student"`) {
		t.Fatalf("identity not forwarded: %s", body)
	}
	// Optional route without a token: forwarded without identity (the
	// client's spoofed header removed).
	_, body = e.do(t, "GET", "/api/v1/x", map[string]string{"X-Authenticated-Subject": "admin"}, "")
	if strings.Contains(string(body), "X-Authenticated") {
		t.Fatalf("spoofed identity forwarded: %s", body)
	}
	m := e.metrics(t)
	for _, want := range []string{`gateway_auth_requests_total{result="verified"}`, `gateway_auth_requests_total{result="algorithm"} 2`,
		`gateway_auth_jwks_keys 1`, `gateway_auth_jwks_fetches_total{result="success"}`} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

func problemSlug(body []byte) string {
	s := string(body)
	i := strings.Index(s, "/problems/")
	if i < 0 {
		return ""
	}
	s = s[i+len("/problems/"):]
	return s[:strings.IndexByte(s, '"')]
}

func (e *edgeEnv) metrics(t *testing.T) string {
	t.Helper()
	r, err := e.client.Get("http://" + e.addrs.Admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	b, _ := io.ReadAll(r.Body)
	return string(b)
}

// Certificates reload on file change with clients connected, and a
// configuration reload with a broken pair is rejected and keeps the old
// certificate.
func TestCertificateReloadWhileConnected(t *testing.T) {
	up := startEcho(t, "a")
	e := startEdge(t, up.addr, "")
	dial := func() *tls.Conn {
		c, err := tls.Dial("tcp", e.addrs.HTTPS, &tls.Config{RootCAs: e.ca.Pool(), ServerName: "campus.test"})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	get := func(c *tls.Conn) int {
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.WriteString(c, "GET /api/v1/x HTTP/1.1\r\nHost: campus.test\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		var resp fasthttp.Response
		br := bufio.NewReader(c)
		if err := resp.Read(br); err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode()
	}
	cn := func(c *tls.Conn) string { return c.ConnectionState().PeerCertificates[0].Subject.CommonName }
	old := dial()
	defer old.Close()
	if get(old) != 200 || cn(old) != "first" {
		t.Fatal("first certificate")
	}
	e.ca.Write(t, e.dir, "site", testpki.Leaf{CN: "second", DNSNames: []string{"campus.test"}})
	pollUntil(t, func() bool {
		c := dial()
		defer c.Close()
		return cn(c) == "second"
	})
	if get(old) != 200 {
		t.Fatal("connection established before the reload broke")
	}

	// A broken key through the admin reload: 422, the running cert stays.
	if err := os.WriteFile(filepath.Join(e.dir, "site.key"), []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	r, err := e.client.Post("http://"+e.addrs.Admin+"/admin/reload", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	rb, _ := io.ReadAll(r.Body)
	r.Body.Close()
	if r.StatusCode != 422 || !strings.Contains(string(rb), "site.crt") {
		t.Fatalf("reload with a broken key: %d %s", r.StatusCode, rb)
	}
	c := dial()
	defer c.Close()
	if cn(c) != "second" || get(c) != 200 {
		t.Fatal("broken pair replaced the served certificate")
	}
	m := e.metrics(t)
	for _, want := range []string{`gateway_tls_cert_expiry_timestamp_seconds{cert="site"}`, `gateway_tls_handshakes_total{result="success",version="1.3"}`,
		`gateway_tls_cert_reloads_total{result="failure"}`} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

// TLS to an upstream pool that requires a client certificate (mTLS).
func TestUpstreamMutualTLS(t *testing.T) {
	ca := testpki.NewCA(t, "backend CA")
	dir := t.TempDir()
	sc, sk := ca.Write(t, dir, "backend", testpki.Leaf{CN: "backend", DNSNames: []string{"backend.internal"}})
	cc, ck := ca.Write(t, dir, "gateway", testpki.Leaf{CN: "gateway", Client: true})
	caFile := ca.WriteCA(t, dir, "ca.pem")
	pair, err := tls.LoadX509KeyPair(sc, sk)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{pair}, ClientCAs: ca.Pool(), ClientAuth: tls.RequireAndVerifyClientCert})
	if err != nil {
		t.Fatal(err)
	}
	var peer atomic.Value
	srv := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		if st := ctx.TLSConnectionState(); st != nil && len(st.PeerCertificates) > 0 {
			peer.Store(st.PeerCertificates[0].Subject.CommonName)
		}
		ctx.SetBodyString("secure upstream")
	}}
	go srv.Serve(ln) //nolint:errcheck // ends with Shutdown
	t.Cleanup(func() { _ = srv.Shutdown() })

	extra := `  - name: mtls
    path_prefix: /mtls/
    upstream: backend
  - name: mtls-nocert
    path_prefix: /mtls-nocert/
    upstream: backend-nocert
`
	up := startEcho(t, "a")
	e := startEdgeWithUpstreams(t, up.addr, extra, fmt.Sprintf(`  - name: backend
    dial_timeout: 2s
    instances: [{addr: %s}]
    tls: {enabled: true, ca_file: %s, server_name: backend.internal, cert_file: %s, key_file: %s}
  - name: backend-nocert
    dial_timeout: 2s
    instances: [{addr: %s}]
    tls: {enabled: true, ca_file: %s, server_name: backend.internal}
`, ln.Addr(), caFile, cc, ck, ln.Addr(), caFile))
	r, body := e.do(t, "GET", "/mtls/x", nil, "")
	if r.StatusCode != 200 || string(body) != "secure upstream" || peer.Load() != "gateway" {
		t.Fatalf("mTLS upstream: %d %s peer %v", r.StatusCode, body, peer.Load())
	}
	if r, _ := e.do(t, "GET", "/mtls-nocert/x", nil, ""); r.StatusCode != 502 {
		t.Fatalf("upstream requiring a client certificate answered %d without one", r.StatusCode)
	}
}

// A reload that changes tls.min_version applies to new handshakes.
func TestMinVersionReload(t *testing.T) {
	up := startEcho(t, "a")
	e := startEdge(t, up.addr, "")
	dial12 := func() error {
		c, err := tls.Dial("tcp", e.addrs.HTTPS, &tls.Config{RootCAs: e.ca.Pool(), ServerName: "campus.test", MaxVersion: tls.VersionTLS12})
		if err == nil {
			c.Close()
		}
		return err
	}
	if err := dial12(); err != nil {
		t.Fatalf("TLS 1.2 refused with min_version 1.2: %v", err)
	}
	doc, _ := os.ReadFile(e.cfg)
	doc = []byte(strings.Replace(string(doc), "  handshake_timeout: 2s\n", "  handshake_timeout: 2s\n  min_version: \"1.3\"\n", 1))
	if err := os.WriteFile(e.cfg, doc, 0o600); err != nil {
		t.Fatal(err)
	}
	r, err := e.client.Post("http://"+e.addrs.Admin+"/admin/reload", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != 200 {
		t.Fatalf("reload %d", r.StatusCode)
	}
	if err := dial12(); err == nil {
		t.Fatal("TLS 1.2 accepted after min_version 1.3")
	}
	if r, _ := e.do(t, "GET", "/api/v1/x", nil, ""); r.StatusCode != 200 {
		t.Fatal("TLS 1.3 request failed")
	}
}
