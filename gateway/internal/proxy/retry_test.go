package proxy

import (
	"bufio"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/valyala/fasthttp"

	"github.com/campshub360/edge/gateway/internal/balancer"
	"github.com/campshub360/edge/gateway/internal/health"
	"github.com/campshub360/edge/gateway/internal/metrics"
)

func TestBudget(t *testing.T) {
	b := NewBudget(20, 3, 0)
	for i := 0; i < 10; i++ {
		b.Begin()
	}
	// 20% of 10 is 2, below the floor of 3: three retries at once.
	for i := 0; i < 3; i++ {
		if !b.TryRetry(0) {
			t.Fatalf("retry %d refused", i)
		}
	}
	if b.TryRetry(0) {
		t.Fatal("fourth retry allowed with 10 active")
	}
	for i := 0; i < 20; i++ {
		b.Begin()
	}
	// 30 active: 6 retries.
	for i := 0; i < 3; i++ {
		if !b.TryRetry(0) {
			t.Fatalf("retry %d of 6 refused", 3+i)
		}
	}
	if b.TryRetry(0) {
		t.Fatal("seventh retry allowed with 30 active")
	}
	b.DoneRetry()
	if !b.TryRetry(0) {
		t.Fatal("released slot not reusable")
	}
	none := NewBudget(20, 0, 0)
	if none.TryRetry(0) {
		t.Fatal("retry with no active requests and no floor")
	}
}

// TestBudgetReserve: at low concurrency the share allows few retries at
// once; the reserve lets a burst of failures (an instance lost with
// requests in flight) retry whole, then refills at its rate only, so an
// outage gets no more than that.
func TestBudgetReserve(t *testing.T) {
	const sec = int64(time.Second)
	b := NewBudget(20, 3, 2) // reserve: 2/s, holding 20
	for i := 0; i < 8; i++ {
		b.Begin()
	}
	now := 100 * sec
	// 3 from the share (floor), 20 from the reserve, all concurrent.
	for i := 0; i < 23; i++ {
		if !b.TryRetry(now) {
			t.Fatalf("retry %d of a burst of 23 refused", i)
		}
	}
	if b.TryRetry(now) {
		t.Fatal("retry beyond share and reserve allowed")
	}
	// Released share slots come back at once; the reserve refills at 2/s.
	for i := 0; i < 23; i++ {
		b.DoneRetry()
	}
	granted := 0
	for i := 0; i < 10; i++ {
		if b.TryRetry(now + sec) {
			granted++
		}
	}
	if granted != 3+2 {
		t.Fatalf("one second later %d retries at once, want 5 (3 share + 2 reserve)", granted)
	}
	off := NewBudget(20, 0, -1)
	if off.TryRetry(now) {
		t.Fatal("retry without share, floor or reserve")
	}
}

func TestBackoffFullJitter(t *testing.T) {
	base, maxWait := 25*time.Millisecond, 250*time.Millisecond
	for _, tc := range []struct {
		n       int
		ceiling time.Duration
	}{{1, 25 * time.Millisecond}, {2, 50 * time.Millisecond}, {3, 100 * time.Millisecond}, {4, 200 * time.Millisecond}, {5, 250 * time.Millisecond}, {60, 250 * time.Millisecond}} {
		if d := Backoff(tc.n, base, maxWait, uint64(tc.ceiling)-1); d != tc.ceiling-1 {
			t.Fatalf("retry %d: top of range %v, want %v", tc.n, d, tc.ceiling-1)
		}
		if d := Backoff(tc.n, base, maxWait, uint64(tc.ceiling)); d != 0 {
			t.Fatalf("retry %d: wraps to %v", tc.n, d)
		}
	}
	r := balancer.NewRand(3)
	var sum time.Duration
	for i := 0; i < 1000; i++ {
		sum += Backoff(1, base, maxWait, r.Uint64())
	}
	if mean := sum / 1000; mean < 10*time.Millisecond || mean > 15*time.Millisecond {
		t.Fatalf("mean jitter %v, want about 12.5ms", mean)
	}
}

