// Package authn verifies access tokens at the edge, before any backend is
// touched: EdDSA-signed JWTs (RFC 7519, RFC 8037) issued by the backend,
// checked with shared/token (the same rules the backend applies) against
// the backend's JWK Set (keys.go), with verification results cached per
// token until shortly before they expire (cache.go).
//
// Per route: "none" forwards untouched, "optional" verifies a bearer token
// when present, "required" rejects requests without a valid one. Tokens
// are read only from the Authorization header (RFC 6750 §2.1); one in the
// query string (§2.3) is refused, as URLs end up in logs. Failures answer
// 401 with a WWW-Authenticate Bearer challenge (RFC 6750 §3), a role not
// allowed on the route 403 (error="insufficient_scope").
//
// A verified request carries X-Authenticated-Subject and
// X-Authenticated-Role upstream (client-sent copies are always removed
// first) and sets exchange.Subject and exchange.Role for the later stages
// (per-user rate limits, per-user cache partitions). The backend still
// verifies the token itself: these headers are a convenience for logs and
// routing, not a substitute for verification (a revoked token, for one,
// is only known to the backend).
package authn

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"

	"github.com/campshub360/edge/gateway/internal/exchange"
	"github.com/campshub360/edge/shared/problem"
	"github.com/campshub360/edge/shared/token"
)

// Header names of the verified identity forwarded upstream.
const (
	HeaderSubject = "X-Authenticated-Subject"
	HeaderRole    = "X-Authenticated-Role"
)

// Mode is a route's auth mode.
type Mode uint8

// Route auth modes (config: none, optional, required).
const (
	None Mode = iota
	Optional
	Required
)

// ParseMode maps the configuration words to a Mode ("" and unknown words
// are None; config validation rejects unknown words first).
func ParseMode(s string) Mode {
	switch s {
	case "optional":
		return Optional
	case "required":
		return Required
	}
	return None
}

// Policy is one route's auth requirement. Immutable.
type Policy struct {
	Mode Mode
	// roles allowed ("" key absent: any role).
	roles map[string]struct{}
}

// NewPolicy returns the policy for a route: mode and the allowed role
// claim values (empty: any).
func NewPolicy(mode Mode, roles []string) *Policy {
	p := &Policy{Mode: mode}
	if len(roles) > 0 {
		p.roles = make(map[string]struct{}, len(roles))
		for _, r := range roles {
			p.roles[r] = struct{}{}
		}
	}
	return p
}

func (p *Policy) allows(role string) bool {
	if p.roles == nil {
		return true
	}
	_, ok := p.roles[role]
	return ok
}

// Options configure an Authenticator.
type Options struct {
	// Issuer is the required "iss"; Audience must be in "aud".
	Issuer, Audience string
	// Leeway tolerates clock skew on exp and nbf.
	Leeway time.Duration
	// Realm goes into the WWW-Authenticate challenge (quoted-string safe).
	Realm string
	// Keys is the key source.
	Keys *Keys
	// CacheEntries caps the verification cache (0: no cache).
	CacheEntries int
	// CacheMargin is how long before exp a cached result stops being used.
	CacheMargin time.Duration
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// Metrics records decisions (nil: none).
	Metrics *Metrics
	// Log receives key-refresh notes (nil: discarded).
	Log *slog.Logger
}

// Authenticator verifies tokens for one configuration generation. Safe
// for concurrent use; Close releases its cache.
type Authenticator struct {
	v      token.Verifier
	keys   *Keys
	cache  *Cache
	margin time.Duration
	now    func() time.Time
	counts map[string]prometheus.Counter

	challengeMissing, challengeInvalid, challengeExpired, challengeRequest, challengeScope []byte
}

