package auth

import (
	"context"
	"net/netip"
	"time"

	"github.com/google/uuid"

	"github.com/campshub360/edge/backend/internal/authz"
)

// Account is a user as authentication sees it, with the student or faculty
// record it is linked to (zero IDs when none).
type Account struct {
	ID                 uuid.UUID
	Email              string
	Role               authz.Role
	Active             bool
	PasswordHash       []byte
	MustChangePassword bool
	MFAEnabled         bool
	// MFASecretSealed is the keyring-sealed TOTP secret: pending enrollment
	// when MFAEnabled is false, active when true; nil when none.
	MFASecretSealed []byte
	// MFALastStep is the last accepted TOTP time step (0: none).
	MFALastStep int64
	// Failures is the account's failed sign-in state.
	Failures Counter
	// StudentID/FacultyID link the account to its person (uuid.Nil: none).
	StudentID, FacultyID uuid.UUID
	// FirstName, LastName come from the linked person (empty for staff).
	FirstName, LastName string
	// RollNumber or EmployeeID of the linked person.
	RollNumber, EmployeeID string
	CreatedAt              time.Time
	LastLoginAt            time.Time
}

// State is what every authenticated request needs to know about its user,
// fetched fresh (or from a short cache) on each request.
type State struct {
	UserID               uuid.UUID
	Role                 authz.Role
	Active               bool
	MustChangePassword   bool
	StudentID, FacultyID uuid.UUID
}

// Session is a signed-in device: a refresh-token family.
type Session struct {
	ID         uuid.UUID
	UserID     uuid.UUID
	CreatedAt  time.Time
	LastUsedAt time.Time
	ExpiresAt  time.Time
	MFA        bool
	UserAgent  string
	IP         netip.Addr
}

// RefreshRecord is one issued refresh token as stored: the SHA-256 of the
// token and the access token issued with it.
type RefreshRecord struct {
	Hash            [32]byte
	ExpiresAt       time.Time
	AccessJTI       string
	AccessExpiresAt time.Time
}

// Revoked is one denied access token.
type Revoked struct {
	JTI       string
	UserID    uuid.UUID
	ExpiresAt time.Time
}

// RefreshOutcome is what RotateRefresh found.
type RefreshOutcome struct {
	// Session is the token's family (zero when the token is unknown).
	Session Session
	// State is the family's user.
	State State
	// Reused is true when the token had already been rotated: the family
	// was revoked and Denied lists its access tokens still alive.
	Reused bool
	Denied []Revoked
}

// NewAccount is an account to create.
type NewAccount struct {
	Email              string
	Role               authz.Role
	PasswordHash       []byte
	MustChangePassword bool
	// StudentID or FacultyID, when set, links the new account to that
	// person; the person must exist and have no account yet.
	StudentID, FacultyID uuid.UUID
}

// APIKey is an API key as stored (never its secret).
type APIKey struct {
	ID         uuid.UUID
	OwnerID    uuid.UUID
	Name       string
	Prefix     string
	SecretHash [32]byte
	Scopes     []string
	CreatedAt  time.Time
	LastUsedAt time.Time
	ExpiresAt  time.Time
	RevokedAt  time.Time
}

// SealedSigningKey is a token signing key as stored: the Ed25519 public
// key in clear, the private key sealed by the keyring (associated data
// "signing_keys:<kid>").
type SealedSigningKey struct {
	KID         string
	Public      []byte
	Sealed      []byte
	CreatedAt   time.Time
	ActivatesAt time.Time
}

