package proxy

import (
	"errors"
	"net"

	"github.com/valyala/fasthttp"

	"github.com/campshub360/edge/gateway/internal/balancer"
	"github.com/campshub360/edge/gateway/internal/exchange"
	"github.com/campshub360/edge/shared/problem"
)

// clientFailed reports whether a failed try failed because of the client
// side of a streamed request body (the client went away, sent a malformed
// chunk, exceeded the body limit or was too slow), not the upstream.
func clientFailed(ex *exchange.Exchange) bool {
	return ex.ClientGone || ex.BodyError != nil
}

// The problems the gateway answers upstream failures with.
var (
	problemOverloaded = problem.New(fasthttp.StatusServiceUnavailable, "upstream-overloaded",
		"Service Unavailable", "The upstream is at capacity; retry shortly.")
	problemUnavailable = problem.New(fasthttp.StatusServiceUnavailable, "upstream-unavailable",
		"Service Unavailable", "No upstream instance is available to serve the request.")
	problemTimeout = problem.New(fasthttp.StatusGatewayTimeout, "upstream-timeout",
		"Gateway Timeout", "The upstream did not answer in time.")
	problemBadGateway = problem.New(fasthttp.StatusBadGateway, "upstream-failed",
		"Bad Gateway", "No upstream instance answered the request.")
)

// fail maps a failed exchange to its response, once (DESIGN rule 7):
//
//   - the client's own side failed while its body was streamed: the
//     body-limit, malformed-body and body-timeout problems of body.go (413,
//     400, 408), or, when the client went away, a 400 nobody reads that
//     the access log records as 499; the connection is closed;
//   - every instance at its concurrency cap and no admission in time ->
//     503 upstream-overloaded with Retry-After;
//   - no instance available -> 503 with Retry-After;
//   - timeout (dial or response) -> 504;
//   - anything else (refused, reset, malformed response) -> 502.
//
// The body is an RFC 9457 problem with the request id; it never carries
// the error text.
func (p *Proxy) fail(ctx *fasthttp.RequestCtx, ex *exchange.Exchange, err error) {
	streamErr := ex.BodyError
	ctx.Response.Reset()
	ctx.Response.Header.SetBytesKV(headerRequestID, ex.RequestID)
	if ex.ClientGone || streamErr != nil {
		ctx.SetConnectionClose()
		problem.Write(ctx, bodyProblem(streamErr))
		return
	}
	switch {
	case errors.Is(err, balancer.ErrOverloaded):
		ctx.Response.Header.Set(fasthttp.HeaderRetryAfter, "1")
		problem.Write(ctx, problemOverloaded)
	case err == nil || errors.Is(err, balancer.ErrNoInstance):
		ctx.Response.Header.Set(fasthttp.HeaderRetryAfter, "1")
		problem.Write(ctx, problemUnavailable)
	case errors.Is(err, fasthttp.ErrTimeout) || errors.Is(err, fasthttp.ErrDialTimeout) || isTimeout(err):
		problem.Write(ctx, problemTimeout)
	default:
		problem.Write(ctx, problemBadGateway)
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
