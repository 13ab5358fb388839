package clientip

import (
	"github.com/valyala/fasthttp"

	"github.com/campshub360/edge/gateway/internal/exchange"
)

var headerXFF = []byte("X-Forwarded-For")

// Middleware resolves the client address of each request into
// exchange.ClientIP (exchange.PeerTrusted must already be set) and calls
// next. It does not allocate for untrusted peers.
func Middleware(r *Resolver, next fasthttp.RequestHandler) fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) {
		ex := exchange.From(ctx)
		p := Peer(ctx.RemoteIP())
		if ex.PeerTrusted {
			ex.ClientIP = r.Client(p, ctx.Request.Header.PeekAll(string(headerXFF)))
		} else {
			ex.ClientIP = p
		}
		next(ctx)
	}
}
