package server

import (
	"net/netip"

	"github.com/valyala/fasthttp"

	"github.com/campshub360/edge/gateway/internal/authn"
	"github.com/campshub360/edge/gateway/internal/cache"
	"github.com/campshub360/edge/gateway/internal/clientip"
	"github.com/campshub360/edge/gateway/internal/cors"
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
//	match     host + longest path prefix -> route and its policies, recorded
//	          in the exchange so every later stage reads them
//	headers   security headers (per route) on every response, HSTS over
//	          TLS, upstream Server/X-Powered-By removed
//	framing   smuggling-prone framing, bad targets and hosts: 400 + close
//	cors      preflights answered here; CORS headers and Vary: Origin
//	clientip  trusted-proxy walk of X-Forwarded-For
//	auth      bearer token verification (per route), identity headers
//	route     404 without a route; the request body buffered or streamed
//	          under the route's limit
//	ratelimit in-flight caps, the route's rate-limit policies, RateLimit fields
//	cache     RFC 9111 response cache of the matched route; hits, 304s and
//	          only-if-cached misses end here and never reach the proxy;
//	          entries are stored as compressed below (one per encoding)
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
		func(next fasthttp.RequestHandler) fasthttp.RequestHandler { return match(g, next) },
		func(next fasthttp.RequestHandler) fasthttp.RequestHandler {
			return headers.Middleware(g.headersFor, next)
		},
		func(next fasthttp.RequestHandler) fasthttp.RequestHandler { return s.framingStage(g, next) },
		func(next fasthttp.RequestHandler) fasthttp.RequestHandler { return cors.Middleware(corsFor, next) },
		func(next fasthttp.RequestHandler) fasthttp.RequestHandler {
			return clientip.Middleware(g.resolver, next)
		},
		func(next fasthttp.RequestHandler) fasthttp.RequestHandler {
			return authn.Middleware(g.auth, authFor, next)
		},
		func(next fasthttp.RequestHandler) fasthttp.RequestHandler { return s.routeStage(next) },
		func(next fasthttp.RequestHandler) fasthttp.RequestHandler {
			return g.limits.Middleware(routeLimits, next)
		},
		func(next fasthttp.RequestHandler) fasthttp.RequestHandler {
			return s.cache.Middleware(cachePolicy, next)
		},
		func(next fasthttp.RequestHandler) fasthttp.RequestHandler { return s.compressStage(g, next) },
	}
	h := s.proxyStage
	for i := len(stages) - 1; i >= 0; i-- {
		h = stages[i](h)
	}
	return h
}

// match records the request's route and its pre-resolved RED series in
// the exchange (nothing when none matches). It does not allocate.
func match(g *graph, next fasthttp.RequestHandler) fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) {
		if r := g.routes.Match(ctx.Host(), ctx.Path()); r != nil {
			ex := exchange.From(ctx)
			ex.Matched, ex.Route, ex.RouteMetrics = r, r.Name, r.Target.(*routeTarget).metrics
		}
		next(ctx)
	}
}

// cachePolicy returns the cache policy of the request's matched route
// (nil when none matched or the route does not cache).
func cachePolicy(ctx *fasthttp.RequestCtx) *cache.Policy {
	if t := targetOf(exchange.From(ctx)); t != nil {
		return t.cache
	}
	return nil
}