func TestReplayable(t *testing.T) {
	for _, tc := range []struct {
		method, key string
		want        bool
	}{
		{"GET", "", true}, {"HEAD", "", true}, {"OPTIONS", "", true}, {"PUT", "", true}, {"DELETE", "", true},
		{"POST", "", false}, {"PATCH", "", false}, {"POST", "k-1", true}, {"PATCH", "k-1", true}, {"CONNECT", "k", false},
	} {
		var req fasthttp.Request
		req.Header.SetMethod(tc.method)
		if tc.key != "" {
			req.Header.Set("Idempotency-Key", tc.key)
		}
		if got := replayable(&req); got != tc.want {
			t.Fatalf("%s key=%q: %v", tc.method, tc.key, got)
		}
	}
	var req fasthttp.Request
	req.Header.SetMethod("PUT")
	req.SetBodyStream(strings.NewReader("x"), 1)
	if replayable(&req) {
		t.Fatal("streamed body is replayable")
	}
	s := NewStatusSet(502, 503, 200, 700)
	if !s.Has(502) || !s.Has(503) || s.Has(504) || s.Has(200) || s.Has(700) {
		t.Fatal("status set")
	}
}

// backend is a real HTTP server on 127.0.0.1 with a behaviour per test.
type backend struct {
	addr string
	hits atomic.Int64
	srv  *fasthttp.Server
}

func startBackend(t testing.TB, h func(b *backend, ctx *fasthttp.RequestCtx)) *backend {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &backend{addr: ln.Addr().String()}
	b.srv = &fasthttp.Server{Logger: nopLogger{}, Handler: func(ctx *fasthttp.RequestCtx) {
		b.hits.Add(1)
		h(b, ctx)
	}}
	go b.srv.Serve(ln) //nolint:errcheck // ends with Shutdown
	t.Cleanup(func() { _ = b.srv.Shutdown() })
	return b
}

type nopLogger struct{}

func (nopLogger) Printf(string, ...any) {}

func ok(b *backend, ctx *fasthttp.RequestCtx) { ctx.SetBodyString(b.addr) }

// reset answers by closing the connection without a response: the request
// reached the instance.
func reset(_ *backend, ctx *fasthttp.RequestCtx) {
	c := ctx.Conn()
	if tc, isTCP := c.(*net.TCPConn); isTCP {
		_ = tc.SetLinger(0)
	}
	_ = c.Close()
}

type harness struct {
	p   *Proxy
	t   *Target
	reg *prometheus.Registry
	m   *metrics.Metrics
}

func newHarness(t testing.TB, policy string, rp *RetryPolicy, addrs []string, so balancer.StateOptions) *harness {
	t.Helper()
	reg := prometheus.NewRegistry()
	m, err := metrics.New(reg)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	pool := &balancer.Pool{Name: "campus", Balancer: policy, PanicThreshold: 50}
	for i, a := range addrs {
		pool.Instances = append(pool.Instances, balancer.NewUpstream("campus", a, 1, i,
			balancer.ClientOptions{DialTimeout: time.Second, MaxConns: 64, MaxIdleConnDuration: time.Minute}, so))
	}
	pool.Policy, _ = balancer.NewPolicy(policy, len(addrs), balancer.NewRand(9))
	if rp == nil {
		rp = &RetryPolicy{MaxAttempts: 3, BackoffBase: time.Millisecond, BackoffMax: 5 * time.Millisecond,
			OnStatus: NewStatusSet(502, 503, 504), Budget: NewBudget(20, 3, 0), Rand: balancer.NewRand(5)}
	}
	passive := health.NewPassive(pool, health.PassiveOptions{ConsecutiveErrors: 5, BaseEjection: time.Minute,
		MaxEjection: time.Minute, MaxEjectionPercent: 50}, m.UpstreamEjections, log)
	t.Cleanup(pool.Close)
	return &harness{
		p:   New(m, log, nil),
		t:   NewTarget(m, Target{Pool: pool, Timeout: 5 * time.Second, Retry: rp, Passive: passive, QueueTimeout: 50 * time.Millisecond}),
		reg: reg, m: m,
	}
}

