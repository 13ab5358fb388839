package auth

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/campshub360/edge/shared/token"
	"github.com/google/uuid"
	"github.com/valyala/fasthttp"

	"github.com/campshub360/edge/backend/internal/authz"
)

// AuthenticatorOptions configure an Authenticator.
type AuthenticatorOptions struct {
	// Keys verify access tokens (required).
	Keys *Keys
	// Issuer and Audience are the required iss and aud.
	Issuer, Audience string
	// Leeway tolerates clock skew between instances on exp/nbf/iat.
	Leeway time.Duration
	// Denylist answers whether a jti is revoked (required).
	Denylist *Denylist
	// Store reads user state and API keys (required).
	Store Store
	// StateTTL is how long a user's state (active, role, links) and an API
	// key's record are reused before being read again (0: every request).
	// Changes made through Service on this instance apply at once.
	StateTTL time.Duration
	// Metrics counts rejected credentials (may be nil).
	Metrics *Metrics
	// Now is the clock.
	Now func() time.Time
	// QueryTimeout bounds the store reads of one authentication.
	QueryTimeout time.Duration
}

// Authenticator implements authz.Authenticator for the campus API:
//
//   - Authorization: Bearer <access token> (RFC 6750 §2.1): an Ed25519 JWT
//     verified with shared/token against the published keys, not revoked
//     (denylist), whose user is still active with the role the token
//     names;
//   - X-API-Key: <key>: an API key whose secret matches the stored SHA-256
//     (constant-time), not revoked or expired, whose owner is active.
//
// Either header twice, both at once, or the Bearer scheme without a token
// is an *authz.RequestError (400 invalid_request); Authorization in
// another scheme is no credentials (401 without an error code); any failed
// check of a token or key is authz.ErrInvalidCredentials (401
// invalid_token, RFC 6750 §3.1); gateway headers such as
// X-Authenticated-Subject are never read. A token's signature is verified
// once and remembered until its expiry (bounded memory); revocation and
// user state are checked on every request. Safe for concurrent use.
type Authenticator struct {
	o        AuthenticatorOptions
	verifier *token.Verifier

	mu       sync.RWMutex
	verified map[string]verifiedToken
	states   map[uuid.UUID]cachedState
	keys     map[string]cachedKey
}

type verifiedToken struct {
	user uuid.UUID
	role authz.Role
	jti  string
	exp  time.Time
}

type cachedState struct {
	st    State
	until time.Time
}

type cachedKey struct {
	key     APIKey
	owner   State
	found   bool
	until   time.Time
	touched time.Time
}

// maxCache bounds each cache of the Authenticator.
const maxCache = 50_000

// dummyKeyHash is compared against when no key has the presented prefix,
// so unknown prefixes cost the same as wrong secrets.
var dummyKeyHash = sha256.Sum256([]byte("campshub360 api key that does not exist"))

// NewTokenVerifier returns the shared/token Verifier the Authenticator
// uses over keys (for tools and benchmarks).
func NewTokenVerifier(keys *Keys, issuer, audience string, leeway time.Duration, now func() time.Time) *token.Verifier {
	return &token.Verifier{Issuer: issuer, Audience: audience, Keys: keys.Set, Leeway: leeway, Now: now}
}

