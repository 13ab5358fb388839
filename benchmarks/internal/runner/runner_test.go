package runner

import (
	"context"
	"errors"
	"math/rand/v2"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/campshub360/edge/benchmarks/internal/pacer"
	"github.com/campshub360/edge/benchmarks/internal/report"
	"github.com/campshub360/edge/benchmarks/internal/testsrv"
)

// pathSource sends GET requests to its paths in turn; kind i is paths[i].
type pathSource struct {
	base   string
	paths  []string
	expect [][]int
}

func (s *pathSource) Kinds() []Kind {
	ks := make([]Kind, len(s.paths))
	for i, p := range s.paths {
		ks[i] = Kind{Name: p}
		if i < len(s.expect) {
			ks[i].Expect = s.expect[i]
		}
	}
	return ks
}

func (s *pathSource) NewFiller(int, *rand.Rand) Filler { return s }

func (s *pathSource) Fill(req *fasthttp.Request, seq int64) int {
	k := int(seq % int64(len(s.paths)))
	req.SetRequestURI(s.base + s.paths[k])
	return k
}

// counter is a handler that counts requests and answers 200, or 404 for
// /missing.
type counter struct{ n atomic.Int64 }

func (c *counter) handle(ctx *fasthttp.RequestCtx) {
	c.n.Add(1)
	if string(ctx.Path()) == "/missing" {
		ctx.SetStatusCode(fasthttp.StatusNotFound)
		return
	}
	ctx.SetBodyString("ok")
}

func newClient(t *testing.T, cfg ClientConfig) *Client {
	t.Helper()
	if cfg.Connections == 0 {
		cfg.Connections = 4
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 5 * time.Second
	}
	c, err := NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.CloseIdleConnections)
	return c
}