func (h *harness) do(method, path string, hdr ...string) *fasthttp.RequestCtx {
	var req fasthttp.Request
	req.Header.SetMethod(method)
	req.SetRequestURI(path)
	req.Header.SetHost("campus.test")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	if method == "POST" {
		req.SetBodyString(`{"n":1}`)
	}
	ctx := &fasthttp.RequestCtx{}
	ctx.Init(&req, &net.TCPAddr{IP: net.IPv4(10, 0, 0, 1), Port: 4000}, nil)
	h.p.Serve(ctx, h.t)
	return ctx
}

func (h *harness) retries(outcome string) float64 {
	return testutil.ToFloat64(h.m.UpstreamRetries.WithLabelValues("campus", outcome))
}

func TestGETRetriedOnAnotherInstanceAfterReset(t *testing.T) {
	bad := startBackend(t, reset)
	good := startBackend(t, ok)
	h := newHarness(t, balancer.PolicyRoundRobin, nil, []string{bad.addr, good.addr}, balancer.StateOptions{})
	for i := 0; i < 4; i++ {
		ctx := h.do("GET", "/api/v1/students")
		if ctx.Response.StatusCode() != 200 || string(ctx.Response.Body()) != good.addr {
			t.Fatalf("status %d body %q", ctx.Response.StatusCode(), ctx.Response.Body())
		}
	}
	// Round robin advances per pick, so every request tries bad first.
	if bad.hits.Load() != 4 || h.retries("success") != 4 {
		t.Fatalf("bad hits %d, retry successes %v", bad.hits.Load(), h.retries("success"))
	}
}

func TestPOSTIsNeverReplayedButIdempotencyKeyIs(t *testing.T) {
	bad := startBackend(t, reset)
	good := startBackend(t, ok)
	h := newHarness(t, balancer.PolicyRoundRobin, nil, []string{bad.addr, good.addr}, balancer.StateOptions{})
	// Round robin sends the first request to bad; with a key, it is
	// replayed on good.
	ctx := h.do("POST", "/api/v1/marks", "Idempotency-Key", "mark-42")
	if ctx.Response.StatusCode() != 200 || bad.hits.Load() != 1 || good.hits.Load() != 1 {
		t.Fatalf("keyed POST: status %d, bad %d, good %d", ctx.Response.StatusCode(), bad.hits.Load(), good.hits.Load())
	}
	// Two picks later it is bad's turn again: an unkeyed POST is not
	// replayed.
	ctx = h.do("POST", "/api/v1/marks")
	if ctx.Response.StatusCode() != 502 || good.hits.Load() != 1 || bad.hits.Load() != 2 {
		t.Fatalf("POST: status %d, good %d, bad %d", ctx.Response.StatusCode(), good.hits.Load(), bad.hits.Load())
	}
	if h.retries("unsafe") != 1 {
		t.Fatal("unsafe retry not counted")
	}
}

func TestDialFailureFailsOverEvenForPOST(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := ln.Addr().String()
	ln.Close()
	good := startBackend(t, ok)
	h := newHarness(t, balancer.PolicyRoundRobin, nil, []string{dead, good.addr}, balancer.StateOptions{})
	for i := 0; i < 4; i++ {
		if ctx := h.do("POST", "/api/v1/marks"); ctx.Response.StatusCode() != 200 {
			t.Fatalf("POST %d: %d", i, ctx.Response.StatusCode())
		}
	}
	if good.hits.Load() != 4 {
		t.Fatalf("good hits %d", good.hits.Load())
	}
}

func TestRetryOn503AndDeliverLastResponse(t *testing.T) {
	busy := func(_ *backend, ctx *fasthttp.RequestCtx) {
		ctx.SetStatusCode(503)
		ctx.SetBodyString("busy")
	}
	a, b := startBackend(t, busy), startBackend(t, busy)
	h := newHarness(t, balancer.PolicyRoundRobin, nil, []string{a.addr, b.addr}, balancer.StateOptions{})
	ctx := h.do("GET", "/x")
	// Both tried once; no third instance: the last 503 is delivered as is.
	if ctx.Response.StatusCode() != 503 || string(ctx.Response.Body()) != "busy" || a.hits.Load()+b.hits.Load() != 2 {
		t.Fatalf("status %d body %q hits %d+%d", ctx.Response.StatusCode(), ctx.Response.Body(), a.hits.Load(), b.hits.Load())
	}
	if h.retries("failure") != 1 || h.retries("no_instance") != 1 {
		t.Fatalf("retry outcomes failure=%v no_instance=%v", h.retries("failure"), h.retries("no_instance"))
	}
	// A POST's 503 is not retried.
	ctx = h.do("POST", "/x")
	if ctx.Response.StatusCode() != 503 || a.hits.Load()+b.hits.Load() != 3 {
		t.Fatal("POST 503 retried")
	}
}