// New returns an Authenticator.
func New(o Options) *Authenticator {
	if o.Now == nil {
		o.Now = time.Now
	}
	a := &Authenticator{
		v: token.Verifier{
			Issuer: o.Issuer, Audience: o.Audience, Leeway: o.Leeway, Now: o.Now,
			Keys: o.Keys.Current,
		},
		keys:   o.Keys,
		cache:  NewCache(o.CacheEntries, o.Metrics),
		margin: o.CacheMargin,
		now:    o.Now,
	}
	if o.Metrics != nil {
		a.counts = map[string]prometheus.Counter{}
		for _, r := range []string{ResultVerified, ResultCached, ResultAnonymous, ResultMissing, ResultQueryToken,
			ResultBadRequest, ResultMalformed, ResultAlgorithm, ResultUnknownKey, ResultSignature, ResultExpired,
			ResultNotYetValid, ResultIssuer, ResultAudience, ResultClaims, ResultForbidden, ResultUnavailable} {
			a.counts[r] = o.Metrics.Requests.WithLabelValues(r)
		}
	}
	realm := `Bearer realm="` + o.Realm + `"`
	a.challengeMissing = []byte(realm)
	a.challengeInvalid = []byte(realm + `, error="invalid_token", error_description="The access token is not valid"`)
	a.challengeExpired = []byte(realm + `, error="invalid_token", error_description="The access token expired"`)
	a.challengeRequest = []byte(realm + `, error="invalid_request", error_description="Send the access token in the Authorization header only, once"`)
	a.challengeScope = []byte(realm + `, error="insufficient_scope", error_description="The token's role may not use this resource"`)
	return a
}

// Close drops the verification cache.
func (a *Authenticator) Close() {
	if a != nil {
		a.cache.Close()
	}
}

// CacheLen returns the number of cached verification results.
func (a *Authenticator) CacheLen() int { return a.cache.Len() }

func (a *Authenticator) count(result string) {
	if c := a.counts[result]; c != nil {
		c.Inc()
	}
}

var (
	hAuthorization = []byte(fasthttp.HeaderAuthorization)
	hSubject       = []byte(HeaderSubject)
	hRole          = []byte(HeaderRole)
	hWWWAuth       = []byte(fasthttp.HeaderWWWAuthenticate)
	bearer         = []byte("bearer ")
	accessToken    = []byte("access_token")
)

// Middleware is the edge auth stage. For every request it removes
// client-sent X-Authenticated-* headers; then it applies the Policy pick
// returns (nil or None: pass through). a may be nil when no route uses
// auth.
func Middleware(a *Authenticator, pick func(ctx *fasthttp.RequestCtx) *Policy, next fasthttp.RequestHandler) fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) {
		h := &ctx.Request.Header
		h.DelBytes(hSubject)
		h.DelBytes(hRole)
		p := pick(ctx)
		if a == nil || p == nil || p.Mode == None {
			next(ctx)
			return
		}
		if a.authenticate(ctx, p) {
			next(ctx)
		}
	}
}

// authenticate applies p to the request; it answers the request itself
// and returns false when the request must not go on.
func (a *Authenticator) authenticate(ctx *fasthttp.RequestCtx, p *Policy) bool {
	if ctx.QueryArgs().HasBytes(accessToken) {
		a.count(ResultQueryToken)
		a.reject(ctx, fasthttp.StatusUnauthorized, a.challengeRequest, "token-in-query",
			"Access tokens are accepted only in the Authorization header, never in the URL.")
		return false
	}
	raw, lines := authorization(&ctx.Request.Header)
	if lines > 1 {
		a.count(ResultBadRequest)
		a.reject(ctx, fasthttp.StatusUnauthorized, a.challengeRequest, "invalid-request",
			"Send exactly one Authorization header.")
		return false
	}
	if lines == 0 || len(raw) < len(bearer) || !bytes.EqualFold(raw[:len(bearer)], bearer) {
		if p.Mode == Optional {
			a.count(ResultAnonymous)
			return true
		}
		a.count(ResultMissing)
		a.reject(ctx, fasthttp.StatusUnauthorized, a.challengeMissing, "unauthorized",
			"This resource needs a bearer access token.")
		return false
	}
	tok := bytes.TrimLeft(raw[len(bearer):], " ")
	if len(tok) > token.MaxTokenBytes {
		a.count(ResultMalformed)
		a.invalid(ctx, false)
		return false
	}
	if !token68(tok) {
		a.count(ResultMalformed)
		a.invalid(ctx, false)
		return false
	}
	subject, role, ok := a.verify(ctx, tok)
	if !ok {
		return false
	}
	if !p.allows(role) {
		a.count(ResultForbidden)
		a.reject(ctx, fasthttp.StatusForbidden, a.challengeScope, "insufficient-role",
			"Your role may not use this resource.")
		return false
	}
	ex := exchange.From(ctx)
	ex.Subject, ex.Role = subject, role
	ctx.Request.Header.Set(HeaderSubject, subject)
	ctx.Request.Header.Set(HeaderRole, role)
	return true
}

