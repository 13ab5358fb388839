// Package auth authenticates the callers of the campus API: sign-in with a
// password (bcrypt) and optionally a TOTP second factor (RFC 6238), Ed25519
// access tokens (JWT, RFC 7519/8037, through shared/token) with rotating
// signing keys published as a JWK Set, opaque refresh tokens rotated on
// every use and grouped in families with reuse detection (OAuth 2.0
// Security BCP, RFC 9700 §4.14.2), a jti denylist for revoked access
// tokens, account and client-address lockout with exponential back-off, a
// password policy, provisioned accounts with one-time passwords, and API
// keys for integrations.
//
// Service holds the use cases; Authenticator turns a request's credentials
// into an authz.Principal; Store is the persistence they need
// (internal/store/postgres implements it).
package auth

import (
	"errors"
	"fmt"
	"time"

	"github.com/campshub360/edge/backend/internal/domain"
)

// Errors of the auth use cases. The API maps each to one HTTP answer
// (api/errors.go); none of them says whether an account exists.
var (
	// ErrInvalidCredentials: the user name, password, refresh token, MFA
	// challenge or code is wrong, unknown, expired or revoked (401).
	ErrInvalidCredentials = errors.New("auth: invalid credentials")
	// ErrRefreshReuse: a refresh token that was already rotated was
	// presented again; its family has been revoked (401).
	ErrRefreshReuse = errors.New("auth: refresh token reuse")
	// ErrPasswordMismatch: the current password given to change a password
	// or disable MFA is wrong (403 for an authenticated caller).
	ErrPasswordMismatch = errors.New("auth: current password is wrong")
	// ErrConflict: the operation conflicts with the current state (MFA
	// already enabled, account already provisioned, e-mail taken) (409).
	ErrConflict = errors.New("auth: conflict")
	// ErrNotFound: the referenced entity does not exist or is not the
	// caller's (404). It is domain.ErrNotFound.
	ErrNotFound = domain.ErrNotFound
	// ErrBusy: too many password hashes are being computed; retry shortly
	// (503).
	ErrBusy = errors.New("auth: password hashing saturated")
	// ErrNotUserSession: the operation needs a signed-in user (an access
	// token), not an API key (403).
	ErrNotUserSession = errors.New("auth: operation needs a user session")
)

// LockedError reports that sign-in is refused for a while because of
// repeated failures, for the account name or the client address (429 with
// Retry-After). It does not say which, nor whether the account exists.
type LockedError struct {
	// RetryAfter is how long until the lock ends (at least one second).
	RetryAfter time.Duration
}

// Error says the sign-in is locked.
func (e *LockedError) Error() string {
	return fmt.Sprintf("auth: sign-in locked for %s", e.RetryAfter)
}

// PolicyError lists why a new password was refused, in words safe to show
// the user (400).
type PolicyError struct {
	// Reasons are the failed rules, e.g. "must be at least 12 characters".
	Reasons []string
}

// Error lists the reasons.
func (e *PolicyError) Error() string {
	return fmt.Sprintf("auth: password refused: %v", e.Reasons)
}

// FieldError is one invalid input field (400), for inputs checked by the
// use cases rather than the decoder (scopes, roles, e-mail syntax).
type FieldError struct {
	Field, Message string
}

// Error returns "field: message".
func (e *FieldError) Error() string { return "auth: " + e.Field + ": " + e.Message }
