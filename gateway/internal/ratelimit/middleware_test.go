package ratelimit

import (
	"encoding/json"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/valyala/fasthttp"

	"github.com/campshub360/edge/gateway/internal/clientip"
	"github.com/campshub360/edge/gateway/internal/exchange"
	"github.com/campshub360/edge/shared/problem"
)

// harness is a limiter stage between the gateway's client-IP resolution
// and a terminal handler that answers 200.
type harness struct {
	engine  *Engine
	gen     *Generation
	clock   *fakeClock
	route   *Route
	handler fasthttp.RequestHandler
	hits    int
}

func newHarness(t *testing.T, set Settings, routePolicies []string, trusted ...string) *harness {
	t.Helper()
	h := &harness{clock: newFakeClock(time.Hour)}
	e, err := New(Options{Registry: prometheus.NewRegistry(), Clock: h.clock})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	if set.MaxKeys == 0 {
		set.MaxKeys = 1 << 16
	}
	g, err := e.Compile(set)
	if err != nil {
		t.Fatal(err)
	}
	r, err := g.Route(routePolicies)
	if err != nil {
		t.Fatal(err)
	}
	res, err := clientip.New(trusted)
	if err != nil {
		t.Fatal(err)
	}
	h.engine, h.gen, h.route = e, g, r
	terminal := func(ctx *fasthttp.RequestCtx) {
		h.hits++
		ctx.Response.Header.Set("X-Upstream", "yes")
		ctx.SetBodyString("ok")
	}
	limited := g.Middleware(func(*exchange.Exchange) *Route { return h.route }, terminal)
	withIP := clientip.Middleware(res, limited)
	h.handler = func(ctx *fasthttp.RequestCtx) {
		ex := exchange.From(ctx)
		ex.PeerTrusted = res.Trusted(clientip.Peer(ctx.RemoteIP()))
		withIP(ctx)
	}
	return h
}

func request(remote string, hdr ...string) *fasthttp.RequestCtx {
	var req fasthttp.Request
	req.SetRequestURI("/api/v1/students")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	ctx := &fasthttp.RequestCtx{}
	ip, port, _ := net.SplitHostPort(remote)
	ctx.Init(&req, &net.TCPAddr{IP: net.ParseIP(ip), Port: atoi(port)}, nil)
	return ctx
}

func atoi(s string) int {
	n := 0
	for _, c := range s {
		n = n*10 + int(c-'0')
	}
	return n
}

func (h *harness) do(remote string, hdr ...string) *fasthttp.RequestCtx {
	ctx := request(remote, hdr...)
	h.handler(ctx)
	return ctx
}

func perIP(name string, perSecond float64, burst int) PolicySpec {
	return PolicySpec{Name: name, PerSecond: perSecond, Burst: burst, Key: []string{"ip"}}
}

func TestMiddlewareHeadersRejectionAndRetryAfterHonoured(t *testing.T) {
	h := newHarness(t, Settings{Policies: []PolicySpec{perIP("per-ip", 2.0/60, 2)}}, []string{"per-ip"})
	const client = "198.51.100.4:5000"
	ctx := h.do(client)
	if ctx.Response.StatusCode() != 200 {
		t.Fatalf("first: %d", ctx.Response.StatusCode())
	}
	if got := string(ctx.Response.Header.Peek(HeaderPolicy)); got != `"per-ip";q=2;w=60` {
		t.Fatalf("RateLimit-Policy = %q", got)
	}
	if got := string(ctx.Response.Header.Peek(HeaderRateLimit)); got != `"per-ip";r=1;t=30` {
		t.Fatalf("RateLimit = %q", got)
	}
	if exchange.From(ctx).RateLimit != "allow" {
		t.Fatalf("access log field %q", exchange.From(ctx).RateLimit)
	}
	h.do(client)
	ctx = h.do(client)
	if ctx.Response.StatusCode() != 429 {
		t.Fatalf("third: %d, want 429", ctx.Response.StatusCode())
	}
	if h.hits != 2 {
		t.Fatalf("upstream saw %d requests, want 2", h.hits)
	}
	ra := string(ctx.Response.Header.Peek("Retry-After"))
	if ra != "30" {
		t.Fatalf("Retry-After = %q, want 30", ra)
	}
	if got := string(ctx.Response.Header.Peek(HeaderRateLimit)); got != `"per-ip";r=0;t=30` {
		t.Fatalf("RateLimit on 429 = %q", got)
	}
	if string(ctx.Response.Header.ContentType()) != problem.ContentType {
		t.Fatalf("content type %q", ctx.Response.Header.ContentType())
	}
	var p problem.Problem
	if err := json.Unmarshal(ctx.Response.Body(), &p); err != nil || p.Status != 429 || p.Type != problem.TypeBase+"rate-limited" {
		t.Fatalf("problem body %s (%v)", ctx.Response.Body(), err)
	}
	if exchange.From(ctx).RateLimit != "deny:per-ip" {
		t.Fatalf("access log field %q", exchange.From(ctx).RateLimit)
	}
	// One second short of Retry-After: still refused.
	h.clock.Advance(29 * time.Second)
	if c := h.do(client); c.Response.StatusCode() != 429 {
		t.Fatalf("29s later: %d", c.Response.StatusCode())
	}
	// At Retry-After: passes.
	h.clock.Advance(time.Second)
	if c := h.do(client); c.Response.StatusCode() != 200 {
		t.Fatalf("at Retry-After: %d", c.Response.StatusCode())
	}
	if n := testutil.ToFloat64(h.engine.metrics.decisions.WithLabelValues("per-ip", "deny")); n != 2 {
		t.Fatalf("deny count %v, want 2", n)
	}
	if n := testutil.ToFloat64(h.engine.metrics.decisions.WithLabelValues("per-ip", "allow")); n != 3 {
		t.Fatalf("allow count %v, want 3", n)
	}
}

