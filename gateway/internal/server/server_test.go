package server

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"

	"github.com/campshub360/edge/gateway/internal/config"
	"github.com/campshub360/edge/shared/problem"
)

// echoUpstream is a real HTTP server on 127.0.0.1 that answers with what it
// received: method, URI and headers as JSON, plus its own name.
type echoUpstream struct {
	name string
	addr string
	hits atomic.Int64
	srv  *fasthttp.Server
}

func startEcho(t *testing.T, name string) *echoUpstream {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := &echoUpstream{name: name, addr: ln.Addr().String()}
	u.srv = &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		u.hits.Add(1)
		hdr := map[string]string{}
		for k, v := range ctx.Request.Header.All() {
			hdr[string(k)] = string(v)
		}
		b, _ := json.Marshal(map[string]any{"instance": u.name, "method": string(ctx.Method()), "uri": string(ctx.RequestURI()), "headers": hdr})
		ctx.Response.Header.Set("Server", "upstream/1.0")
		ctx.Response.Header.Set("X-Powered-By", "php")
		ctx.Response.Header.Set("Keep-Alive", "timeout=5")
		ctx.Response.Header.Set("Connection", "X-Secret-Hop")
		ctx.Response.Header.Set("X-Secret-Hop", "leak")
		ctx.SetContentType("application/json")
		ctx.SetBody(b)
	}}
	go u.srv.Serve(ln) //nolint:errcheck // ends with Shutdown
	t.Cleanup(func() { _ = u.srv.Shutdown() })
	return u
}

type gw struct {
	srv    *Server
	addrs  Addrs
	cancel context.CancelFunc
	done   chan error
	client *http.Client
	cfg    string
}

func writeConfig(t *testing.T, path string, upstreams ...string) {
	t.Helper()
	var inst strings.Builder
	for _, a := range upstreams {
		fmt.Fprintf(&inst, "      - addr: %s\n", a)
	}
	doc := fmt.Sprintf(`runtime_dir: %s
listen:
  https: 127.0.0.1:0
  http: 127.0.0.1:0
  admin: 127.0.0.1:0
server:
  drain_delay: 0s
  shutdown_timeout: 5s
upstreams:
  - name: campus
    balancer: round_robin
    dial_timeout: 500ms
    instances:
%sroutes:
  - name: api
    path_prefix: /api/
    upstream: campus
    timeout: 2s
  - name: small
    path_prefix: /api/upload
    upstream: campus
    max_body_bytes: 10
  - name: health
    path_prefix: /health/
    upstream: campus
`, filepath.Dir(path), inst.String())
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
}

func startGateway(t *testing.T, upstreams ...string) *gw {
	t.Helper()
	path := filepath.Join(t.TempDir(), "gateway.yaml")
	writeConfig(t, path, upstreams...)
	return serveFile(t, path, Options{Log: slog.New(slog.NewTextHandler(os.Stderr, nil)), AccessLog: io.Discard})
}

