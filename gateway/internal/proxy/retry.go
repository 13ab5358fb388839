package proxy

import (
	"errors"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/campshub360/edge/gateway/internal/balancer"
	"github.com/campshub360/edge/gateway/internal/exchange"
	"github.com/campshub360/edge/gateway/internal/health"
)

// RetryPolicy is a pool's retry policy, shared by every route to the pool.
// Immutable after construction except the Budget's counters; safe for
// concurrent use.
type RetryPolicy struct {
	// MaxAttempts is the most tries per request, the first included
	// (1: never retry).
	MaxAttempts int
	// PerTryTimeout bounds one try (0: only the route's total deadline);
	// a route's Target.PerTryTimeout overrides it.
	PerTryTimeout time.Duration
	// BackoffBase and BackoffMax shape the full-jitter exponential
	// back-off before a retry (see Backoff).
	BackoffBase, BackoffMax time.Duration
	// OnStatus holds the 5xx response statuses retried like errors.
	OnStatus StatusSet
	// Budget caps concurrent retries of the pool (required).
	Budget *Budget
	// Rand draws the back-off jitter (required).
	Rand *balancer.Rand
}

// StatusSet is a set of 5xx status codes. The zero value is empty.
type StatusSet [2]uint64

// NewStatusSet returns the set of the given codes; codes outside 500..599
// are ignored.
func NewStatusSet(codes ...int) StatusSet {
	var s StatusSet
	for _, c := range codes {
		if c >= 500 && c <= 599 {
			i := c - 500
			s[i/64] |= 1 << uint(i%64)
		}
	}
	return s
}

// Has reports whether code is in the set.
func (s StatusSet) Has(code int) bool {
	if code < 500 || code > 599 {
		return false
	}
	i := code - 500
	return s[i/64]&(1<<uint(i%64)) != 0
}

// Budget is a retry budget: it bounds the retries of a pool so that they
// cannot multiply the load on a pool that is already failing, while a few
// retries are always possible. A retry is allowed when either
//
//   - retries in flight stay under Percent of the pool's active requests,
//     or under MinConcurrency, whichever is larger (Envoy's RetryBudget:
//     budget_percent and min_retry_concurrency); or
//   - the reserve holds a token: a token bucket refilled at
//     MinPerSecond retries per second and holding up to reserveWindow
//     seconds of them (Finagle's RetryBudget minRetriesPerSec over its
//     ttl), so that a burst of failures at low concurrency (one of two
//     instances killed with 8 requests in flight on it) is retried whole.
//
// In an outage the share of active requests and the reserve's rate cap
// the extra load; the reserve only adds MinPerSecond retries per second
// once its burst is spent. Safe for concurrent use; lock-free.
type Budget struct {
	percent, minConcurrency int64
	// reserve is GCRA over one atomic: tat is the theoretical arrival
	// time in Unix ns, interval the ns per token, tolerance the burst.
	interval, tolerance int64
	tat                 atomic.Int64
	active, retries     atomic.Int64
}

// reserveWindow is how many seconds of MinPerSecond the reserve holds
// (Finagle's RetryBudget ttl default, 10s).
const reserveWindow = 10

// NewBudget returns a budget of percent (1..100) of active requests with
// a floor of minConcurrency concurrent retries, plus a reserve of
// minPerSecond retries per second holding up to 10 seconds of them
// (minPerSecond <= 0: no reserve).
func NewBudget(percent, minConcurrency int, minPerSecond float64) *Budget {
	b := &Budget{percent: int64(percent), minConcurrency: int64(minConcurrency)}
	if minPerSecond > 0 {
		b.interval = max(int64(float64(time.Second)/minPerSecond), 1)
		b.tolerance = b.interval * int64(max(1, int(minPerSecond*reserveWindow)))
	}
	return b
}

// Begin counts a request as active; End must follow.
func (b *Budget) Begin() { b.active.Add(1) }

// End ends a request counted by Begin.
func (b *Budget) End() { b.active.Add(-1) }

// TryRetry reserves a retry at now (Unix ns) if the budget allows one;
// DoneRetry must follow a true result when the retry's try ends.
func (b *Budget) TryRetry(now int64) bool {
	for {
		r := b.retries.Load()
		if r >= max(b.minConcurrency, b.active.Load()*b.percent/100) {
			break
		}
		if b.retries.CompareAndSwap(r, r+1) {
			return true
		}
	}
	if !b.takeReserve(now) {
		return false
	}
	b.retries.Add(1)
	return true
}

