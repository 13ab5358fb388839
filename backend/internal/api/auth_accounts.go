package api

import (
	"errors"
	"time"

	"github.com/google/uuid"
	"github.com/valyala/fasthttp"

	"github.com/campshub360/edge/backend/internal/auth"
	"github.com/campshub360/edge/backend/internal/authz"
	"github.com/campshub360/edge/backend/internal/domain"
)

// meJSON is the caller's profile. Person fields are null for staff;
// contact fields (decrypted personal data) appear for students only, to
// themselves.
type meJSON struct {
	ID                 string       `json:"id"`
	Email              string       `json:"email"`
	Role               string       `json:"role"`
	MFAEnabled         bool         `json:"mfa_enabled"`
	MustChangePassword bool         `json:"must_change_password"`
	StudentID          *string      `json:"student_id"`
	FacultyID          *string      `json:"faculty_id"`
	RollNumber         *string      `json:"roll_number,omitempty"`
	EmployeeID         *string      `json:"employee_id,omitempty"`
	FirstName          *string      `json:"first_name"`
	LastName           *string      `json:"last_name"`
	Contact            *contactJSON `json:"contact,omitempty"`
	LastLoginAt        *string      `json:"last_login_at"`
}

func strPtr(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func idPtr(id uuid.UUID) *string {
	if id == uuid.Nil {
		return nil
	}
	return strPtr(id.String())
}

// me serves GET /api/v1/me: the caller's profile and role (private,
// never cached by shared caches).
func (a *API) me(ctx *fasthttp.RequestCtx) {
	p := authz.From(ctx)
	acct, err := a.auth.Me(queryContext(ctx), p)
	if err != nil {
		a.fail(ctx, err)
		return
	}
	out := meJSON{ID: acct.ID.String(), Email: acct.Email, Role: string(acct.Role), MFAEnabled: acct.MFAEnabled,
		MustChangePassword: acct.MustChangePassword, StudentID: idPtr(acct.StudentID), FacultyID: idPtr(acct.FacultyID),
		RollNumber: strPtr(acct.RollNumber), EmployeeID: strPtr(acct.EmployeeID),
		FirstName: strPtr(acct.FirstName), LastName: strPtr(acct.LastName)}
	if !acct.LastLoginAt.IsZero() {
		out.LastLoginAt = strPtr(acct.LastLoginAt.UTC().Format(timeLayout))
	}
	if acct.StudentID != uuid.Nil && a.vault != nil {
		c, err := a.vault.Contact(queryContext(ctx), acct.StudentID)
		if err != nil {
			a.fail(ctx, err)
			return
		}
		out.Contact = toContact(c)
	}
	if err := writeJSON(ctx, fasthttp.StatusOK, out, personalNoStore); err != nil {
		a.fail(ctx, err)
	}
}

// provisionedJSON is a new account with its one-time password (shown once).
type provisionedJSON struct {
	UserID             string `json:"user_id"`
	Email              string `json:"email"`
	Role               string `json:"role"`
	OneTimePassword    string `json:"one_time_password"`
	MustChangePassword bool   `json:"must_change_password"`
}

func (a *API) provisionPerson(ctx *fasthttp.RequestCtx, kind string) {
	id, err := pathID(ctx, "id")
	if err != nil {
		a.fail(ctx, err)
		return
	}
	var req provisionPersonRequest
	if err := decodeAuthJSON(ctx.Request.Body(), &req); err != nil {
		a.fail(ctx, err)
		return
	}
	a.provision(ctx, auth.ProvisionInput{Kind: kind, PersonID: id, Email: req.Email})
}

// provisionPersonRequest provisions a student's or faculty member's
// account.
type provisionPersonRequest struct {
	Email string `json:"email" format:"email" doc:"only when the person has no e-mail address on record"`
}

// provisionStaffRequest provisions a staff account.
type provisionStaffRequest struct {
	Email string `json:"email" required:"true" format:"email"`
	Role  string `json:"role" required:"true" enum:"admin,registrar,auditor"`
}

// provisionStudent serves POST /api/v1/students/{id}/account: {"email"?}
// (only when the student has none on record) -> 201 with a one-time
// password; 404 no such student; 409 already has an account or e-mail taken.
func (a *API) provisionStudent(ctx *fasthttp.RequestCtx) { a.provisionPerson(ctx, "student") }

// provisionFaculty serves POST /api/v1/faculty/{id}/account, as
// provisionStudent.
func (a *API) provisionFaculty(ctx *fasthttp.RequestCtx) { a.provisionPerson(ctx, "faculty") }

// provisionStaff serves POST /api/v1/users: {"email", "role": admin,
// registrar or auditor} -> 201 with a one-time password.
func (a *API) provisionStaff(ctx *fasthttp.RequestCtx) {
	var req provisionStaffRequest
	if err := decodeAuthJSON(ctx.Request.Body(), &req); err != nil {
		a.fail(ctx, err)
		return
	}
	if err := required("email", req.Email, "role", req.Role); err != nil {
		a.fail(ctx, err)
		return
	}
	role, ok := authz.ParseRole(req.Role)
	if !ok {
		a.fail(ctx, domain.Invalid("role", "must be admin, registrar or auditor"))
		return
	}
	a.provision(ctx, auth.ProvisionInput{Kind: "staff", Email: req.Email, Role: role})
}

func (a *API) provision(ctx *fasthttp.RequestCtx, in auth.ProvisionInput) {
	if err := maxLen("email", in.Email, 254); err != nil {
		a.fail(ctx, err)
		return
	}
	acct, otpw, err := a.auth.Provision(queryContext(ctx), authz.From(ctx), in, a.meta(ctx))
	if err != nil {
		a.fail(ctx, err)
		return
	}
	noStoreCredentials(ctx)
	ctx.Response.Header.Set(fasthttp.HeaderLocation, "/api/v1/users/"+acct.ID.String())
	if err := writeJSON(ctx, fasthttp.StatusCreated, provisionedJSON{UserID: acct.ID.String(), Email: acct.Email,
		Role: string(acct.Role), OneTimePassword: otpw, MustChangePassword: true}, noStore); err != nil {
		a.fail(ctx, err)
	}
}

// userPatchRequest activates or deactivates an account.
type userPatchRequest struct {
	Active *bool `json:"active" required:"true"`
}

// updateUser serves PATCH /api/v1/users/{id}: {"active": bool} -> 204;
// deactivation ends the account's sessions at once.
func (a *API) updateUser(ctx *fasthttp.RequestCtx) {
	id, err := pathID(ctx, "id")
	if err != nil {
		a.fail(ctx, err)
		return
	}
	var req userPatchRequest
	if err := decodeAuthJSON(ctx.Request.Body(), &req); err != nil {
		a.fail(ctx, err)
		return
	}
	if req.Active == nil {
		a.fail(ctx, domain.Invalid("active", "is required"))
		return
	}
	if err := a.auth.SetActive(queryContext(ctx), authz.From(ctx), id, *req.Active, a.meta(ctx)); err != nil {
		a.fail(ctx, err)
		return
	}
	ctx.SetStatusCode(fasthttp.StatusNoContent)
}

// passwordResetJSON is a reset account's one-time password (shown once).
type passwordResetJSON struct {
	OneTimePassword    string `json:"one_time_password"`
	MustChangePassword bool   `json:"must_change_password"`
}

// resetPassword serves POST /api/v1/users/{id}/password-reset: 200
// {"one_time_password"}; the account must change it at next sign-in and
// its sessions end.
func (a *API) resetPassword(ctx *fasthttp.RequestCtx) {
	id, err := pathID(ctx, "id")
	if err != nil {
		a.fail(ctx, err)
		return
	}
	if err := decodeAuthJSON(ctx.Request.Body(), &struct{}{}); err != nil {
		a.fail(ctx, err)
		return
	}
	otpw, err := a.auth.ResetPassword(queryContext(ctx), authz.From(ctx), id, a.meta(ctx))
	if err != nil {
		a.fail(ctx, err)
		return
	}
	noStoreCredentials(ctx)
	if err := writeJSON(ctx, fasthttp.StatusOK, passwordResetJSON{OneTimePassword: otpw, MustChangePassword: true}, noStore); err != nil {
		a.fail(ctx, err)
	}
}

// apiKeyJSON is an API key; Key (the whole secret) only in the creation
// answer.
type apiKeyJSON struct {
	ID         string   `json:"id"`
	OwnerID    string   `json:"owner_id"`
	Name       string   `json:"name"`
	Prefix     string   `json:"prefix"`
	Scopes     []string `json:"scopes"`
	CreatedAt  string   `json:"created_at"`
	LastUsedAt *string  `json:"last_used_at"`
	ExpiresAt  *string  `json:"expires_at"`
	RevokedAt  *string  `json:"revoked_at"`
	Key        string   `json:"key,omitempty"`
}

func timePtr(t time.Time) *string {
	if t.IsZero() {
		return nil
	}
	return strPtr(t.UTC().Format(timeLayout))
}

func toAPIKeyJSON(k auth.APIKey) apiKeyJSON {
	scopes := k.Scopes
	if scopes == nil {
		scopes = []string{}
	}
	return apiKeyJSON{ID: k.ID.String(), OwnerID: k.OwnerID.String(), Name: k.Name, Prefix: k.Prefix, Scopes: scopes,
		CreatedAt: k.CreatedAt.UTC().Format(timeLayout), LastUsedAt: timePtr(k.LastUsedAt),
		ExpiresAt: timePtr(k.ExpiresAt), RevokedAt: timePtr(k.RevokedAt)}
}

// apiKeyRequest creates an API key.
type apiKeyRequest struct {
	Name          string   `json:"name" required:"true"`
	Scopes        []string `json:"scopes" required:"true" doc:"resource:read or resource:write (resource: the first path segment after /api/v1/, or *)"`
	ExpiresInDays *int     `json:"expires_in_days" doc:"1 to 730 (default 90)"`
}

// createAPIKey serves POST /api/v1/api-keys: {"name", "scopes":
// ["students:read", ...], "expires_in_days": 1..730 (default 90)} -> 201
// with "key", the only time the secret is shown. The key acts as its
// owner, narrowed to its scopes.
func (a *API) createAPIKey(ctx *fasthttp.RequestCtx) {
	var req apiKeyRequest
	if err := decodeAuthJSON(ctx.Request.Body(), &req); err != nil {
		a.fail(ctx, err)
		return
	}
	days := 90
	if req.ExpiresInDays != nil {
		days = *req.ExpiresInDays
	}
	if days < 1 || days > 730 {
		a.fail(ctx, domain.Invalid("expires_in_days", "must be from 1 to 730"))
		return
	}
	k, key, err := a.auth.CreateAPIKey(queryContext(ctx), authz.From(ctx), auth.APIKeyInput{Name: req.Name, Scopes: req.Scopes,
		ExpiresIn: time.Duration(days) * 24 * time.Hour}, a.resources, a.meta(ctx))
	if err != nil {
		a.fail(ctx, err)
		return
	}
	out := toAPIKeyJSON(k)
	out.Key = key
	noStoreCredentials(ctx)
	ctx.Response.Header.Set(fasthttp.HeaderLocation, "/api/v1/api-keys/"+k.ID.String())
	if err := writeJSON(ctx, fasthttp.StatusCreated, out, noStore); err != nil {
		a.fail(ctx, err)
	}
}

// listAPIKeys serves GET /api/v1/api-keys: {"items": [...]}, the caller's
// keys (an administrator's answer lists every key), never their secrets.
func (a *API) listAPIKeys(ctx *fasthttp.RequestCtx) {
	keys, err := a.auth.APIKeys(queryContext(ctx), authz.From(ctx))
	if err != nil {
		a.fail(ctx, err)
		return
	}
	out := struct {
		Items []apiKeyJSON `json:"items"`
	}{Items: make([]apiKeyJSON, len(keys))}
	for i, k := range keys {
		out.Items[i] = toAPIKeyJSON(k)
	}
	if err := writeJSON(ctx, fasthttp.StatusOK, out, personalNoStore); err != nil {
		a.fail(ctx, err)
	}
}

// revokeAPIKey serves DELETE /api/v1/api-keys/{id}: 204; 404 when the
// caller has no such live key.
func (a *API) revokeAPIKey(ctx *fasthttp.RequestCtx) {
	id, err := pathID(ctx, "id")
	if err != nil {
		a.fail(ctx, err)
		return
	}
	if err := a.auth.RevokeAPIKey(queryContext(ctx), authz.From(ctx), id, a.meta(ctx)); err != nil {
		if errors.Is(err, auth.ErrNotFound) {
			a.fail(ctx, domain.ErrNotFound)
			return
		}
		a.fail(ctx, err)
		return
	}
	ctx.SetStatusCode(fasthttp.StatusNoContent)
}
