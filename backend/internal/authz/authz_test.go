package authz_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"testing"

	"github.com/google/uuid"
	"github.com/valyala/fasthttp"

	"github.com/campshub360/edge/backend/internal/authz"
	"github.com/campshub360/edge/backend/internal/authz/authztest"
	"github.com/campshub360/edge/shared/problem"
	"github.com/campshub360/edge/shared/token"
)

func TestMiddlewareMatrix(t *testing.T) {
	toks := authztest.New()
	fac := toks.Add("fac", &authz.Principal{UserID: uuid.New(), Role: authz.RoleFaculty, FacultyID: uuid.New()})
	stu := toks.Add("stu", &authz.Principal{UserID: uuid.New(), Role: authz.RoleStudent, StudentID: uuid.New()})
	var denials []authz.Denial
	opts := authz.Options{
		Authn:  toks,
		Fail:   func(ctx *fasthttp.RequestCtx, err error) { ctx.SetStatusCode(500) },
		Denied: func(_ *fasthttp.RequestCtx, r authz.Denial, _ *authz.Principal) { denials = append(denials, r) },
	}
	var seen *authz.Principal
	ok := func(ctx *fasthttp.RequestCtx) { seen = authz.From(ctx); ctx.SetStatusCode(200) }

	for _, tc := range []struct {
		name   string
		access authz.Access
		bearer string
		want   int
	}{
		{"public anonymous", authz.Public(), "", 200},
		{"public with garbage token", authz.Public(), "nope", 200},
		{"roles anonymous", authz.Roles(authz.RoleFaculty), "", 401},
		{"roles bad token", authz.Roles(authz.RoleFaculty), "nope", 401},
		{"roles admitted", authz.Roles(authz.RoleFaculty, authz.RoleAdmin), fac, 200},
		{"roles forbidden", authz.Roles(authz.RoleFaculty), stu, 403},
		{"authenticated any role", authz.Authenticated(), stu, 200},
		{"zero access admits nobody", authz.Access{}, fac, 403},
	} {
		t.Run(tc.name, func(t *testing.T) {
			seen = nil
			var ctx fasthttp.RequestCtx
			if tc.bearer != "" {
				ctx.Request.Header.Set("Authorization", "Bearer "+tc.bearer)
			}
			authz.Middleware(tc.access, opts, ok)(&ctx)
			if got := ctx.Response.StatusCode(); got != tc.want {
				t.Fatalf("status %d, want %d", got, tc.want)
			}
			if tc.want == 401 {
				if ctx.Response.Header.Peek("WWW-Authenticate") == nil {
					t.Fatal("401 without WWW-Authenticate")
				}
				var p problem.Problem
				if err := json.Unmarshal(ctx.Response.Body(), &p); err != nil || p.Status != 401 {
					t.Fatalf("not a problem body: %s", ctx.Response.Body())
				}
			}
			if tc.want == 200 && !tc.access.IsPublic() && seen == nil {
				t.Fatal("principal not attached")
			}
			if tc.access.IsPublic() && seen != nil {
				t.Fatal("public route saw a principal")
			}
		})
	}
	if len(denials) != 4 {
		t.Fatalf("denials %v", denials)
	}
}

func TestInternalAuthenticationFailureIsNotA401(t *testing.T) {
	boom := errors.New("db down")
	var failed error
	mw := authz.Middleware(authz.Authenticated(), authz.Options{
		Authn: authz.AuthenticatorFunc(func(*fasthttp.RequestCtx) (*authz.Principal, error) { return nil, boom }),
		Fail:  func(ctx *fasthttp.RequestCtx, err error) { failed = err; ctx.SetStatusCode(503) },
	}, func(ctx *fasthttp.RequestCtx) { t.Fatal("handler ran") })
	var ctx fasthttp.RequestCtx
	mw(&ctx)
	if failed != boom || ctx.Response.StatusCode() != 503 {
		t.Fatalf("failed=%v status=%d", failed, ctx.Response.StatusCode())
	}
}

func TestParseRole(t *testing.T) {
	for _, s := range []string{"admin", "registrar", "faculty", "student", "auditor"} {
		if r, ok := authz.ParseRole(s); !ok || string(r) != s {
			t.Fatalf("ParseRole(%q)", s)
		}
	}
	if _, ok := authz.ParseRole("root"); ok {
		t.Fatal("accepted root")
	}
}

// TestMiddlewareChallenges checks the answer to each Authenticator
// outcome: status, problem, and the RFC 6750 §3 challenge.
func TestMiddlewareChallenges(t *testing.T) {
	const realm = `Bearer realm="campshub360"`
	for _, tc := range []struct {
		name      string
		err       error
		status    int
		challenge string
		denial    authz.Denial
	}{
		{"no credentials", nil, 401, realm, authz.DenialNoCredentials},
		{"invalid token", fmt.Errorf("%w: %w", authz.ErrInvalidCredentials, token.ErrSignature), 401,
			realm + `, error="invalid_token", error_description="The access token or API key is not valid"`, authz.DenialInvalidCredentials},
		{"expired token", fmt.Errorf("%w: %w", authz.ErrInvalidCredentials, token.ErrExpired), 401,
			realm + `, error="invalid_token", error_description="The access token expired"`, authz.DenialInvalidCredentials},
		{"ambiguous request", fmt.Errorf("wrapped: %w", &authz.RequestError{Description: "Send exactly one Authorization header"}), 400,
			realm + `, error="invalid_request", error_description="Send exactly one Authorization header"`, authz.DenialInvalidRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var denials []authz.Denial
			mw := authz.Middleware(authz.Authenticated(), authz.Options{
				Authn:  authz.AuthenticatorFunc(func(*fasthttp.RequestCtx) (*authz.Principal, error) { return nil, tc.err }),
				Fail:   func(ctx *fasthttp.RequestCtx, err error) { t.Fatalf("Fail(%v)", err) },
				Denied: func(_ *fasthttp.RequestCtx, r authz.Denial, _ *authz.Principal) { denials = append(denials, r) },
			}, func(ctx *fasthttp.RequestCtx) { t.Fatal("handler ran") })
			var ctx fasthttp.RequestCtx
			mw(&ctx)
			if got := ctx.Response.StatusCode(); got != tc.status {
				t.Fatalf("status %d, want %d", got, tc.status)
			}
			if got := string(ctx.Response.Header.Peek("WWW-Authenticate")); got != tc.challenge {
				t.Fatalf("WWW-Authenticate %q, want %q", got, tc.challenge)
			}
			var p problem.Problem
			if err := json.Unmarshal(ctx.Response.Body(), &p); err != nil || p.Status != tc.status || p.Detail == "" {
				t.Fatalf("not a problem body: %s", ctx.Response.Body())
			}
			if string(ctx.Response.Header.Peek("Cache-Control")) != "no-store" {
				t.Fatal("refusal cacheable")
			}
			if len(denials) != 1 || denials[0] != tc.denial {
				t.Fatalf("denials %v, want %s", denials, tc.denial)
			}
		})
	}
}
