// Package authz carries the caller of a request (the Principal) through the
// backend and decides whether a route admits it. Authentication (how a
// Principal is established from a bearer token or an API key) is an
// Authenticator; authorization has two layers:
//
//   - route access, declared once per route in api/routes.go with Public,
//     Authenticated or Roles, enforced here by Middleware (401/403);
//   - ownership scoping (a faculty member's sections, a student's own
//     records), enforced inside the store queries with the Principal's
//     StudentID/FacultyID, never by filtering after fetching.
package authz

import (
	"errors"
	"slices"

	"github.com/google/uuid"
	"github.com/valyala/fasthttp"
)

// Role is a user's role (DOMAIN.md "Who may do what").
type Role string

// The roles.
const (
	RoleAdmin     Role = "admin"
	RoleRegistrar Role = "registrar"
	RoleFaculty   Role = "faculty"
	RoleStudent   Role = "student"
	RoleAuditor   Role = "auditor"
)

// ParseRole returns the Role named s, or false.
func ParseRole(s string) (Role, bool) {
	switch r := Role(s); r {
	case RoleAdmin, RoleRegistrar, RoleFaculty, RoleStudent, RoleAuditor:
		return r, true
	}
	return "", false
}

// Principal is an authenticated caller. Immutable once built.
type Principal struct {
	// UserID is the users.id of the caller.
	UserID uuid.UUID
	// Role is the caller's role.
	Role Role
	// StudentID is the caller's students.id when Role is student (else zero).
	StudentID uuid.UUID
	// FacultyID is the caller's faculty.id when Role is faculty (else zero).
	FacultyID uuid.UUID
	// TokenID is the access token's jti (zero for API keys), for revocation.
	TokenID string
	// APIKeyID is set when the caller authenticated with an API key.
	APIKeyID uuid.UUID
	// Scopes are the API key's scopes (nil for user tokens, which carry
	// their role's full rights).
	Scopes []string
	// MustChangePassword is set for an account signed in with a one-time
	// password: until it sets its own, only the routes that let it do so
	// (and see who it is, and sign out) serve it; the rest answer 403.
	MustChangePassword bool
}

// Is reports whether the principal has one of roles.
func (p *Principal) Is(roles ...Role) bool { return slices.Contains(roles, p.Role) }

// Errors an Authenticator returns, answered by Middleware with the
// challenges of RFC 6750 §3.1:
var (
	// ErrInvalidCredentials: a token or key was presented and is invalid
	// (malformed, expired, revoked, unknown): 401, error="invalid_token".
	// An expired token also matches token.ErrExpired (wrapped), which
	// the challenge's error_description tells apart.
	ErrInvalidCredentials = errors.New("authz: invalid credentials")
	// ErrInvalidRequest is matched by every *RequestError.
	ErrInvalidRequest = errors.New("authz: malformed credentials")
)

// RequestError reports credentials sent in a way the server refuses to
// interpret (RFC 6750 §3.1 invalid_request): more than one Authorization
// or X-API-Key header, a bearer token and an API key at once, a Bearer
// scheme without a token. Middleware answers 400 with Description, which
// is safe for clients (it becomes error_description, so it holds no
// double quote or backslash). errors.Is(err, ErrInvalidRequest) matches.
type RequestError struct {
	Description string
}

// Error returns "authz: malformed credentials: <description>".
func (e *RequestError) Error() string { return ErrInvalidRequest.Error() + ": " + e.Description }

// Is makes errors.Is(err, ErrInvalidRequest) true.
func (e *RequestError) Is(target error) bool { return target == ErrInvalidRequest }

// Authenticator establishes the Principal of a request from its
// credentials (Authorization: Bearer, X-API-Key). It returns (nil, nil)
// when the request carries no credentials of a scheme it accepts (none,
// or Authorization in another scheme such as Basic), a *RequestError when
// they are sent ambiguously or malformed, and ErrInvalidCredentials
// (possibly wrapped) when they are bad; any other error is an internal
// failure (503/500). Implementations must be safe for concurrent use.
type Authenticator interface {
	Authenticate(ctx *fasthttp.RequestCtx) (*Principal, error)
}

// AuthenticatorFunc adapts a function to Authenticator.
type AuthenticatorFunc func(ctx *fasthttp.RequestCtx) (*Principal, error)

// Authenticate implements Authenticator.
func (f AuthenticatorFunc) Authenticate(ctx *fasthttp.RequestCtx) (*Principal, error) { return f(ctx) }

// Access declares who may call a route. Build it with Public,
// Authenticated or Roles; the zero value admits nobody.
type Access struct {
	public bool
	any    bool
	roles  []Role
}

// Public admits everyone, without credentials (catalogue, health).
func Public() Access { return Access{public: true} }

// Authenticated admits any authenticated caller, whatever the role
// (GET /me, logout).
func Authenticated() Access { return Access{any: true} }

// Roles admits authenticated callers with one of roles.
func Roles(roles ...Role) Access { return Access{roles: slices.Clone(roles)} }

// IsPublic reports whether the route needs no credentials.
func (a Access) IsPublic() bool { return a.public }

// Admits reports whether p may call the route (p nil: anonymous).
func (a Access) Admits(p *Principal) bool {
	switch {
	case a.public:
		return true
	case p == nil:
		return false
	case a.any:
		return true
	default:
		return p.Is(a.roles...)
	}
}

// AllowedRoles returns the roles the route admits (nil for Public and
// Authenticated), for documentation and the route x role test matrix.
func (a Access) AllowedRoles() []Role { return slices.Clone(a.roles) }

const userKey = "authz.principal"

// With attaches p to ctx for the rest of the request.
func With(ctx *fasthttp.RequestCtx, p *Principal) { ctx.SetUserValue(userKey, p) }

// From returns the Principal attached to ctx, or nil for an anonymous
// request (only possible on Public routes).
func From(ctx *fasthttp.RequestCtx) *Principal {
	p, _ := ctx.UserValue(userKey).(*Principal)
	return p
}
