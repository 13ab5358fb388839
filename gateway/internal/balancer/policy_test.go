package balancer

import (
	"errors"
	"math"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/valyala/fasthttp"
)

// t0 is an arbitrary fixed clock reading (Unix ns) for deterministic tests.
const t0 = int64(1_700_000_000) * int64(time.Second)

func testPool(t testing.TB, policy string, weights ...int) *Pool {
	t.Helper()
	if len(weights) == 0 {
		weights = []int{1, 1, 1}
	}
	p := &Pool{Name: "campus", Balancer: policy, PanicThreshold: 50}
	for i, w := range weights {
		p.Instances = append(p.Instances, NewUpstream("campus", string(rune('a'+i))+":1", w, i,
			ClientOptions{DialTimeout: time.Second}, StateOptions{SlowStart: 10 * time.Second}))
	}
	pol, err := NewPolicy(policy, len(weights), NewRand(42))
	if err != nil {
		t.Fatal(err)
	}
	p.Policy = pol
	return p
}

func name(u *Upstream) string {
	if u == nil {
		return "-"
	}
	return u.Addr[:1]
}

func seq(p *Pool, n int, r Request) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		b.WriteString(name(p.Pick(0, r)))
	}
	return b.String()
}

func shares(p *Pool, n int, r Request) map[string]int {
	m := map[string]int{}
	for i := 0; i < n; i++ {
		m[name(p.Pick(0, r))]++
	}
	return m
}

func TestSet(t *testing.T) {
	s := Set(0).Add(1).Add(5).Add(63)
	if s.Len() != 3 || !s.Has(5) || s.Has(0) || s.Nth(0) != 1 || s.Nth(2) != 63 || s.Nth(3) != -1 {
		t.Fatalf("set %b", s)
	}
}

func TestRoundRobinCyclesOverEligible(t *testing.T) {
	p := testPool(t, PolicyRoundRobin)
	r := Request{Now: t0}
	if got := seq(p, 6, r); got != "abcabc" {
		t.Fatalf("order %q", got)
	}
	p.Instances[1].SetHealthy(false, t0)
	// The survivors split evenly; nothing goes to b.
	if m := shares(p, 100, r); m["a"] != 50 || m["c"] != 50 {
		t.Fatalf("shares with b down %v", m)
	}
	if u := p.Pick(Set(0).Add(0).Add(2), r); u != nil {
		t.Fatalf("picked %q although a and c are tried and b is down", u.Addr)
	}
}

func TestRoundRobinSlowStartRampsShare(t *testing.T) {
	p := testPool(t, PolicyRoundRobin)
	b := p.Instances[1]
	b.SetHealthy(false, t0)
	b.SetHealthy(true, t0) // recovered at t0: slow start over 10s
	share := func(at time.Duration) float64 {
		m := shares(p, 30000, Request{Now: t0 + int64(at)})
		return float64(m["b"]) / 30000
	}
	// Factor 0.1 at the start: b gives up 90% of its turns, 0.1/2.1 of all.
	if s := share(0); s < 0.02 || s > 0.06 {
		t.Fatalf("share at start %.3f, want about 0.1/2.1", s)
	}
	if s := share(5 * time.Second); s < 0.16 || s > 0.24 {
		t.Fatalf("share half way %.3f, want about 0.5/2.5", s)
	}
	if s := share(10 * time.Second); math.Abs(s-1.0/3) > 0.01 {
		t.Fatalf("share after the window %.3f, want 1/3", s)
	}
}

