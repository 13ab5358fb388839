// Package exchange carries the state of one request through the gateway's
// pipeline: the request id, client IP, matched route and what later stages
// decided (upstream instance, cache status, limiter decision), so that the
// access log and metrics can report them once the response is written.
//
// An Exchange is pooled: it is valid only while its request is being served
// and must not be kept after the handler returns (DESIGN rule 5).
package exchange

import (
	"net/netip"
	"sync"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/campshub360/edge/gateway/internal/metrics"
	"github.com/campshub360/edge/gateway/internal/route"
)

// userKey is the RequestCtx user-value key under which the Exchange lives.
const userKey = "gateway.exchange"

// Exchange is the per-request state. Fields are written by the stage that
// owns them (noted per field) and read by the stages outside it; a request
// is served by one goroutine, so no locking is needed.
type Exchange struct {
	// Start is when the gateway began serving the request (Begin).
	Start time.Time
	// RequestID is the request id echoed on the response (Begin).
	RequestID []byte
	// PeerTrusted reports that the TCP peer is a trusted proxy (Begin).
	PeerTrusted bool
	// ClientIP is the client address after the trusted-proxy walk (clientip).
	ClientIP netip.Addr
	// Route is the name of the matched route, "" when none matched (server).
	Route string
	// Upstream is the pool the request went to (proxy).
	Upstream string
	// Instance is the address of the last instance tried (proxy).
	Instance string
	// Attempts counts upstream tries, retries included (proxy).
	Attempts int
	// UpstreamDuration is the time spent waiting on upstreams (proxy).
	UpstreamDuration time.Duration
	// ClientGone records that the client went away before the response
	// (logged as 499).
	ClientGone bool
	// CacheStatus is the cache outcome for the access log, "" when the
	// cache did not see the request (cache).
	CacheStatus string
	// RateLimit is the limiter decision for the access log (ratelimit).
	RateLimit string
	// Subject is the verified token subject ("" when the request carried
	// no verified token) and Role its role claim, for per-user rate
	// limits and cache partitions (edge token verification).
	Subject, Role string
	// Matched is the route the request matched, nil before the route
	// stage or when none did (route). Its Target holds the route's
	// compiled policies.
	Matched *route.Route
	// RouteMetrics are the matched route's pre-resolved RED series, nil
	// when no route matched (route; read by observe).
	RouteMetrics *metrics.Route
	// BytesIn counts request body bytes received from the client and
	// BytesOut response body bytes sent (or handed to fasthttp to send).
	// Streamed bodies are counted as they flow (route, proxy).
	BytesIn, BytesOut int64
	// Upgraded records that the connection became a WebSocket tunnel
	// (proxy).
	Upgraded bool
	// BodyError is the client-side failure of a streamed request body
	// (over the limit, malformed, too slow, client gone), nil otherwise
	// (proxy). It decides the answer when forwarding then fails.
	BodyError error
}

func (e *Exchange) reset() {
	id := e.RequestID[:0]
	*e = Exchange{RequestID: id}
}

// Pool recycles Exchanges. The zero value is ready to use; safe for
// concurrent use.
type Pool struct{ p sync.Pool }

// Acquire returns a reset Exchange attached to ctx; Release must be called
// when the request is done.
func (p *Pool) Acquire(ctx *fasthttp.RequestCtx) *Exchange {
	e, _ := p.p.Get().(*Exchange)
	if e == nil {
		e = &Exchange{RequestID: make([]byte, 0, 64)}
	}
	ctx.SetUserValue(userKey, e)
	return e
}

// Release detaches e from ctx and returns it to the pool.
func (p *Pool) Release(ctx *fasthttp.RequestCtx, e *Exchange) {
	ctx.RemoveUserValue(userKey)
	e.reset()
	p.p.Put(e)
}

// From returns the Exchange attached to ctx. Outside the pipeline (a bare
// handler in a unit test) it returns a fresh, unpooled Exchange so callers
// never need a nil check.
func From(ctx *fasthttp.RequestCtx) *Exchange {
	if e, ok := ctx.UserValue(userKey).(*Exchange); ok {
		return e
	}
	e := &Exchange{}
	ctx.SetUserValue(userKey, e)
	return e
}
