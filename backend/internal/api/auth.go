package api

import (
	"time"

	"github.com/campshub360/edge/shared/problem"
	"github.com/valyala/fasthttp"

	"github.com/campshub360/edge/backend/internal/auth"
	"github.com/campshub360/edge/backend/internal/authz"
	"github.com/campshub360/edge/backend/internal/domain"
)

// Limits on credential fields: longer input is refused before any lookup.
const (
	maxUsername = 254
	maxPassword = 1024
	maxToken    = 256
)

// meta describes the request for lockout and audit.
func (a *API) meta(ctx *fasthttp.RequestCtx) auth.Meta {
	return auth.Meta{
		IP:        a.proxies.ClientIP(ctx),
		UserAgent: string(ctx.UserAgent()),
		RequestID: string(ctx.Response.Header.Peek(problem.HeaderRequestID)),
	}
}

type loginRequest struct {
	Username string `json:"username" required:"true" doc:"e-mail address or roll number"`
	Password string `json:"password" required:"true"`
}

// validate checks presence and length, reporting every problem.
func (r loginRequest) validate() error {
	if err := required("username", r.Username, "password", r.Password); err != nil {
		return err
	}
	if err := maxLen("username", r.Username, maxUsername); err != nil {
		return err
	}
	return maxLen("password", r.Password, maxPassword)
}

// tokenJSON is a token response (RFC 6749 §5.1 names).
type tokenJSON struct {
	AccessToken            string `json:"access_token" doc:"JWT (Ed25519), sent as Authorization: Bearer"`
	RefreshToken           string `json:"refresh_token" doc:"opaque, single use"`
	TokenType              string `json:"token_type" enum:"Bearer"`
	ExpiresIn              int    `json:"expires_in" doc:"seconds until the access token expires"`
	PasswordChangeRequired bool   `json:"password_change_required" doc:"only POST /api/v1/auth/password, /me and sign-out serve the account until it sets its own password"`
}

// mfaChallengeJSON asks for the second factor.
type mfaChallengeJSON struct {
	MFARequired bool   `json:"mfa_required"`
	MFAToken    string `json:"mfa_token"`
	ExpiresIn   int    `json:"expires_in"`
}

func (a *API) writeTokens(ctx *fasthttp.RequestCtx, p auth.TokenPair) {
	noStoreCredentials(ctx)
	if err := writeJSON(ctx, fasthttp.StatusOK, tokenJSON{AccessToken: p.AccessToken, RefreshToken: p.RefreshToken,
		TokenType: "Bearer", ExpiresIn: int(p.ExpiresIn / time.Second), PasswordChangeRequired: p.PasswordChangeRequired}, noStore); err != nil {
		a.fail(ctx, err)
	}
}

// login serves POST /api/v1/auth/login: {"username": e-mail or roll
// number, "password"} -> 200 tokens, or 200 {"mfa_required": true,
// "mfa_token", "expires_in"}; 401 for any wrong or unknown combination (the
// same answer, in the same time, whether the account exists or not); 429
// with Retry-After while locked out.
func (a *API) login(ctx *fasthttp.RequestCtx) {
	var req loginRequest
	if err := decodeAuthJSON(ctx.Request.Body(), &req); err != nil {
		a.fail(ctx, err)
		return
	}
	if err := req.validate(); err != nil {
		a.fail(ctx, err)
		return
	}
	res, err := a.auth.Login(queryContext(ctx), req.Username, req.Password, a.meta(ctx))
	if err != nil {
		a.fail(ctx, err)
		return
	}
	if res.Tokens == nil {
		noStoreCredentials(ctx)
		if err := writeJSON(ctx, fasthttp.StatusOK, mfaChallengeJSON{MFARequired: true, MFAToken: res.MFAToken,
			ExpiresIn: int(res.MFAExpiresIn / time.Second)}, noStore); err != nil {
			a.fail(ctx, err)
		}
		return
	}
	a.writeTokens(ctx, *res.Tokens)
}

type mfaLoginRequest struct {
	MFAToken string `json:"mfa_token" required:"true"`
	Code     string `json:"code" required:"true" doc:"six-digit TOTP code or a recovery code"`
}

// loginMFA serves POST /api/v1/auth/login/mfa: {"mfa_token", "code": six
// digits or a recovery code} -> 200 tokens; 401 otherwise.
func (a *API) loginMFA(ctx *fasthttp.RequestCtx) {
	var req mfaLoginRequest
	if err := decodeAuthJSON(ctx.Request.Body(), &req); err != nil {
		a.fail(ctx, err)
		return
	}
	if err := required("mfa_token", req.MFAToken, "code", req.Code); err != nil {
		a.fail(ctx, err)
		return
	}
	if len(req.MFAToken) > maxToken || len(req.Code) > 64 {
		a.fail(ctx, auth.ErrInvalidCredentials)
		return
	}
	pair, err := a.auth.LoginMFA(queryContext(ctx), req.MFAToken, req.Code, a.meta(ctx))
	if err != nil {
		a.fail(ctx, err)
		return
	}
	a.writeTokens(ctx, pair)
}