func TestWeightedRoundRobinIsSmooth(t *testing.T) {
	p := testPool(t, PolicyWeightedRoundRobin, 5, 1, 1)
	// nginx's documented sequence for weights 5,1,1.
	if got := seq(p, 14, Request{Now: t0}); got != "aabacaaaabacaa" {
		t.Fatalf("order %q", got)
	}
	p = testPool(t, PolicyWeightedRoundRobin, 3, 2, 1)
	if m := shares(p, 600, Request{Now: t0}); m["a"] != 300 || m["b"] != 200 || m["c"] != 100 {
		t.Fatalf("shares %v", m)
	}
	// A down instance's share goes to the others in proportion.
	p.Instances[0].SetHealthy(false, t0)
	if m := shares(p, 300, Request{Now: t0}); m["b"] != 200 || m["c"] != 100 {
		t.Fatalf("shares with a down %v", m)
	}
	// Back up with a slow start: at half way it has half its weight.
	p.Instances[0].SetHealthy(true, t0)
	if m := shares(p, 450, Request{Now: t0 + int64(5*time.Second)}); m["a"] != 150 || m["b"] != 200 || m["c"] != 100 {
		t.Fatalf("shares in slow start %v", m)
	}
}

func TestLeastConnPrefersFewestInFlightPerWeight(t *testing.T) {
	p := testPool(t, PolicyLeastConn, 1, 1, 2)
	a, b, c := p.Instances[0], p.Instances[1], p.Instances[2]
	hold := func(u *Upstream, n int) {
		for i := 0; i < n; i++ {
			if err := u.Acquire(0); err != nil {
				t.Fatal(err)
			}
		}
	}
	hold(a, 3)
	hold(b, 1)
	hold(c, 3) // (3+1)/2 = 2 per weight, b has (1+1)/1 = 2: tie between b and c
	m := shares(p, 100, Request{Now: t0})
	if m["a"] != 0 || m["b"]+m["c"] != 100 || m["b"] < 30 || m["c"] < 30 {
		t.Fatalf("tie not spread or a picked: %v", m)
	}
	hold(b, 5)
	if u := p.Pick(0, Request{Now: t0}); u != c {
		t.Fatalf("picked %s, want c", name(u))
	}
}

func TestP2CAvoidsBusyAndSlowInstances(t *testing.T) {
	p := testPool(t, PolicyP2C)
	a, b, c := p.Instances[0], p.Instances[1], p.Instances[2]
	// No samples and nothing in flight: every instance costs 0 and draws
	// decide; the split is roughly even.
	m := shares(p, 3000, Request{Now: t0})
	for _, k := range []string{"a", "b", "c"} {
		if m[k] < 800 || m[k] > 1200 {
			t.Fatalf("idle split %v", m)
		}
	}
	for _, u := range []*Upstream{a, b, c} {
		u.Observe(t0, time.Millisecond)
	}
	c.Observe(t0, 100*time.Millisecond) // peak: c is slow now
	// Among three, the worst instance never wins a draw.
	if m := shares(p, 1000, Request{Now: t0}); m["c"] != 0 || m["a"] < 400 || m["b"] < 400 {
		t.Fatalf("slow instance picked: %v", m)
	}
	// A busy instance loses too: a with 200 requests in flight costs more
	// than c's 100ms x 1.
	for i := 0; i < 200; i++ {
		_ = a.Acquire(0)
	}
	if m := shares(p, 1000, Request{Now: t0}); m["a"] != 0 {
		t.Fatalf("busy instance picked: %v", m)
	}
	for i := 0; i < 200; i++ {
		a.Release()
	}
	// a and b keep answering in 1ms; c, avoided, gets no samples and its
	// estimate decays (time constant 10s): after 60s 100ms*e^-6 = 0.25ms
	// is below a's and b's 1ms, so c is tried again.
	later := t0 + int64(60*time.Second)
	a.Observe(later, time.Millisecond)
	b.Observe(later, time.Millisecond)
	if m := shares(p, 3000, Request{Now: later}); m["c"] < 1500 {
		t.Fatalf("avoided instance not tried again: %v", m)
	}
}

