package ratelimit

import (
	"crypto/rand"
	"encoding/hex"
	"net"
	"os"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"

	"github.com/campshub360/edge/shared/testkit"
)

// testRedis connects to TEST_REDIS_URL. Without it the test is skipped,
// or fails when CAMPSHUB_INTEGRATION=required (make test).
func testRedis(t *testing.T) *redis.Client {
	t.Helper()
	o, err := redis.ParseURL(testkit.Env(t, "TEST_REDIS_URL"))
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(o)
	t.Cleanup(func() { _ = rdb.Close() })
	return rdb
}

// uniquePrefix keeps each test's Redis keys apart (the Redis is shared).
func uniquePrefix(t *testing.T) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return "test:" + t.Name() + ":" + hex.EncodeToString(b[:]) + ":"
}

func sharedEngine(t *testing.T, rdb *redis.Client, prefix string, clock Clock, policies ...PolicySpec) (*Engine, *Generation) {
	t.Helper()
	e, err := New(Options{Redis: rdb, KeyPrefix: prefix, Registry: prometheus.NewRegistry(), Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	e.Heartbeat()
	g, err := e.Compile(Settings{Policies: policies, MaxKeys: 4096, StoreTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return e, g
}

func sharedPolicy(name string, perSecond float64, burst int) PolicySpec {
	return PolicySpec{Name: name, PerSecond: perSecond, Burst: burst, Key: []string{"ip"}, Shared: true}
}

func TestSharedGCRAAndPreCheck(t *testing.T) {
	rdb := testRedis(t)
	clock := newFakeClock(time.Hour)
	e, g := sharedEngine(t, rdb, uniquePrefix(t), clock, sharedPolicy("login", 1.0/60, 3))
	p := g.policies["login"]
	key := []byte("k1")
	for i := 0; i < 3; i++ {
		d, out := p.decide(clock.Now(), key, 1)
		if !d.Allowed || out != OutcomeShared || d.Remaining != 2-i {
			t.Fatalf("request %d: %+v %v", i, d, out)
		}
	}
	d, _ := p.decide(clock.Now(), key, 1)
	if d.Allowed || d.RetryAfter < 55*time.Second || d.RetryAfter > 60*time.Second {
		t.Fatalf("over the burst: %+v", d)
	}
	trips := e.store.trips.Load()
	if trips != 4 {
		t.Fatalf("%d round trips for 4 decisions", trips)
	}
	// Plainly over: answered locally until the cached instant.
	clock.Advance(d.RetryAfter / 2)
	d2, _ := p.decide(clock.Now(), key, 1)
	if d2.Allowed || e.store.trips.Load() != trips {
		t.Fatalf("pre-check: %+v, trips %d", d2, e.store.trips.Load())
	}
	if d2.RetryAfter != d.RetryAfter-d.RetryAfter/2 {
		t.Fatalf("pre-check RetryAfter %v, want %v", d2.RetryAfter, d.RetryAfter-d.RetryAfter/2)
	}
	// The local clock passing the cached instant sends the next request to
	// Redis, whose clock (not ours) decides: real time has not passed.
	clock.Advance(d.RetryAfter)
	d3, out := p.decide(clock.Now(), key, 1)
	if d3.Allowed || out != OutcomeShared || e.store.trips.Load() != trips+1 {
		t.Fatalf("after the cached instant: %+v %v trips %d", d3, out, e.store.trips.Load())
	}
	// The bucket in Redis expires once it would be full again.
	ttl := rdb.PTTL(t.Context(), e.store.prefix+"login:k1").Val()
	if ttl <= 0 || ttl > 3*time.Minute+time.Second {
		t.Fatalf("bucket TTL %v", ttl)
	}
}

func TestSharedLeasesSpareRoundTripsWithoutExceedingTheBudget(t *testing.T) {
	rdb := testRedis(t)
	clock := newFakeClock(time.Hour)
	e, g := sharedEngine(t, rdb, uniquePrefix(t), clock, sharedPolicy("api", 1.0/60, 600))
	p := g.policies["api"]
	allowed := 0
	for i := 0; i < 700; i++ {
		if d, _ := p.decide(clock.Now(), []byte("k"), 7); d.Allowed {
			allowed++
		}
	}
	if allowed != 600 {
		t.Fatalf("allowed %d of 700 with a budget of 600 (at 1/min, nothing refills)", allowed)
	}
	trips := e.store.trips.Load()
	t.Logf("700 decisions, %d round trips", trips)
	if trips > 300 {
		t.Fatalf("%d round trips: leases did not spare any", trips)
	}
}

func TestSharedBudgetIsGlobalAcrossInstances(t *testing.T) {
	rdb := testRedis(t)
	prefix := uniquePrefix(t)
	clock := newFakeClock(time.Hour)
	pol := sharedPolicy("global", 1.0/60, 20)
	e1, g1 := sharedEngine(t, rdb, prefix, clock, pol)
	e2, g2 := sharedEngine(t, rdb, prefix, clock, pol)
	e1.Heartbeat()
	if e1.Instances() != 2 || e2.Instances() != 2 {
		t.Fatalf("instances %d and %d, want 2", e1.Instances(), e2.Instances())
	}
	allowed := 0
	for i := 0; i < 60; i++ {
		g := g1
		if i%2 == 1 {
			g = g2
		}
		if d, _ := g.policies["global"].decide(clock.Now(), []byte("client"), 3); d.Allowed {
			allowed++
		}
	}
	if allowed != 20 {
		t.Fatalf("two instances admitted %d, budget 20", allowed)
	}
	e2.Close()
	e1.Heartbeat()
	if e1.Instances() != 1 {
		t.Fatalf("after one left: %d instances", e1.Instances())
	}
}

func TestSharedFallbackWhenRedisIsUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens here now: connections are refused
	rdb := redis.NewClient(&redis.Options{Addr: addr, DialTimeout: 100 * time.Millisecond, MaxRetries: -1})
	t.Cleanup(func() { _ = rdb.Close() })
	clock := newFakeClock(time.Hour)
	open := sharedPolicy("reads", 10, 4)
	closed := sharedPolicy("login", 10, 4)
	closed.FailClosed = true
	e, g := sharedEngine(t, rdb, "x:", clock, open, closed)
	e.store.instances.Store(2) // last known count: two instances
	e.store.down.Store(false)
	// A failed round trip with the store not known down: even the
	// fail_closed policy is decided by its local share, not refused.
	for i := 0; i < breakerFailures-1; i++ {
		d, out := g.policies["login"].decide(clock.Now(), []byte("c"), 5)
		if !d.Allowed || out != OutcomeFallback {
			t.Fatalf("fail_closed after %d failed round trips: %+v %v, want a fallback decision", i+1, d, out)
		}
		if e.store.down.Load() {
			t.Fatalf("store known down after %d failed round trips", i+1)
		}
	}
	// (Those two are exactly login's local share: burst 4 over 2
	// instances.) The next failure in a row opens the breaker: refused.
	if d, out := g.policies["login"].decide(clock.Now(), []byte("c"), 5); d.Allowed || out != OutcomeUnavailable {
		t.Fatalf("fail_closed on the failure that opens the breaker: %+v %v, want 503", d, out)
	}
	if !e.store.down.Load() {
		t.Fatal("store not known down after consecutive failures")
	}
	// A success closes the breaker and ends the failure run.
	e.store.succeeded()
	if e.store.down.Load() || e.store.failures.Load() != 0 {
		t.Fatal("success did not close the breaker")
	}
	allowed := 0
	for i := 0; i < 10; i++ {
		d, out := g.policies["reads"].decide(clock.Now(), []byte("c"), 5)
		if out != OutcomeFallback {
			t.Fatalf("outcome %v, want fallback", out)
		}
		if d.Allowed {
			allowed++
		}
	}
	// This instance's share: burst 4 over 2 instances.
	if allowed != 2 {
		t.Fatalf("fallback admitted %d, want 2 (half the burst)", allowed)
	}
	if n := testutil.ToFloat64(e.metrics.storeErrors); n < 1 {
		t.Fatalf("store errors %v", n)
	}
	if !e.store.down.Load() {
		t.Fatal("store not marked down")
	}
	// While down, no round trip is attempted until the probe time.
	trips := e.store.trips.Load()
	d, out := g.policies["login"].decide(clock.Now(), []byte("c"), 5)
	if d.Allowed || out != OutcomeUnavailable || e.store.trips.Load() != trips {
		t.Fatalf("fail_closed: %+v %v, trips %d -> %d", d, out, trips, e.store.trips.Load())
	}
	clock.Advance(probeEvery)
	g.policies["reads"].decide(clock.Now(), []byte("c"), 5)
	if e.store.trips.Load() != trips+1 {
		t.Fatal("no probe after probeEvery")
	}
}

func benchRedis(b *testing.B) *redis.Client {
	url := os.Getenv("TEST_REDIS_URL")
	if url == "" {
		b.Skip("TEST_REDIS_URL not set")
	}
	o, err := redis.ParseURL(url)
	if err != nil {
		b.Fatal(err)
	}
	rdb := redis.NewClient(o)
	b.Cleanup(func() { _ = rdb.Close() })
	return rdb
}
