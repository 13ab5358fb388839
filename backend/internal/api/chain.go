package api

import (
	"fmt"
	"log/slog"
	"runtime/debug"
	"strconv"

	"github.com/campshub360/edge/shared/problem"
	"github.com/campshub360/edge/shared/requestid"
	"github.com/valyala/fasthttp"
)

// chain wraps a handler in the request chain, outermost first:
//
//	requestid -> observe (access log, RED metrics) -> recover
//	  -> authorize (authentication, route access: 401/403 per the route's
//	     Access, attaching the Principal; password-change and API key scope
//	     gates; guard.go) -> body (Content-Type, size) -> h
//
// The router dispatches to the result, so the chain sees the matched route
// template. This is the only place the chain is assembled.
func (a *API) chain(r route, h fasthttp.RequestHandler) fasthttp.RequestHandler {
	return a.withRequestID(a.observe(r, a.recoverPanics(a.authorize(r, a.checkBody(r, h)))))
}

// withRequestID echoes a valid inbound X-Request-ID (shared/requestid.Valid)
// or mints a new one, on the response header where problem.Write and the
// access log read it.
func (a *API) withRequestID(next fasthttp.RequestHandler) fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) {
		if in := ctx.Request.Header.Peek(requestid.Header); requestid.Valid(in) {
			ctx.Response.Header.SetBytesV(requestid.Header, in)
		} else {
			var buf [requestid.Len]byte
			ctx.Response.Header.SetBytesV(requestid.Header, a.ids.AppendNew(buf[:0]))
		}
		next(ctx)
	}
}

// observe records RED metrics for every request and writes one JSON access
// log line: at error level for 5xx (except a quiet route's 503), debug for
// quiet routes, info otherwise.
func (a *API) observe(r route, next fasthttp.RequestHandler) fasthttp.RequestHandler {
	obs := a.metrics.forRoute(r.template)
	return func(ctx *fasthttp.RequestCtx) {
		start := a.now()
		method := methodLabel(ctx.Method())
		obs.inFlight.Inc()
		next(ctx)
		obs.inFlight.Dec()
		elapsed := a.now().Sub(start)
		status := ctx.Response.StatusCode()
		obs.observe(method, status, elapsed)

		// A probe answering 503 is expected while a dependency is down
		// (the readiness transition itself is logged once, at warn).
		level := slog.LevelInfo
		switch {
		case status >= 500 && !(r.quiet && status == fasthttp.StatusServiceUnavailable):
			level = slog.LevelError
		case r.quiet:
			level = slog.LevelDebug
		}
		if !a.log.Enabled(ctx, level) {
			return
		}
		a.log.LogAttrs(ctx, level, "request",
			slog.String("request_id", string(ctx.Response.Header.Peek(requestid.Header))),
			slog.String("method", method),
			slog.String("route", r.template),
			slog.String("path", string(ctx.Path())),
			slog.Int("status", status),
			slog.Float64("duration_ms", float64(elapsed.Microseconds())/1000),
			slog.Int("bytes", len(ctx.Response.Body())),
			slog.String("remote", ctx.RemoteIP().String()),
		)
	}
}

// recoverPanics turns a panic in next into a logged internal error and a
// 500 problem; the stack goes to the log, never to the client.
func (a *API) recoverPanics(next fasthttp.RequestHandler) fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) {
		defer func() {
			if v := recover(); v != nil {
				a.log.Error("panic serving request",
					"request_id", string(ctx.Response.Header.Peek(requestid.Header)),
					"panic", fmt.Sprint(v),
					"stack", string(debug.Stack()))
				writeProblem(ctx, problem.New(fasthttp.StatusInternalServerError, "internal",
					"Internal Server Error", "The server failed to handle this request."))
			}
		}()
		next(ctx)
	}
}

// methodLabel bounds the method metric label to the standard methods.
func methodLabel(m []byte) string {
	switch string(m) {
	case fasthttp.MethodGet:
		return fasthttp.MethodGet
	case fasthttp.MethodHead:
		return fasthttp.MethodHead
	case fasthttp.MethodPost:
		return fasthttp.MethodPost
	case fasthttp.MethodPut:
		return fasthttp.MethodPut
	case fasthttp.MethodPatch:
		return fasthttp.MethodPatch
	case fasthttp.MethodDelete:
		return fasthttp.MethodDelete
	case fasthttp.MethodOptions:
		return fasthttp.MethodOptions
	default:
		return "OTHER"
	}
}

// statusLabel renders a status code label without allocating for the
// common ones.
func statusLabel(code int) string {
	switch code {
	case 200:
		return "200"
	case 201:
		return "201"
	case 204:
		return "204"
	case 304:
		return "304"
	case 400:
		return "400"
	case 401:
		return "401"
	case 403:
		return "403"
	case 404:
		return "404"
	case 409:
		return "409"
	case 405:
		return "405"
	case 500:
		return "500"
	case 503:
		return "503"
	default:
		return strconv.Itoa(code)
	}
}