func TestRetryBudgetStopsRetries(t *testing.T) {
	bad1, bad2 := startBackend(t, reset), startBackend(t, reset)
	rp := &RetryPolicy{MaxAttempts: 3, BackoffBase: time.Millisecond, BackoffMax: time.Millisecond,
		Budget: NewBudget(20, 0, 0), Rand: balancer.NewRand(1)}
	h := newHarness(t, balancer.PolicyRoundRobin, rp, []string{bad1.addr, bad2.addr}, balancer.StateOptions{})
	// One active request, 20% of it rounds to zero retries and there is no
	// floor: the failure is returned without a retry.
	ctx := h.do("GET", "/x")
	if ctx.Response.StatusCode() != 502 || bad1.hits.Load()+bad2.hits.Load() != 1 || h.retries("budget_exhausted") != 1 {
		t.Fatalf("status %d hits %d budget %v", ctx.Response.StatusCode(), bad1.hits.Load()+bad2.hits.Load(), h.retries("budget_exhausted"))
	}
}

func TestPerTryTimeoutMovesOn(t *testing.T) {
	release := make(chan struct{})
	slow := startBackend(t, func(_ *backend, ctx *fasthttp.RequestCtx) {
		<-release
		ctx.SetBodyString("late")
	})
	t.Cleanup(func() { close(release) })
	good := startBackend(t, ok)
	h := newHarness(t, balancer.PolicyRoundRobin, nil, []string{slow.addr, good.addr}, balancer.StateOptions{})
	h.t.PerTryTimeout = 50 * time.Millisecond
	ctx := h.do("GET", "/x")
	if ctx.Response.StatusCode() != 200 || string(ctx.Response.Body()) != good.addr {
		t.Fatalf("status %d body %q", ctx.Response.StatusCode(), ctx.Response.Body())
	}
	// A POST that timed out is not replayed: 504.
	if ctx := h.do("POST", "/x"); ctx.Response.StatusCode() != 504 {
		t.Fatalf("POST after timeout: %d", ctx.Response.StatusCode())
	}
}

func TestAllDownIsImmediate503(t *testing.T) {
	a := startBackend(t, ok)
	h := newHarness(t, balancer.PolicyP2C, nil, []string{a.addr}, balancer.StateOptions{})
	h.t.Pool.Instances[0].SetHealthy(false, 0)
	ctx := h.do("GET", "/x")
	if ctx.Response.StatusCode() != 503 || string(ctx.Response.Header.Peek("Retry-After")) != "1" || a.hits.Load() != 0 {
		t.Fatalf("status %d retry-after %q hits %d", ctx.Response.StatusCode(), ctx.Response.Header.Peek("Retry-After"), a.hits.Load())
	}
	var p struct{ Type string }
	if err := json.Unmarshal(ctx.Response.Body(), &p); err != nil || !strings.HasSuffix(p.Type, "upstream-unavailable") {
		t.Fatalf("body %s", ctx.Response.Body())
	}
}

func TestAdmissionQueueTimeoutIs503WithRetryAfter(t *testing.T) {
	release := make(chan struct{})
	slow := startBackend(t, func(_ *backend, ctx *fasthttp.RequestCtx) { <-release })
	h := newHarness(t, balancer.PolicyP2C, nil, []string{slow.addr}, balancer.StateOptions{MaxConcurrent: 1, MaxQueue: 1})
	done := make(chan struct{})
	go func() {
		defer close(done)
		h.do("GET", "/x") // holds the only slot
	}()
	u := h.t.Pool.Instances[0]
	deadline := time.Now().Add(5 * time.Second)
	for u.InFlight() != 1 {
		if time.Now().After(deadline) {
			t.Fatal("first request not in flight")
		}
		time.Sleep(time.Millisecond)
	}
	ctx := h.do("GET", "/x") // waits 50ms in the queue, then 503
	if ctx.Response.StatusCode() != 503 || len(ctx.Response.Header.Peek("Retry-After")) == 0 ||
		!strings.Contains(string(ctx.Response.Body()), "upstream-overloaded") {
		t.Fatalf("status %d body %s", ctx.Response.StatusCode(), ctx.Response.Body())
	}
	close(release)
	<-done
	if slow.hits.Load() != 1 {
		t.Fatalf("hits %d", slow.hits.Load())
	}
}