// NewAuthenticator returns a ready Authenticator.
func NewAuthenticator(o AuthenticatorOptions) (*Authenticator, error) {
	if o.Keys == nil || o.Denylist == nil || o.Store == nil {
		return nil, errors.New("auth: authenticator needs keys, a denylist and a store")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.QueryTimeout <= 0 {
		o.QueryTimeout = 5 * time.Second
	}
	return &Authenticator{
		o:        o,
		verifier: NewTokenVerifier(o.Keys, o.Issuer, o.Audience, o.Leeway, o.Now),
		verified: map[string]verifiedToken{},
		states:   map[uuid.UUID]cachedState{},
		keys:     map[string]cachedKey{},
	}, nil
}

var (
	bearerScheme        = []byte("bearer")
	headerAuthorization = []byte(fasthttp.HeaderAuthorization)
	headerAPIKey        = []byte("X-API-Key")
)

// Authenticate implements authz.Authenticator. Following RFC 6750 §3.1,
// a request without credentials, or with Authorization in another scheme
// (Basic, ...), is anonymous (nil, nil); one sending credentials
// ambiguously (Authorization or X-API-Key twice, both at once) or the
// Bearer scheme without a token is an *authz.RequestError.
func (a *Authenticator) Authenticate(ctx *fasthttp.RequestCtx) (*authz.Principal, error) {
	h, key, nh, nk := credentialHeaders(&ctx.Request.Header)
	var bad string
	switch {
	case nh > 1:
		bad = "Send exactly one Authorization header"
	case nk > 1:
		bad = "Send exactly one X-API-Key header"
	case len(h) > 0 && len(key) > 0:
		bad = "Send either the Authorization header or X-API-Key, not both"
	}
	if bad != "" {
		a.o.Metrics.Inc(EventTokenRejected)
		return nil, &authz.RequestError{Description: bad}
	}
	qctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), a.o.QueryTimeout)
	defer cancel()
	if len(key) > 0 {
		return a.AuthenticateAPIKey(qctx, key)
	}
	// credentials = auth-scheme [ 1*SP token68 ] (RFC 9110 §11.4).
	scheme, tok, _ := bytes.Cut(h, []byte{' '})
	if len(h) == 0 || !bytes.EqualFold(scheme, bearerScheme) {
		return nil, nil
	}
	if tok = bytes.TrimLeft(tok, " "); len(tok) == 0 {
		a.o.Metrics.Inc(EventTokenRejected)
		return nil, &authz.RequestError{Description: "The Bearer scheme needs an access token after it"}
	}
	return a.AuthenticateToken(qctx, tok)
}

// credentialHeaders returns the first Authorization and X-API-Key values
// and how many lines of each the request has. It does not allocate.
func credentialHeaders(h *fasthttp.RequestHeader) (authorization, apiKey []byte, nAuthorization, nAPIKey int) {
	for k, v := range h.All() {
		switch {
		case bytes.EqualFold(k, headerAuthorization):
			if nAuthorization == 0 {
				authorization = v
			}
			nAuthorization++
		case bytes.EqualFold(k, headerAPIKey):
			if nAPIKey == 0 {
				apiKey = v
			}
			nAPIKey++
		}
	}
	return authorization, apiKey, nAuthorization, nAPIKey
}

// AuthenticateToken authenticates a raw access token (without "Bearer ").
func (a *Authenticator) AuthenticateToken(ctx context.Context, raw []byte) (*authz.Principal, error) {
	p, err := a.authenticateToken(ctx, raw)
	if errors.Is(err, authz.ErrInvalidCredentials) {
		a.o.Metrics.Inc(EventTokenRejected)
	}
	return p, err
}

func (a *Authenticator) authenticateToken(ctx context.Context, raw []byte) (*authz.Principal, error) {
	now := a.o.Now()
	a.mu.RLock()
	vt, ok := a.verified[string(raw)]
	a.mu.RUnlock()
	if !ok || !now.Before(vt.exp.Add(a.o.Leeway)) {
		c, err := a.verifier.Verify(string(raw))
		if err != nil {
			return nil, fmt.Errorf("%w: %w", authz.ErrInvalidCredentials, err)
		}
		uid, err := uuid.Parse(c.Subject)
		role, okRole := authz.ParseRole(c.Role)
		if err != nil || !okRole || c.ID == "" || c.ExpiresAt == nil {
			return nil, fmt.Errorf("%w: claims", authz.ErrInvalidCredentials)
		}
		vt = verifiedToken{user: uid, role: role, jti: c.ID, exp: c.ExpiresAt.Time}
		a.mu.Lock()
		a.evict(now)
		a.verified[string(raw)] = vt
		a.mu.Unlock()
	}
	revoked, err := a.o.Denylist.Revoked(ctx, vt.jti, vt.exp.Add(a.o.Leeway))
	if err != nil {
		return nil, err
	}
	if revoked {
		return nil, fmt.Errorf("%w: revoked", authz.ErrInvalidCredentials)
	}
	st, err := a.state(ctx, vt.user, now)
	if errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("%w: no such user", authz.ErrInvalidCredentials)
	}
	if err != nil {
		return nil, err
	}
	if !st.Active || st.Role != vt.role {
		return nil, fmt.Errorf("%w: user inactive or role changed", authz.ErrInvalidCredentials)
	}
	return &authz.Principal{UserID: st.UserID, Role: st.Role, StudentID: st.StudentID, FacultyID: st.FacultyID,
		TokenID: vt.jti, MustChangePassword: st.MustChangePassword}, nil
}