// serveFile loads the configuration at path and runs a Server on it with
// o (ConfigPath, a fresh Registry and Version "test" filled in; a
// discarding Log when o has none) until t ends. Its client trusts any
// certificate and does not follow redirects.
func serveFile(t *testing.T, path string, o Options) *gw {
	t.Helper()
	cfg, err := config.Load(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	o.ConfigPath, o.Registry, o.Version = path, prometheus.NewRegistry(), "test"
	if o.Log == nil {
		o.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	srv, err := New(cfg, o)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	g := &gw{srv: srv, addrs: srv.Addrs(), cancel: cancel, done: make(chan error, 1), cfg: path}
	go func() { g.done <- srv.Serve(ctx) }()
	g.client = &http.Client{
		Timeout:       5 * time.Second,
		Transport:     &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	t.Cleanup(func() {
		cancel()
		select {
		case <-g.done:
		case <-time.After(10 * time.Second):
			t.Error("gateway did not shut down")
		}
	})
	return g
}

// get sends a GET of path with the headers hdr to the HTTPS listener and
// returns the response and its whole body.
func (g *gw) get(t *testing.T, path string, hdr map[string]string) (*http.Response, []byte) {
	t.Helper()
	return g.do(t, http.MethodGet, path, hdr, "")
}

// do sends method path with the headers hdr and body to the HTTPS
// listener and returns the response and its whole body.
func (g *gw) do(t *testing.T, method, path string, hdr map[string]string, body string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, "https://"+g.addrs.HTTPS+path, strings.NewReader(body))
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := g.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

type echoed struct {
	Instance string            `json:"instance"`
	URI      string            `json:"uri"`
	Headers  map[string]string `json:"headers"`
}

func TestProxyRoundRobinAndForwardingHeaders(t *testing.T) {
	a, b := startEcho(t, "a"), startEcho(t, "b")
	g := startGateway(t, a.addr, b.addr)

	seen := map[string]int{}
	for i := 0; i < 10; i++ {
		resp, body := g.get(t, "/api/v1/students?limit=5", map[string]string{
			"X-Forwarded-For": "6.6.6.6",
			"X-Request-ID":    "client-chosen",
			"Connection":      "X-Drop-Me",
			"X-Drop-Me":       "secret",
			"X-Original-URL":  "/admin",
		})
		if resp.StatusCode != 200 {
			t.Fatalf("status %d: %s", resp.StatusCode, body)
		}
		var e echoed
		if err := json.Unmarshal(body, &e); err != nil {
			t.Fatalf("bad body %s", body)
		}
		seen[e.Instance]++
		if e.URI != "/api/v1/students?limit=5" {
			t.Fatalf("upstream saw URI %q", e.URI)
		}
		if got := e.Headers["X-Forwarded-For"]; got != "127.0.0.1" {
			t.Fatalf("X-Forwarded-For from untrusted peer = %q, want the peer only", got)
		}
		if e.Headers["X-Forwarded-Proto"] != "https" {
			t.Fatalf("X-Forwarded-Proto = %q", e.Headers["X-Forwarded-Proto"])
		}
		id := resp.Header.Get("X-Request-ID")
		if id == "" || id == "client-chosen" || e.Headers["X-Request-Id"]+e.Headers["X-Request-ID"] != id {
			t.Fatalf("request id: response %q, upstream %v", id, e.Headers)
		}
		for _, h := range []string{"X-Drop-Me", "Connection", "X-Original-Url", "X-Original-URL"} {
			if _, ok := e.Headers[h]; ok {
				t.Fatalf("upstream received %s", h)
			}
		}
		for _, h := range []string{"Server", "X-Powered-By", "Keep-Alive", "X-Secret-Hop"} {
			if v := resp.Header.Get(h); v != "" {
				t.Fatalf("client received %s: %q", h, v)
			}
		}
		if resp.Header.Get("X-Content-Type-Options") != "nosniff" || resp.Header.Get("Content-Security-Policy") == "" {
			t.Fatalf("security headers missing: %v", resp.Header)
		}
	}
	if seen["a"] != 5 || seen["b"] != 5 {
		t.Fatalf("round robin split %v, want 5/5", seen)
	}
}

func TestNoInstanceAnswersIs502Problem(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := ln.Addr().String()
	ln.Close()
	g := startGateway(t, dead)
	resp, body := g.get(t, "/api/v1/students", nil)
	if resp.StatusCode != 502 {
		t.Fatalf("status %d, want 502: %s", resp.StatusCode, body)
	}
	assertProblem(t, resp, body, "upstream-failed")
	if strings.Contains(string(body), "refused") || strings.Contains(string(body), dead) {
		t.Fatalf("internal error text leaked: %s", body)
	}
}

func TestDeadInstanceIsSkippedForEveryMethod(t *testing.T) {
	a := startEcho(t, "a")
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := ln.Addr().String()
	ln.Close()
	g := startGateway(t, dead, a.addr)
	for i := 0; i < 6; i++ {
		req, _ := http.NewRequest(http.MethodPost, "https://"+g.addrs.HTTPS+"/api/v1/x", strings.NewReader("{}"))
		resp, err := g.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("POST %d got %d; a refused dial must fail over even for POST", i, resp.StatusCode)
		}
	}
}

func TestNoRouteAndBodyLimit(t *testing.T) {
	a := startEcho(t, "a")
	g := startGateway(t, a.addr)
	resp, body := g.get(t, "/nothing-here", nil)
	if resp.StatusCode != 404 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	assertProblem(t, resp, body, "no-route")

	req, _ := http.NewRequest(http.MethodPost, "https://"+g.addrs.HTTPS+"/api/upload", strings.NewReader(strings.Repeat("x", 100)))
	r2, err := g.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b2, _ := io.ReadAll(r2.Body)
	r2.Body.Close()
	if r2.StatusCode != 413 {
		t.Fatalf("oversized body got %d: %s", r2.StatusCode, b2)
	}
	if a.hits.Load() != 0 {
		t.Fatalf("upstream was hit %d times", a.hits.Load())
	}
}

func TestHTTPRedirectsExceptHealth(t *testing.T) {
	a := startEcho(t, "a")
	g := startGateway(t, a.addr)
	resp, err := g.client.Get("http://" + g.addrs.HTTP + "/api/v1/students?limit=5")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	_, port, _ := net.SplitHostPort(g.addrs.HTTPS)
	want := "https://127.0.0.1:" + port + "/api/v1/students?limit=5"
	if resp.StatusCode != 308 || resp.Header.Get("Location") != want {
		t.Fatalf("got %d Location %q, want 308 %q", resp.StatusCode, resp.Header.Get("Location"), want)
	}
	if resp.Header.Get("Strict-Transport-Security") != "" {
		t.Fatal("HSTS on plain HTTP")
	}
	h, err := g.client.Get("http://" + g.addrs.HTTP + "/health/")
	if err != nil {
		t.Fatal(err)
	}
	h.Body.Close()
	if h.StatusCode != 200 {
		t.Fatalf("/health/ over HTTP got %d", h.StatusCode)
	}
}

func TestAdminMetricsReadyAndReload(t *testing.T) {
	a, b := startEcho(t, "a"), startEcho(t, "b")
	g := startGateway(t, a.addr)
	g.get(t, "/api/v1/x", nil)

	resp, err := g.client.Get("http://" + g.addrs.Admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	m, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`gateway_http_requests_total{code_class="2xx",method="GET",route="api"} 1`,
		`gateway_build_info{config_hash=`,
		`gateway_upstream_requests_total{code_class="2xx",instance="` + a.addr + `",upstream="campus"} 1`,
	} {
		if !strings.Contains(string(m), want) {
			t.Fatalf("metrics lack %q", want)
		}
	}
	if r, _ := g.client.Get("http://" + g.addrs.Admin + "/readyz"); r.StatusCode != 200 {
		t.Fatalf("readyz %d", r.StatusCode)
	}

	// A broken file is rejected and the old generation keeps serving.
	if err := os.WriteFile(g.cfg, []byte("routes: [ {path_prefix: x, upstream: nope} ]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r, err := g.client.Post("http://"+g.addrs.Admin+"/admin/reload", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	rb, _ := io.ReadAll(r.Body)
	r.Body.Close()
	if r.StatusCode != 422 || !strings.Contains(string(rb), "routes[0].upstream") {
		t.Fatalf("bad reload: %d %s", r.StatusCode, rb)
	}
	if resp, body := g.get(t, "/api/v1/x", nil); resp.StatusCode != 200 || !strings.Contains(string(body), `"instance":"a"`) {
		t.Fatalf("old config not serving after rejected reload: %d %s", resp.StatusCode, body)
	}

	// A good file switches traffic to the new pool.
	writeConfig(t, g.cfg, b.addr)
	r, err = g.client.Post("http://"+g.addrs.Admin+"/admin/reload", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != 200 {
		t.Fatalf("reload status %d", r.StatusCode)
	}
	if resp, body := g.get(t, "/api/v1/x", nil); resp.StatusCode != 200 || !strings.Contains(string(body), `"instance":"b"`) {
		t.Fatalf("new config not serving: %d %s", resp.StatusCode, body)
	}
	resp, _ = g.client.Get("http://" + g.addrs.Admin + "/metrics")
	m, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`gateway_config_reloads_total{result="failure"} 1`, `gateway_config_reloads_total{result="success"} 1`} {
		if !strings.Contains(string(m), want) {
			t.Fatalf("metrics lack %q", want)
		}
	}
}

func assertProblem(t *testing.T, resp *http.Response, body []byte, slug string) {
	t.Helper()
	if ct := resp.Header.Get("Content-Type"); ct != problem.ContentType {
		t.Fatalf("content type %q", ct)
	}
	var p problem.Problem
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatalf("not a problem body: %s", body)
	}
	if p.Type != problem.TypeBase+slug || p.Status != resp.StatusCode || p.RequestID == "" || p.RequestID != resp.Header.Get("X-Request-ID") {
		t.Fatalf("problem %+v, header id %q", p, resp.Header.Get("X-Request-ID"))
	}
}
