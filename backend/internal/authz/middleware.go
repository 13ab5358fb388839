package authz

import (
	"errors"

	"github.com/valyala/fasthttp"

	"github.com/campshub360/edge/shared/problem"
)

// Denial says why Middleware refused a request, for the caller's metrics
// and audit hook.
type Denial string

// The reasons Middleware refuses a request.
const (
	DenialNoCredentials      Denial = "no_credentials"
	DenialInvalidCredentials Denial = "invalid_credentials"
	DenialForbidden          Denial = "forbidden"
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
// authenticates the request, answers 401 (problem, WWW-Authenticate:
// Bearer, RFC 6750 §3) without or with bad credentials and 403 when the
// role is not admitted, and attaches the Principal for next. On public
// routes credentials are ignored entirely, so a stale token never breaks a
// public page.
func Middleware(a Access, o Options, next fasthttp.RequestHandler) fasthttp.RequestHandler {
	if a.IsPublic() {
		return next
	}
	return func(ctx *fasthttp.RequestCtx) {
		p, err := o.Authn.Authenticate(ctx)
		switch {
		case errors.Is(err, ErrInvalidCredentials):
			deny(ctx, o, DenialInvalidCredentials, nil)
			return
		case err != nil:
			o.Fail(ctx, err)
			return
		case p == nil:
			deny(ctx, o, DenialNoCredentials, nil)
			return
		case !a.Admits(p):
			deny(ctx, o, DenialForbidden, p)
			return
		}
		With(ctx, p)
		next(ctx)
	}
}

func deny(ctx *fasthttp.RequestCtx, o Options, reason Denial, p *Principal) {
	if o.Denied != nil {
		o.Denied(ctx, reason, p)
	}
	ctx.Response.Header.Set(fasthttp.HeaderCacheControl, "no-store")
	switch reason {
	case DenialForbidden:
		problem.Write(ctx, problem.New(fasthttp.StatusForbidden, "forbidden", "Forbidden",
			"Your role does not permit this operation."))
	case DenialInvalidCredentials:
		ctx.Response.Header.Set(fasthttp.HeaderWWWAuthenticate, `Bearer realm="campshub360", error="invalid_token"`)
		problem.Write(ctx, problem.New(fasthttp.StatusUnauthorized, "unauthenticated", "Unauthorized",
			"The access token or API key is invalid or expired."))
	default:
		ctx.Response.Header.Set(fasthttp.HeaderWWWAuthenticate, `Bearer realm="campshub360"`)
		problem.Write(ctx, problem.New(fasthttp.StatusUnauthorized, "unauthenticated", "Unauthorized",
			"This operation requires authentication."))
	}
}
