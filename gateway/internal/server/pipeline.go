package server

import (
	"net/netip"

	"github.com/valyala/fasthttp"

	"github.com/campshub360/edge/gateway/internal/cache"
	"github.com/campshub360/edge/gateway/internal/clientip"
	"github.com/campshub360/edge/gateway/internal/exchange"
	"github.com/campshub360/edge/gateway/internal/headers"
	"github.com/campshub360/edge/gateway/internal/observe"
	"github.com/campshub360/edge/shared/problem"
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
//	headers   security headers on every response, upstream Server removed
//	clientip  trusted-proxy walk of X-Forwarded-For
//	cache     RFC 9111 response cache of the matched route (it matches the
//	          route itself; hits never reach the stages below)
//	route     host + longest path prefix -> route, body limit
//	proxy     balancer pick, rewrite, forward, safe retry, error mapping
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
				Metrics: s.metrics, Access: s.accessLog(g), Sample2xx: g.cfg.Log.Access.Sample2xx, Now: s.now,
			}, next)
		},
		func(next fasthttp.RequestHandler) fasthttp.RequestHandler { return observe.Recover(s.log, next) },
		func(next fasthttp.RequestHandler) fasthttp.RequestHandler { return headers.Middleware(g.headers, next) },
		func(next fasthttp.RequestHandler) fasthttp.RequestHandler {
			return clientip.Middleware(g.resolver, next)
		},
		func(next fasthttp.RequestHandler) fasthttp.RequestHandler {
			return s.cache.Middleware(g.cachePolicy, next)
		},
	}
	h := s.routeAndProxy(g)
	for i := len(stages) - 1; i >= 0; i-- {
		h = stages[i](h)
	}
	return h
}

// routeAndProxy is the terminal stage: route match, then the proxy.
func (s *Server) routeAndProxy(g *graph) fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) {
		r := g.routes.Match(ctx.Host(), ctx.Path())
		if r == nil {
			problem.Write(ctx, problem.New(fasthttp.StatusNotFound, "no-route", "Not Found", "No route serves this path."))
			return
		}
		ex := exchange.From(ctx)
		ex.Route = r.Name
		t := r.Target.(*routeTarget)
		if len(ctx.Request.Body()) > t.maxBodyBytes {
			ctx.SetConnectionClose()
			problem.Write(ctx, problem.New(fasthttp.StatusRequestEntityTooLarge, "body-too-large",
				"Content Too Large", "The request body exceeds this route's limit."))
			return
		}
		s.proxy.Serve(ctx, &t.proxy)
	}
}

// cachePolicy matches the route for the cache stage and returns its cache
// policy (nil when it does not cache). It records the route name, so that
// cache hits, which never reach the route stage, are labelled too.
func (g *graph) cachePolicy(ctx *fasthttp.RequestCtx) *cache.Policy {
	r := g.routes.Match(ctx.Host(), ctx.Path())
	if r == nil {
		return nil
	}
	exchange.From(ctx).Route = r.Name
	return r.Target.(*routeTarget).cache
}
