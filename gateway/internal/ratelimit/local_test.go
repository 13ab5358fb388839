package ratelimit

import (
	"runtime"
	"sync/atomic"
	"testing"
	"time"
)

// fakeClock is a Clock tests move by hand.
type fakeClock struct{ n atomic.Int64 }

func (f *fakeClock) Now() time.Duration      { return time.Duration(f.n.Load()) }
func (f *fakeClock) Advance(d time.Duration) { f.n.Add(int64(d)) }
func (f *fakeClock) Set(d time.Duration)     { f.n.Store(int64(d)) }
func newFakeClock(start time.Duration) *fakeClock {
	c := &fakeClock{}
	c.Set(start)
	return c
}

func mustAllow(t *testing.T, b *Buckets, now time.Duration, h uint64, what string) Decision {
	t.Helper()
	d := b.Take(now, h)
	if !d.Allowed {
		t.Fatalf("%s: denied at %v (retry after %v)", what, now, d.RetryAfter)
	}
	return d
}

func mustDeny(t *testing.T, b *Buckets, now time.Duration, h uint64, what string) Decision {
	t.Helper()
	d := b.Take(now, h)
	if d.Allowed {
		t.Fatalf("%s: allowed at %v (remaining %d)", what, now, d.Remaining)
	}
	return d
}

func TestBucketsRateBurstAndBoundary(t *testing.T) {
	b := NewBuckets(10, 5, 1<<16) // 10/s: one token per 100ms, burst 5
	t0 := 3 * time.Second
	for i := 0; i < 5; i++ {
		d := mustAllow(t, b, t0, 1, "burst")
		if d.Remaining != 4-i {
			t.Fatalf("request %d: remaining %d, want %d", i, d.Remaining, 4-i)
		}
	}
	d := mustDeny(t, b, t0, 1, "over burst")
	if d.RetryAfter != 100*time.Millisecond {
		t.Fatalf("RetryAfter = %v, want exactly 100ms", d.RetryAfter)
	}
	if d.Reset != 500*time.Millisecond {
		t.Fatalf("Reset = %v, want 500ms", d.Reset)
	}
	// Just before the boundary: still no token. (x/time/rate truncates
	// its wait to whole nanoseconds, so "just before" is a microsecond.)
	mustDeny(t, b, t0+100*time.Millisecond-time.Microsecond, 1, "before boundary")
	// Exactly at the boundary: one token.
	mustAllow(t, b, t0+100*time.Millisecond, 1, "at boundary")
	mustDeny(t, b, t0+100*time.Millisecond, 1, "boundary token spent")

	// Sustained rate: over 10 s at 100 requests per second, exactly 100
	// pass (the bucket is empty at the start).
	passed := 0
	start := t0 + 100*time.Millisecond
	for i := 1; i <= 1000; i++ {
		if b.Take(start+time.Duration(i)*10*time.Millisecond, 1).Allowed {
			passed++
		}
	}
	if passed != 100 {
		t.Fatalf("passed %d of 1000 over 10s at 10/s, want 100", passed)
	}

	// Refill after idle: a long pause refills to the burst, never beyond.
	later := start + 10*time.Second + time.Hour
	for i := 0; i < 5; i++ {
		mustAllow(t, b, later, 1, "refilled burst")
	}
	mustDeny(t, b, later, 1, "refill is capped at the burst")

	// Other keys are independent.
	mustAllow(t, b, later, 2, "another key")
}

func TestBucketsFractionalRateRetryAfterIsExact(t *testing.T) {
	for _, perSecond := range []float64{3, 7, 1.0 / 60, 1000, 0.3} {
		b := NewBuckets(perSecond, 1, 1<<16)
		now := 7 * time.Second
		mustAllow(t, b, now, 9, "first")
		for round := 0; round < 20; round++ {
			d := mustDeny(t, b, now, 9, "second")
			if d.RetryAfter <= 0 {
				t.Fatalf("rate %v: RetryAfter %v", perSecond, d.RetryAfter)
			}
			// The request sent exactly RetryAfter later passes; a
			// microsecond earlier it does not.
			mustDeny(t, b, now+d.RetryAfter-time.Microsecond, 9, "just before RetryAfter")
			now += d.RetryAfter
			mustAllow(t, b, now, 9, "at RetryAfter")
		}
	}
}

func TestSystemClockIsMonotonic(t *testing.T) {
	c := SystemClock()
	prev := c.Now()
	for i := 0; i < 1000; i++ {
		now := c.Now()
		if now < prev {
			t.Fatalf("clock went backwards: %v then %v", prev, now)
		}
		prev = now
	}
}

func TestEvictionNeverResetsAnActiveBucket(t *testing.T) {
	const maxKeys = 1024 // 16 per shard
	b := NewBuckets(1, 3, maxKeys)
	now := time.Minute
	// An active client empties its bucket.
	const active = uint64(12345)
	for i := 0; i < 3; i++ {
		mustAllow(t, b, now, active, "active")
	}
	mustDeny(t, b, now, active, "active empty")
	// A flood of new clients, each spending a token so none is full.
	overflowed := 0
	for h := uint64(1); h <= 20*maxKeys; h++ {
		if b.Take(now, h<<8).Overflow {
			overflowed++
		}
	}
	if b.Len() > maxKeys {
		t.Fatalf("table holds %d keys, cap %d", b.Len(), maxKeys)
	}
	if overflowed == 0 {
		t.Fatal("no key went to the overflow bucket at the cap")
	}
	// The active client's bucket survived the flood: still empty.
	mustDeny(t, b, now, active, "active after flood")
	// Once buckets are idle (full) they are evicted and newcomers get
	// buckets of their own again; the active client's state is exact.
	now += 10 * time.Second
	if n := b.Sweep(now); n == 0 {
		t.Fatal("sweep evicted nothing")
	}
	d := b.Take(now, 99<<40)
	if d.Overflow {
		t.Fatal("newcomer still in overflow after idle buckets were evicted")
	}
}

func TestManyKeysStayUnderTheMemoryCap(t *testing.T) {
	const maxKeys = 1 << 16
	keys := 300_000
	if raceEnabled {
		keys = 100_000
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	b := NewBuckets(5, 10, maxKeys)
	now := time.Second
	for i := 0; i < keys; i++ {
		b.Take(now, keyHash(1, []byte{byte(i), byte(i >> 8), byte(i >> 16), byte(i >> 24)}))
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	if b.Len() > maxKeys {
		t.Fatalf("%d keys held, cap %d", b.Len(), maxKeys)
	}
	grown := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	perKey := grown / maxKeys
	t.Logf("%d distinct keys: %d held, heap grew %d bytes (%d per held key)", keys, b.Len(), grown, perKey)
	if perKey > 400 {
		t.Fatalf("heap grew %d bytes per held key; want at most 400", perKey)
	}
	runtime.KeepAlive(b)
}
