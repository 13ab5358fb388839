package server

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// cachingGateway starts a gateway whose "api" route caches, in front of
// origin, on a fake clock.
func cachingGateway(t *testing.T, origin string) (*gw, *testClock) {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "gateway.yaml")
	doc := fmt.Sprintf(`runtime_dir: %s
listen: {https: "127.0.0.1:0", http: "", admin: "127.0.0.1:0"}
server: {drain_delay: 0s, shutdown_timeout: 5s}
upstreams:
  - name: campus
    dial_timeout: 500ms
    instances: [{addr: %q}]
routes:
  - name: api
    path_prefix: /api/
    upstream: campus
    timeout: 2s
    cache: {enabled: true, per_user: true}
  - name: nocache
    path_prefix: /raw/
    upstream: campus
cache: {max_bytes: 8388608}
`, dir, origin)
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	clock := &testClock{t: time.Now()}
	g := serveFile(t, path, Options{AccessLog: io.Discard, Now: clock.Now})
	g.client.CheckRedirect = nil // this suite follows redirects
	return g, clock
}

func TestCacheInThePipeline(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var hits atomic.Int64
	var seenXFH, seenXOH atomic.Value
	up := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		hits.Add(1)
		seenXFH.Store(string(ctx.Request.Header.Peek("X-Forwarded-Host")))
		seenXOH.Store(string(ctx.Request.Header.Peek("X-Original-Host")))
		ctx.Response.Header.Set("Cache-Control", "max-age=10, stale-if-error=600")
		ctx.SetBodyString("roster")
	}}
	go up.Serve(ln) //nolint:errcheck // ends with Shutdown
	g, clock := cachingGateway(t, ln.Addr().String())

	get := func(path string, hdr ...string) (*http.Response, string) {
		req, _ := http.NewRequest(http.MethodGet, "https://"+g.addrs.HTTPS+path, nil)
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := g.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}

	r1, _ := get("/api/v1/sections/42/roster", "X-Forwarded-Host", "evil.example", "X-Original-Host", "evil.example")
	r2, body := get("/api/v1/sections/42/roster")
	if body != "roster" || !strings.Contains(r2.Header.Get("Cache-Status"), "hit") || hits.Load() != 1 {
		t.Fatalf("second GET: %q %q hits %d (first %q)", body, r2.Header.Get("Cache-Status"), hits.Load(), r1.Header.Get("Cache-Status"))
	}
	if r2.Header.Get("X-Request-ID") == "" || r2.Header.Get("X-Request-ID") == r1.Header.Get("X-Request-ID") {
		t.Fatal("a hit must carry its own request id")
	}
	if r2.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Fatal("security headers missing on a hit")
	}
	if v := seenXFH.Load(); v == "evil.example" {
		t.Fatal("client X-Forwarded-Host reached the origin")
	}
	if v := seenXOH.Load(); v != "" {
		t.Fatalf("unkeyed X-Original-Host reached the origin: %v", v)
	}
	// Routes without caching pass through.
	get("/raw/x")
	get("/raw/x")
	if hits.Load() != 3 {
		t.Fatalf("uncached route hits %d", hits.Load())
	}

	// All instances down: the proxy answers 502 and the cache serves the
	// stale entry within stale-if-error.
	_ = up.Shutdown()
	ln.Close()
	clock.Advance(30 * time.Second)
	r3, body := get("/api/v1/sections/42/roster")
	if r3.StatusCode != 200 || body != "roster" || !strings.Contains(r3.Header.Get("Cache-Status"), "fwd=stale; fwd-status=502") {
		t.Fatalf("with the origin down: %d %q %q", r3.StatusCode, body, r3.Header.Get("Cache-Status"))
	}

	m := adminGet(t, g, "/metrics")
	for _, want := range []string{
		`gateway_cache_requests_total{result="hit",route="api"} 1`,
		`gateway_cache_requests_total{result="stale",route="api"} 1`,
		`gateway_http_requests_total{code_class="2xx",method="GET",route="api"} 3`,
		`gateway_cache_fanout_degraded 1`,
	} {
		if !strings.Contains(m, want) {
			t.Fatalf("metrics lack %q", want)
		}
	}

	// Admin purge: local only without Redis.
	post := func(body string) (int, string) {
		resp, err := g.client.Post("http://"+g.addrs.Admin+"/admin/cache/purge", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	// The entry and, with compression on, its Vary (Accept-Encoding) record.
	if code, b := post(`{"prefixes":["/api/v1/sections/"]}`); code != 200 || strings.Contains(b, `"purged": 0`) || !strings.Contains(b, `"fanout": "local-only"`) {
		t.Fatalf("purge: %d %s", code, b)
	}
	if r, _ := get("/api/v1/sections/42/roster", "Cache-Control", "only-if-cached"); r.StatusCode != 504 {
		t.Fatalf("purged entry still served: %d", r.StatusCode)
	}
	for _, bad := range []string{`{}`, `{"urls":"x"}`, `{"nope":[]}`, `{"urls":["no-slash"],"partitions":["bogus"]}`} {
		if code, b := post(bad); code != 400 || !strings.Contains(b, "bad-purge") {
			t.Fatalf("purge %s: %d %s", bad, code, b)
		}
	}
	if _, b := post(`{"urls":["no-slash"],"partitions":["bogus"]}`); !strings.Contains(b, `"urls[0]"`) || !strings.Contains(b, `"partitions[0]"`) {
		t.Fatalf("field errors missing: %s", b)
	}
	resp, err := g.client.Get("http://" + g.addrs.Admin + "/admin/cache/purge")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 405 {
		t.Fatalf("GET purge: %d", resp.StatusCode)
	}
}

func adminGet(t *testing.T, g *gw, path string) string {
	t.Helper()
	resp, err := g.client.Get("http://" + g.addrs.Admin + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func TestBackgroundRevalidationIsForwardedLikeTheClientRequest(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var hits atomic.Int64
	var proto, xff, realIP atomic.Value
	up := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		proto.Store(string(ctx.Request.Header.Peek("X-Forwarded-Proto")))
		xff.Store(string(ctx.Request.Header.Peek("X-Forwarded-For")))
		realIP.Store(string(ctx.Request.Header.Peek("X-Real-IP")))
		ctx.Response.Header.Set("Cache-Control", "max-age=10, stale-while-revalidate=60")
		ctx.SetBodyString(fmt.Sprintf("v%d", hits.Add(1)))
	}}
	go up.Serve(ln) //nolint:errcheck // ends with Shutdown
	t.Cleanup(func() { _ = up.Shutdown() })
	g, clock := cachingGateway(t, ln.Addr().String())
	get := func() string {
		resp, err := g.client.Get("https://" + g.addrs.HTTPS + "/api/v1/timetable")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	if b := get(); b != "v1" {
		t.Fatal(b)
	}
	clock.Advance(20 * time.Second)
	if b := get(); b != "v1" {
		t.Fatalf("stale-while-revalidate served %q", b)
	}
	deadline := time.Now().Add(10 * time.Second)
	for hits.Load() < 2 {
		if time.Now().After(deadline) {
			t.Fatal("no background revalidation")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if proto.Load() != "https" || xff.Load() != "127.0.0.1" || realIP.Load() != "127.0.0.1" {
		t.Fatalf("background fetch forwarded as proto %v, XFF %v, X-Real-IP %v", proto.Load(), xff.Load(), realIP.Load())
	}
}
