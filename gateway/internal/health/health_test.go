package health

import (
	"io"
	"log/slog"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/valyala/fasthttp"

	"github.com/campshub360/edge/gateway/internal/balancer"
	"github.com/campshub360/edge/shared/testkit"
)

const t0 = int64(1_700_000_000) * int64(time.Second)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func newPool(n int) *balancer.Pool {
	p := &balancer.Pool{Name: "campus", PanicThreshold: 50}
	for i := 0; i < n; i++ {
		p.Instances = append(p.Instances, balancer.NewUpstream("campus", string(rune('a'+i))+":1", 1, i,
			balancer.ClientOptions{}, balancer.StateOptions{}))
	}
	p.Policy, _ = balancer.NewPolicy(balancer.PolicyRoundRobin, n, balancer.NewRand(1))
	return p
}

func defaults() PassiveOptions {
	return PassiveOptions{ConsecutiveErrors: 5, Consecutive5xx: 10, FailureRatio: 0.5, Window: 10 * time.Second,
		MinRequests: 20, BaseEjection: 30 * time.Second, MaxEjection: 300 * time.Second, MaxEjectionPercent: 50}
}

func newPassive(p *balancer.Pool, o PassiveOptions) (*Passive, *prometheus.CounterVec) {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "gateway_upstream_ejections_total"}, []string{"upstream", "reason"})
	return NewPassive(p, o, c, quiet), c
}

func TestConsecutiveErrorsEject(t *testing.T) {
	p := newPool(3)
	ps, c := newPassive(p, defaults())
	a := p.Instances[0]
	for i := 0; i < 4; i++ {
		ps.Observe(a, GatewayError, t0)
	}
	ps.Observe(a, Success, t0) // a success resets the streak
	for i := 0; i < 4; i++ {
		ps.Observe(a, GatewayError, t0)
	}
	if a.Ejected(t0) {
		t.Fatal("ejected without 5 consecutive errors")
	}
	ps.Observe(a, GatewayError, t0)
	if !a.Ejected(t0) || a.Ejected(t0+int64(30*time.Second)) {
		t.Fatal("not ejected for exactly 30s")
	}
	if v := testutil.ToFloat64(c.WithLabelValues("campus", ReasonConsecutiveErrors)); v != 1 {
		t.Fatalf("ejections counter %v", v)
	}
}

func TestConsecutive5xxEject(t *testing.T) {
	p := newPool(3)
	ps, c := newPassive(p, defaults())
	a := p.Instances[0]
	for i := 0; i < 9; i++ {
		ps.Observe(a, ServerError, t0)
	}
	if a.Ejected(t0) {
		t.Fatal("early")
	}
	ps.Observe(a, GatewayError, t0) // gateway errors count as 5xx too
	if !a.Ejected(t0) || testutil.ToFloat64(c.WithLabelValues("campus", ReasonConsecutive5xx)) != 1 {
		t.Fatal("not ejected after 10 consecutive 5xx")
	}
}

func TestFailureRatioOverWindow(t *testing.T) {
	p := newPool(3)
	o := defaults()
	o.ConsecutiveErrors, o.Consecutive5xx = 0, 0
	ps, _ := newPassive(p, o)
	a := p.Instances[0]
	// 40% failures over 30 requests: below the ratio.
	for i := 0; i < 30; i++ {
		out := Success
		if i%5 < 2 {
			out = ServerError
		}
		ps.Observe(a, out, t0+int64(i)*int64(100*time.Millisecond))
	}
	if a.Ejected(t0 + int64(3*time.Second)) {
		t.Fatal("ejected at 40%")
	}
	// Six more failures make it 18 of 36: 50%, ejected.
	now := t0 + int64(3*time.Second)
	k := 0
	for ; k < 20 && !a.Ejected(now); k++ {
		ps.Observe(a, ServerError, now)
	}
	if k != 6 {
		t.Fatalf("ejected after %d more failures, want 6", k)
	}
	// Old traffic leaves the window: failures long ago do not count.
	b := p.Instances[1]
	for i := 0; i < 30; i++ {
		ps.Observe(b, ServerError, t0)
		ps.Observe(b, Success, t0)
		if i == 5 {
			break
		}
	}
	later := t0 + int64(25*time.Second)
	for i := 0; i < 25; i++ {
		ps.Observe(b, Success, later)
	}
	ps.Observe(b, ServerError, later)
	if b.Ejected(later) {
		t.Fatal("stale failures counted")
	}
}