// takeReserve takes one token of the reserve at now (GCRA, ITU-T I.371
// virtual scheduling).
func (b *Budget) takeReserve(now int64) bool {
	if b.interval == 0 {
		return false
	}
	for {
		tat := b.tat.Load()
		next := max(tat, now) + b.interval
		if next-now > b.tolerance {
			return false
		}
		if b.tat.CompareAndSwap(tat, next) {
			return true
		}
	}
}

// DoneRetry releases a retry reserved by TryRetry.
func (b *Budget) DoneRetry() { b.retries.Add(-1) }

// Backoff returns the wait before retry number n (1 for the first retry):
// "full jitter" (AWS Architecture Blog, "Exponential Backoff and Jitter",
// 2015), uniform in [0, min(maxWait, base*2^(n-1))), drawn from r.
func Backoff(n int, base, maxWait time.Duration, r uint64) time.Duration {
	ceiling := maxWait
	if n-1 < 32 {
		if d := base << uint(n-1); d > 0 && d < maxWait {
			ceiling = d
		}
	}
	if ceiling <= 0 {
		return 0
	}
	return time.Duration(r % uint64(ceiling))
}

// Retry outcomes, the outcome label of gateway_upstream_retries_total.
const (
	retrySuccess      = "success"
	retryFailure      = "failure"
	retryBudget       = "budget_exhausted"
	retryAttempts     = "attempts_exhausted"
	retryDeadline     = "deadline"
	retryNoInstance   = "no_instance"
	retryUnsafe       = "unsafe"
	headerIdempotency = "Idempotency-Key"
)

