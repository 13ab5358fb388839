// Package proxy is the terminal stage of the gateway pipeline: it prepares
// the inbound request for forwarding (hop-by-hop removal, forwarding
// headers), picks an instance of the route's pool, forwards over the
// instance's keep-alive pool, retries where that is safe, cleans the
// upstream response, and maps upstream failures to problem responses,
// once, here (errors.go). WebSocket upgrades are tunnelled by
// ServeWebSocket (upgrade.go); request bodies are buffered or streamed
// under the route's limit by body.go.
package proxy

import (
	"log/slog"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/campshub360/edge/gateway/internal/balancer"
	"github.com/campshub360/edge/gateway/internal/clientip"
	"github.com/campshub360/edge/gateway/internal/exchange"
	"github.com/campshub360/edge/gateway/internal/health"
	"github.com/campshub360/edge/gateway/internal/metrics"
	"github.com/campshub360/edge/shared/problem"
)

// Target is the per-route forwarding configuration. Build it with
// NewTarget; immutable afterwards and shared by every request on the
// route.
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
	// StreamResponse relays the upstream body as it arrives instead of
	// buffering it.
	StreamResponse bool
	// Forwarded adds the RFC 7239 Forwarded header.
	Forwarded bool
	// WebSocketIdle closes a WebSocket tunnel idle this long (both
	// directions).
	WebSocketIdle time.Duration

	// instances are the pool's pre-resolved upstream series, by index.
	instances []*metrics.Instance
}

// NewTarget returns a Target for pool with its upstream metric series
// resolved on m once, so that forwarding does no label lookups.
func NewTarget(m *metrics.Metrics, t Target) *Target {
	t.instances = make([]*metrics.Instance, len(t.Pool.Instances))
	for _, u := range t.Pool.Instances {
		t.instances[u.Index] = m.Instance(t.Pool.Name, u.Addr)
	}
	return &t
}

// Proxy forwards requests to upstream pools. Safe for concurrent use.
type Proxy struct {
	metrics *metrics.Metrics
	log     *slog.Logger
	now     func() time.Time
	tunnels tunnels
}

// New returns a Proxy recording retry outcomes on m and logging upstream
// failures on log (per-instance series are resolved by NewTarget). now is
// the clock (time.Now when nil).
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
	headerExpect    = []byte("Expect")
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
// retries are forward's (retry.go); failures are mapped by fail
// (errors.go).
func (p *Proxy) Serve(ctx *fasthttp.RequestCtx, t *Target) {
	ex := exchange.From(ctx)
	ex.Upstream = t.Pool.Name
	p.prepare(ctx, ex, t)
	if err := p.forward(ctx, ex, t); err != nil {
		p.fail(ctx, ex, err)
		return
	}
	cleanResponse(&ctx.Response.Header)
	if ctx.Response.IsBodyStream() {
		ex.BytesOut = int64(max(ctx.Response.Header.ContentLength(), 0))
	}
}

// prepare rewrites the inbound request in place for forwarding.
func (p *Proxy) prepare(ctx *fasthttp.RequestCtx, ex *exchange.Exchange, t *Target) {
	h := &ctx.Request.Header
	stripRequestHopByHop(h)
	for _, k := range unkeyed {
		h.DelBytes(k)
	}
	// The gateway has read (or streams) the body itself; an interim 100
	// from the upstream has nobody to go to.
	h.DelBytes(headerExpect)

	// X-Forwarded-For: the chain as received from a trusted proxy (every
	// line, in order) plus the peer; from anyone else only the peer (RFC
	// 7239 §5.2 semantics). Every header the gateway owns is replaced
	// whole: a client cannot smuggle a second line of it past the gateway.
	var peerBuf [64]byte
	peer := clientip.Peer(ctx.RemoteIP())
	peerText := peer.AppendTo(peerBuf[:0])
	var buf [512]byte
	if ex.PeerTrusted {
		v := joined(buf[:0], h, fasthttp.HeaderXForwardedFor)
		if len(v) > 0 {
			v = append(v, ", "...)
		}
		replace(h, headerXFF, append(v, peerText...))
	} else {
		replace(h, headerXFF, peerText)
		h.DelBytes(headerForwarded)
		h.DelBytes(headerXFProto)
		h.DelBytes(headerXFHost)
	}
	replace(h, headerXRealIP, ex.ClientIP.AppendTo(peerBuf[:0]))
	proto := protoHTTP
	if ctx.IsTLS() {
		proto = protoHTTPS
	}
	// From a trusted proxy its X-Forwarded-Proto/-Host stand (first line
	// only); otherwise, or when absent, this hop's.
	if v := append(buf[:0], h.PeekBytes(headerXFProto)...); len(v) > 0 {
		replace(h, headerXFProto, v)
	} else {
		replace(h, headerXFProto, proto)
	}
	if v := append(buf[:0], h.PeekBytes(headerXFHost)...); len(v) > 0 {
		replace(h, headerXFHost, v)
	} else {
		replace(h, headerXFHost, h.Host())
	}
	if t.Forwarded {
		setForwarded(h, ex.PeerTrusted, peer.AppendTo(peerBuf[:0]), peer.Is6(), proto, h.Host())
	}
	replace(h, headerRequestID, ex.RequestID)
	// The upstream hop is plain HTTP whatever the client used.
	ctx.Request.URI().SetSchemeBytes(protoHTTP)
}

// setForwarded appends this hop's element to Forwarded (RFC 7239 §4):
// for=<peer>;proto=<proto>;host="<host>", IPv6 peers quoted and bracketed
// (§6). From an untrusted peer any inbound value was already removed.
func setForwarded(h *fasthttp.RequestHeader, trusted bool, peer []byte, v6 bool, proto, host []byte) {
	var buf [512]byte
	v := buf[:0]
	if trusted {
		if v = joined(v, h, fasthttp.HeaderForwarded); len(v) > 0 {
			v = append(v, ", "...)
		}
	}
	v = append(v, "for="...)
	if v6 {
		v = append(append(append(v, `"[`...), peer...), `]"`...)
	} else {
		v = append(v, peer...)
	}
	v = append(append(v, ";proto="...), proto...)
	if len(host) > 0 {
		v = append(append(append(v, `;host="`...), host...), '"')
	}
	replace(h, headerForwarded, v)
}

// replace sets the header name to value after removing every line of it,
// so no second, client-sent copy survives (fasthttp's Set replaces the
// first line only). value must not alias the header's storage.
func replace(h *fasthttp.RequestHeader, name, value []byte) {
	h.DelBytes(name)
	h.SetBytesKV(name, value)
}

// joined appends to dst every line of the header name, in order,
// separated by ", " (one list, RFC 9110 §5.3), copying the bytes.
func joined(dst []byte, h *fasthttp.RequestHeader, name string) []byte {
	for i, v := range h.PeekAll(name) {
		if i > 0 {
			dst = append(dst, ", "...)
		}
		dst = append(dst, v...)
	}
	return dst
}