func TestEWMAIsPeakSensitiveAndTimeWeighted(t *testing.T) {
	u := NewUpstream("p", "a:1", 1, 0, ClientOptions{}, StateOptions{EWMADecay: 10 * time.Second})
	if u.EWMA(t0) != 0 {
		t.Fatal("fresh EWMA not zero")
	}
	u.Observe(t0, 10*time.Millisecond)
	if got := u.EWMA(t0); got != float64(10*time.Millisecond) {
		t.Fatalf("first sample %v", got)
	}
	u.Observe(t0, 50*time.Millisecond) // a slower sample replaces the estimate
	if got := u.EWMA(t0); got != float64(50*time.Millisecond) {
		t.Fatalf("peak %v", got)
	}
	// A fast sample 10s later weighs 1-1/e.
	u.Observe(t0+int64(10*time.Second), 10*time.Millisecond)
	want := 50e6/math.E + 10e6*(1-1/math.E)
	if got := u.EWMA(t0 + int64(10*time.Second)); math.Abs(got-want) > 1 {
		t.Fatalf("after 10s got %.0f want %.0f", got, want)
	}
	// Reading decays towards zero with time.
	if got := u.EWMA(t0 + int64(20*time.Second)); math.Abs(got-want/math.E) > 1 {
		t.Fatalf("decayed read got %.0f want %.0f", got, want/math.E)
	}
}

func TestHashIsStickyWithFallback(t *testing.T) {
	p := testPool(t, PolicyHash)
	owner := map[uint64]*Upstream{}
	count := map[string]int{}
	for k := uint64(0); k < 3000; k++ {
		u := p.Pick(0, Request{Now: t0, Key: k * 7919, HasKey: true})
		owner[k*7919] = u
		count[name(u)]++
		if again := p.Pick(0, Request{Now: t0, Key: k * 7919, HasKey: true}); again != u {
			t.Fatal("same key moved")
		}
	}
	for _, k := range []string{"a", "b", "c"} {
		if count[k] < 850 || count[k] > 1150 {
			t.Fatalf("uneven key spread %v", count)
		}
	}
	// b goes down: only b's keys move, and each to one consistent
	// fallback; when b is back, its keys return.
	b := p.Instances[1]
	b.SetHealthy(false, t0)
	for key, was := range owner {
		u := p.Pick(0, Request{Now: t0, Key: key, HasKey: true})
		if was != b && u != was {
			t.Fatalf("key of %s moved to %s", name(was), name(u))
		}
		if u == b {
			t.Fatal("down instance picked")
		}
		if was == b {
			// A retry after the fallback failed goes to the third.
			if r := p.Pick(Set(0).Add(u.Index), Request{Now: t0, Key: key, HasKey: true}); r == nil || r == u || r == b {
				t.Fatalf("retry went to %s", name(r))
			}
		}
	}
	b.SetHealthy(true, 0) // no slow start, so the weights are equal again
	for key, was := range owner {
		if u := p.Pick(0, Request{Now: t0, Key: key, HasKey: true}); u != was {
			t.Fatal("key did not return to its owner")
		}
	}
	// Without a key, requests are spread.
	if m := shares(p, 300, Request{Now: t0}); m["a"] == 0 || m["b"] == 0 || m["c"] == 0 {
		t.Fatalf("keyless spread %v", m)
	}
}

func TestHashHonoursWeights(t *testing.T) {
	p := testPool(t, PolicyHash, 2, 1, 1)
	count := map[string]int{}
	for k := uint64(1); k <= 4000; k++ {
		count[name(p.Pick(0, Request{Now: t0, Key: mix64(k), HasKey: true}))]++
	}
	if count["a"] < 1800 || count["a"] > 2200 {
		t.Fatalf("weight 2 of 4 got %v", count)
	}
}

func TestKeySources(t *testing.T) {
	var ctx fasthttp.RequestCtx
	ctx.Request.Header.Set("X-Tenant", "north")
	ctx.Request.Header.SetCookie("sid", "abc")
	ip := netip.MustParseAddr("10.1.2.3")
	for _, tc := range []struct {
		spec string
		ok   bool
		has  bool
	}{
		{"client_ip", true, true}, {"header:X-Tenant", true, true}, {"header:X-Missing", true, false},
		{"cookie:sid", true, true}, {"cookie:nope", true, false}, {"subject", true, true},
		{"header:", false, false}, {"header:bad name", false, false}, {"ip", false, false},
	} {
		k, ok := ParseKeySource(tc.spec)
		if ok != tc.ok {
			t.Fatalf("%s: parse %v", tc.spec, ok)
		}
		if !ok {
			continue
		}
		if _, has := k.Hash(&ctx, ip, "user-7"); has != tc.has {
			t.Fatalf("%s: has key %v", tc.spec, has)
		}
	}
	k, _ := ParseKeySource("subject")
	if _, has := k.Hash(&ctx, ip, ""); has {
		t.Fatal("empty subject is a key")
	}
	k, _ = ParseKeySource("client_ip")
	h1, _ := k.Hash(&ctx, ip, "")
	h2, _ := k.Hash(&ctx, netip.MustParseAddr("::ffff:10.1.2.3"), "")
	if h1 != h2 {
		t.Fatal("IPv4-mapped address hashes differently")
	}
}