// Store is the persistence of authentication. Every method honours ctx's
// deadline; errors that mean the database could not answer match
// domain.ErrUnavailable. Implementations are safe for concurrent use.
type Store interface {
	// AccountByLogin finds the account whose e-mail (case-insensitive) or
	// linked student's roll number is login; ErrNotFound when none.
	AccountByLogin(ctx context.Context, login string) (Account, error)
	// AccountByID returns the account; ErrNotFound when none.
	AccountByID(ctx context.Context, id uuid.UUID) (Account, error)
	// State returns the request-time state of a user; ErrNotFound when none.
	State(ctx context.Context, id uuid.UUID) (State, error)
	// UpdateAccountFailures applies f to the account's failure counter
	// atomically (row lock) and returns the stored result.
	UpdateAccountFailures(ctx context.Context, id uuid.UUID, f func(Counter) Counter) (Counter, error)
	// Throttles returns the counters of non-account keys (missing keys are
	// zero counters), in the order of keys.
	Throttles(ctx context.Context, keys ...string) ([]Counter, error)
	// UpdateThrottle applies f to key's counter atomically and returns the
	// stored result.
	UpdateThrottle(ctx context.Context, key string, f func(Counter) Counter) (Counter, error)
	// RecordLogin clears the account's failures, stamps last_login_at and,
	// when rehash is not nil, replaces the password hash (cost upgrade).
	RecordLogin(ctx context.Context, id uuid.UUID, at time.Time, rehash []byte) error

	// CreateSession stores a new family with its first refresh token.
	CreateSession(ctx context.Context, s Session, first RefreshRecord) error
	// RotateRefresh finds the refresh token with SHA-256 hash, locks its
	// family and: for an unknown, expired or revoked token or family or an
	// inactive user, returns ErrInvalidCredentials; for a token already
	// rotated, revokes the family (reason refresh_reuse) and returns an
	// outcome with Reused set; otherwise marks it rotated, calls next to
	// make the successor (in the same transaction) and stores it.
	RotateRefresh(ctx context.Context, hash [32]byte, now time.Time,
		next func(Session, State) (RefreshRecord, error)) (RefreshOutcome, error)
	// SessionOfAccessToken returns the family id that issued access token
	// jti; ErrNotFound when none.
	SessionOfAccessToken(ctx context.Context, jti string) (uuid.UUID, error)
	// RevokeSession revokes one family of userID (ErrNotFound when it is
	// not theirs or not live) and returns its live access tokens.
	RevokeSession(ctx context.Context, userID, sessionID uuid.UUID, reason string, now time.Time) ([]Revoked, error)
	// RevokeSessions revokes every live family of userID except keep
	// (uuid.Nil: all) and returns their live access tokens.
	RevokeSessions(ctx context.Context, userID, keep uuid.UUID, reason string, now time.Time) ([]Revoked, error)
	// Sessions lists userID's live families, newest first.
	Sessions(ctx context.Context, userID uuid.UUID, now time.Time) ([]Session, error)

	// DenyTokens stores revoked access tokens (idempotent).
	DenyTokens(ctx context.Context, r []Revoked) error
	// TokenDenied reports whether jti is stored as revoked.
	TokenDenied(ctx context.Context, jti string) (bool, error)
	// DeniedSince lists unexpired revoked tokens revoked at or after since
	// (zero: all), for refilling Redis.
	DeniedSince(ctx context.Context, since, now time.Time) ([]Revoked, error)

	// SetPassword stores a new password hash and the must-change flag.
	SetPassword(ctx context.Context, id uuid.UUID, hash []byte, mustChange bool, at time.Time) error
	// SetActive activates or deactivates an account; ErrNotFound when none.
	SetActive(ctx context.Context, id uuid.UUID, active bool) error
	// CreateAccount creates an account (ErrConflict when the e-mail is
	// taken or the person already has one; ErrNotFound when the person
	// does not exist).
	CreateAccount(ctx context.Context, a NewAccount) (Account, error)
	// PersonEmail returns the e-mail of a student (or faculty member, when
	// faculty is true) and whether they already have an account;
	// ErrNotFound when no such person.
	PersonEmail(ctx context.Context, id uuid.UUID, faculty bool) (email string, linked bool, err error)

	// SetPendingMFA stores a sealed TOTP secret awaiting verification
	// (ErrConflict when MFA is already enabled).
	SetPendingMFA(ctx context.Context, id uuid.UUID, sealed []byte) error
	// EnableMFA turns MFA on (ErrConflict when there is no pending secret
	// or it is already on), records step as used and replaces the recovery
	// codes with codeHashes.
	EnableMFA(ctx context.Context, id uuid.UUID, step int64, codeHashes [][32]byte) error
	// DisableMFA turns MFA off and forgets the secret and recovery codes.
	DisableMFA(ctx context.Context, id uuid.UUID) error
	// AcceptTOTPStep records step as used when it is later than the last
	// accepted one, and reports whether it was.
	AcceptTOTPStep(ctx context.Context, id uuid.UUID, step int64) (bool, error)
	// UseRecoveryCode marks an unused recovery code used and reports
	// whether there was one.
	UseRecoveryCode(ctx context.Context, id uuid.UUID, hash [32]byte, at time.Time) (bool, error)
	// CreateChallenge stores an MFA challenge.
	CreateChallenge(ctx context.Context, hash [32]byte, userID uuid.UUID, expires time.Time) error
	// UseChallenge locks a live challenge (ErrInvalidCredentials when it is
	// unknown, expired, used or out of attempts) and calls check with its
	// user: on true the challenge is used up, on false its attempts grow.
	UseChallenge(ctx context.Context, hash [32]byte, now time.Time, maxAttempts int,
		check func(userID uuid.UUID) (bool, error)) (uuid.UUID, error)

	// CreateAPIKey stores a key.
	CreateAPIKey(ctx context.Context, k APIKey) error
	// APIKeys lists the keys of owner (uuid.Nil: every key), newest first.
	APIKeys(ctx context.Context, owner uuid.UUID) ([]APIKey, error)
	// RevokeAPIKey revokes key id of owner (uuid.Nil: any owner);
	// ErrNotFound when there is no such live key.
	RevokeAPIKey(ctx context.Context, id, owner uuid.UUID, at time.Time) error
	// APIKeyByPrefix returns a key with its owner's state; ErrNotFound
	// when none.
	APIKeyByPrefix(ctx context.Context, prefix string) (APIKey, State, error)
	// TouchAPIKey records a use of key id.
	TouchAPIKey(ctx context.Context, id uuid.UUID, at time.Time) error

	// SigningKeys lists every stored signing key, oldest activation first.
	SigningKeys(ctx context.Context) ([]SealedSigningKey, error)
	// AddSigningKey calls decide with the stored keys under a lock shared
	// by every instance and stores the key it returns (if any).
	AddSigningKey(ctx context.Context, decide func([]SealedSigningKey) (*SealedSigningKey, error)) error
	// DeleteSigningKeys removes keys by id.
	DeleteSigningKeys(ctx context.Context, kids []string) error

	// Cleanup deletes expired refresh tokens, families, challenges,
	// revoked tokens and stale throttle counters, older than before.
	Cleanup(ctx context.Context, before time.Time) (int64, error)
}
