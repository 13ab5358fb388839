package config

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/campshub360/edge/backend/internal/auth"
	"github.com/campshub360/edge/backend/internal/keyring"
)

// Auth configures authentication and data protection. Environment
// variables (an empty value counts as unset):
//
//	ENCRYPTION_KEYS              AES-256 keyring for personal data and TOTP secrets:
//	                             kid:base64key[,kid:base64key...], first = primary
//	                             (required outside --dev; ENCRYPTION_KEYS_FILE reads it from a file)
//	SIGNING_KEY_SECRETS          keyring sealing the Ed25519 token signing keys stored in
//	                             PostgreSQL, same form (required outside --dev;
//	                             SIGNING_KEY_SECRETS_FILE reads it from a file)
//	AUTH_ISSUER                  "iss" of access tokens (default campshub360)
//	AUTH_AUDIENCE                "aud" of access tokens (default campus-api)
//	AUTH_ACCESS_TOKEN_TTL        access token lifetime, 1m..1h (default 15m)
//	AUTH_REFRESH_TOKEN_TTL       idle lifetime of a refresh token, 1h..90d (default 336h)
//	AUTH_SESSION_MAX_AGE         absolute lifetime of a session, >= the refresh TTL, <= 365d (default 720h)
//	AUTH_BCRYPT_COST             bcrypt cost, 10..16 (default 12; 4..16 with --dev)
//	AUTH_PASSWORD_MIN_LENGTH     characters, 8..64 (default 12)
//	AUTH_LOCKOUT_THRESHOLD       failed sign-ins per account name before a lock, 1..100 (default 5)
//	AUTH_IP_LOCKOUT_THRESHOLD    failed sign-ins per client address before a lock, 1..100000 (default 100)
//	AUTH_LOCKOUT_WINDOW          window counting failures, 1m..24h (default 15m)
//	AUTH_LOCKOUT_BASE            first lock, doubled per further failure, 1s..1h (default 1m)
//	AUTH_LOCKOUT_MAX             longest lock, >= base, <= 24h (default 1h)
//	AUTH_SIGNING_KEY_ROTATION    signing key rotation period, 0 (on demand only) or 1h..8760h (default 720h)
//	AUTH_KEY_PUBLISH_DELAY       a new key is published this long before it signs, 1m..24h (default 10m)
//	AUTH_KEY_REFRESH_INTERVAL    how often instances reload keys, 5s..1h, < publish delay (default 1m)
//	AUTH_STATE_CACHE_TTL         reuse of a user's state and revocation answers, 0..30s (default 1s)
//	TRUSTED_PROXIES              CIDRs whose X-Forwarded-For/X-Real-IP are believed (default loopback)
type Auth struct {
	// EncryptionKeys and SigningKeySecrets are keyring specifications
	// (secrets: never log them); "" in --dev means "generate under the
	// runtime dir".
	EncryptionKeys    string
	SigningKeySecrets string

	Issuer, Audience      string
	AccessTTL, RefreshTTL time.Duration
	SessionMaxAge         time.Duration
	BcryptCost            int
	PasswordMinLength     int
	AccountLockout        auth.Lockout
	IPLockout             auth.Lockout
	KeyRotation           time.Duration
	KeyPublishDelay       time.Duration
	KeyRefresh            time.Duration
	StateCacheTTL         time.Duration
	TrustedProxies        string
}

// Defaults of the Auth settings.
const (
	DefaultIssuer   = "campshub360"
	DefaultAudience = "campus-api"
)

