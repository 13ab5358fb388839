// Package proxy is the terminal stage of the gateway pipeline: it prepares
// the inbound request for forwarding (hop-by-hop removal, forwarding
// headers), picks an instance of the route's pool, forwards over the
// instance's keep-alive pool, retries where that is safe, and maps upstream
// failures to problem responses, once, here.
package proxy

import (
	"errors"
	"log/slog"
	"net"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/campshub360/edge/gateway/internal/balancer"
	"github.com/campshub360/edge/gateway/internal/clientip"
	"github.com/campshub360/edge/gateway/internal/exchange"
	"github.com/campshub360/edge/gateway/internal/metrics"
	"github.com/campshub360/edge/shared/problem"
)

// Target is the per-route forwarding configuration. Immutable; shared by
// every request on the route.
type Target struct {
	// Pool serves the route.
	Pool *balancer.Pool
	// Timeout bounds the whole upstream exchange, retries included.
	Timeout time.Duration
}

// Proxy forwards requests to upstream pools. Safe for concurrent use.
type Proxy struct {
	metrics *metrics.Metrics
	log     *slog.Logger
	now     func() time.Time
}

// New returns a Proxy recording upstream metrics on m and logging upstream
// failures on log. now is the clock (time.Now when nil).
func New(m *metrics.Metrics, log *slog.Logger, now func() time.Time) *Proxy {
	if now == nil {
		now = time.Now
	}
	return &Proxy{metrics: m, log: log, now: now}
}

var (
	headerXFF       = []byte("X-Forwarded-For")
	headerXFProto   = []byte("X-Forwarded-Proto")
	headerXFHost    = []byte("X-Forwarded-Host")
	headerForwarded = []byte("Forwarded")
	headerXRealIP   = []byte("X-Real-IP")
	headerRequestID = []byte(problem.HeaderRequestID)
	protoHTTPS      = []byte("https")
	protoHTTP       = []byte("http")
	// unkeyed request headers that some frameworks honour as the request
	// target or host; forwarding them would let a client make a backend
	// answer for a URL the gateway (and its cache) did not route.
	// The response cache keys on scheme, Host and the target only, so
	// the other host/scheme/prefix overrides frameworks honour go too.
	unkeyed = [][]byte{[]byte("X-Original-URL"), []byte("X-Rewrite-URL"), []byte("X-HTTP-Method-Override"), []byte("X-HTTP-Method"),
		[]byte("X-Original-Method"), []byte("X-Host"), []byte("X-Original-Host"), []byte("X-Forwarded-Server"),
		[]byte("X-Forwarded-Prefix"), []byte("X-Forwarded-Port"), []byte("X-Forwarded-Scheme"), []byte("X-Url-Scheme")}
)

// Serve forwards ctx's request to t's pool and leaves the upstream response
// (or a problem response) in ctx.Response.
func (p *Proxy) Serve(ctx *fasthttp.RequestCtx, t *Target) {
	ex := exchange.From(ctx)
	ex.Upstream = t.Pool.Name
	p.prepare(ctx, ex)

	deadline := ex.Start.Add(t.Timeout)
	if ex.Start.IsZero() {
		deadline = p.now().Add(t.Timeout)
	}
	replayable := idempotent(ctx.Request.Header.Method())
	var tried balancer.Tried
	var lastErr error
	for {
		u := t.Pool.Pick(tried)
		if u == nil {
			break
		}
		tried = tried.Add(u.Index)
		ex.Instance = u.Addr
		ex.Attempts++
		remaining := deadline.Sub(p.now())
		if remaining <= 0 {
			lastErr = fasthttp.ErrTimeout
			break
		}
		start := p.now()
		u.Begin()
		ctx.Request.SetTimeout(remaining)
		err := u.Client.Do(&ctx.Request, &ctx.Response)
		u.End()
		took := p.now().Sub(start)
		ex.UpstreamDuration += took
		p.metrics.UpstreamDuration.WithLabelValues(t.Pool.Name).Observe(took.Seconds())
		if err == nil {
			p.metrics.UpstreamRequests.WithLabelValues(t.Pool.Name, u.Addr, metrics.CodeClass(ctx.Response.StatusCode())).Inc()
			stripResponseHopByHop(&ctx.Response.Header)
			return
		}
		p.metrics.UpstreamRequests.WithLabelValues(t.Pool.Name, u.Addr, "error").Inc()
		lastErr = err
		p.log.Warn("upstream try failed", "request_id", string(ex.RequestID), "upstream", t.Pool.Name,
			"instance", u.Addr, "attempt", ex.Attempts, "error", err.Error())
		if !retryable(err, replayable) {
			break
		}
		ctx.Response.Reset()
	}
	ctx.Response.Reset()
	ctx.Response.Header.SetBytesKV(headerRequestID, ex.RequestID)
	writeError(ctx, lastErr)
}