func TestSlidingWindowEstimate(t *testing.T) {
	w := window{size: int64(10 * time.Second)}
	for i := 0; i < 10; i++ {
		w.add(t0, i < 4)
	}
	// Half way into the next bucket, the previous one counts half.
	total, failed := w.estimate(t0 - t0%w.size + w.size + w.size/2)
	if total != 5 || failed != 2 {
		t.Fatalf("estimate %v/%v", failed, total)
	}
	if total, _ := w.estimate(t0 + 3*w.size); total != 0 {
		t.Fatalf("expired window still counts %v", total)
	}
}

func TestMaxEjectionPercentCountsTheCandidate(t *testing.T) {
	p := newPool(3)
	ps, _ := newPassive(p, defaults())
	a, b := p.Instances[0], p.Instances[1]
	for i := 0; i < 5; i++ {
		ps.Observe(a, GatewayError, t0)
		ps.Observe(b, GatewayError, t0)
	}
	// 50% of 3: one ejected (33%) fits, a second (67%) does not.
	if !a.Ejected(t0) || b.Ejected(t0) {
		t.Fatalf("a=%v b=%v", a.Ejected(t0), b.Ejected(t0))
	}
	// Once a is back, b's next failure ejects it.
	back := t0 + int64(31*time.Second)
	ps.Observe(b, GatewayError, back)
	if !b.Ejected(back) {
		t.Fatal("b not ejected once capacity allowed")
	}
	// A pool of one never ejects its only instance.
	one := newPool(1)
	ps1, _ := newPassive(one, defaults())
	for i := 0; i < 50; i++ {
		ps1.Observe(one.Instances[0], GatewayError, t0)
	}
	if one.Instances[0].Ejected(t0) {
		t.Fatal("only instance ejected")
	}
}

func TestEjectionBackoffGrowsAndDecays(t *testing.T) {
	base, maxT := 30*time.Second, 100*time.Second
	// Repeated ejections right after each other: 30s, 60s, 90s, capped.
	now, last, n := t0, int64(0), 0
	var got []time.Duration
	for i := 0; i < 4; i++ {
		d := EjectionTime(n, last, now, base, maxT)
		got = append(got, d)
		n = ejectionCount(n, last, now, base) + 1
		last = now + int64(d)
		now = last // fails again as soon as it is back
	}
	if got[0] != 30*time.Second || got[1] != 60*time.Second || got[2] != 90*time.Second || got[3] != 100*time.Second {
		t.Fatalf("back-off %v", got)
	}
	// Two base periods in service take the multiplier down by two.
	if d := EjectionTime(n, last, last+int64(2*base), base, maxT); d != 90*time.Second {
		t.Fatalf("after a quiet minute %v", d)
	}
	if d := EjectionTime(n, last, last+int64(time.Hour), base, maxT); d != base {
		t.Fatalf("after an hour %v", d)
	}

	// The same through Passive and Upstream.
	p := newPool(3)
	ps, _ := newPassive(p, defaults())
	a := p.Instances[0]
	fail := func(at int64) {
		for i := 0; i < 5; i++ {
			ps.Observe(a, GatewayError, at)
		}
	}
	fail(t0)
	fail(t0 + int64(30*time.Second))
	if !a.Ejected(t0+int64(89*time.Second)) || a.Ejected(t0+int64(90*time.Second)) {
		t.Fatal("second ejection is not 60s")
	}
	st := a.State(t0 + int64(31*time.Second))
	if st.Ejection == nil || st.Ejection.Count != 2 || st.State != "ejected" {
		t.Fatalf("state %+v", st)
	}
}

func TestObservationsWhileEjectedAreIgnored(t *testing.T) {
	p := newPool(3)
	ps, _ := newPassive(p, defaults())
	a := p.Instances[0]
	for i := 0; i < 5; i++ {
		ps.Observe(a, GatewayError, t0)
	}
	for i := 0; i < 4; i++ {
		ps.Observe(a, GatewayError, t0+int64(time.Second)) // panic-mode traffic
	}
	back := t0 + int64(30*time.Second)
	ps.Observe(a, GatewayError, back)
	if a.Ejected(back) {
		t.Fatal("errors seen while ejected counted towards the next ejection")
	}
}

