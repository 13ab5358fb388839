package ratelimit

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"

	"github.com/campshub360/edge/gateway/internal/exchange"
	"github.com/campshub360/edge/shared/problem"
)

// Response header names of draft-ietf-httpapi-ratelimit-headers-11
// (May 2026), sections 3 and 4.
const (
	HeaderPolicy     = "RateLimit-Policy"
	HeaderRateLimit  = "RateLimit"
	headerRetryAfter = "Retry-After"
)

// Access-log values of exchange.RateLimit that are not per policy.
const (
	logAllow         = "allow"
	logFallbackAllow = "fallback_allow"
	logInflightIP    = "inflight_ip"
	logInflightTotal = "inflight_total"
)

// dryRunLogEvery bounds dry-run log lines to one per policy per interval;
// the metrics count every would-be rejection.
const dryRunLogEvery = time.Second

// policy is one compiled policy of a generation.
type policy struct {
	name      string
	key       *KeySpec
	local     *Buckets
	shared    *Shared
	dryRun    bool
	needsBody bool
	quota     int // burst, the "q" of RateLimit-Policy
	window    int // seconds to refill the burst, its "w"

	allow, deny, fallback prometheus.Counter

	// Access-log values, built once.
	logDeny, logDryRun, logFallbackDeny, logUnavailable string
	// item is `"name";r=`, the start of this policy's RateLimit item.
	item []byte

	lastDryLog atomic.Int64
	dryMuted   atomic.Int64
}

func (e *Engine) newPolicy(ps PolicySpec, key *KeySpec, st *policyState) *policy {
	p := &policy{
		name: ps.Name, key: key, local: st.local, shared: st.shared, dryRun: ps.DryRun,
		quota:           ps.Burst,
		window:          max(1, int(math.Ceil(float64(ps.Burst)/ps.PerSecond-1e-9))),
		allow:           e.metrics.decisions.WithLabelValues(ps.Name, "allow"),
		deny:            e.metrics.decisions.WithLabelValues(ps.Name, "deny"),
		fallback:        e.metrics.decisions.WithLabelValues(ps.Name, "fallback"),
		logDeny:         "deny:" + ps.Name,
		logDryRun:       "dry_run_deny:" + ps.Name,
		logFallbackDeny: "fallback_deny:" + ps.Name,
		logUnavailable:  "unavailable:" + ps.Name,
		item:            strconv.AppendQuote(nil, ps.Name),
	}
	p.item = append(p.item, ";r="...)
	for _, c := range ps.Key {
		if c == "username" {
			p.needsBody = true
		}
	}
	return p
}

// decide charges one request for key.
func (p *policy) decide(now time.Duration, key []byte, h uint64) (Decision, Outcome) {
	if p.local != nil {
		return p.local.Take(now, h), OutcomeShared
	}
	return p.shared.Take(now, key, h)
}

// appendItem appends this policy's RateLimit item for d
// (`"name";r=R;t=T`), comma-separated from earlier items.
func (p *policy) appendItem(dst []byte, d Decision) []byte {
	if len(dst) > 0 {
		dst = append(dst, ", "...)
	}
	dst = append(dst, p.item...)
	dst = strconv.AppendInt(dst, int64(max(0, d.Remaining)), 10)
	dst = append(dst, ";t="...)
	t := d.Reset
	if !d.Allowed {
		t = d.RetryAfter
	}
	return strconv.AppendInt(dst, ceilSeconds(t), 10)
}

// Generation is the limiter view of one configuration generation: the
// policies by name and the in-flight caps. Immutable; safe for concurrent
// use.
type Generation struct {
	engine   *Engine
	policies map[string]*policy
	perIP    int
	total    int
}

// Route is the compiled limits of one route: the policies a request must
// pass, in order, and the RateLimit-Policy field value. Immutable.
type Route struct {
	policies     []*policy
	policyHeader []byte // nil when every policy is dry-run
	needsBody    bool
}

// Route compiles the limits of a route that references the named
// policies; it returns nil (no limits) for an empty list and an error
// naming an unknown policy.
func (g *Generation) Route(names []string) (*Route, error) {
	if len(names) == 0 {
		return nil, nil
	}
	r := &Route{}
	for _, n := range names {
		p := g.policies[n]
		if p == nil {
			return nil, fmt.Errorf("ratelimit: unknown policy %q", n)
		}
		r.policies = append(r.policies, p)
		r.needsBody = r.needsBody || p.needsBody
		if p.dryRun {
			continue
		}
		if len(r.policyHeader) > 0 {
			r.policyHeader = append(r.policyHeader, ", "...)
		}
		r.policyHeader = strconv.AppendQuote(r.policyHeader, p.name)
		r.policyHeader = fmt.Appendf(r.policyHeader, ";q=%d;w=%d", p.quota, p.window)
	}
	return r, nil
}

// scratch is the per-request working memory of the middleware, pooled.
type scratch struct {
	key []byte
	hdr []byte
	in  Input
}