// AuthenticateAPIKey authenticates a raw X-API-Key value.
func (a *Authenticator) AuthenticateAPIKey(ctx context.Context, raw []byte) (*authz.Principal, error) {
	p, err := a.authenticateAPIKey(ctx, raw)
	if errors.Is(err, authz.ErrInvalidCredentials) {
		a.o.Metrics.Inc(EventAPIKeyRejected)
	}
	return p, err
}

func (a *Authenticator) authenticateAPIKey(ctx context.Context, raw []byte) (*authz.Principal, error) {
	prefix, secret, ok := parseAPIKey(raw)
	if !ok {
		return nil, fmt.Errorf("%w: malformed API key", authz.ErrInvalidCredentials)
	}
	now := a.o.Now()
	a.mu.RLock()
	ck, cached := a.keys[prefix]
	a.mu.RUnlock()
	if !cached || !now.Before(ck.until) {
		k, owner, err := a.o.Store.APIKeyByPrefix(ctx, prefix)
		switch {
		case errors.Is(err, ErrNotFound):
			ck = cachedKey{until: now.Add(a.o.StateTTL)}
		case err != nil:
			return nil, err
		default:
			ck = cachedKey{key: k, owner: owner, found: true, until: now.Add(a.o.StateTTL), touched: ck.touched}
		}
		if a.o.StateTTL > 0 {
			a.mu.Lock()
			a.evict(now)
			a.keys[prefix] = ck
			a.mu.Unlock()
		}
	}
	want := dummyKeyHash
	if ck.found {
		want = ck.key.SecretHash
	}
	got := sha256.Sum256(secret)
	match := subtle.ConstantTimeCompare(got[:], want[:]) == 1
	switch {
	case !ck.found || !match:
		return nil, fmt.Errorf("%w: unknown API key", authz.ErrInvalidCredentials)
	case !ck.key.RevokedAt.IsZero() || (!ck.key.ExpiresAt.IsZero() && !now.Before(ck.key.ExpiresAt)):
		return nil, fmt.Errorf("%w: API key revoked or expired", authz.ErrInvalidCredentials)
	case !ck.owner.Active:
		return nil, fmt.Errorf("%w: API key owner inactive", authz.ErrInvalidCredentials)
	}
	// Last use is recorded at most once a minute per key per instance.
	if now.Sub(ck.touched) >= time.Minute {
		if err := a.o.Store.TouchAPIKey(ctx, ck.key.ID, now); err == nil {
			a.mu.Lock()
			if c, ok := a.keys[prefix]; ok {
				c.touched = now
				a.keys[prefix] = c
			}
			a.mu.Unlock()
		}
	}
	return &authz.Principal{UserID: ck.owner.UserID, Role: ck.owner.Role, StudentID: ck.owner.StudentID,
		FacultyID: ck.owner.FacultyID, APIKeyID: ck.key.ID, Scopes: ck.key.Scopes}, nil
}

// state returns a user's state, from the cache when fresh.
func (a *Authenticator) state(ctx context.Context, id uuid.UUID, now time.Time) (State, error) {
	a.mu.RLock()
	c, ok := a.states[id]
	a.mu.RUnlock()
	if ok && now.Before(c.until) {
		return c.st, nil
	}
	st, err := a.o.Store.State(ctx, id)
	if err != nil {
		return State{}, err
	}
	if a.o.StateTTL > 0 {
		a.mu.Lock()
		a.evict(now)
		a.states[id] = cachedState{st: st, until: now.Add(a.o.StateTTL)}
		a.mu.Unlock()
	}
	return st, nil
}

// Forget drops what this instance remembers about a user and, when
// prefix is not empty, an API key, so a change made here applies to the
// next request at once.
func (a *Authenticator) Forget(user uuid.UUID, prefix string) {
	a.mu.Lock()
	delete(a.states, user)
	if prefix != "" {
		delete(a.keys, prefix)
	}
	a.mu.Unlock()
}

// forgetKey drops the cached record of API key id.
func (a *Authenticator) forgetKey(id uuid.UUID) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for prefix, c := range a.keys {
		if c.key.ID == id {
			delete(a.keys, prefix)
		}
	}
}

// evict keeps the caches bounded; a.mu must be held for writing.
func (a *Authenticator) evict(now time.Time) {
	if len(a.verified) >= maxCache {
		for k, v := range a.verified {
			if !now.Before(v.exp) {
				delete(a.verified, k)
			}
		}
		if len(a.verified) >= maxCache {
			clear(a.verified)
		}
	}
	if len(a.states) >= maxCache {
		clear(a.states)
	}
	if len(a.keys) >= maxCache {
		clear(a.keys)
	}
}
