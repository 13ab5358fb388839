package exchange

import (
	"net/netip"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/campshub360/edge/shared/requestid"
)

var headerRequestID = []byte(requestid.Header)

// BeginOptions configure Begin.
type BeginOptions struct {
	// Pool recycles Exchanges.
	Pool *Pool
	// IDs mints request ids.
	IDs *requestid.Generator
	// Trusted reports whether a TCP peer is a trusted proxy.
	Trusted func(netip.Addr) bool
	// Now is the clock.
	Now func() time.Time
	// Peer converts ctx.RemoteIP to an address.
	Peer func(ctx *fasthttp.RequestCtx) netip.Addr
}

// Begin is the outermost pipeline stage: it attaches an Exchange to the
// request, records the start time and settles the request id. An inbound
// X-Request-ID is kept only from a trusted peer and only when
// requestid.Valid; otherwise a UUIDv7 is minted. The id is set on the
// request (forwarded upstream) and, after next returns, on the response,
// whatever next wrote (errors included). The Exchange is released when
// next returns.
func Begin(o BeginOptions, next fasthttp.RequestHandler) fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) {
		ex := o.Pool.Acquire(ctx)
		ex.Start = o.Now()
		ex.PeerTrusted = o.Trusted(o.Peer(ctx))
		in := ctx.Request.Header.PeekBytes(headerRequestID)
		if ex.PeerTrusted && requestid.Valid(in) {
			ex.RequestID = append(ex.RequestID[:0], in...)
		} else {
			ex.RequestID = o.IDs.AppendNew(ex.RequestID[:0])
			ctx.Request.Header.DelBytes(headerRequestID)
			ctx.Request.Header.SetBytesKV(headerRequestID, ex.RequestID)
		}
		// Set before next so stages that write their own responses (problem
		// bodies read it) see it; set again after, since a proxied response
		// replaces the header block.
		ctx.Response.Header.SetBytesKV(headerRequestID, ex.RequestID)
		next(ctx)
		// Every line replaced: an upstream's own X-Request-ID lines go.
		ctx.Response.Header.DelBytes(headerRequestID)
		ctx.Response.Header.SetBytesKV(headerRequestID, ex.RequestID)
		o.Pool.Release(ctx, ex)
	}
}
