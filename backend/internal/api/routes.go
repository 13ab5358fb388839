package api

import (
	"strings"

	"github.com/campshub360/edge/shared/problem"
	"github.com/fasthttp/router"
	"github.com/valyala/fasthttp"

	"github.com/campshub360/edge/backend/internal/auth"
	"github.com/campshub360/edge/backend/internal/authz"
)

// RouteInfo describes one route the API serves: its method, its path
// template (fasthttp/router syntax, e.g. /api/v1/students/{id}) and who
// may call it. Routes returns the whole table, for documentation and the
// route x role authorization tests.
type RouteInfo struct {
	Method string
	Path   string
	Access authz.Access
}

// Routes returns every route the API serves, in declaration order.
func (a *API) Routes() []RouteInfo { return append([]RouteInfo(nil), a.table...) }

// route describes one registered route for the chain (chain.go).
type route struct {
	method string
	// template is the metric label and log field, never the raw path.
	template string
	// access is who may call the route, enforced by the chain.
	access authz.Access
	// quiet demotes access log lines to debug (probes and scrapes).
	quiet bool
	// passwordChange admits accounts that must change their password
	// (authz.Principal.MustChangePassword); every other route answers
	// them 403 password-change-required.
	passwordChange bool
	// maxBody bounds the request body in bytes (0: the server's limit).
	maxBody int
	// scope is what an API key needs (auth.RouteScope; "" refuses keys).
	scope string
}

// authBody bounds the bodies of the authentication routes.
const authBody = 16 << 10

// routes builds the router. Every route the backend serves is declared
// here with its access (authz.Public, Authenticated or Roles), each wrapped
// once in the request chain (chain.go), which enforces the access.
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

	public, authed := authz.Public(), authz.Authenticated()
	handle := func(rt route, h fasthttp.RequestHandler) {
		rt.scope = auth.RouteScope(rt.method, rt.template)
		r.Handle(rt.method, rt.template, a.chain(rt, h))
		a.table = append(a.table, RouteInfo{Method: rt.method, Path: rt.template, Access: rt.access})
	}
	get := func(path string, access authz.Access, h fasthttp.RequestHandler) {
		handle(route{method: fasthttp.MethodGet, template: path, access: access}, h)
	}
	// Probes also answer HEAD (fasthttp drops the body), as some load
	// balancers probe that way.
	probe := func(path string, h fasthttp.RequestHandler) {
		handle(route{method: fasthttp.MethodGet, template: path, access: public, quiet: true}, h)
		handle(route{method: fasthttp.MethodHead, template: path, access: public, quiet: true}, h)
	}

	// Operations.
	//
	//	GET|HEAD /health/            liveness: 200 {"status":"ok"}
	//	GET|HEAD /ready              readiness: 200, or 503 problem naming the failing dependency
	//	GET /metrics                 Prometheus text exposition of the registry
	probe("/health/", a.health)
	probe("/ready", a.readyHandler)
	handle(route{method: fasthttp.MethodGet, template: "/metrics", access: public, quiet: true}, a.metricsHandler())

	// People.
	//
	//	GET /api/v1/students         keyset-paginated student list (students.go)
	//	GET /api/v1/students/{id}    one student by UUID
	staffPeople := authz.Roles(authz.RoleAdmin, authz.RoleRegistrar)
	get("/api/v1/students", staffPeople, a.listStudents)
	get("/api/v1/students/{id}", staffPeople, a.getStudent)

	// Authentication and accounts (auth*.go), declared by authRoutes:
	//
	//	POST /api/v1/auth/login          e-mail or roll number + password -> tokens, or an MFA challenge
	//	POST /api/v1/auth/login/mfa      MFA challenge + TOTP or recovery code -> tokens
	//	POST /api/v1/auth/refresh        refresh token -> new pair (rotation, reuse revokes the family)
	//	GET  /api/v1/auth/jwks.json      public token signing keys (RFC 7517)
	//	POST /api/v1/auth/logout         revoke the caller's session
	//	POST /api/v1/auth/logout-all     revoke every session of the caller
	//	GET  /api/v1/auth/sessions       the caller's signed-in devices
	//	POST /api/v1/auth/password       change the caller's password
	//	POST /api/v1/auth/mfa/enroll     new TOTP secret (shown once)
	//	POST /api/v1/auth/mfa/verify     turn MFA on with a code; recovery codes (shown once)
	//	POST /api/v1/auth/mfa/disable    turn MFA off with the password
	//	GET  /api/v1/me                  the caller's profile and role
	//	POST /api/v1/students/{id}/account   provision a student's account (one-time password)
	//	POST /api/v1/faculty/{id}/account    provision a faculty member's account
	//	POST /api/v1/users                   provision a staff account (admin, registrar, auditor)
	//	PATCH /api/v1/users/{id}             activate or deactivate an account
	//	POST /api/v1/users/{id}/password-reset  new one-time password, sessions ended
	//	POST|GET /api/v1/api-keys, DELETE /api/v1/api-keys/{id}  integration keys
	if a.auth != nil {
		a.authRoutes(handle, get, public, authed, staffPeople)
	}

	r.NotFound = a.chain(route{template: "unmatched", access: public}, notFound)
	r.MethodNotAllowed = a.chain(route{template: "unmatched", access: public}, methodNotAllowed)
	r.GlobalOPTIONS = a.chain(route{template: "options", access: public}, options)
	return r
}

