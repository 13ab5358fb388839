package ratelimit

import (
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// Lease sizing: while the last answer for a key showed plenty of room, a
// round trip takes a few tokens at once (a lease) and spends them locally,
// so a client plainly under its limit costs one round trip per few
// requests. A lease never exceeds 1/leaseDivisor of the remaining room per
// live instance nor maxLease tokens, and tokens not spent within leaseTTL
// are refunded on the key's next round trip. Leases come out of the global
// budget atomically, so they can never admit more than the budget.
const (
	leaseDivisor = 8
	maxLease     = 32
	leaseTTL     = 250 * time.Millisecond
)

// Outcome says how a shared decision was reached.
type Outcome uint8

const (
	// OutcomeShared: decided by the global budget in Redis (or by a lease
	// or a cached rejection taken from it).
	OutcomeShared Outcome = iota
	// OutcomeFallback: the round trip to Redis failed or timed out, or
	// Redis is known down and the policy fails open; the local fallback
	// bucket (this instance's share of the budget) decided.
	OutcomeFallback
	// OutcomeUnavailable: Redis is known down (breakerFailures failed
	// round trips in a row, or a failed heartbeat) and the policy fails
	// closed: the request is refused with 503.
	OutcomeUnavailable
)

// sharedEntry is the local pre-check state of one key of a shared policy.
type sharedEntry struct {
	mu         sync.Mutex
	denyUntil  time.Duration // no request can pass before this reading
	leased     int           // tokens taken from Redis and not yet spent
	leaseUntil time.Duration
	unused     int // expired lease tokens to refund on the next round trip
	remaining  int // room left at the last answer
	fullAt     time.Duration
}

// idle reports that the entry holds nothing worth keeping at now.
func (e *sharedEntry) idle(now time.Duration) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return now >= e.denyUntil && (e.leased == 0 || now >= e.leaseUntil) && now >= e.fullAt
}

// fallbackBuckets are the local buckets of a shared policy sized for n
// live instances.
type fallbackBuckets struct {
	n int64
	b *Buckets
}

// Shared is a policy whose budget is global: GCRA in Redis (store.go),
// with a local pre-check that answers without a round trip when a key is
// plainly over (a rejection is cached until the instant Redis said the
// next request could pass; the theoretical arrival time only moves
// forward, so the cached answer is exact) or plainly under (a lease, see
// leaseDivisor). A round trip that fails or times out is decided by a
// local bucket holding this instance's share of the budget (rate and
// burst divided by the live instance count), whatever the policy, so one
// slow answer never refuses a request nor lifts the limit. While the
// store is known down (the breaker of store.go is open) fail_open keeps
// deciding with that bucket and fail_closed refuses with 503. Safe for
// concurrent use.
type Shared struct {
	name       string
	st         *store
	perSecond  float64
	burst      int
	interval   string // µs per token, script argument
	burstArg   string
	failClosed bool
	maxKeys    int
	entries    *table[*sharedEntry]
	fallback   atomic.Pointer[fallbackBuckets]
}

func newShared(name string, st *store, perSecond float64, burst, maxKeys int, failClosed bool) *Shared {
	return &Shared{
		name: name, st: st, perSecond: perSecond, burst: burst, failClosed: failClosed, maxKeys: maxKeys,
		interval: formatFloat(1e6 / perSecond), burstArg: formatFloat(float64(burst)),
		entries: newTable[*sharedEntry](maxKeys),
	}
}