// prepare rewrites the inbound request in place for forwarding.
func (p *Proxy) prepare(ctx *fasthttp.RequestCtx, ex *exchange.Exchange) {
	h := &ctx.Request.Header
	stripRequestHopByHop(h)
	for _, k := range unkeyed {
		h.DelBytes(k)
	}

	// X-Forwarded-For: the chain as received from a trusted proxy plus the
	// peer; from anyone else only the peer (RFC 7239 §5.2 semantics).
	var peer [64]byte
	peerText := clientip.Peer(ctx.RemoteIP()).AppendTo(peer[:0])
	if ex.PeerTrusted {
		if prior := h.PeekBytes(headerXFF); len(prior) > 0 {
			buf := make([]byte, 0, len(prior)+2+len(peerText))
			buf = append(append(append(buf, prior...), ", "...), peerText...)
			h.SetBytesKV(headerXFF, buf)
		} else {
			h.SetBytesKV(headerXFF, peerText)
		}
	} else {
		h.SetBytesKV(headerXFF, peerText)
		h.DelBytes(headerForwarded)
		h.DelBytes(headerXFProto)
		h.DelBytes(headerXFHost)
	}
	h.SetBytesKV(headerXRealIP, ex.ClientIP.AppendTo(peer[:0]))
	if !ex.PeerTrusted || len(h.PeekBytes(headerXFProto)) == 0 {
		if ctx.IsTLS() {
			h.SetBytesKV(headerXFProto, protoHTTPS)
		} else {
			h.SetBytesKV(headerXFProto, protoHTTP)
		}
	}
	if !ex.PeerTrusted || len(h.PeekBytes(headerXFHost)) == 0 {
		h.SetBytesKV(headerXFHost, h.Host())
	}
	h.SetBytesKV(headerRequestID, ex.RequestID)
	// The upstream hop is plain HTTP whatever the client used.
	ctx.Request.URI().SetSchemeBytes(protoHTTP)
}

// idempotent reports whether a method's request may be replayed (RFC 9110
// §9.2.2).
func idempotent(m []byte) bool {
	switch string(m) {
	case "GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE":
		return true
	}
	return false
}

// retryable reports whether a failed try may be repeated on another
// instance: always when the connection was never opened, and for
// replayable requests when the failure happened before a response.
func retryable(err error, replayable bool) bool {
	var de *balancer.DialError
	if errors.As(err, &de) || errors.Is(err, fasthttp.ErrNoFreeConns) {
		return true
	}
	if !replayable {
		return false
	}
	return errors.Is(err, fasthttp.ErrConnectionClosed) || isConnReset(err)
}

func isConnReset(err error) bool {
	var oe *net.OpError
	return errors.As(err, &oe) && oe.Op != "dial"
}

// writeError maps an upstream failure to its status, once (DESIGN rule 7):
// no instance available -> 503, timeout -> 504, anything else (refused,
// reset, malformed response) -> 502. The body never carries the error text.
func writeError(ctx *fasthttp.RequestCtx, err error) {
	switch {
	case err == nil:
		ctx.Response.Header.Set(fasthttp.HeaderRetryAfter, "1")
		problem.Write(ctx, problem.New(fasthttp.StatusServiceUnavailable, "upstream-unavailable",
			"Service Unavailable", "No upstream instance is available to serve the request."))
	case errors.Is(err, fasthttp.ErrTimeout) || errors.Is(err, fasthttp.ErrDialTimeout) || isTimeout(err):
		problem.Write(ctx, problem.New(fasthttp.StatusGatewayTimeout, "upstream-timeout",
			"Gateway Timeout", "The upstream did not answer in time."))
	default:
		problem.Write(ctx, problem.New(fasthttp.StatusBadGateway, "upstream-failed",
			"Bad Gateway", "No upstream instance answered the request."))
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