type refreshRequest struct {
	RefreshToken string `json:"refresh_token" required:"true"`
}

// refresh serves POST /api/v1/auth/refresh: {"refresh_token"} -> 200 a
// new pair (the presented token is spent); 401 for an unknown, expired,
// revoked or already used token (a reused one also revokes its session).
func (a *API) refresh(ctx *fasthttp.RequestCtx) {
	var req refreshRequest
	if err := decodeAuthJSON(ctx.Request.Body(), &req); err != nil {
		a.fail(ctx, err)
		return
	}
	if err := required("refresh_token", req.RefreshToken); err != nil {
		a.fail(ctx, err)
		return
	}
	if len(req.RefreshToken) > maxToken {
		a.fail(ctx, auth.ErrInvalidCredentials)
		return
	}
	pair, err := a.auth.Refresh(queryContext(ctx), req.RefreshToken, a.meta(ctx))
	if err != nil {
		a.fail(ctx, err)
		return
	}
	a.writeTokens(ctx, pair)
}

// jwks serves GET /api/v1/auth/jwks.json: the JWK Set (RFC 7517) of the
// keys verifying access tokens. Cacheable briefly: new keys are published
// well before they sign (AUTH_KEY_PUBLISH_DELAY).
func (a *API) jwks(ctx *fasthttp.RequestCtx) {
	ctx.Response.Header.Set(fasthttp.HeaderCacheControl, "public, max-age=60")
	ctx.SetContentType("application/jwk-set+json")
	ctx.SetBody(a.auth.JWKS())
}

// logout serves POST /api/v1/auth/logout: 204; the session of the calling
// token (refresh tokens and access tokens) is revoked.
func (a *API) logout(ctx *fasthttp.RequestCtx) {
	if err := decodeAuthJSON(ctx.Request.Body(), &struct{}{}); err != nil {
		a.fail(ctx, err)
		return
	}
	if err := a.auth.Logout(queryContext(ctx), authz.From(ctx), a.meta(ctx)); err != nil {
		a.fail(ctx, err)
		return
	}
	noStoreCredentials(ctx)
	ctx.SetStatusCode(fasthttp.StatusNoContent)
}

// logoutAllJSON answers POST /api/v1/auth/logout-all.
type logoutAllJSON struct {
	RevokedAccessTokens int `json:"revoked_access_tokens"`
}

// logoutAll serves POST /api/v1/auth/logout-all: 200 {"revoked_access_tokens": n};
// every session of the caller is revoked.
func (a *API) logoutAll(ctx *fasthttp.RequestCtx) {
	if err := decodeAuthJSON(ctx.Request.Body(), &struct{}{}); err != nil {
		a.fail(ctx, err)
		return
	}
	n, err := a.auth.LogoutAll(queryContext(ctx), authz.From(ctx), a.meta(ctx))
	if err != nil {
		a.fail(ctx, err)
		return
	}
	noStoreCredentials(ctx)
	if err := writeJSON(ctx, fasthttp.StatusOK, logoutAllJSON{RevokedAccessTokens: n}, noStore); err != nil {
		a.fail(ctx, err)
	}
}

// authSessionJSON is a signed-in device.
type authSessionJSON struct {
	ID         string  `json:"id" format:"uuid"`
	CreatedAt  string  `json:"created_at" format:"date-time"`
	LastUsedAt string  `json:"last_used_at" format:"date-time"`
	ExpiresAt  string  `json:"expires_at" format:"date-time"`
	MFA        bool    `json:"mfa"`
	UserAgent  *string `json:"user_agent"`
	IP         *string `json:"ip"`
	Current    bool    `json:"current"`
}

// sessions serves GET /api/v1/auth/sessions: {"items": [...]}, newest first.
func (a *API) sessions(ctx *fasthttp.RequestCtx) {
	list, err := a.auth.Sessions(queryContext(ctx), authz.From(ctx))
	if err != nil {
		a.fail(ctx, err)
		return
	}
	out := struct {
		Items []authSessionJSON `json:"items"`
	}{Items: make([]authSessionJSON, len(list))}
	for i, s := range list {
		j := authSessionJSON{ID: s.ID.String(), CreatedAt: s.CreatedAt.UTC().Format(timeLayout),
			LastUsedAt: s.LastUsedAt.UTC().Format(timeLayout), ExpiresAt: s.ExpiresAt.UTC().Format(timeLayout),
			MFA: s.MFA, Current: s.Current}
		if s.UserAgent != "" {
			ua := s.UserAgent
			j.UserAgent = &ua
		}
		if s.IP.IsValid() {
			ip := s.IP.String()
			j.IP = &ip
		}
		out.Items[i] = j
	}
	noStoreCredentials(ctx)
	if err := writeJSON(ctx, fasthttp.StatusOK, out, noStore); err != nil {
		a.fail(ctx, err)
	}
}