// forward is the selection and retry loop, the one place the gateway
// retries (DESIGN rule 6). It picks an instance, waits for admission,
// sends the request with the per-try timeout within the route's total
// deadline, feeds the outcome to the instance's EWMA and passive health
// checks, and retries on another instance only when that is safe:
//
//   - the request's bytes never reached an upstream (connect failure, no
//     free connection, a kept-alive connection the instance had closed):
//     always, even a POST;
//   - otherwise only a replayable request (an idempotent method, RFC 9110
//     §9.2.2, or a POST/PATCH carrying Idempotency-Key,
//     draft-ietf-httpapi-idempotency-key-header) and never one whose
//     streamed body has been consumed;
//
// and then only within MaxAttempts, the total deadline and the pool's
// retry budget, after a full-jitter back-off (skipped for the first
// fail-over from an unreachable instance, which is not overloaded, only
// gone). It returns nil when ctx.Response holds the upstream response to
// deliver, or the error to map: balancer.ErrNoInstance when no instance
// was available, balancer.ErrOverloaded when admission failed, the last
// try's error otherwise.
func (p *Proxy) forward(ctx *fasthttp.RequestCtx, ex *exchange.Exchange, t *Target) error {
	pool := t.Pool
	rp := t.Retry
	if rp == nil {
		// No policy: a single try, plus one fail-over when the connection
		// could not be made, budgeted per request.
		rp = &RetryPolicy{MaxAttempts: 2, Budget: NewBudget(100, 1, 0), Rand: balancer.NewRand(uint64(p.now().UnixNano()))}
	}
	deadline := ex.Start.Add(t.Timeout)
	if ex.Start.IsZero() {
		deadline = p.now().Add(t.Timeout)
	}
	perTry := t.PerTryTimeout
	if perTry == 0 {
		perTry = rp.PerTryTimeout
	}
	replay := replayable(&ctx.Request)
	var pick balancer.Request
	pick.Key, pick.HasKey = pool.Key.Hash(ctx, ex.ClientIP, ex.Subject)

	rp.Budget.Begin()
	defer rp.Budget.End()
	var (
		tried        balancer.Set
		lastErr      error
		haveResponse bool // ctx.Response holds the last try's complete response
		retrying     bool // the next try is a retry holding a budget slot
	)
	// stop ends the loop: the last response if there is one, else err.
	stop := func(err error) error {
		if retrying {
			rp.Budget.DoneRetry()
		}
		if haveResponse {
			return nil
		}
		return err
	}
	for attempt := 1; ; attempt++ {
		now := p.now()
		pick.Now = now.UnixNano()
		u := pool.Pick(tried, pick)
		if u == nil {
			if attempt == 1 {
				return balancer.ErrNoInstance
			}
			p.retryOutcome(pool.Name, retryNoInstance)
			return stop(lastErr)
		}
		remaining := deadline.Sub(now)
		if remaining <= 0 {
			return stop(fasthttp.ErrTimeout)
		}
		if err := u.Acquire(min(t.QueueTimeout, remaining)); err != nil {
			return stop(err)
		}
		tried = tried.Add(u.Index)
		ex.Instance = u.Addr
		ex.Attempts++
		tryTimeout := remaining
		if perTry > 0 && perTry < tryTimeout {
			tryTimeout = perTry
		}
		ctx.Request.SetTimeout(tryTimeout)
		ctx.Response.StreamBody = t.StreamResponse
		start := p.now()
		err := u.Client.Do(&ctx.Request, &ctx.Response)
		end := p.now()
		u.Release()
		took := end.Sub(start)
		ex.UpstreamDuration += took

		status, retryWanted := 0, err != nil
		outcome, counted := health.GatewayError, true
		if err == nil {
			status = ctx.Response.StatusCode()
			outcome = health.ClassifyStatus(status)
			retryWanted = rp.OnStatus.Has(status)
			u.Observe(end.UnixNano(), took)
		} else {
			if isTimeout(err) && !notSent(err) {
				u.Observe(end.UnixNano(), took) // at least this slow
			}
			// Running out of local connections says nothing about the instance.
			counted = !errors.Is(err, fasthttp.ErrNoFreeConns)
		}
		t.instances[u.Index].Observe(status, took.Seconds())
		if err != nil && clientFailed(ex) {
			// The client's side of a streamed body failed: nothing to
			// blame on the instance, nothing to retry.
			if retrying {
				rp.Budget.DoneRetry()
			}
			return err
		}
		if t.Passive != nil && counted {
			t.Passive.Observe(u, outcome, end.UnixNano())
		}
		if retrying {
			retrying = false
			rp.Budget.DoneRetry()
			if retryWanted {
				p.retryOutcome(pool.Name, retryFailure)
			} else {
				p.retryOutcome(pool.Name, retrySuccess)
			}
		}
		if !retryWanted {
			return nil
		}
		lastErr, haveResponse = err, err == nil
		if err != nil {
			p.log.Warn("upstream try failed", "request_id", string(ex.RequestID), "upstream", pool.Name,
				"instance", u.Addr, "attempt", attempt, "error", err.Error())
		}

		unsent := err != nil && notSent(err)
		switch {
		case !replay && !unsent:
			p.retryOutcome(pool.Name, retryUnsafe)
			return stop(lastErr)
		case attempt >= rp.MaxAttempts:
			p.retryOutcome(pool.Name, retryAttempts)
			return stop(lastErr)
		case !rp.Budget.TryRetry(p.now().UnixNano()):
			p.retryOutcome(pool.Name, retryBudget)
			return stop(lastErr)
		}
		retrying = true
		if unsent && attempt == 1 {
			continue
		}
		d := Backoff(attempt, rp.BackoffBase, rp.BackoffMax, rp.Rand.Uint64())
		if !p.now().Add(d).Before(deadline) {
			p.retryOutcome(pool.Name, retryDeadline)
			return stop(lastErr)
		}
		if d > 0 {
			time.Sleep(d)
		}
	}
}

func (p *Proxy) retryOutcome(pool, outcome string) {
	p.metrics.UpstreamRetries.WithLabelValues(pool, outcome).Inc()
}

// replayable reports whether a request may be sent again after its bytes
// reached an upstream: an idempotent method (RFC 9110 §9.2.2) or a POST
// or PATCH with an Idempotency-Key header, and a buffered body (a streamed
// body is consumed by the first try).
func replayable(req *fasthttp.Request) bool {
	if req.IsBodyStream() {
		return false
	}
	m := req.Header.Method()
	if idempotent(m) {
		return true
	}
	switch string(m) {
	case fasthttp.MethodPost, fasthttp.MethodPatch:
		return len(req.Header.Peek(headerIdempotency)) > 0
	}
	return false
}

// idempotent reports whether a method is idempotent (RFC 9110 §9.2.2).
func idempotent(m []byte) bool {
	switch string(m) {
	case "GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE":
		return true
	}
	return false
}

// notSent reports whether a try failed before any byte of the request
// reached the instance: the connection could not be opened, no connection
// of the pool was free, or the kept-alive connection was found closed by
// the instance (or failed) before the request's first byte was written.
func notSent(err error) bool {
	var (
		de *balancer.DialError
		ue *balancer.UnsentError
	)
	return errors.As(err, &de) || errors.As(err, &ue) || errors.Is(err, fasthttp.ErrNoFreeConns)
}