func constant(t *testing.T, rate float64, d time.Duration) *pacer.Schedule {
	t.Helper()
	s, err := pacer.Constant(rate, d)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func runOK(t *testing.T, ctx context.Context, cfg Config, c *Client, src Source) *report.Result {
	t.Helper()
	res, err := Run(ctx, cfg, c, src)
	if err != nil {
		t.Fatal(err)
	}
	checkInvariants(t, res)
	return res
}

// checkInvariants asserts that a result's counts add up.
func checkInvariants(t *testing.T, res *report.Result) {
	t.Helper()
	var transport, byKind, statusTotal, classTotal, reqTotal, reqErrors int64
	for k, n := range res.ErrorsByKind {
		byKind += n
		if k != report.KindStatus {
			transport += n
		}
	}
	for _, n := range res.Status {
		statusTotal += n
	}
	for _, n := range res.StatusClasses {
		classTotal += n
	}
	for _, k := range res.ByRequest {
		reqTotal += k.Requests
		reqErrors += k.Errors
	}
	switch {
	case res.Requests != res.Responses+transport:
		t.Errorf("requests %d != responses %d + transport errors %d", res.Requests, res.Responses, transport)
	case res.Errors != byKind:
		t.Errorf("errors %d != sum of errors by kind %d", res.Errors, byKind)
	case res.OK != res.Responses-res.ErrorsByKind[report.KindStatus]:
		t.Errorf("ok %d != responses %d - bad statuses", res.OK, res.Responses)
	case statusTotal != res.Responses || classTotal != res.Responses:
		t.Errorf("status counts %d / classes %d != responses %d", statusTotal, classTotal, res.Responses)
	case reqTotal != res.Requests || reqErrors != res.Errors:
		t.Errorf("by request: %d requests, %d errors; want %d, %d", reqTotal, reqErrors, res.Requests, res.Errors)
	case res.Latency.Count != res.Responses:
		t.Errorf("latency count %d != responses %d", res.Latency.Count, res.Responses)
	}
}

func TestClosedLoopCountsAddUp(t *testing.T) {
	var h counter
	srv := testsrv.Start(t, h.handle, false)
	c := newClient(t, ClientConfig{URL: srv.URL})
	src := &pathSource{base: c.BaseURL(), paths: []string{"/a", "/missing", "/b"}, expect: [][]int{nil, {404}}}
	res := runOK(t, t.Context(), Config{Mode: Closed, Connections: 4, MaxDuration: 30 * time.Second, MaxRequests: 300}, c, src)
	if res.Requests != 300 || res.Responses != 300 || res.OK != 300 || res.Errors != 0 {
		t.Fatalf("requests %d responses %d ok %d errors %d", res.Requests, res.Responses, res.OK, res.Errors)
	}
	if got := h.n.Load(); got != 300 {
		t.Fatalf("server saw %d requests", got)
	}
	if res.Status["200"] != 200 || res.Status["404"] != 100 || res.StatusClasses["2xx"] != 200 || res.StatusClasses["4xx"] != 100 {
		t.Fatalf("status %v classes %v", res.Status, res.StatusClasses)
	}
	if res.StopReason != report.StopMaxRequests {
		t.Fatalf("stop reason %q", res.StopReason)
	}
	if res.BytesIn <= 0 || res.BytesOut <= 0 {
		t.Fatalf("bytes in %d out %d", res.BytesIn, res.BytesOut)
	}
	if res.Service != nil || res.SendLag != nil || res.Unsent != 0 {
		t.Fatal("closed loop reports open-loop fields")
	}
	if len(res.ByRequest) != 3 || res.ByRequest[1].Name != "/missing" || res.ByRequest[1].Requests != 100 {
		t.Fatalf("by request: %+v", res.ByRequest)
	}
}

func TestUnexpectedStatusIsAnError(t *testing.T) {
	var h counter
	srv := testsrv.Start(t, h.handle, false)
	c := newClient(t, ClientConfig{URL: srv.URL})
	src := &pathSource{base: c.BaseURL(), paths: []string{"/a", "/missing"}}
	res := runOK(t, t.Context(), Config{Mode: Closed, Connections: 2, MaxDuration: 30 * time.Second, MaxRequests: 40}, c, src)
	if res.Errors != 20 || res.ErrorsByKind[report.KindStatus] != 20 || res.OK != 20 || res.ErrorRate != 0.5 {
		t.Fatalf("errors %d by kind %v ok %d rate %v", res.Errors, res.ErrorsByKind, res.OK, res.ErrorRate)
	}
}

func TestOpenLoopFollowsSchedule(t *testing.T) {
	var h counter
	srv := testsrv.Start(t, h.handle, false)
	c := newClient(t, ClientConfig{URL: srv.URL})
	sched := constant(t, 200, 500*time.Millisecond)
	cfg := Config{Mode: Open, Schedule: sched, Connections: 4, MaxDuration: 30 * time.Second, MaxRequests: 1000}
	res := runOK(t, t.Context(), cfg, c, &pathSource{base: c.BaseURL(), paths: []string{"/"}})
	// The deadline is far beyond the schedule, so every scheduled request is
	// sent however late: exactly the schedule's 100.
	if res.Requests != 100 || res.OK != 100 || res.Unsent != 0 {
		t.Fatalf("requests %d ok %d unsent %d", res.Requests, res.OK, res.Unsent)
	}
	if res.StopReason != report.StopSchedule || res.TargetRPS != 200 || res.Schedule != "200 rps for 500ms" {
		t.Fatalf("stop %q target %v schedule %q", res.StopReason, res.TargetRPS, res.Schedule)
	}
	if res.Service == nil || res.SendLag == nil || res.Service.Count != 100 || res.SendLag.Count != 100 {
		t.Fatalf("service %+v send lag %+v", res.Service, res.SendLag)
	}
	// Latency from the intended time is never shorter than the service time.
	if res.Latency.Max < res.Service.Max {
		t.Fatalf("latency max %v < service max %v", res.Latency.Max, res.Service.Max)
	}
	if h.n.Load() != 100 {
		t.Fatalf("server saw %d", h.n.Load())
	}
	if res.Elapsed.Duration() < 495*time.Millisecond {
		t.Fatalf("a 500ms schedule finished after %v", res.Elapsed.Duration())
	}
}

func TestBoundsRespected(t *testing.T) {
	var h counter
	srv := testsrv.Start(t, h.handle, false)
	c := newClient(t, ClientConfig{URL: srv.URL})
	src := &pathSource{base: c.BaseURL(), paths: []string{"/"}}

	t.Run("open max requests", func(t *testing.T) {
		sched := constant(t, 500, 10*time.Second)
		res := runOK(t, t.Context(), Config{Mode: Open, Schedule: sched, Connections: 4, MaxDuration: 10 * time.Second, MaxRequests: 50}, c, src)
		if res.Requests != 50 || res.StopReason != report.StopMaxRequests || res.Unsent != 0 {
			t.Fatalf("requests %d stop %q unsent %d", res.Requests, res.StopReason, res.Unsent)
		}
	})
	t.Run("open max duration", func(t *testing.T) {
		sched := constant(t, 100, time.Minute)
		res := runOK(t, t.Context(), Config{Mode: Open, Schedule: sched, Connections: 4, MaxDuration: 300 * time.Millisecond, MaxRequests: 1_000_000}, c, src)
		// Requests due at 0, 10ms, ..., 290ms: at most 30, all of them sent
		// or counted as unsent.
		if res.Requests+res.Unsent != 30 || res.StopReason != report.StopDuration {
			t.Fatalf("requests %d + unsent %d, stop %q", res.Requests, res.Unsent, res.StopReason)
		}
		if !strings.Contains(res.Schedule, "cut at 300ms") || res.TargetRPS != 100 {
			t.Fatalf("schedule %q target %v", res.Schedule, res.TargetRPS)
		}
	})
	t.Run("closed max duration", func(t *testing.T) {
		res := runOK(t, t.Context(), Config{Mode: Closed, Connections: 2, MaxDuration: 200 * time.Millisecond, MaxRequests: 1_000_000, ThinkMin: 5 * time.Millisecond, ThinkMax: 10 * time.Millisecond}, c, src)
		if res.StopReason != report.StopDuration || res.Requests == 0 {
			t.Fatalf("stop %q requests %d", res.StopReason, res.Requests)
		}
		// Think time alone caps the count: 2 workers, >= 5ms apart, 200ms.
		if res.Requests > 2*(200/5+1) {
			t.Fatalf("%d requests despite think time", res.Requests)
		}
		// Sending stops at the deadline; in-flight requests finish within
		// the timeout.
		if res.Elapsed.Duration() > 200*time.Millisecond+c.Timeout() {
			t.Fatalf("elapsed %v", res.Elapsed.Duration())
		}
	})
}

func TestConnectRefused(t *testing.T) {
	c := newClient(t, ClientConfig{URL: testsrv.ClosedPortURL(t)})
	res := runOK(t, t.Context(), Config{Mode: Closed, Connections: 2, MaxDuration: 30 * time.Second, MaxRequests: 20}, c, &pathSource{base: c.BaseURL(), paths: []string{"/"}})
	if res.Requests != 20 || res.ErrorsByKind["connect_refused"] != 20 || res.Responses != 0 || res.ErrorRate != 1 {
		t.Fatalf("requests %d errors %v responses %d", res.Requests, res.ErrorsByKind, res.Responses)
	}
	if res.Latency.Count != 0 {
		t.Fatalf("errors recorded as latencies: %+v", res.Latency)
	}
}

func TestServerKilledMidRun(t *testing.T) {
	var srv *testsrv.Server
	var n atomic.Int64
	srv = testsrv.Start(t, func(ctx *fasthttp.RequestCtx) {
		if n.Add(1) == 50 {
			// Crash while this request and others are in flight.
			srv.Kill()
		}
		ctx.SetBodyString("ok")
	}, false)
	c := newClient(t, ClientConfig{URL: srv.URL})
	res := runOK(t, t.Context(), Config{Mode: Closed, Connections: 4, MaxDuration: 30 * time.Second, MaxRequests: 300}, c, &pathSource{base: c.BaseURL(), paths: []string{"/"}})
	if res.Requests != 300 {
		t.Fatalf("requests %d", res.Requests)
	}
	// Requests already inside the handler when it dies may still be
	// answered; far fewer than the 300 sent is what matters.
	if res.Responses < 1 || res.Responses > 100 {
		t.Fatalf("responses %d: the server died after ~50", res.Responses)
	}
	if res.ErrorsByKind["connect_refused"] == 0 {
		t.Fatalf("no refused connection after the kill: %v", res.ErrorsByKind)
	}
	for k := range res.ErrorsByKind {
		if k != "connect_refused" && k != "reset" {
			t.Fatalf("unexpected error kind %q: %v", k, res.ErrorsByKind)
		}
	}
}

func TestTimeout(t *testing.T) {
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	srv := testsrv.Start(t, func(ctx *fasthttp.RequestCtx) {
		select {
		case <-release:
		case <-ctx.Done():
		}
	}, false)
	c := newClient(t, ClientConfig{URL: srv.URL, Timeout: 150 * time.Millisecond, Connections: 2})
	res := runOK(t, t.Context(), Config{Mode: Closed, Connections: 2, MaxDuration: 30 * time.Second, MaxRequests: 4}, c, &pathSource{base: c.BaseURL(), paths: []string{"/"}})
	if res.ErrorsByKind["timeout"] != 4 {
		t.Fatalf("errors %v", res.ErrorsByKind)
	}
}

func TestTLS(t *testing.T) {
	var h counter
	srv := testsrv.Start(t, h.handle, true)
	cfg := Config{Mode: Closed, Connections: 2, MaxDuration: 30 * time.Second, MaxRequests: 20}

	t.Run("insecure", func(t *testing.T) {
		c := newClient(t, ClientConfig{URL: srv.URL, Insecure: true, Connections: 2})
		res := runOK(t, t.Context(), cfg, c, &pathSource{base: c.BaseURL(), paths: []string{"/"}})
		if res.OK != 20 {
			t.Fatalf("ok %d errors %v", res.OK, res.ErrorsByKind)
		}
		// Keep-alive: 2 connections (2 handshakes) for 20 requests.
		if got := srv.Accepted(); got > 2 {
			t.Fatalf("%d connections for 2 workers", got)
		}
	})
	t.Run("trusted root", func(t *testing.T) {
		u := strings.Replace(srv.URL, "127.0.0.1", "localhost", 1)
		c := newClient(t, ClientConfig{URL: u, RootCAs: srv.CertPool(), Connections: 2})
		res := runOK(t, t.Context(), cfg, c, &pathSource{base: c.BaseURL(), paths: []string{"/"}})
		if res.OK != 20 {
			t.Fatalf("ok %d errors %v", res.OK, res.ErrorsByKind)
		}
	})
	t.Run("unverified", func(t *testing.T) {
		c := newClient(t, ClientConfig{URL: srv.URL, Connections: 2})
		res := runOK(t, t.Context(), cfg, c, &pathSource{base: c.BaseURL(), paths: []string{"/"}})
		if res.ErrorsByKind["tls"] != 20 {
			t.Fatalf("errors %v", res.ErrorsByKind)
		}
	})
	t.Run("plain client to a TLS server", func(t *testing.T) {
		u := strings.Replace(srv.URL, "https", "http", 1)
		c := newClient(t, ClientConfig{URL: u, Connections: 1})
		res := runOK(t, t.Context(), Config{Mode: Closed, Connections: 1, MaxDuration: 30 * time.Second, MaxRequests: 2}, c, &pathSource{base: c.BaseURL(), paths: []string{"/"}})
		if res.Errors != 2 || res.Responses != 0 {
			t.Fatalf("errors %v", res.ErrorsByKind)
		}
	})
}

// TestOpenLoopShowsStall is the coordinated-omission test: the server stalls
// once for 500ms; requests due during the stall wait for a connection, and
// open-loop latency, measured from the intended send time, must show it.
func TestOpenLoopShowsStall(t *testing.T) {
	const stall = 500 * time.Millisecond
	var n atomic.Int64
	var stallUntil atomic.Int64 // unix nanoseconds
	srv := testsrv.Start(t, func(ctx *fasthttp.RequestCtx) {
		if n.Add(1) == 30 {
			stallUntil.Store(time.Now().Add(stall).UnixNano())
		}
		if until := time.Unix(0, stallUntil.Load()); time.Now().Before(until) {
			time.Sleep(time.Until(until)) // the server's stall, not a test wait
		}
		ctx.SetBodyString("ok")
	}, false)
	c := newClient(t, ClientConfig{URL: srv.URL, Connections: 4})
	sched := constant(t, 100, 1500*time.Millisecond)
	res := runOK(t, t.Context(), Config{Mode: Open, Schedule: sched, Connections: 4, MaxDuration: 30 * time.Second, MaxRequests: 1000}, c, &pathSource{base: c.BaseURL(), paths: []string{"/"}})
	if res.Requests != 150 || res.OK != 150 {
		t.Fatalf("requests %d ok %d errors %v", res.Requests, res.OK, res.ErrorsByKind)
	}
	min := stall * 9 / 10
	if res.Latency.P999.Duration() < min || res.Latency.Max.Duration() < min {
		t.Fatalf("open-loop latency hides the stall: p99.9 %v max %v", res.Latency.P999.Duration(), res.Latency.Max.Duration())
	}
	// About 50 requests came due during the stall: far more than the 4 that
	// were in flight, so the p90 shows it too, and the send lag measures the
	// backlog.
	if res.SendLag.Max.Duration() < stall*7/10 {
		t.Fatalf("send lag max %v", res.SendLag.Max.Duration())
	}
	if res.Latency.P90.Duration() < stall/10 {
		t.Fatalf("p90 %v: queued requests not counted from their intended time", res.Latency.P90.Duration())
	}
}

func TestInterruptStillReports(t *testing.T) {
	var h counter
	srv := testsrv.Start(t, h.handle, false)
	c := newClient(t, ClientConfig{URL: srv.URL})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	sched := constant(t, 100, 20*time.Second)
	var last atomic.Pointer[Snapshot]
	cfg := Config{
		Mode: Open, Schedule: sched, Connections: 4, MaxDuration: 20 * time.Second, MaxRequests: 1_000_000,
		ProgressInterval: 50 * time.Millisecond,
		Progress: func(s Snapshot) {
			last.Store(&s)
			if s.Sent >= 5 {
				cancel()
			}
		},
	}
	res := runOK(t, ctx, cfg, c, &pathSource{base: c.BaseURL(), paths: []string{"/"}})
	if res.StopReason != report.StopInterrupted {
		t.Fatalf("stop reason %q", res.StopReason)
	}
	if res.Requests < 5 || res.Requests >= 2000 {
		t.Fatalf("requests %d", res.Requests)
	}
	s := last.Load()
	if s == nil || s.Sent < 5 || s.TargetRPS != 100 || s.Completed > s.Sent {
		t.Fatalf("snapshot %+v", s)
	}
}

func TestConfigValidateListsEveryProblem(t *testing.T) {
	cfg := Config{Mode: Open, ThinkMin: time.Second, Progress: func(Snapshot) {}}
	err := cfg.Validate()
	if err == nil {
		t.Fatal("invalid config accepted")
	}
	for _, want := range []string{"schedule", "think time applies", "connections", "max duration", "max requests", "think time must", "progress interval"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
	if (&Config{Mode: Closed, Connections: 1, MaxDuration: 1, MaxRequests: 1}).Validate() != nil {
		t.Error("valid closed config rejected")
	}
}

func TestNewClientRefusesRemote(t *testing.T) {
	for _, u := range []string{"http://10.1.2.3/", "https://example.com", "http://0.0.0.0:80", "http://192.168.1.1:8080/x", "http://[2001:db8::1]/"} {
		if _, err := NewClient(ClientConfig{URL: u, Connections: 1, Timeout: time.Second}); !errors.Is(err, ErrRemote) {
			t.Errorf("%s: err = %v, want ErrRemote", u, err)
		}
		if _, err := NewClient(ClientConfig{URL: u, Connections: 1, Timeout: time.Second, AllowRemote: true}); err != nil {
			t.Errorf("%s with AllowRemote: %v", u, err)
		}
	}
	for _, u := range []string{"http://127.0.0.1:1", "http://127.9.9.9", "https://[::1]:8443/api", "http://localhost:1", "http://api.localhost"} {
		if _, err := NewClient(ClientConfig{URL: u, Connections: 1, Timeout: time.Second}); err != nil {
			t.Errorf("%s: %v", u, err)
		}
	}
	for _, u := range []string{"ftp://127.0.0.1", "http://", "127.0.0.1:80", "http://u:p@127.0.0.1/", "http://127.0.0.1/?q=1", "http://127.0.0.1/#f", "%zz"} {
		if _, err := NewClient(ClientConfig{URL: u, Connections: 1, Timeout: time.Second}); !errors.Is(err, ErrURL) {
			t.Errorf("%q: err = %v, want ErrURL", u, err)
		}
	}
	if _, err := NewClient(ClientConfig{URL: "http://127.0.0.1", Timeout: time.Second}); err == nil {
		t.Error("zero connections accepted")
	}
	if _, err := NewClient(ClientConfig{URL: "http://127.0.0.1", Connections: 1}); err == nil {
		t.Error("zero timeout accepted")
	}
	c, err := NewClient(ClientConfig{URL: "https://[::1]:8443/api/", Connections: 1, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if c.BaseURL() != "https://[::1]:8443/api" || c.Host() != "[::1]:8443" {
		t.Fatalf("base %q host %q", c.BaseURL(), c.Host())
	}
}

func TestDialLoopbackOnly(t *testing.T) {
	c, err := NewClient(ClientConfig{URL: "http://127.0.0.1:1", Connections: 1, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	// Even if a request names another address, the dialer refuses it
	// before sending a packet.
	if _, err := c.dial("10.1.2.3:80", time.Second); !errors.Is(err, ErrRemote) {
		t.Fatalf("dial 10.1.2.3: %v", err)
	}
	if _, err := c.dial("example.com:80", time.Second); !errors.Is(err, ErrRemote) {
		t.Fatalf("dial example.com: %v", err)
	}
}

// BenchmarkClosedLoop measures the generator's own ceiling: requests per
// second through 4 connections to a trivial local server.
func BenchmarkClosedLoop(b *testing.B) {
	srv := testsrv.Start(b, func(ctx *fasthttp.RequestCtx) { ctx.SetBodyString("ok") }, false)
	c, err := NewClient(ClientConfig{URL: srv.URL, Connections: 4, Timeout: 5 * time.Second})
	if err != nil {
		b.Fatal(err)
	}
	src := &pathSource{base: c.BaseURL(), paths: []string{"/"}}
	b.ReportAllocs()
	b.ResetTimer()
	res, err := Run(b.Context(), Config{Mode: Closed, Connections: 4, MaxDuration: time.Hour, MaxRequests: int64(b.N)}, c, src)
	if err != nil {
		b.Fatal(err)
	}
	if res.OK != int64(b.N) {
		b.Fatalf("ok %d of %d", res.OK, b.N)
	}
	b.ReportMetric(res.AchievedRPS, "req/s")
}
