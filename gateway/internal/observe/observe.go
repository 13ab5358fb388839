// Package observe is the pipeline's observability stage: RED metrics and
// one JSON access-log line per request, written after the response is
// complete, and the recover stage that turns a panic into a 500.
package observe

import (
	"log/slog"
	"math/rand/v2"
	"runtime/debug"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/campshub360/edge/gateway/internal/exchange"
	"github.com/campshub360/edge/gateway/internal/metrics"
	"github.com/campshub360/edge/shared/problem"
)

// Options configure Middleware.
type Options struct {
	// Metrics receives the RED metrics.
	Metrics *metrics.Metrics
	// Access is the access logger; nil disables the access log.
	Access *slog.Logger
	// Sample2xx is the fraction of non-error responses logged (0..1).
	Sample2xx float64
	// Now is the clock.
	Now func() time.Time
}

// unmatched labels requests that matched no route.
const unmatched = "unmatched"

// Middleware records metrics and the access log line for every request.
// Route labels come from configuration (bounded); requests that matched no
// route share the "unmatched" label. The line carries the path without
// its query string, which may hold secrets.
func Middleware(o Options, next fasthttp.RequestHandler) fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) {
		o.Metrics.InFlight.Inc()
		next(ctx)
		o.Metrics.InFlight.Dec()

		ex := exchange.From(ctx)
		took := o.Now().Sub(ex.Start)
		status := ctx.Response.StatusCode()
		route := ex.Route
		if route == "" {
			route = unmatched
		}
		method := metrics.Method(ctx.Method())
		o.Metrics.Requests.WithLabelValues(route, method, metrics.CodeClass(status)).Inc()
		o.Metrics.Duration.WithLabelValues(route).Observe(took.Seconds())

		if o.Access == nil || (status < 400 && o.Sample2xx < 1 && rand.Float64() >= o.Sample2xx) {
			return
		}
		logStatus := status
		if ex.ClientGone {
			logStatus = 499
		}
		o.Access.LogAttrs(nil, slog.LevelInfo, "access",
			slog.String("request_id", string(ex.RequestID)),
			slog.String("client_ip", ex.ClientIP.String()),
			slog.String("method", method),
			slog.String("route", route),
			slog.String("path", string(ctx.Path())),
			slog.Int("status", logStatus),
			slog.Int("bytes_in", len(ctx.Request.Body())),
			slog.Int("bytes_out", len(ctx.Response.Body())),
			slog.String("upstream", ex.Upstream),
			slog.String("instance", ex.Instance),
			slog.Int("attempts", ex.Attempts),
			slog.Float64("duration_ms", float64(took.Microseconds())/1000),
			slog.Float64("upstream_ms", float64(ex.UpstreamDuration.Microseconds())/1000),
			slog.String("cache", ex.CacheStatus),
			slog.String("ratelimit", ex.RateLimit),
		)
	}
}

// Recover turns a panic in next into a 500 problem response and an error
// log line with the stack; the connection stays usable. Response headers
// already set (request id, security headers) are kept; caching headers are
// replaced so the error is never stored.
func Recover(log *slog.Logger, next fasthttp.RequestHandler) fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) {
		defer func() {
			if v := recover(); v != nil {
				ex := exchange.From(ctx)
				log.Error("panic serving request", "request_id", string(ex.RequestID), "panic", v, "stack", string(debug.Stack()))
				ctx.Response.Header.Set(fasthttp.HeaderCacheControl, "no-store")
				problem.Write(ctx, problem.New(fasthttp.StatusInternalServerError, "internal",
					"Internal Server Error", "The gateway failed to handle the request."))
			}
		}()
		next(ctx)
	}
}
