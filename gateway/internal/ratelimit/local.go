package ratelimit

import (
	"math"
	"time"

	"golang.org/x/time/rate"
)

// overflowFactor sizes the overflow bucket of a full table: new clients
// refused a bucket of their own share one bucket with this many times the
// policy's rate and burst.
const overflowFactor = 64

// Decision is the outcome of one request against one policy.
type Decision struct {
	// Allowed reports whether the request may proceed.
	Allowed bool
	// Remaining is the number of whole requests the client may still send
	// at once after this one.
	Remaining int
	// RetryAfter is, for a rejected request, how long until the next
	// request would pass; zero when allowed.
	RetryAfter time.Duration
	// Reset is how long until the bucket is full again (idle client).
	Reset time.Duration
	// Overflow reports that the key did not get a bucket of its own
	// because the policy's table was at its cap.
	Overflow bool
}

// Buckets is a local token-bucket limiter: one golang.org/x/time/rate
// Limiter per key in a sharded table with a hard cap on keys.
//
// Memory stays bounded whatever the number of distinct clients: at most
// maxKeys buckets (about 115 bytes each). Eviction never resets an active
// client's bucket: only full buckets are evicted, and a full bucket is
// indistinguishable from a fresh one, so evicting it loses nothing (idle
// eviction by the sweeper, and a bounded scan when an insertion finds its
// shard at the cap). When a shard is at its cap and holds no full bucket,
// the newcomer is refused a bucket of its own and shares the policy's
// overflow bucket (overflowFactor times the policy's rate and burst) with
// every other newcomer until buckets go idle: existing clients keep their
// exact limits during a flood of new keys, and the flood as a whole stays
// within a fixed budget.
//
// Time comes from a monotonic Clock. Safe for concurrent use.
type Buckets struct {
	limit    rate.Limit
	burst    int
	perToken float64 // nanoseconds per token
	table    *table[*rate.Limiter]
	overflow *rate.Limiter
}

// NewBuckets returns a limiter refilling perSecond tokens per second into
// buckets of burst tokens, keeping at most maxKeys buckets.
func NewBuckets(perSecond float64, burst, maxKeys int) *Buckets {
	return &Buckets{
		limit:    rate.Limit(perSecond),
		burst:    burst,
		perToken: float64(time.Second) / perSecond,
		table:    newTable[*rate.Limiter](maxKeys),
		overflow: rate.NewLimiter(rate.Limit(perSecond*overflowFactor), burst*overflowFactor),
	}
}

// Take charges one request for the key hashed to h at clock reading now.
// It does not allocate when the key already has a bucket.
func (b *Buckets) Take(now time.Duration, h uint64) Decision {
	lim, ok := b.table.get(h)
	overflow := false
	if !ok {
		t := at(now)
		lim, ok = b.table.getOrInsert(h,
			func() *rate.Limiter { return rate.NewLimiter(b.limit, b.burst) },
			func(l *rate.Limiter) bool { return b.full(l, t) })
		if !ok {
			lim, overflow = b.overflow, true
		}
	}
	if overflow {
		d := take(lim, now, float64(b.burst*overflowFactor), b.perToken/overflowFactor)
		d.Overflow = true
		return d
	}
	return take(lim, now, float64(b.burst), b.perToken)
}

// take charges one token of lim (burst tokens, refilling one per perToken
// nanoseconds) at now.
func take(lim *rate.Limiter, now time.Duration, burst, perToken float64) Decision {
	t := at(now)
	if lim.AllowN(t, 1) {
		tokens := lim.TokensAt(t)
		return Decision{Allowed: true, Remaining: int(tokens), Reset: ceilDuration((burst - tokens) * perToken)}
	}
	tokens := lim.TokensAt(t)
	wait := ceilDuration((1 - tokens) * perToken)
	// Float rounding inside x/time/rate may leave the bucket a hair short
	// of a whole token at the computed instant; step to the first instant
	// at which the request really passes, so RetryAfter is exact.
	for i := 0; i < 4 && lim.TokensAt(at(now+wait)) < 1; i++ {
		wait++
	}
	return Decision{RetryAfter: wait, Reset: ceilDuration((burst - tokens) * perToken)}
}

// full reports whether a bucket is full at t: idle long enough that it
// holds exactly what a new bucket would.
func (b *Buckets) full(l *rate.Limiter, t time.Time) bool {
	return l.TokensAt(t) >= float64(b.burst)
}

// Sweep evicts full (idle) buckets and returns how many it evicted.
func (b *Buckets) Sweep(now time.Duration) int {
	t := at(now)
	return b.table.sweep(func(l *rate.Limiter) bool { return b.full(l, t) })
}

// Len returns the number of buckets held.
func (b *Buckets) Len() int { return b.table.len() }

func ceilDuration(ns float64) time.Duration {
	if ns <= 0 {
		return 0
	}
	if ns > math.MaxInt64/2 {
		return math.MaxInt64 / 2
	}
	return time.Duration(math.Ceil(ns))
}