func TestTrackerRiseFall(t *testing.T) {
	run := func(tr Tracker, results string) (states string, changes int) {
		for _, r := range results {
			if tr.Record(r == '+') {
				changes++
			}
			if tr.Healthy {
				states += "U"
			} else {
				states += "D"
			}
		}
		return
	}
	for _, tc := range []struct {
		initial bool
		in      string
		want    string
		changes int
	}{
		{true, "+-+-+-+-+-", "UUUUUUUUUU", 0}, // flapping: no change
		{true, "+--+---+", "UUUUUUDD", 1},     // three in a row to fall
		{false, "+-+-++", "UUUUUU", 1},        // first probe settles the initial state
		{true, "-+-+-++", "DDDDDDU", 2},       // first failure settles down; rise needs two
		{false, "--+-+-++-", "DDDDDDDUU", 1},  // rise 2, fall 3
		{true, "+---++---", "UUUDDUUUD", 3},   // fall 3, rise 2, fall 3
	} {
		states, changes := run(Tracker{Rise: 2, Fall: 3, Healthy: tc.initial}, tc.in)
		if states != tc.want || changes != tc.changes {
			t.Fatalf("initial %v %s: got %s (%d changes), want %s (%d)", tc.initial, tc.in, states, changes, tc.want, tc.changes)
		}
	}
}

// fakeBackend is a real HTTP server on 127.0.0.1 whose health endpoint
// answers with the status in status.
type fakeBackend struct {
	addr   string
	status atomic.Int64
	probes atomic.Int64
	srv    *fasthttp.Server
}

func startBackend(t *testing.T) *fakeBackend {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &fakeBackend{addr: ln.Addr().String()}
	b.status.Store(200)
	b.srv = &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		if string(ctx.Path()) == "/health/" && strings.HasPrefix(string(ctx.UserAgent()), "campshub360-gateway") {
			b.probes.Add(1)
		}
		ctx.SetStatusCode(int(b.status.Load()))
	}}
	go b.srv.Serve(ln) //nolint:errcheck // ends with Shutdown
	t.Cleanup(func() { _ = b.srv.Shutdown() })
	return b
}

func TestCheckerProbesAndStops(t *testing.T) {
	b := startBackend(t)
	p := &balancer.Pool{Name: "campus"}
	u := balancer.NewUpstream("campus", b.addr, 1, 0, balancer.ClientOptions{DialTimeout: time.Second},
		balancer.StateOptions{InitiallyUnhealthy: true, SlowStart: time.Hour})
	p.Instances = []*balancer.Upstream{u}
	c := NewChecker(p, CheckOptions{
		Path: "/health/", Interval: 20 * time.Millisecond, UnhealthyInterval: 10 * time.Millisecond,
		Jitter: 5 * time.Millisecond, Timeout: 500 * time.Millisecond, MinStatus: 200, MaxStatus: 299, Rise: 2, Fall: 2,
		Client: balancer.ClientOptions{DialTimeout: time.Second},
	}, quiet, time.Now, balancer.NewRand(7))
	c.Start()
	defer c.Close()
	// Probed at once; the first pass settles the initial unhealthy state
	// without a slow start.
	testkit.Poll(t, 5*time.Second, "first probe", func() bool { return u.Healthy() })
	if f := u.SlowStartFactor(time.Now().UnixNano()); f != 1 {
		t.Fatalf("initial settle started a slow start: %v", f)
	}
	b.status.Store(503)
	testkit.Poll(t, 5*time.Second, "unhealthy", func() bool { return !u.Healthy() })
	st := u.State(time.Now().UnixNano())
	if st.LastCheck == nil || st.LastCheck.OK || st.LastCheck.Status != 503 || st.LastCheck.Error != "status" {
		t.Fatalf("last check %+v", st.LastCheck)
	}
	b.status.Store(204)
	testkit.Poll(t, 5*time.Second, "healthy again", func() bool { return u.Healthy() })
	// A real recovery starts a slow start.
	if f := u.SlowStartFactor(time.Now().UnixNano()); f >= 1 {
		t.Fatal("recovery without slow start")
	}
	c.Close()
	n := b.probes.Load()
	for i := 0; i < 5; i++ {
		time.Sleep(20 * time.Millisecond) // several intervals: no probe may arrive
	}
	if b.probes.Load() != n {
		t.Fatal("probes continue after Close")
	}
}

func TestCheckerClassifiesRefused(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := ln.Addr().String()
	ln.Close()
	p := &balancer.Pool{Name: "campus"}
	u := balancer.NewUpstream("campus", dead, 1, 0, balancer.ClientOptions{}, balancer.StateOptions{})
	p.Instances = []*balancer.Upstream{u}
	c := NewChecker(p, CheckOptions{Path: "/health/", Interval: time.Hour, UnhealthyInterval: time.Hour,
		Timeout: time.Second, MinStatus: 200, MaxStatus: 399, Rise: 2, Fall: 3}, quiet, time.Now, balancer.NewRand(1))
	c.Start()
	defer c.Close()
	testkit.Poll(t, 5*time.Second, "refused probe", func() bool { return !u.Healthy() })
	if lc := u.State(0).LastCheck; lc == nil || lc.Error != "refused" {
		t.Fatalf("last check %+v", lc)
	}
}
