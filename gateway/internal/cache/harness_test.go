package cache

import (
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"

	"github.com/campshub360/edge/gateway/internal/exchange"
	"github.com/campshub360/edge/shared/testkit"
)

// fakeClock is an injectable clock, starting at the real time (origin
// Date fields are real) and moved by tests.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *fakeClock { return &fakeClock{t: time.Now()} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// origin is a real HTTP server on 127.0.0.1 whose handler tests set.
type origin struct {
	addr    string
	hits    atomic.Int64
	mu      sync.Mutex
	handler fasthttp.RequestHandler
	// last request headers seen, for assertions.
	lastHeaders map[string][]string
}

func startOrigin(t *testing.T, h fasthttp.RequestHandler) *origin {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	o := &origin{addr: ln.Addr().String(), handler: h}
	srv := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		o.hits.Add(1)
		o.mu.Lock()
		o.lastHeaders = map[string][]string{}
		for k, v := range ctx.Request.Header.All() {
			o.lastHeaders[string(k)] = append(o.lastHeaders[string(k)], string(v))
		}
		h := o.handler
		o.mu.Unlock()
		h(ctx)
	}, Concurrency: 4096, NoDefaultDate: true}
	go srv.Serve(ln) //nolint:errcheck // ends with Shutdown
	t.Cleanup(func() { _ = srv.Shutdown() })
	return o
}

func (o *origin) set(h fasthttp.RequestHandler) {
	o.mu.Lock()
	o.handler = h
	o.mu.Unlock()
}

func (o *origin) seen(name string) []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.lastHeaders[name]
}

// fixed returns an origin handler answering 200 with body and headers.
func fixed(body string, hdr ...string) fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) {
		for i := 0; i+1 < len(hdr); i += 2 {
			ctx.Response.Header.Add(hdr[i], hdr[i+1])
		}
		ctx.SetContentType("text/plain")
		ctx.SetBodyString(body)
	}
}

// gw is a cache in front of an origin, served on a real socket.
type gw struct {
	c      *Cache
	clock  *fakeClock
	origin *origin
	addr   string
	client *fasthttp.HostClient
	reg    *prometheus.Registry
}

type gwOpts struct {
	perUser   bool
	maxObject int
	hash      func([]byte) uint64
	quota     int64
	hot       int64
	ahead     float64
	wait      time.Duration
	upstream  fasthttp.RequestHandler // replaces forwarding to the origin
}

func startGW(t *testing.T, o *origin, opt gwOpts) *gw {
	t.Helper()
	clock := newClock()
	reg := prometheus.NewRegistry()
	if opt.maxObject == 0 {
		opt.maxObject = 256 << 10
	}
	if opt.hot == 0 {
		opt.hot = 4 << 20
	}
	if opt.wait == 0 {
		opt.wait = 5 * time.Second
	}
	c, err := New(Options{
		Store: StoreOptions{MaxBytes: 8 << 20, HotBytes: opt.hot, MaxObjectBytes: opt.maxObject,
			UserQuotaBytes: opt.quota, LifeWindow: time.Hour, Hash: opt.hash},
		Encodings: []string{"br", "gzip", "zstd"}, PartitionKey: []byte("test-partition-key"),
		CoalesceWait: opt.wait, HitForMiss: 5 * time.Second, RefreshAhead: opt.ahead,
		Registry: reg, Now: clock.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	pol := c.Policy("api", opt.perUser, 0)
	next := opt.upstream
	if next == nil {
		// Generous read timeouts: on a loaded machine a thousand connections
		// can take seconds to open, and the tests are about cache semantics.
		hc := &fasthttp.HostClient{Addr: o.addr, MaxConns: 2048, ReadTimeout: 30 * time.Second, MaxIdemponentCallAttempts: 1}
		next = func(ctx *fasthttp.RequestCtx) {
			if err := hc.Do(&ctx.Request, &ctx.Response); err != nil {
				ctx.Response.Reset()
				ctx.SetStatusCode(fasthttp.StatusBadGateway)
				ctx.SetBodyString("upstream failed")
			}
		}
	}
	h := c.Middleware(func(*fasthttp.RequestCtx) *Policy { return pol }, next)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		// Stands in for the edge token verification stage.
		exchange.From(ctx).Subject = string(ctx.Request.Header.Peek("X-Test-Subject"))
		h(ctx)
	}, Concurrency: 8192, NoDefaultContentType: true}
	go srv.Serve(ln) //nolint:errcheck // ends with Shutdown
	t.Cleanup(func() { _ = srv.Shutdown() })
	g := &gw{c: c, clock: clock, origin: o, addr: ln.Addr().String(), reg: reg,
		client: &fasthttp.HostClient{Addr: ln.Addr().String(), MaxConns: 2048, ReadTimeout: 40 * time.Second}}
	return g
}

// reply is what a client got.
type reply struct {
	status int
	body   string
	hdr    map[string][]string
}

func (r reply) get(name string) string {
	if v := r.hdr[strings.ToLower(name)]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// do sends method path with headers (name, value pairs; a name may repeat).
func (g *gw) do(t *testing.T, method, path string, hdr ...string) reply {
	t.Helper()
	req := fasthttp.AcquireRequest()
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.Header.SetMethod(method)
	req.SetRequestURI("http://campus.test" + path)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Add(hdr[i], hdr[i+1])
	}
	if method == fasthttp.MethodHead {
		resp.SkipBody = true
	}
	if err := g.client.Do(req, resp); err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	r := reply{status: resp.StatusCode(), body: string(resp.Body()), hdr: map[string][]string{}}
	for k, v := range resp.Header.All() {
		r.hdr[strings.ToLower(string(k))] = append(r.hdr[strings.ToLower(string(k))], string(v))
	}
	return r
}

func (g *gw) get(t *testing.T, path string, hdr ...string) reply {
	t.Helper()
	return g.do(t, fasthttp.MethodGet, path, hdr...)
}

// status returns the Cache-Status of r as a set of its parameters.
func (r reply) cacheStatus() string { return r.get("Cache-Status") }

func (r reply) isHit() bool { return strings.Contains(r.cacheStatus(), "; hit") }

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testkit.Poll(t, 10*time.Second, what, cond)
}