func BenchmarkProxyThreeInstances(b *testing.B) {
	var addrs []string
	for i := 0; i < 3; i++ {
		addrs = append(addrs, startBackend(b, ok).addr)
	}
	for _, pol := range []string{balancer.PolicyRoundRobin, balancer.PolicyP2C} {
		b.Run(pol, func(b *testing.B) {
			h := newHarness(b, pol, nil, addrs, balancer.StateOptions{MaxConcurrent: 256, MaxQueue: 256})
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				var req fasthttp.Request
				ctx := &fasthttp.RequestCtx{}
				addr := &net.TCPAddr{IP: net.IPv4(10, 0, 0, 1), Port: 4000}
				for pb.Next() {
					req.Reset()
					req.Header.SetMethod("GET")
					req.SetRequestURI("/api/v1/students?limit=5")
					req.Header.SetHost("campus.test")
					ctx.Init(&req, addr, nil)
					h.p.Serve(ctx, h.t)
					if ctx.Response.StatusCode() != 200 {
						b.Fatalf("status %d", ctx.Response.StatusCode())
					}
				}
			})
		})
	}
}

// TestPOSTFailsOverWhenTheKeptAliveConnectionWasClosed: an instance that
// answered and then closed the kept-alive connection (a restart, an idle
// timeout) never sees the next request on it: the closed connection is
// found before any byte is written, so even an unkeyed POST goes to
// another instance, and the failed instance is not tried again.
func TestPOSTFailsOverWhenTheKeptAliveConnectionWasClosed(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var accepted, served atomic.Int64
	closed := make(chan struct{}, 4)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			// One response without Connection: close, then the
			// connection is closed while the client keeps it idle.
			if _, err := http.ReadRequest(bufio.NewReader(c)); err == nil {
				served.Add(1)
				_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\ncloser")
			}
			_ = c.Close()
			closed <- struct{}{}
		}
	}()
	t.Cleanup(func() { _ = ln.Close() })
	good := startBackend(t, ok)
	h := newHarness(t, balancer.PolicyRoundRobin, nil, []string{ln.Addr().String(), good.addr}, balancer.StateOptions{})

	if ctx := h.do("POST", "/api/v1/marks"); ctx.Response.StatusCode() != 200 || string(ctx.Response.Body()) != "closer" {
		t.Fatalf("first POST: %d %q", ctx.Response.StatusCode(), ctx.Response.Body())
	}
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("the instance did not close its connection")
	}
	if ctx := h.do("POST", "/api/v1/marks"); ctx.Response.StatusCode() != 200 || good.hits.Load() != 1 {
		t.Fatalf("second POST: %d, good hits %d", ctx.Response.StatusCode(), good.hits.Load())
	}
	// Round robin: the closer's turn again, on its closed connection.
	ctx := h.do("POST", "/api/v1/marks")
	if ctx.Response.StatusCode() != 200 || string(ctx.Response.Body()) != good.addr {
		t.Fatalf("POST on the closed connection: %d %q, want the other instance's answer",
			ctx.Response.StatusCode(), ctx.Response.Body())
	}
	if served.Load() != 1 || accepted.Load() != 1 || good.hits.Load() != 2 {
		t.Fatalf("closer served %d on %d connections, good %d: want 1, 1, 2", served.Load(), accepted.Load(), good.hits.Load())
	}
	if h.retries("success") != 1 || h.retries("unsafe") != 0 {
		t.Fatalf("retries: success %v, unsafe %v", h.retries("success"), h.retries("unsafe"))
	}
}
