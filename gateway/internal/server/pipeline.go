package server

import (
	"net/netip"

	"github.com/valyala/fasthttp"

	"github.com/campshub360/edge/gateway/internal/clientip"
	"github.com/campshub360/edge/gateway/internal/exchange"
	"github.com/campshub360/edge/gateway/internal/headers"
	"github.com/campshub360/edge/gateway/internal/observe"
)

// stage wraps the rest of the chain.
type stage func(next fasthttp.RequestHandler) fasthttp.RequestHandler

// chain builds THE request chain of one configuration generation. Stages
// are listed outermost first; every request passes them in this order and
// the responses pass them back in reverse:
//
//	begin     exchange, start time, request id (echoed on every response)
//	observe   RED metrics and the access log line, after the response
//	recover   a panic becomes a 500 problem
//	headers   security headers on every response
//	framing   smuggling-prone framing, bad targets and hosts: 400 + close
//	clientip  trusted-proxy walk of X-Forwarded-For
//	route     host + longest path prefix -> route and its policies; the
//	          request body buffered or streamed under the route's limit
//	compress  Accept-Encoding normalized; the response compressed on the
//	          way back
//	proxy     WebSocket tunnel or balancer pick, rewrite, forward, safe
//	          retry, error mapping (terminal)
func (s *Server) chain(g *graph) fasthttp.RequestHandler {
	stages := []stage{
		func(next fasthttp.RequestHandler) fasthttp.RequestHandler {
			return exchange.Begin(exchange.BeginOptions{
				Pool: &s.exchanges, IDs: s.ids, Trusted: g.resolver.Trusted, Now: s.now,
				Peer: func(ctx *fasthttp.RequestCtx) netip.Addr { return clientip.Peer(ctx.RemoteIP()) },
			}, next)
		},
		func(next fasthttp.RequestHandler) fasthttp.RequestHandler {
			return observe.Middleware(observe.Options{
				Metrics: s.metrics, Unmatched: g.unmatched, Access: s.accessLog(g),
				Sample2xx: g.cfg.Log.Access.Sample2xx, Rand: s.rand, Now: s.now,
			}, next)
		},
		func(next fasthttp.RequestHandler) fasthttp.RequestHandler { return observe.Recover(s.log, next) },
		func(next fasthttp.RequestHandler) fasthttp.RequestHandler { return headers.Middleware(g.headers, next) },
		func(next fasthttp.RequestHandler) fasthttp.RequestHandler { return s.framingStage(g, next) },
		func(next fasthttp.RequestHandler) fasthttp.RequestHandler {
			return clientip.Middleware(g.resolver, next)
		},
		func(next fasthttp.RequestHandler) fasthttp.RequestHandler { return s.routeStage(g, next) },
		func(next fasthttp.RequestHandler) fasthttp.RequestHandler { return s.compressStage(g, next) },
	}
	h := s.proxyStage
	for i := len(stages) - 1; i >= 0; i-- {
		h = stages[i](h)
	}
	return h
}