// Take decides one request for key (hashed to h) at clock reading now.
func (s *Shared) Take(now time.Duration, key []byte, h uint64) (Decision, Outcome) {
	e, ok := s.entries.get(h)
	if !ok {
		e, _ = s.entries.getOrInsert(h, func() *sharedEntry { return &sharedEntry{} },
			func(x *sharedEntry) bool { return x.idle(now) })
	}
	refund, want := 0, 1
	if e != nil {
		e.mu.Lock()
		if now < e.denyUntil {
			d := Decision{RetryAfter: e.denyUntil - now, Reset: max(0, e.fullAt-now)}
			e.mu.Unlock()
			return d, OutcomeShared
		}
		if e.leased > 0 && now < e.leaseUntil {
			e.leased--
			d := Decision{Allowed: true, Remaining: e.remaining + e.leased, Reset: max(0, e.fullAt-now)}
			e.mu.Unlock()
			return d, OutcomeShared
		}
		e.unused += e.leased
		e.leased = 0
		refund, e.unused = e.unused, 0
		if n := e.remaining / (leaseDivisor * int(s.st.instances.Load())); n > 1 {
			want = min(n, maxLease)
		}
		e.mu.Unlock()
	}
	if !s.st.usable(now) {
		s.giveBack(e, refund)
		return s.fallbackTake(now, h, true)
	}
	res, err := s.st.take(s.name, key, s.interval, s.burstArg, refund, want)
	if err != nil {
		down := s.st.failed(err)
		s.giveBack(e, refund)
		return s.fallbackTake(now, h, down)
	}
	s.st.succeeded()
	after := s.st.clock.Now()
	d := Decision{Allowed: res.granted > 0, Remaining: res.remaining, Reset: res.reset}
	if !d.Allowed {
		d.RetryAfter = max(res.retry, time.Microsecond)
	}
	if e != nil {
		e.mu.Lock()
		e.remaining = res.remaining
		e.fullAt = after + res.reset
		if d.Allowed {
			if res.granted > 1 {
				e.leased += res.granted - 1
				e.leaseUntil = after + leaseTTL
				d.Remaining += e.leased
			}
		} else {
			// Measured from before the round trip: the cached rejection
			// never outlasts what Redis said.
			e.denyUntil = now + d.RetryAfter
		}
		e.mu.Unlock()
	}
	return d, OutcomeShared
}

// giveBack keeps refund tokens for the key's next round trip when this
// one did not happen.
func (s *Shared) giveBack(e *sharedEntry, refund int) {
	if e == nil || refund == 0 {
		return
	}
	e.mu.Lock()
	e.unused += refund
	e.mu.Unlock()
}

// fallbackTake decides without Redis: with the local share of the budget,
// or, for a fail_closed policy while the store is known down, a refusal.
func (s *Shared) fallbackTake(now time.Duration, h uint64, down bool) (Decision, Outcome) {
	if s.failClosed && down {
		return Decision{RetryAfter: time.Second}, OutcomeUnavailable
	}
	return s.fallbackBuckets().Take(now, h), OutcomeFallback
}

// fallbackBuckets returns the local buckets sized for the live instance
// count, replacing them when the count changed. The count only changes
// while Redis answers heartbeats, so during an outage the buckets stay.
func (s *Shared) fallbackBuckets() *Buckets {
	n := s.st.instances.Load()
	fb := s.fallback.Load()
	if fb != nil && fb.n == n {
		return fb.b
	}
	rate := s.perSecond / float64(n)
	burst := max(1, int(math.Ceil(float64(s.burst)/float64(n))))
	nfb := &fallbackBuckets{n: n, b: NewBuckets(rate, burst, s.maxKeys)}
	if s.fallback.CompareAndSwap(fb, nfb) {
		return nfb.b
	}
	return s.fallback.Load().b
}

// Sweep evicts idle pre-check entries and idle fallback buckets.
func (s *Shared) Sweep(now time.Duration) int {
	n := s.entries.sweep(func(e *sharedEntry) bool { return e.idle(now) })
	if fb := s.fallback.Load(); fb != nil {
		n += fb.b.Sweep(now)
	}
	return n
}

// Len returns the number of keys held locally (pre-check entries and
// fallback buckets).
func (s *Shared) Len() int {
	n := s.entries.len()
	if fb := s.fallback.Load(); fb != nil {
		n += fb.b.Len()
	}
	return n
}