type passwordRequest struct {
	CurrentPassword string `json:"current_password" required:"true"`
	NewPassword     string `json:"new_password" required:"true"`
}

// changePassword serves POST /api/v1/auth/password: {"current_password",
// "new_password"} -> 204; 400 listing every policy rule the new one
// breaks; 403 wrong-password. Other sessions of the caller are revoked.
func (a *API) changePassword(ctx *fasthttp.RequestCtx) {
	var req passwordRequest
	if err := decodeAuthJSON(ctx.Request.Body(), &req); err != nil {
		a.fail(ctx, err)
		return
	}
	if err := required("current_password", req.CurrentPassword, "new_password", req.NewPassword); err != nil {
		a.fail(ctx, err)
		return
	}
	if len(req.CurrentPassword) > maxPassword || len(req.NewPassword) > maxPassword {
		a.fail(ctx, domain.Invalid("new_password", "is too long"))
		return
	}
	if err := a.auth.ChangePassword(queryContext(ctx), authz.From(ctx), req.CurrentPassword, req.NewPassword, a.meta(ctx)); err != nil {
		a.fail(ctx, err)
		return
	}
	noStoreCredentials(ctx)
	ctx.SetStatusCode(fasthttp.StatusNoContent)
}

// mfaEnrollmentJSON is a new TOTP secret, shown once.
type mfaEnrollmentJSON struct {
	Secret     string `json:"secret" doc:"base32 TOTP secret (RFC 6238)"`
	OTPAuthURL string `json:"otpauth_url" doc:"otpauth:// URI for authenticator apps"`
}

// mfaCodeRequest carries a TOTP code.
type mfaCodeRequest struct {
	Code string `json:"code" required:"true"`
}

// recoveryCodesJSON lists recovery codes, shown once.
type recoveryCodesJSON struct {
	RecoveryCodes []string `json:"recovery_codes"`
}

// mfaDisableRequest confirms turning MFA off.
type mfaDisableRequest struct {
	Password string `json:"password" required:"true"`
}

// enrollMFA serves POST /api/v1/auth/mfa/enroll: 200 {"secret",
// "otpauth_url"}, shown once; 409 when MFA is already on.
func (a *API) enrollMFA(ctx *fasthttp.RequestCtx) {
	if err := decodeAuthJSON(ctx.Request.Body(), &struct{}{}); err != nil {
		a.fail(ctx, err)
		return
	}
	e, err := a.auth.EnrollMFA(queryContext(ctx), authz.From(ctx), a.meta(ctx))
	if err != nil {
		a.fail(ctx, err)
		return
	}
	noStoreCredentials(ctx)
	if err := writeJSON(ctx, fasthttp.StatusOK, mfaEnrollmentJSON{Secret: e.Secret, OTPAuthURL: e.URL}, noStore); err != nil {
		a.fail(ctx, err)
	}
}

// verifyMFA serves POST /api/v1/auth/mfa/verify: {"code"} -> 200
// {"recovery_codes": [10 codes]}, shown once.
func (a *API) verifyMFA(ctx *fasthttp.RequestCtx) {
	var req mfaCodeRequest
	if err := decodeAuthJSON(ctx.Request.Body(), &req); err != nil {
		a.fail(ctx, err)
		return
	}
	if err := required("code", req.Code); err != nil {
		a.fail(ctx, err)
		return
	}
	codes, err := a.auth.VerifyMFA(queryContext(ctx), authz.From(ctx), req.Code, a.meta(ctx))
	if err != nil {
		a.fail(ctx, err)
		return
	}
	noStoreCredentials(ctx)
	if err := writeJSON(ctx, fasthttp.StatusOK, recoveryCodesJSON{RecoveryCodes: codes}, noStore); err != nil {
		a.fail(ctx, err)
	}
}

// disableMFA serves POST /api/v1/auth/mfa/disable: {"password"} -> 204.
func (a *API) disableMFA(ctx *fasthttp.RequestCtx) {
	var req mfaDisableRequest
	if err := decodeAuthJSON(ctx.Request.Body(), &req); err != nil {
		a.fail(ctx, err)
		return
	}
	if err := required("password", req.Password); err != nil {
		a.fail(ctx, err)
		return
	}
	if err := maxLen("password", req.Password, maxPassword); err != nil {
		a.fail(ctx, err)
		return
	}
	if err := a.auth.DisableMFA(queryContext(ctx), authz.From(ctx), req.Password, a.meta(ctx)); err != nil {
		a.fail(ctx, err)
		return
	}
	noStoreCredentials(ctx)
	ctx.SetStatusCode(fasthttp.StatusNoContent)
}