// loadAuth reads the Auth settings; dev relaxes the secrets (generated)
// and the bcrypt floor.
func loadAuth(getenv func(string) string, dev bool, ps *problems) Auth {
	a := Auth{
		Issuer:         orDefault(getenv("AUTH_ISSUER"), DefaultIssuer),
		Audience:       orDefault(getenv("AUTH_AUDIENCE"), DefaultAudience),
		TrustedProxies: getenv("TRUSTED_PROXIES"),
	}
	if a.TrustedProxies == "" {
		a.TrustedProxies = auth.DefaultTrustedProxies
	}
	if _, err := auth.ParseProxies(a.TrustedProxies); err != nil {
		ps.add("TRUSTED_PROXIES", err.Error())
	}
	a.EncryptionKeys = secret(getenv, "ENCRYPTION_KEYS", dev, ps,
		"AES-256 keyring for personal data: kid:base64(32 random bytes), e.g. 2026-11:$(openssl rand -base64 32)")
	a.SigningKeySecrets = secret(getenv, "SIGNING_KEY_SECRETS", dev, ps,
		"keyring sealing the token signing keys: kid:base64(32 random bytes), e.g. 2026-11:$(openssl rand -base64 32)")
	if a.EncryptionKeys != "" && a.EncryptionKeys == a.SigningKeySecrets {
		ps.add("SIGNING_KEY_SECRETS", "must differ from ENCRYPTION_KEYS")
	}

	a.AccessTTL = ps.duration(getenv, "AUTH_ACCESS_TOKEN_TTL", 15*time.Minute, time.Minute, time.Hour)
	a.RefreshTTL = ps.duration(getenv, "AUTH_REFRESH_TOKEN_TTL", 336*time.Hour, time.Hour, 90*24*time.Hour)
	a.SessionMaxAge = ps.duration(getenv, "AUTH_SESSION_MAX_AGE", 720*time.Hour, time.Hour, 365*24*time.Hour)
	if a.SessionMaxAge < a.RefreshTTL {
		ps.add("AUTH_SESSION_MAX_AGE", "must be at least AUTH_REFRESH_TOKEN_TTL")
	}
	if cost, err := LoadBcryptCost(getenv, dev); err != nil {
		ps.add("AUTH_BCRYPT_COST", err.(*Error).Problems[0].Message)
	} else {
		a.BcryptCost = cost
	}
	a.PasswordMinLength = passwordMinLength(getenv, ps)
	window := ps.duration(getenv, "AUTH_LOCKOUT_WINDOW", 15*time.Minute, time.Minute, 24*time.Hour)
	base := ps.duration(getenv, "AUTH_LOCKOUT_BASE", time.Minute, time.Second, time.Hour)
	maxLock := ps.duration(getenv, "AUTH_LOCKOUT_MAX", time.Hour, time.Second, 24*time.Hour)
	if maxLock < base {
		ps.add("AUTH_LOCKOUT_MAX", "must be at least AUTH_LOCKOUT_BASE")
	}
	a.AccountLockout = auth.Lockout{Threshold: int(ps.integer(getenv, "AUTH_LOCKOUT_THRESHOLD", 5, 1, 100)),
		Window: window, Base: base, Max: maxLock}
	a.IPLockout = auth.Lockout{Threshold: int(ps.integer(getenv, "AUTH_IP_LOCKOUT_THRESHOLD", 100, 1, 100000)),
		Window: window, Base: base, Max: maxLock}
	if v := getenv("AUTH_SIGNING_KEY_ROTATION"); v == "0" || v == "0s" {
		a.KeyRotation = 0
	} else {
		a.KeyRotation = ps.duration(getenv, "AUTH_SIGNING_KEY_ROTATION", 720*time.Hour, time.Hour, 8760*time.Hour)
	}
	a.KeyPublishDelay = ps.duration(getenv, "AUTH_KEY_PUBLISH_DELAY", 10*time.Minute, time.Minute, 24*time.Hour)
	a.KeyRefresh = ps.duration(getenv, "AUTH_KEY_REFRESH_INTERVAL", time.Minute, 5*time.Second, time.Hour)
	if a.KeyRefresh >= a.KeyPublishDelay {
		ps.add("AUTH_KEY_REFRESH_INTERVAL", "must be shorter than AUTH_KEY_PUBLISH_DELAY")
	}
	a.StateCacheTTL = ps.duration(getenv, "AUTH_STATE_CACHE_TTL", time.Second, 0, 30*time.Second)
	return a
}

// secret reads a keyring from NAME or the file named by NAME_FILE and
// checks it parses; outside dev it is required. Messages never include the
// value.
func secret(getenv func(string) string, name string, dev bool, ps *problems, hint string) string {
	v, file := getenv(name), getenv(name+"_FILE")
	switch {
	case v != "" && file != "":
		ps.add(name, "set either "+name+" or "+name+"_FILE, not both")
		return ""
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			ps.add(name+"_FILE", "cannot read the file: "+describeFileError(err))
			return ""
		}
		v = strings.TrimSpace(string(b))
		name += "_FILE"
	}
	if v == "" {
		if !dev {
			ps.add(name, "is required outside --dev ("+hint+")")
		}
		return ""
	}
	if _, err := keyring.Parse(v); err != nil {
		ps.add(name, "not a valid keyring: "+err.Error())
		return ""
	}
	return v
}

func describeFileError(err error) string {
	if os.IsNotExist(err) {
		return "no such file"
	}
	if os.IsPermission(err) {
		return "permission denied"
	}
	return fmt.Sprint(err)
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// LoadBcryptCost reads AUTH_BCRYPT_COST alone (for `backend accounts`),
// with the same bounds as serve.
func LoadBcryptCost(getenv func(string) string, dev bool) (int, error) {
	var ps problems
	minCost := int64(10)
	if dev {
		minCost = 4
	}
	cost := int(ps.integer(getenv, "AUTH_BCRYPT_COST", 12, minCost, 16))
	if len(ps) > 0 {
		return 0, &Error{Problems: ps}
	}
	return cost, nil
}

// passwordMinLength reads AUTH_PASSWORD_MIN_LENGTH.
func passwordMinLength(getenv func(string) string, ps *problems) int {
	return int(ps.integer(getenv, "AUTH_PASSWORD_MIN_LENGTH", 12, 8, 64))
}

// AccountSettings are what account administration outside the server
// (`backend accounts create-admin`) needs: the bcrypt cost and the
// password policy's minimum length in characters.
type AccountSettings struct {
	BcryptCost        int
	PasswordMinLength int
}

// LoadAccountSettings reads AUTH_BCRYPT_COST and AUTH_PASSWORD_MIN_LENGTH
// alone, with the same defaults and bounds as serve (dev: serve --dev's
// lower bcrypt floor). It returns an *Error listing every problem.
func LoadAccountSettings(getenv func(string) string, dev bool) (AccountSettings, error) {
	var ps problems
	var s AccountSettings
	if cost, err := LoadBcryptCost(getenv, dev); err != nil {
		ps = append(ps, err.(*Error).Problems...)
	} else {
		s.BcryptCost = cost
	}
	s.PasswordMinLength = passwordMinLength(getenv, &ps)
	if len(ps) > 0 {
		return AccountSettings{}, &Error{Problems: ps}
	}
	return s, nil
}

// LoadSecrets reads only the two keyrings, for the maintenance commands
// (`backend keys ...`): outside dev both are required.
func LoadSecrets(getenv func(string) string, dev bool) (encryption, signing string, err error) {
	var ps problems
	encryption = secret(getenv, "ENCRYPTION_KEYS", dev, &ps, "see backend serve --help")
	signing = secret(getenv, "SIGNING_KEY_SECRETS", dev, &ps, "see backend serve --help")
	if len(ps) > 0 {
		return "", "", &Error{Problems: ps}
	}
	return encryption, signing, nil
}