func TestEligibleAndPanicMode(t *testing.T) {
	p := testPool(t, PolicyRoundRobin, 1, 1, 1, 1)
	a, b, c, d := p.Instances[0], p.Instances[1], p.Instances[2], p.Instances[3]
	b.Eject(t0, t0+int64(30*time.Second), "consecutive_errors", 1)
	if s, panic := p.Eligible(t0); panic || s != Set(0).Add(0).Add(2).Add(3) {
		t.Fatalf("eligible %b panic %v", s, panic)
	}
	// c fails its active check: 2 of 4 available, still not below 50%.
	c.SetHealthy(false, t0)
	if s, panic := p.Eligible(t0); panic || s.Len() != 2 {
		t.Fatalf("eligible %b panic %v", s, panic)
	}
	// d drains: 1 of 3 non-draining available (33% < 50%): panic mode
	// brings the ejected b back, but not the actively failed c.
	d.SetDraining(true, t0)
	if s, panic := p.Eligible(t0); !panic || s != Set(0).Add(0).Add(1) {
		t.Fatalf("panic eligible %b panic %v", s, panic)
	}
	// The ejection runs out: no panic, b comes back in slow start.
	later := t0 + int64(31*time.Second)
	if s, panic := p.Eligible(later); panic || s != Set(0).Add(0).Add(1) {
		t.Fatalf("after ejection %b %v", s, panic)
	}
	if f := b.SlowStartFactor(later); math.Abs(f-0.1) > 1e-9 {
		t.Fatalf("slow start factor %v", f)
	}
	// Everything down: no instance at all, so the proxy answers 503.
	a.SetHealthy(false, t0)
	b.SetHealthy(false, t0)
	if u := p.Pick(0, Request{Now: later}); u != nil {
		t.Fatalf("picked %s with all down", name(u))
	}
	if s := p.State(later); s.Instances[3].State != "draining" || s.Instances[2].State != "unhealthy" {
		t.Fatalf("state %+v", s)
	}
	if a.stateChanges.Load() != 1 || b.stateChanges.Load() != 2 {
		t.Fatalf("state changes a=%d b=%d", a.stateChanges.Load(), b.stateChanges.Load())
	}
}

func TestSlowStartFactor(t *testing.T) {
	u := NewUpstream("p", "a:1", 4, 0, ClientOptions{}, StateOptions{SlowStart: 20 * time.Second})
	if u.SlowStartFactor(t0) != 1 {
		t.Fatal("slow start without a recovery")
	}
	u.SetHealthy(false, t0)
	u.SetHealthy(true, t0)
	for _, tc := range []struct {
		at   time.Duration
		want float64
	}{{0, 0.1}, {time.Second, 0.1}, {5 * time.Second, 0.25}, {15 * time.Second, 0.75}, {20 * time.Second, 1}, {time.Hour, 1}} {
		if got := u.SlowStartFactor(t0 + int64(tc.at)); math.Abs(got-tc.want) > 1e-9 {
			t.Fatalf("at %v factor %v want %v", tc.at, got, tc.want)
		}
	}
	if w := u.EffectiveWeight(t0 + int64(5*time.Second)); w != 1 {
		t.Fatalf("effective weight %v", w)
	}
	// An operator's undrain ramps too.
	u.SetDraining(true, t0)
	u.SetDraining(false, t0+int64(time.Hour))
	if f := u.SlowStartFactor(t0 + int64(time.Hour+10*time.Second)); f != 0.5 {
		t.Fatalf("after undrain %v", f)
	}
}

