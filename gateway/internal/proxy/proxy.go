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
	"github.com/campshub360/edge/gateway/internal/health"
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
	// PerTryTimeout bounds one try (0: the pool's RetryPolicy's).
	PerTryTimeout time.Duration
	// Retry is the pool's retry policy and budget (nil: a single try
	// plus one fail-over when the connection cannot be made).
	Retry *RetryPolicy
	// Passive is the pool's passive health checking (nil: none).
	Passive *health.Passive
	// QueueTimeout bounds waiting for admission to an instance at its
	// concurrency cap.
	QueueTimeout time.Duration
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
// (or a problem response) in ctx.Response. Selection, admission and
// retries are forward's (retry.go).
func (p *Proxy) Serve(ctx *fasthttp.RequestCtx, t *Target) {
	ex := exchange.From(ctx)
	ex.Upstream = t.Pool.Name
	p.prepare(ctx, ex)
	if err := p.forward(ctx, ex, t); err != nil {
		ctx.Response.Reset()
		ctx.Response.Header.SetBytesKV(headerRequestID, ex.RequestID)
		writeError(ctx, err)
		return
	}
	stripResponseHopByHop(&ctx.Response.Header)
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

// writeError maps an upstream failure to its status, once (DESIGN rule 7):
// no instance available -> 503, instance at its concurrency limit and no
// admission in time -> 503 with Retry-After, timeout -> 504, anything
// else (refused, reset, malformed response) -> 502. The body never carries
// the error text.
func writeError(ctx *fasthttp.RequestCtx, err error) {
	switch {
	case errors.Is(err, balancer.ErrOverloaded):
		ctx.Response.Header.Set(fasthttp.HeaderRetryAfter, "1")
		problem.Write(ctx, problem.New(fasthttp.StatusServiceUnavailable, "upstream-overloaded",
			"Service Unavailable", "The upstream is at capacity; retry shortly."))
	case err == nil || errors.Is(err, balancer.ErrNoInstance):
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