func TestSpoofedForwardedForFromUntrustedPeerCannotChangeTheKey(t *testing.T) {
	// 10.0.0.0/8 is the trusted load balancer; the client connects directly.
	h := newHarness(t, Settings{Policies: []PolicySpec{perIP("per-ip", 1, 1)}}, []string{"per-ip"}, "10.0.0.0/8")
	const attacker = "203.0.113.66:4000"
	if c := h.do(attacker, "X-Forwarded-For", "1.1.1.1"); c.Response.StatusCode() != 200 {
		t.Fatal("first request refused")
	}
	for i, xff := range []string{"1.1.1.2", "2.2.2.2, 3.3.3.3", "10.0.0.1", "[2001:db8::1]"} {
		if c := h.do(attacker, "X-Forwarded-For", xff); c.Response.StatusCode() != 429 {
			t.Fatalf("spoof %d (%s) got %d: the header changed the key", i, xff, c.Response.StatusCode())
		}
	}
	// Through the trusted proxy the header is believed: different clients.
	if c := h.do("10.1.2.3:80", "X-Forwarded-For", "198.51.100.1"); c.Response.StatusCode() != 200 {
		t.Fatal("client behind the trusted proxy refused")
	}
	if c := h.do("10.1.2.3:80", "X-Forwarded-For", "198.51.100.2"); c.Response.StatusCode() != 200 {
		t.Fatal("second client behind the trusted proxy refused")
	}
	// A spoofed left-most entry through the proxy does not help either.
	if c := h.do("10.1.2.3:80", "X-Forwarded-For", "6.6.6.6, 198.51.100.1"); c.Response.StatusCode() != 429 {
		t.Fatal("spoofed left-most entry escaped the client's bucket")
	}
}

func TestMultiplePoliciesPerIPAndPerUser(t *testing.T) {
	h := newHarness(t, Settings{Policies: []PolicySpec{
		perIP("per-ip", 1, 3),
		{Name: "per-user", PerSecond: 1, Burst: 1, Key: []string{"user"}},
	}}, []string{"per-ip", "per-user"})
	// Anonymous requests are limited per IP only.
	for i := 0; i < 3; i++ {
		c := h.do("192.0.2.1:1")
		if c.Response.StatusCode() != 200 {
			t.Fatalf("anonymous %d refused", i)
		}
		if got := string(c.Response.Header.Peek(HeaderRateLimit)); strings.Contains(got, "per-user") {
			t.Fatalf("per-user item without a user: %q", got)
		}
	}
	// A verified user from another IP: both policies apply.
	ctx := request("192.0.2.2:1")
	exchange.From(ctx).Subject = "student-7"
	h.handler(ctx)
	if got := string(ctx.Response.Header.Peek(HeaderRateLimit)); got != `"per-ip";r=2;t=1, "per-user";r=0;t=1` {
		t.Fatalf("RateLimit = %q", got)
	}
	if got := string(ctx.Response.Header.Peek(HeaderPolicy)); got != `"per-ip";q=3;w=3, "per-user";q=1;w=1` {
		t.Fatalf("RateLimit-Policy = %q", got)
	}
	ctx = request("192.0.2.3:1")
	exchange.From(ctx).Subject = "student-7"
	h.handler(ctx)
	if ctx.Response.StatusCode() != 429 || exchange.From(ctx).RateLimit != "deny:per-user" {
		t.Fatalf("same user from another IP: %d %q", ctx.Response.StatusCode(), exchange.From(ctx).RateLimit)
	}
}

