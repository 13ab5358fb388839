package api

import (
	"bytes"
	"context"
	"encoding/json"
	"strconv"

	"github.com/campshub360/edge/shared/problem"
	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"

	"github.com/campshub360/edge/backend/internal/audit"
	"github.com/campshub360/edge/backend/internal/auth"
	"github.com/campshub360/edge/backend/internal/authz"
)

// Problem slugs of the authorization stages.
const (
	slugPasswordChange    = "password-change-required"
	slugInsufficientScope = "insufficient-scope"
	slugUnsupportedMedia  = "unsupported-media-type"
)

// authorize enforces r.access with authz.Middleware (401 without or with
// bad credentials, 400 for ambiguous ones, 403 for a role the route does
// not admit; RFC 6750 §3 challenges), then the two
// gates on the established principal:
//
//   - an account that must change its password is served only by the
//     routes marked passwordChange (403 password-change-required);
//   - an API key is served only where its scopes grant r.scope (403
//     insufficient-scope, RFC 6750 §3.1); account routes admit no key.
//
// Every refusal is counted per route and reason
// (campshub_backend_authz_denials_total); 403s are also counted as
// security events and audited (400s and 401s are counted by the
// authenticator).
func (a *API) authorize(r route, next fasthttp.RequestHandler) fasthttp.RequestHandler {
	denials := a.metrics.denials.MustCurryWith(prometheus.Labels{"route": r.template})
	gated := func(ctx *fasthttp.RequestCtx) {
		p := authz.From(ctx)
		switch {
		case p == nil:
		case p.MustChangePassword && !r.passwordChange:
			denials.WithLabelValues("password_change_required").Inc()
			a.denied(ctx, r, p, "password_change_required")
			writeProblem(ctx, problem.New(fasthttp.StatusForbidden, slugPasswordChange, "Password Change Required",
				"This account signed in with a one-time password: set a new one with POST /api/v1/auth/password first."))
			return
		case p.APIKeyID != uuid.Nil && !auth.HasScope(p.Scopes, r.scope):
			denials.WithLabelValues("insufficient_scope").Inc()
			a.denied(ctx, r, p, "insufficient_scope")
			ctx.Response.Header.Set(fasthttp.HeaderWWWAuthenticate, `Bearer realm="`+authz.Realm+`", error="insufficient_scope"`)
			detail := "API keys cannot call account and authentication routes; sign in as a user."
			if r.scope != "" {
				detail = "This API key's scopes do not include " + r.scope + "."
			}
			writeProblem(ctx, problem.New(fasthttp.StatusForbidden, slugInsufficientScope, "Insufficient Scope", detail))
			return
		}
		next(ctx)
	}
	return authz.Middleware(r.access, authz.Options{
		Authn: a.authn,
		Fail:  a.fail,
		Denied: func(ctx *fasthttp.RequestCtx, reason authz.Denial, p *authz.Principal) {
			denials.WithLabelValues(string(reason)).Inc()
			if reason == authz.DenialForbidden {
				a.denied(ctx, r, p, string(reason))
			}
		},
	}, gated)
}

// denied counts and audits a refused request: the route template, never
// the raw path, and the principal's id.
func (a *API) denied(ctx *fasthttp.RequestCtx, r route, p *authz.Principal, reason string) {
	a.security.Inc(auth.EventPermissionDenied)
	if a.audit == nil {
		return
	}
	after, _ := json.Marshal(map[string]string{"method": r.method, "route": r.template, "reason": reason, "role": string(p.Role)})
	e := audit.Event{ActorID: p.UserID, Action: "authz.denied", Entity: "route", EntityID: r.method + " " + r.template,
		After: after, IP: a.proxies.ClientIP(ctx), RequestID: string(ctx.Response.Header.Peek(problem.HeaderRequestID))}
	if err := a.audit.Record(context.WithoutCancel(ctx), e); err != nil {
		a.log.Warn("audit event not queued", "action", e.Action, "error", err.Error())
	}
}

// checkBody enforces, on requests with a body, the JSON media type (or
// text/csv where the route takes it; 415 otherwise, RFC 9110 §15.5.16,
// with Accept-Post naming what is accepted) and the route's size bound
// (413).
func (a *API) checkBody(r route, next fasthttp.RequestHandler) fasthttp.RequestHandler {
	accepted, detail := "application/json", "Send the request body as application/json (UTF-8)."
	if r.csv {
		accepted, detail = "application/json, text/csv", "Send the request body as application/json or text/csv (UTF-8)."
	}
	return func(ctx *fasthttp.RequestCtx) {
		body := ctx.Request.Body()
		if len(body) == 0 {
			next(ctx)
			return
		}
		if r.maxBody > 0 && len(body) > r.maxBody {
			writeProblem(ctx, problem.New(fasthttp.StatusRequestEntityTooLarge, slugTooLarge, "Content Too Large",
				"The request body is larger than this operation accepts ("+strconv.Itoa(r.maxBody)+" bytes)."))
			return
		}
		if ct := ctx.Request.Header.ContentType(); !isMedia(ct, "application/json") && !(r.csv && isMedia(ct, "text/csv")) {
			ctx.Response.Header.Set("Accept-Post", accepted)
			writeProblem(ctx, problem.New(fasthttp.StatusUnsupportedMediaType, slugUnsupportedMedia, "Unsupported Media Type", detail))
			return
		}
		next(ctx)
	}
}

// isMedia reports whether the Content-Type ct is the media type want
// with at most a charset=utf-8 parameter, case-insensitively.
func isMedia(ct []byte, want string) bool {
	mt, params, _ := bytes.Cut(ct, []byte(";"))
	if !bytes.EqualFold(bytes.TrimSpace(mt), []byte(want)) {
		return false
	}
	params = bytes.TrimSpace(params)
	if len(params) == 0 {
		return true
	}
	k, v, ok := bytes.Cut(params, []byte("="))
	return ok && bytes.EqualFold(bytes.TrimSpace(k), []byte("charset")) &&
		bytes.EqualFold(bytes.Trim(bytes.TrimSpace(v), `"`), []byte("utf-8"))
}