// authRoutes declares the authentication and account routes (auth*.go).
func (a *API) authRoutes(handle func(route, fasthttp.RequestHandler), get func(string, authz.Access, fasthttp.RequestHandler),
	public, authed, staffPeople authz.Access) {
	post := func(path string, access authz.Access, pwChange bool, h fasthttp.RequestHandler) {
		handle(route{method: fasthttp.MethodPost, template: path, access: access, passwordChange: pwChange, maxBody: authBody}, h)
	}
	post("/api/v1/auth/login", public, false, a.login)
	post("/api/v1/auth/login/mfa", public, false, a.loginMFA)
	post("/api/v1/auth/refresh", public, false, a.refresh)
	get("/api/v1/auth/jwks.json", public, a.jwks)
	post("/api/v1/auth/logout", authed, true, a.logout)
	post("/api/v1/auth/logout-all", authed, true, a.logoutAll)
	handle(route{method: fasthttp.MethodGet, template: "/api/v1/auth/sessions", access: authed, passwordChange: true}, a.sessions)
	post("/api/v1/auth/password", authed, true, a.changePassword)
	post("/api/v1/auth/mfa/enroll", authed, false, a.enrollMFA)
	post("/api/v1/auth/mfa/verify", authed, false, a.verifyMFA)
	post("/api/v1/auth/mfa/disable", authed, false, a.disableMFA)
	handle(route{method: fasthttp.MethodGet, template: "/api/v1/me", access: authed, passwordChange: true}, a.me)
	post("/api/v1/students/{id}/account", staffPeople, false, a.provisionStudent)
	post("/api/v1/faculty/{id}/account", staffPeople, false, a.provisionFaculty)
	admin := authz.Roles(authz.RoleAdmin)
	post("/api/v1/users", admin, false, a.provisionStaff)
	handle(route{method: fasthttp.MethodPatch, template: "/api/v1/users/{id}", access: admin, maxBody: authBody}, a.updateUser)
	post("/api/v1/users/{id}/password-reset", admin, false, a.resetPassword)
	keyHolders := authz.Roles(authz.RoleAdmin, authz.RoleRegistrar, authz.RoleFaculty, authz.RoleAuditor)
	post("/api/v1/api-keys", keyHolders, false, a.createAPIKey)
	get("/api/v1/api-keys", keyHolders, a.listAPIKeys)
	handle(route{method: fasthttp.MethodDelete, template: "/api/v1/api-keys/{id}", access: keyHolders, maxBody: authBody}, a.revokeAPIKey)
}

// scopeResources lists the resources API keys may be scoped to: the first
// path segments of the routes that admit keys.
func scopeResources(table []RouteInfo) map[string]bool {
	out := map[string]bool{}
	for _, rt := range table {
		if s := auth.RouteScope(rt.Method, rt.Path); s != "" && !rt.Access.IsPublic() {
			res, _, _ := strings.Cut(s, ":")
			out[res] = true
		}
	}
	return out
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