// Middleware is the rate-limit stage. Every request first passes the
// in-flight caps (429 over the per-IP cap, 503 over the total). Then the
// policies of its route (routeOf, nil for none) are applied in order:
// each builds its key from the exchange's client IP and subject and the
// request, and charges one token; the first rejection answers 429 with an
// RFC 9457 problem, Retry-After (whole seconds until a request would
// pass) and the RateLimit fields, and later policies are not charged. A
// fail_closed shared policy whose store is unavailable answers 503.
// Dry-run policies count and log would-be rejections and never reject.
// Allowed responses of limited routes carry RateLimit-Policy and
// RateLimit (set after next, since the proxy replaces the response
// header block). exchange.RateLimit records the outcome for the access
// log. The allowed path of local policies does not allocate.
func (g *Generation) Middleware(routeOf func(*exchange.Exchange) *Route, next fasthttp.RequestHandler) fasthttp.RequestHandler {
	e := g.engine
	pool := &sync.Pool{New: func() any { return &scratch{key: make([]byte, 0, 1024), hdr: make([]byte, 0, 256)} }}
	return func(ctx *fasthttp.RequestCtx) {
		ex := exchange.From(ctx)
		if g.perIP > 0 || g.total > 0 {
			switch e.inflight.acquire(ex.ClientIP, g.perIP, g.total) {
			case "ip":
				ex.RateLimit = logInflightIP
				rejectInflight(ctx, fasthttp.StatusTooManyRequests, "too-many-concurrent-requests", "Too Many Requests",
					"Too many requests from this client are in progress; retry when one completes.")
				return
			case "total":
				ex.RateLimit = logInflightTotal
				rejectInflight(ctx, fasthttp.StatusServiceUnavailable, "overloaded", "Service Unavailable",
					"The gateway is serving as many requests as it can; retry shortly.")
				return
			}
			defer e.inflight.release(ex.ClientIP, g.perIP)
		}
		r := routeOf(ex)
		if r == nil {
			next(ctx)
			return
		}
		sc := pool.Get().(*scratch)
		sc.in = Input{ClientIP: ex.ClientIP, Subject: ex.Subject, Header: &ctx.Request.Header}
		if r.needsBody {
			sc.in.Body = ctx.Request.Body()
		}
		sc.hdr = sc.hdr[:0]
		now := e.clock.Now()
		status := logAllow
		for _, p := range r.policies {
			key, ok := p.key.Append(sc.key[:0], &sc.in)
			sc.key = key[:0]
			if !ok {
				continue
			}
			d, out := p.decide(now, key, keyHash(e.seed, key))
			switch {
			case out != OutcomeShared:
				p.fallback.Inc()
			case d.Allowed:
				p.allow.Inc()
			default:
				p.deny.Inc()
			}
			if p.dryRun {
				if !d.Allowed {
					status = p.logDryRun
					e.logDryRun(p, ex)
				}
				continue
			}
			sc.hdr = p.appendItem(sc.hdr, d)
			if d.Allowed {
				if out == OutcomeFallback && status == logAllow {
					status = logFallbackAllow
				}
				continue
			}
			switch out {
			case OutcomeUnavailable:
				ex.RateLimit = p.logUnavailable
			case OutcomeFallback:
				ex.RateLimit = p.logFallbackDeny
			default:
				ex.RateLimit = p.logDeny
			}
			sc.in = Input{}
			reject(ctx, r, sc.hdr, d, out)
			pool.Put(sc)
			return
		}
		sc.in = Input{}
		ex.RateLimit = status
		next(ctx)
		if len(r.policyHeader) > 0 {
			ctx.Response.Header.SetBytesV(HeaderPolicy, r.policyHeader)
			if len(sc.hdr) > 0 {
				ctx.Response.Header.SetBytesV(HeaderRateLimit, sc.hdr)
			}
		}
		pool.Put(sc)
	}
}

// reject answers a request a policy refused: 429 (503 for a fail_closed
// policy without its store) with Retry-After and the RateLimit fields.
func reject(ctx *fasthttp.RequestCtx, r *Route, items []byte, d Decision, out Outcome) {
	h := &ctx.Response.Header
	h.Set(fasthttp.HeaderCacheControl, "no-store")
	h.Set(headerRetryAfter, strconv.FormatInt(max(1, ceilSeconds(d.RetryAfter)), 10))
	if len(r.policyHeader) > 0 {
		h.SetBytesV(HeaderPolicy, r.policyHeader)
		h.SetBytesV(HeaderRateLimit, items)
	}
	if out == OutcomeUnavailable {
		problem.Write(ctx, problem.New(fasthttp.StatusServiceUnavailable, "rate-limit-unavailable", "Service Unavailable",
			"The rate limit of this endpoint cannot be checked right now; retry shortly."))
		return
	}
	problem.Write(ctx, problem.New(fasthttp.StatusTooManyRequests, "rate-limited", "Too Many Requests",
		"Too many requests; retry after the number of seconds in Retry-After."))
}

func rejectInflight(ctx *fasthttp.RequestCtx, status int, slug, title, detail string) {
	ctx.Response.Header.Set(fasthttp.HeaderCacheControl, "no-store")
	ctx.Response.Header.Set(headerRetryAfter, "1")
	problem.Write(ctx, problem.New(status, slug, title, detail))
}

// logDryRun logs a would-be rejection, at most one line per policy per
// dryRunLogEvery (the line says how many were not logged).
func (e *Engine) logDryRun(p *policy, ex *exchange.Exchange) {
	now := int64(e.clock.Now())
	last := p.lastDryLog.Load()
	if last != 0 && now-last < int64(dryRunLogEvery) || !p.lastDryLog.CompareAndSwap(last, now) {
		p.dryMuted.Add(1)
		return
	}
	e.log.LogAttrs(context.Background(), slog.LevelInfo, "rate limit would reject (dry run)",
		slog.String("policy", p.name), slog.String("route", ex.Route),
		slog.String("request_id", string(ex.RequestID)), slog.Int64("not_logged", p.dryMuted.Swap(0)))
}

// ceilSeconds rounds a duration up to whole seconds (the delay-seconds of
// Retry-After, RFC 9110 section 10.2.3, and of the "t" parameter).
func ceilSeconds(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return int64((d + time.Second - 1) / time.Second)
}
