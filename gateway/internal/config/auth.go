package config

import (
	"fmt"
	"net/url"
	"time"
)

// Route auth modes.
const (
	// AuthNone forwards requests without looking at tokens.
	AuthNone = "none"
	// AuthOptional verifies a bearer token when one is sent; requests
	// without one pass anonymously.
	AuthOptional = "optional"
	// AuthRequired rejects requests without a valid bearer token (401).
	AuthRequired = "required"
)

// Auth configures access-token verification at the edge
// (gateway/internal/authn). Tokens are EdDSA JWTs issued by the backend;
// the gateway verifies them with the backend's published JWK Set.
type Auth struct {
	// Issuer is the required "iss" claim.
	Issuer string `yaml:"issuer"`
	// Audience must appear in the "aud" claim.
	Audience string `yaml:"audience"`
	// Leeway tolerates clock skew on exp and nbf.
	Leeway time.Duration `yaml:"leeway"`
	// Realm is the realm of the WWW-Authenticate challenge.
	Realm string `yaml:"realm"`
	// JWKS says where the verification keys come from.
	JWKS JWKS `yaml:"jwks"`
	// Cache bounds the verification cache.
	Cache AuthCache `yaml:"cache"`
}

// JWKS is the source of the token verification keys.
type JWKS struct {
	// URLs serve the JWK Set (the backend's /api/v1/auth/jwks.json); each
	// fetch tries them in order until one answers.
	URLs []string `yaml:"urls"`
	// RefreshInterval is the time between fetches after a success.
	RefreshInterval time.Duration `yaml:"refresh_interval"`
	// MinRefreshInterval is the least time between two fetches: the retry
	// delay after a failure and the rate limit of fetches triggered by a
	// token with an unknown key id.
	MinRefreshInterval time.Duration `yaml:"min_refresh_interval"`
	// Timeout bounds one fetch.
	Timeout time.Duration `yaml:"timeout"`
	// CAFile is a PEM bundle trusted for https URLs (empty: system roots).
	CAFile string `yaml:"ca_file"`
	// FallbackFile is a pinned JWK Set document on disk, used until the
	// first successful fetch (the gateway can verify tokens while the
	// backend is still starting). A fetched set replaces it.
	FallbackFile string `yaml:"fallback_file"`
}

// AuthCache bounds the verification cache: results are kept per token
// (by SHA-256 of the token) until shortly before the token expires.
type AuthCache struct {
	// MaxEntries caps the cached results (least recently used evicted
	// first); 0 disables the cache.
	MaxEntries int `yaml:"max_entries"`
	// ExpiryMargin is how long before "exp" a cached result stops being
	// used.
	ExpiryMargin time.Duration `yaml:"expiry_margin"`
}

func (c *Config) fillAuthDefaults() {
	a := &c.Auth
	if a.Realm == "" {
		a.Realm = "campshub360"
	}
	if a.JWKS.RefreshInterval == 0 {
		a.JWKS.RefreshInterval = 5 * time.Minute
	}
	if a.JWKS.MinRefreshInterval == 0 {
		a.JWKS.MinRefreshInterval = 10 * time.Second
	}
	if a.JWKS.Timeout == 0 {
		a.JWKS.Timeout = 2 * time.Second
	}
	if a.Cache.ExpiryMargin == 0 {
		a.Cache.ExpiryMargin = 5 * time.Second
	}
	for i := range c.Routes {
		if c.Routes[i].Auth == "" {
			c.Routes[i].Auth = AuthNone
		}
	}
}

// UsesAuth reports whether any route verifies tokens.
func (c *Config) UsesAuth() bool {
	for _, r := range c.Routes {
		if r.Auth != AuthNone {
			return true
		}
	}
	return false
}

func (c *Config) validateAuth(ck *checker) {
	a := c.Auth
	for i, r := range c.Routes {
		p := fmt.Sprintf("routes[%d]", i)
		switch r.Auth {
		case AuthNone, AuthOptional, AuthRequired:
		default:
			ck.add(p+".auth", "%q: want none, optional or required", r.Auth)
		}
		if len(r.Roles) > 0 && r.Auth != AuthRequired {
			ck.add(p+".roles", "roles need auth: required")
		}
		for j, role := range r.Roles {
			if role == "" || !token(role) {
				ck.add(fmt.Sprintf("%s.roles[%d]", p, j), "%q is not a role name", role)
			}
		}
	}
	if !c.UsesAuth() {
		return
	}
	if a.Issuer == "" {
		ck.add("auth.issuer", "must be set when a route has auth")
	}
	if a.Audience == "" {
		ck.add("auth.audience", "must be set when a route has auth")
	}
	if len(a.JWKS.URLs) == 0 && a.JWKS.FallbackFile == "" {
		ck.add("auth.jwks.urls", "set urls or fallback_file when a route has auth")
	}
	for j, u := range a.JWKS.URLs {
		pu, err := url.Parse(u)
		if err != nil || (pu.Scheme != "http" && pu.Scheme != "https") || pu.Host == "" || pu.User != nil {
			ck.add(fmt.Sprintf("auth.jwks.urls[%d]", j), "%q: want an http:// or https:// URL without user info", u)
		}
	}
	if a.Leeway < 0 || a.Leeway > 5*time.Minute {
		ck.add("auth.leeway", "%s: want 0s..5m", a.Leeway)
	}
	if a.Realm == "" || !quotable(a.Realm) {
		ck.add("auth.realm", "%q: want printable ASCII without quotes or backslashes", a.Realm)
	}
	if a.JWKS.RefreshInterval < time.Second {
		ck.add("auth.jwks.refresh_interval", "want at least 1s")
	}
	if a.JWKS.MinRefreshInterval <= 0 || a.JWKS.MinRefreshInterval > a.JWKS.RefreshInterval {
		ck.add("auth.jwks.min_refresh_interval", "want more than 0 and at most refresh_interval")
	}
	if a.JWKS.Timeout <= 0 || a.JWKS.Timeout > time.Minute {
		ck.add("auth.jwks.timeout", "want more than 0 and at most 1m")
	}
	if a.Cache.MaxEntries < 0 || a.Cache.MaxEntries > 10_000_000 {
		ck.add("auth.cache.max_entries", "%d: want 0..10000000", a.Cache.MaxEntries)
	}
	if a.Cache.ExpiryMargin < 0 {
		ck.add("auth.cache.expiry_margin", "must not be negative")
	}
}

// quotable reports whether s can go inside a quoted-string unescaped.
func quotable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e || s[i] == '"' || s[i] == '\\' {
			return false
		}
	}
	return true
}