// verify checks tok through the cache; on failure it writes the answer.
func (a *Authenticator) verify(ctx *fasthttp.RequestCtx, tok []byte) (subject, role string, ok bool) {
	key := sha256.Sum256(tok)
	now := a.now()
	gen := a.keys.Generation()
	if s, r, hit := a.cache.Get(key, now.UnixNano(), gen); hit {
		a.count(ResultCached)
		return s, r, true
	}
	if a.keys.Current() == nil {
		a.keys.RefreshUnknown(context.Background())
		if a.keys.Current() == nil {
			a.count(ResultUnavailable)
			ctx.Response.Header.Set(fasthttp.HeaderRetryAfter, "5")
			problem.Write(ctx, problem.New(fasthttp.StatusServiceUnavailable, "auth-unavailable", "Service Unavailable",
				"Access tokens cannot be verified right now; try again shortly."))
			return "", "", false
		}
	}
	raw := string(tok)
	c, err := a.v.Verify(raw)
	// The fetch has its own timeout; the request context is not used as
	// parent (fasthttp's is the server's lifetime, not the request's).
	if errors.Is(err, token.ErrUnknownKey) && a.keys.RefreshUnknown(context.Background()) {
		gen = a.keys.Generation()
		c, err = a.v.Verify(raw)
	}
	if err != nil {
		a.count(resultOf(err))
		a.invalid(ctx, errors.Is(err, token.ErrExpired))
		return "", "", false
	}
	a.count(ResultVerified)
	if c.ExpiresAt != nil {
		until := c.ExpiresAt.Add(-a.margin)
		from := now
		if c.NotBefore != nil && c.NotBefore.Add(-a.v.Leeway).Before(from) {
			from = c.NotBefore.Add(-a.v.Leeway)
		}
		if c.IssuedAt != nil && c.IssuedAt.Add(-a.v.Leeway).After(from) {
			from = c.IssuedAt.Add(-a.v.Leeway)
		}
		if until.After(now) {
			a.cache.Put(key, c.Subject, c.Role, from.UnixNano(), until.UnixNano(), gen)
		}
	}
	return c.Subject, c.Role, true
}

func resultOf(err error) string {
	switch {
	case errors.Is(err, token.ErrAlgorithm):
		return ResultAlgorithm
	case errors.Is(err, token.ErrUnknownKey):
		return ResultUnknownKey
	case errors.Is(err, token.ErrSignature):
		return ResultSignature
	case errors.Is(err, token.ErrExpired):
		return ResultExpired
	case errors.Is(err, token.ErrNotYetValid):
		return ResultNotYetValid
	case errors.Is(err, token.ErrIssuer):
		return ResultIssuer
	case errors.Is(err, token.ErrAudience):
		return ResultAudience
	case errors.Is(err, token.ErrClaims):
		return ResultClaims
	}
	return ResultMalformed
}

func (a *Authenticator) invalid(ctx *fasthttp.RequestCtx, expired bool) {
	if expired {
		a.reject(ctx, fasthttp.StatusUnauthorized, a.challengeExpired, "token-expired", "The access token expired; obtain a new one.")
		return
	}
	a.reject(ctx, fasthttp.StatusUnauthorized, a.challengeInvalid, "invalid-token", "The access token is not valid.")
}

func (a *Authenticator) reject(ctx *fasthttp.RequestCtx, status int, challenge []byte, slug, detail string) {
	ctx.Response.Header.SetBytesKV(hWWWAuth, challenge)
	title := "Unauthorized"
	if status == fasthttp.StatusForbidden {
		title = "Forbidden"
	}
	problem.Write(ctx, problem.New(status, slug, title, detail))
}

// authorization returns the first Authorization value and the number of
// Authorization lines. It does not allocate.
func authorization(h *fasthttp.RequestHeader) (first []byte, lines int) {
	for k, v := range h.All() {
		if bytes.EqualFold(k, hAuthorization) {
			if lines == 0 {
				first = v
			}
			lines++
		}
	}
	return first, lines
}

// token68 reports whether b is an RFC 9110 §11.2 token68 (what a compact
// JWS is made of: base64url parts and dots).
func token68(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	i := 0
	for ; i < len(b); i++ {
		c := b[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/') {
			break
		}
	}
	for ; i < len(b); i++ {
		if b[i] != '=' {
			return false
		}
	}
	return true
}