// TestActiveRecoveryEndsPassiveEjection: an instance the active checks
// saw go down and come back is unejected at once; one they never saw down
// serves its ejection out.
func TestActiveRecoveryEndsPassiveEjection(t *testing.T) {
	sec := int64(time.Second)
	u := NewUpstream("p", "a:1", 1, 0, ClientOptions{}, StateOptions{})
	u.Eject(t0, t0+90*sec, "consecutive_errors", 3)
	u.SetHealthy(true, t0+sec) // no change of state: nothing ends
	if !u.Ejected(t0 + 2*sec) {
		t.Fatal("a healthy verdict without an outage ended the ejection")
	}
	u.SetHealthy(false, t0+2*sec)
	u.SetHealthy(true, t0+5*sec)
	if u.Ejected(t0+5*sec) || !u.Available(t0+5*sec) {
		t.Fatal("still ejected after the active checks saw the instance recover")
	}
	u.infoMu.Lock()
	info := u.ejection
	u.infoMu.Unlock()
	if !info.Until.Equal(time.Unix(0, t0+5*sec)) || info.Count != 3 {
		t.Fatalf("ejection info %+v", info)
	}
}

func TestFullInstancesArePassedOver(t *testing.T) {
	p := &Pool{Name: "p"}
	for i := 0; i < 3; i++ {
		p.Instances = append(p.Instances, NewUpstream("p", strconv.Itoa(i), 1, i, ClientOptions{}, StateOptions{MaxConcurrent: 1}))
	}
	p.Policy, _ = NewPolicy(PolicyRoundRobin, 3, NewRand(1))
	for i := 0; i < 3; i++ {
		u := p.Pick(0, Request{Now: t0})
		if err := u.Acquire(0); err != nil {
			t.Fatalf("pick %d went to a full instance %s: %v", i, u.Addr, err)
		}
	}
	// All full: the policy still picks (the request will queue or fail).
	if u := p.Pick(0, Request{Now: t0}); u == nil {
		t.Fatal("nil pick with every instance full")
	}
}

func TestAdmissionQueue(t *testing.T) {
	u := NewUpstream("p", "a:1", 1, 0, ClientOptions{}, StateOptions{MaxConcurrent: 2, MaxQueue: 1})
	if u.Acquire(0) != nil || u.Acquire(0) != nil {
		t.Fatal("slots under the cap refused")
	}
	// A third waits in the queue; a fourth finds the queue full.
	got := make(chan error, 1)
	go func() { got <- u.Acquire(10 * time.Second) }()
	deadline := time.Now().Add(5 * time.Second)
	for u.Queued() != 1 {
		if time.Now().After(deadline) {
			t.Fatal("waiter not queued")
		}
		time.Sleep(time.Millisecond)
	}
	if err := u.Acquire(10 * time.Second); !errors.Is(err, ErrQueueFull) || !errors.Is(err, ErrOverloaded) {
		t.Fatalf("fourth got %v", err)
	}
	u.Release() // hands the slot to the waiter
	if err := <-got; err != nil {
		t.Fatalf("waiter got %v", err)
	}
	if u.InFlight() != 2 || u.Queued() != 0 {
		t.Fatalf("in flight %d queued %d", u.InFlight(), u.Queued())
	}
	// A waiter whose time runs out leaves the queue with ErrQueueTimeout.
	if err := u.Acquire(5 * time.Millisecond); !errors.Is(err, ErrQueueTimeout) {
		t.Fatalf("timeout got %v", err)
	}
	if u.Queued() != 0 || u.InFlight() != 2 {
		t.Fatalf("after timeout in flight %d queued %d", u.InFlight(), u.Queued())
	}
	// Without a queue the cap rejects at once.
	v := NewUpstream("p", "b:1", 1, 0, ClientOptions{}, StateOptions{MaxConcurrent: 1})
	_ = v.Acquire(0)
	if err := v.Acquire(time.Second); !errors.Is(err, ErrQueueFull) {
		t.Fatalf("no-queue got %v", err)
	}
}

