package api

import (
	"github.com/campshub360/edge/shared/problem"
	"github.com/fasthttp/router"
	"github.com/valyala/fasthttp"
)

// routes builds the router. Every route the backend serves is listed here,
// each wrapped once in the request chain (chain.go).
//
//	GET|HEAD /health/            liveness: 200 {"status":"ok"}
//	GET|HEAD /ready              readiness: 200, or 503 problem naming the failing dependency
//	GET /metrics                 Prometheus text exposition of the registry
//	GET /api/v1/students         keyset-paginated student list (students.go)
//	GET /api/v1/students/{id}    one student by UUID
//
// Unmatched paths answer 404 and known paths with another method 405 with
// Allow, both as problems; OPTIONS answers 204 with Allow. Automatic
// trailing-slash and case-fixing redirects are off: an API client gains
// nothing from a redirect, and the router would send it outside the chain
// (without a request id, metrics or an access log).
func (a *API) routes() *router.Router {
	r := router.New()
	r.RedirectTrailingSlash = false
	r.RedirectFixedPath = false
	r.HandleMethodNotAllowed = true
	r.HandleOPTIONS = true

	get := func(path string, quiet bool, h fasthttp.RequestHandler) {
		r.GET(path, a.chain(route{template: path, quiet: quiet}, h))
	}
	// Probes also answer HEAD (fasthttp drops the body), as some load
	// balancers probe that way.
	probe := func(path string, h fasthttp.RequestHandler) {
		get(path, true, h)
		r.HEAD(path, a.chain(route{template: path, quiet: true}, h))
	}
	probe("/health/", a.health)
	probe("/ready", a.readyHandler)
	get("/metrics", true, a.metricsHandler())
	get("/api/v1/students", false, a.listStudents)
	get("/api/v1/students/{id}", false, a.getStudent)

	r.NotFound = a.chain(route{template: "unmatched"}, notFound)
	r.MethodNotAllowed = a.chain(route{template: "unmatched"}, methodNotAllowed)
	r.GlobalOPTIONS = a.chain(route{template: "options"}, options)
	return r
}

func notFound(ctx *fasthttp.RequestCtx) {
	writeProblem(ctx, problem.New(fasthttp.StatusNotFound, slugNotFound, "Not Found",
		"No resource is served at this path."))
}

// methodNotAllowed runs after the router set the Allow header.
func methodNotAllowed(ctx *fasthttp.RequestCtx) {
	writeProblem(ctx, problem.New(fasthttp.StatusMethodNotAllowed, slugMethodNotAllowed, "Method Not Allowed",
		"This resource does not support the request method; see the Allow header."))
}

// options runs after the router set the Allow header.
func options(ctx *fasthttp.RequestCtx) {
	ctx.SetStatusCode(fasthttp.StatusNoContent)
}
