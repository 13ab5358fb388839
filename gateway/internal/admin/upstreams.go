package admin

import (
	"strings"

	"github.com/valyala/fasthttp"

	"github.com/campshub360/edge/shared/problem"
)

// serveUpstreams answers the upstream endpoints:
//
//	GET    /admin/upstreams                            every pool's live state
//	POST   /admin/upstreams/{pool}/{instance}/drain    take the instance out (in-flight requests finish)
//	DELETE /admin/upstreams/{pool}/{instance}/drain    put it back (with a slow start)
//
// {instance} is the instance's configured host:port.
func serveUpstreams(ctx *fasthttp.RequestCtx, o Options, path string) {
	if o.Upstreams == nil || o.Drain == nil {
		problem.Write(ctx, problem.New(fasthttp.StatusNotFound, "not-found", "Not Found", "No such admin endpoint."))
		return
	}
	if path == "/admin/upstreams" {
		if !ctx.IsGet() && !ctx.IsHead() {
			methodNotAllowed(ctx, "GET, HEAD")
			return
		}
		writeJSON(ctx, fasthttp.StatusOK, o.Upstreams())
		return
	}
	parts := strings.Split(strings.TrimPrefix(path, "/admin/upstreams/"), "/")
	if len(parts) != 3 || parts[2] != "drain" || parts[0] == "" || parts[1] == "" {
		problem.Write(ctx, problem.New(fasthttp.StatusNotFound, "not-found", "Not Found", "No such admin endpoint."))
		return
	}
	var drain bool
	switch {
	case ctx.IsPost():
		drain = true
	case ctx.IsDelete():
	default:
		methodNotAllowed(ctx, "POST, DELETE")
		return
	}
	// ctx.Path() is already percent-decoded.
	state, err := o.Drain(parts[0], parts[1], drain)
	if err != nil {
		problem.Write(ctx, problem.New(fasthttp.StatusNotFound, "unknown-instance", "Not Found", "No such upstream pool or instance."))
		return
	}
	writeJSON(ctx, fasthttp.StatusOK, state)
}

func methodNotAllowed(ctx *fasthttp.RequestCtx, allow string) {
	ctx.Response.Header.Set(fasthttp.HeaderAllow, allow)
	problem.Write(ctx, problem.New(fasthttp.StatusMethodNotAllowed, "method-not-allowed", "Method Not Allowed", "Use "+allow+"."))
}