func TestDryRunCountsAndNeverRejects(t *testing.T) {
	spec := perIP("trial", 1, 1)
	spec.DryRun = true
	h := newHarness(t, Settings{Policies: []PolicySpec{spec}}, []string{"trial"})
	for i := 0; i < 5; i++ {
		c := h.do("192.0.2.9:1")
		if c.Response.StatusCode() != 200 {
			t.Fatalf("dry run rejected request %d", i)
		}
		if len(c.Response.Header.Peek(HeaderRateLimit)) != 0 || len(c.Response.Header.Peek(HeaderPolicy)) != 0 {
			t.Fatal("dry-run policy advertised to clients")
		}
		if i > 0 && exchange.From(c).RateLimit != "dry_run_deny:trial" {
			t.Fatalf("access log field %q", exchange.From(c).RateLimit)
		}
	}
	if n := testutil.ToFloat64(h.engine.metrics.decisions.WithLabelValues("trial", "deny")); n != 4 {
		t.Fatalf("would-be rejections counted %v, want 4", n)
	}
}

func TestInflightCaps(t *testing.T) {
	h := newHarness(t, Settings{InFlightPerIP: 1, InFlightTotal: 2}, nil)
	entered, release := make(chan struct{}), make(chan struct{})
	var blockOnce sync.Once
	h.route = nil
	block := h.gen.Middleware(func(*exchange.Exchange) *Route { return nil }, func(ctx *fasthttp.RequestCtx) {
		blockOnce.Do(func() { close(entered) })
		<-release
	})
	noBlock := h.gen.Middleware(func(*exchange.Exchange) *Route { return nil }, func(ctx *fasthttp.RequestCtx) {})
	set := func(ctx *fasthttp.RequestCtx) *fasthttp.RequestCtx {
		exchange.From(ctx).ClientIP = clientip.Peer(ctx.RemoteIP())
		return ctx
	}
	done := make(chan struct{})
	go func() { block(set(request("[2001:db8:5::1]:1"))); close(done) }()
	<-entered
	// Same /64, another address: over the per-IP cap.
	c := set(request("[2001:db8:5::99]:2"))
	noBlock(c)
	if c.Response.StatusCode() != 429 || exchange.From(c).RateLimit != "inflight_ip" {
		t.Fatalf("second in-flight request from one client: %d", c.Response.StatusCode())
	}
	// Another client passes (total 2 of 2)...
	hold := make(chan struct{})
	held := make(chan struct{})
	go func() {
		h.gen.Middleware(func(*exchange.Exchange) *Route { return nil }, func(*fasthttp.RequestCtx) { close(held); <-hold })(set(request("192.0.2.50:1")))
	}()
	<-held
	// ...and a third client finds the gateway full: 503.
	c = set(request("192.0.2.51:1"))
	noBlock(c)
	if c.Response.StatusCode() != 503 || string(c.Response.Header.Peek("Retry-After")) != "1" {
		t.Fatalf("over the total cap: %d", c.Response.StatusCode())
	}
	close(hold)
	close(release)
	<-done
	// Released: the first client may send again.
	c = set(request("[2001:db8:5::99]:2"))
	noBlock(c)
	if c.Response.StatusCode() != 200 {
		t.Fatalf("after release: %d", c.Response.StatusCode())
	}
}

func TestMiddlewareAllowedPathDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under the race detector")
	}
	h := newHarness(t, Settings{Policies: []PolicySpec{perIP("per-ip", 1e6, 1e6)}}, []string{"per-ip"})
	ctx := request("192.0.2.200:1")
	ex := exchange.From(ctx)
	ex.ClientIP = netip.MustParseAddr("192.0.2.200")
	stage := h.gen.Middleware(func(*exchange.Exchange) *Route { return h.route }, func(*fasthttp.RequestCtx) {})
	stage(ctx)
	if n := testing.AllocsPerRun(1000, func() { stage(ctx) }); n != 0 {
		t.Fatalf("allowed path allocates %.1f times per request", n)
	}
}