func TestAdmissionNeverExceedsCapUnderContention(t *testing.T) {
	u := NewUpstream("p", "a:1", 1, 0, ClientOptions{}, StateOptions{MaxConcurrent: 3, MaxQueue: 1000})
	var mu sync.Mutex
	var cur, peak int
	var wg sync.WaitGroup
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				if err := u.Acquire(10 * time.Second); err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				cur++
				peak = max(peak, cur)
				mu.Unlock()
				mu.Lock()
				cur--
				mu.Unlock()
				u.Release()
			}
		}()
	}
	wg.Wait()
	if peak > 3 || u.InFlight() != 0 || u.Queued() != 0 {
		t.Fatalf("peak %d in flight %d queued %d", peak, u.InFlight(), u.Queued())
	}
}

func TestCollector(t *testing.T) {
	p := testPool(t, PolicyP2C)
	p.Instances[1].Eject(t0, t0+int64(time.Minute), "failure_ratio", 1)
	reg := prometheus.NewRegistry()
	reg.MustRegister(NewCollector(func() []*Pool { return []*Pool{p} }, func() time.Time { return time.Unix(0, t0) }))
	want := `
# HELP gateway_upstream_healthy 1 when the upstream instance is healthy and not ejected, else 0.
# TYPE gateway_upstream_healthy gauge
gateway_upstream_healthy{instance="a:1",upstream="campus"} 1
gateway_upstream_healthy{instance="b:1",upstream="campus"} 0
gateway_upstream_healthy{instance="c:1",upstream="campus"} 1
# HELP gateway_upstream_queue_depth Requests waiting for admission to an instance of the upstream.
# TYPE gateway_upstream_queue_depth gauge
gateway_upstream_queue_depth{upstream="campus"} 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want)); err != nil {
		t.Fatal(err)
	}
}

func TestPickDoesNotAllocate(t *testing.T) {
	for _, pol := range []string{PolicyRoundRobin, PolicyWeightedRoundRobin, PolicyLeastConn, PolicyP2C, PolicyHash} {
		p := testPool(t, pol)
		p.Instances[1].SetHealthy(false, t0)
		p.Instances[1].SetHealthy(true, t0) // in slow start
		for _, u := range p.Instances {
			u.Observe(t0, time.Millisecond)
		}
		r := Request{Now: t0 + int64(time.Second), Key: 12345, HasKey: true}
		if n := testing.AllocsPerRun(1000, func() { _ = p.Pick(Set(0).Add(2), r) }); n != 0 {
			t.Fatalf("%s: Pick allocates %.1f", pol, n)
		}
	}
}

func BenchmarkPick(b *testing.B) {
	for _, pol := range []string{PolicyRoundRobin, PolicyWeightedRoundRobin, PolicyLeastConn, PolicyP2C, PolicyHash} {
		b.Run(pol, func(b *testing.B) {
			p := testPool(b, pol)
			for _, u := range p.Instances {
				u.Observe(t0, time.Millisecond)
			}
			r := Request{Now: t0, Key: 99, HasKey: true}
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					u := p.Pick(0, r)
					_ = u.Acquire(0)
					u.Release()
				}
			})
		})
	}
}

// TestTrackedConnPeekDoesNotAllocate: the check made before each request
// on a reused upstream connection costs a system call, no allocation.
func TestTrackedConnPeekDoesNotAllocate(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			accepted <- c
		}
	}()
	raw, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	peer := <-accepted
	c := newTrackedConn(raw).(*trackedConn)
	defer c.Close()
	if c.closedByPeer() {
		t.Fatal("an open connection looks closed")
	}
	if n := testing.AllocsPerRun(100, func() { c.closedByPeer() }); n != 0 {
		t.Fatalf("peek allocates %v times", n)
	}
	_ = peer.Close()
	deadline := time.Now().Add(10 * time.Second)
	for !c.closedByPeer() {
		if time.Now().After(deadline) {
			t.Fatal("a connection closed by the peer still looks open")
		}
		time.Sleep(time.Millisecond)
	}
}
