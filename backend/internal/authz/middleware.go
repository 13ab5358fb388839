package authz

import (
	"errors"

	"github.com/valyala/fasthttp"

	"github.com/campshub360/edge/shared/problem"
	"github.com/campshub360/edge/shared/token"
)

// Denial says why Middleware refused a request, for the caller's metrics
// and audit hook.
type Denial string

// The reasons Middleware refuses a request.
const (
	DenialNoCredentials      Denial = "no_credentials"
	DenialInvalidCredentials Denial = "invalid_credentials"
	DenialInvalidRequest     Denial = "invalid_request"
	DenialForbidden          Denial = "forbidden"
)

// Realm is the protection space named in every challenge (RFC 9110 §11.5).
const Realm = "campshub360"

// The WWW-Authenticate challenges of RFC 6750 §3: none but the realm
// without credentials (§3.1: no error code when the request lacks
// authentication information, another scheme included), invalid_request
// with 400, invalid_token with 401, as the gateway's edge check answers.
const (
	challengeMissing = `Bearer realm="` + Realm + `"`
	challengeInvalid = challengeMissing + `, error="invalid_token", error_description="The access token or API key is not valid"`
	challengeExpired = challengeMissing + `, error="invalid_token", error_description="The access token expired"`
	challengeRequest = challengeMissing + `, error="invalid_request", error_description="`
)

// Options configure Middleware.
type Options struct {
	// Authn establishes principals.
	Authn Authenticator
	// Fail answers an internal authentication failure (a store error);
	// it is the API's error mapping.
	Fail func(ctx *fasthttp.RequestCtx, err error)
	// Denied, when set, is told of every refusal (metrics, security audit
	// events). p is nil unless the reason is DenialForbidden.
	Denied func(ctx *fasthttp.RequestCtx, reason Denial, p *Principal)
}

// Middleware enforces route access a before next: on non-public routes it
// authenticates the request and answers, with a problem body and a
// WWW-Authenticate Bearer challenge (RFC 6750 §3):
//
//   - 401 with no error code without credentials it accepts;
//   - 400 error="invalid_request" for a *RequestError (credentials sent
//     twice, two methods at once, a Bearer scheme without a token);
//   - 401 error="invalid_token" for bad credentials (error_description
//     telling an expired token apart);
//   - 403 when the role is not admitted;
//
// and otherwise attaches the Principal for next. On public routes
// credentials are ignored entirely, so a stale token never breaks a public
// page.
func Middleware(a Access, o Options, next fasthttp.RequestHandler) fasthttp.RequestHandler {
	if a.IsPublic() {
		return next
	}
	return func(ctx *fasthttp.RequestCtx) {
		p, err := o.Authn.Authenticate(ctx)
		switch {
		case errors.Is(err, ErrInvalidRequest):
			deny(ctx, o, DenialInvalidRequest, nil, err)
			return
		case errors.Is(err, ErrInvalidCredentials):
			deny(ctx, o, DenialInvalidCredentials, nil, err)
			return
		case err != nil:
			o.Fail(ctx, err)
			return
		case p == nil:
			deny(ctx, o, DenialNoCredentials, nil, nil)
			return
		case !a.Admits(p):
			deny(ctx, o, DenialForbidden, p, nil)
			return
		}
		With(ctx, p)
		next(ctx)
	}
}

// deny answers a refusal for reason; err is the Authenticator's error.
func deny(ctx *fasthttp.RequestCtx, o Options, reason Denial, p *Principal, err error) {
	if o.Denied != nil {
		o.Denied(ctx, reason, p)
	}
	h := &ctx.Response.Header
	h.Set(fasthttp.HeaderCacheControl, "no-store")
	switch reason {
	case DenialForbidden:
		problem.Write(ctx, problem.New(fasthttp.StatusForbidden, "forbidden", "Forbidden",
			"Your role does not permit this operation."))
	case DenialInvalidRequest:
		desc := "Send one credential: one Authorization header with a bearer token, or one X-API-Key header"
		var req *RequestError
		if errors.As(err, &req) && req.Description != "" {
			desc = req.Description
		}
		h.Set(fasthttp.HeaderWWWAuthenticate, challengeRequest+desc+`"`)
		problem.Write(ctx, problem.New(fasthttp.StatusBadRequest, "invalid-request", "Bad Request", desc+"."))
	case DenialInvalidCredentials:
		if errors.Is(err, token.ErrExpired) {
			h.Set(fasthttp.HeaderWWWAuthenticate, challengeExpired)
			problem.Write(ctx, problem.New(fasthttp.StatusUnauthorized, "unauthenticated", "Unauthorized",
				"The access token expired; obtain a new one."))
			return
		}
		h.Set(fasthttp.HeaderWWWAuthenticate, challengeInvalid)
		problem.Write(ctx, problem.New(fasthttp.StatusUnauthorized, "unauthenticated", "Unauthorized",
			"The access token or API key is invalid or expired."))
	default:
		h.Set(fasthttp.HeaderWWWAuthenticate, challengeMissing)
		problem.Write(ctx, problem.New(fasthttp.StatusUnauthorized, "unauthenticated", "Unauthorized",
			"This operation requires authentication."))
	}
}
