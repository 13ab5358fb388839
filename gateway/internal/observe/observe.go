// Package observe is the pipeline's observability stage: RED metrics and
// one JSON access-log line per request, written after the response is
// complete, and the recover stage that turns a panic into a 500.
package observe

import (
	"log/slog"
	"math/rand/v2"
	"net/netip"
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
	// Unmatched are the RED series of requests that matched no route.
	Unmatched *metrics.Route
	// Access is the access log; nil disables it.
	Access *AccessLog
	// Sample2xx is the fraction of non-error (status < 400) responses
	// logged (0..1); errors are always logged.
	Sample2xx float64
	// Rand returns a uniform float in [0,1) for sampling (math/rand/v2's
	// Float64 when nil).
	Rand func() float64
	// Now is the clock.
	Now func() time.Time
}

// StatusClientClosed is the status logged (never sent) when the client
// went away before its response: nginx's 499.
const StatusClientClosed = 499

// Middleware records metrics and the access log line for every request,
// after next returns. Route labels come from configuration (bounded);
// requests that matched no route share the "unmatched" series. The log
// line has: time, request_id, client_ip, method, route, path (never the
// query string, which may carry secrets; no header values, so no tokens
// or cookies), status (499 when the client went away), bytes_in,
// bytes_out, upstream, instance, attempts, duration_ms, upstream_ms, cache
// and ratelimit. The steady state does not allocate.
func Middleware(o Options, next fasthttp.RequestHandler) fasthttp.RequestHandler {
	if o.Rand == nil {
		o.Rand = rand.Float64
	}
	return func(ctx *fasthttp.RequestCtx) {
		o.Metrics.InFlight.Inc()
		next(ctx)
		o.Metrics.InFlight.Dec()

		ex := exchange.From(ctx)
		took := o.Now().Sub(ex.Start)
		status := ctx.Response.StatusCode()
		if ex.ClientGone {
			status = StatusClientClosed
		}
		rm := ex.RouteMetrics
		if rm == nil {
			rm = o.Unmatched
		}
		method := ctx.Method()
		rm.Observe(method, status, took.Seconds())

		if o.Access == nil || (status < 400 && o.Sample2xx < 1 && o.Rand() >= o.Sample2xx) {
			return
		}
		bytesOut := ex.BytesOut
		if bytesOut == 0 && !ctx.Response.IsBodyStream() {
			bytesOut = int64(len(ctx.Response.Body()))
		}
		ln := o.Access.Begin()
		ln.Time("time", ex.Start)
		ln.Bytes("request_id", ex.RequestID)
		ln.key("client_ip")
		ln.b = append(ln.b, '"')
		ln.b = ex.ClientIP.AppendTo(ln.b)
		ln.b = append(ln.b, '"')
		ln.Str("method", metrics.Method(method))
		ln.Str("route", rm.Name())
		ln.Bytes("path", ctx.Path())
		ln.Int("status", int64(status))
		ln.Int("bytes_in", ex.BytesIn)
		ln.Int("bytes_out", bytesOut)
		ln.Str("upstream", ex.Upstream)
		ln.Str("instance", ex.Instance)
		ln.Int("attempts", int64(ex.Attempts))
		ln.Millis("duration_ms", took)
		ln.Millis("upstream_ms", ex.UpstreamDuration)
		ln.Str("cache", ex.CacheStatus)
		ln.Str("ratelimit", ex.RateLimit)
		if ex.Upgraded {
			ln.Str("upgrade", "websocket")
		}
		o.Access.Commit(ln)
	}
}

// LogRejected writes the access-log line of a request refused before it
// could be parsed (fasthttp's error handler): time, request_id, client_ip,
// status and route "unmatched"; the other fields are empty.
func LogRejected(a *AccessLog, now time.Time, requestID string, client netip.Addr, status int) {
	ln := a.Begin()
	ln.Time("time", now)
	ln.Str("request_id", requestID)
	ln.key("client_ip")
	ln.b = append(ln.b, '"')
	ln.b = client.AppendTo(ln.b)
	ln.b = append(ln.b, '"')
	ln.Str("route", "unmatched")
	ln.Int("status", int64(status))
	a.Commit(ln)
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
