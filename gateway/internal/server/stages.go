package server

import (
	"github.com/valyala/fasthttp"

	"github.com/campshub360/edge/gateway/internal/compress"
	"github.com/campshub360/edge/gateway/internal/exchange"
	"github.com/campshub360/edge/gateway/internal/framing"
	"github.com/campshub360/edge/gateway/internal/proxy"
	"github.com/campshub360/edge/shared/problem"
)

// The stages of pipeline.go that belong to the server itself. Each is
// written as func(ctx) calling next at most once.

var (
	allowAll     = []byte("GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS")
	headerAllow  = []byte(fasthttp.HeaderAllow)
	problemRoute = problem.New(fasthttp.StatusNotFound, "no-route", "Not Found", "No route serves this path.")
)

// framingStage refuses requests framing.Check rejects, and those whose
// head the listener saw a bare LF line end in: the problem, and the
// connection closed so that nothing after the bad request is read.
// "OPTIONS *" is answered here (204 with Allow).
func (s *Server) framingStage(g *graph, next fasthttp.RequestHandler) fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) {
		err := framing.Check(&ctx.Request, g.framing)
		if hc, ok := ctx.Conn().(headConn); ok && hc.bareLF() {
			err = framing.ErrBareLF
		}
		if err != nil {
			ctx.SetConnectionClose()
			if err == framing.ErrMethod {
				ctx.Response.Header.SetBytesKV(headerAllow, allowAll)
			}
			problem.Write(ctx, problem.New(err.Status, err.Slug, err.Title, err.Detail))
			return
		}
		if framing.AsteriskOptions(&ctx.Request.Header) {
			ctx.Response.Header.SetBytesKV(headerAllow, allowAll)
			ctx.SetStatusCode(fasthttp.StatusNoContent)
			return
		}
		next(ctx)
	}
}

// routeStage answers 404 when no route matched (match recorded it) and
// brings the request body under the route's limit: buffered whole, or
// streamed on routes marked stream_request_body.
func (s *Server) routeStage(next fasthttp.RequestHandler) fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) {
		ex := exchange.From(ctx)
		t := targetOf(ex)
		if t == nil {
			problem.Write(ctx, problemRoute)
			return
		}
		if err := s.bodies.Prepare(ctx, ex, t.maxBodyBytes, t.streamRequest); err != nil {
			proxy.WriteBodyError(ctx, err)
			return
		}
		next(ctx)
	}
}

// targetOf returns the matched route's policies, nil before routing.
func targetOf(ex *exchange.Exchange) *routeTarget {
	if ex.Matched == nil {
		return nil
	}
	return ex.Matched.Target.(*routeTarget)
}

// compressStage normalizes Accept-Encoding on the way in and compresses
// the response on the way out, on routes with compression.
func (s *Server) compressStage(g *graph, next fasthttp.RequestHandler) fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) {
		ex := exchange.From(ctx)
		t := targetOf(ex)
		if t == nil || !t.compress || proxy.UpgradeRequested(&ctx.Request.Header) {
			next(ctx)
			return
		}
		coding := compress.Negotiate(&ctx.Request.Header)
		next(ctx)
		if !ex.Upgraded {
			g.compressor.Apply(ctx, coding)
		}
	}
}

// proxyStage is the terminal stage: WebSocket handshakes go to the tunnel
// (on routes that allow it), everything else through the forwarding proxy.
func (s *Server) proxyStage(ctx *fasthttp.RequestCtx) {
	t := targetOf(exchange.From(ctx))
	if proxy.IsWebSocket(&ctx.Request.Header) {
		if !t.websocket {
			proxy.RefuseWebSocket(ctx)
			return
		}
		s.proxy.ServeWebSocket(ctx, t.proxy)
		return
	}
	s.proxy.Serve(ctx, t.proxy)
}
