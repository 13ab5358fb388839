package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"regexp"
	"strings"
)

// API key format: "chk_" + 12 alphanumerics (the prefix, stored and shown,
// used to find the key) + "." + 43 base64url characters (32 random bytes,
// the secret, stored only as its SHA-256).
const (
	apiKeyTag       = "chk_"
	apiKeyPrefixLen = len(apiKeyTag) + 12
	apiKeySecretLen = 43
	// APIKeyLen is the length of a whole key.
	APIKeyLen = apiKeyPrefixLen + 1 + apiKeySecretLen
)

const alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// NewAPIKey returns a fresh key: its prefix, the whole key (shown once)
// and the SHA-256 of its secret part (stored).
func NewAPIKey(random io.Reader) (prefix, key string, hash [32]byte, err error) {
	if random == nil {
		random = rand.Reader
	}
	var b strings.Builder
	b.WriteString(apiKeyTag)
	one := make([]byte, 1)
	for b.Len() < apiKeyPrefixLen {
		if _, err := io.ReadFull(random, one); err != nil {
			return "", "", hash, err
		}
		if one[0] < 248 { // 248 = 4*62: uniform
			b.WriteByte(alnum[int(one[0])%len(alnum)])
		}
	}
	prefix = b.String()
	secret := make([]byte, 32)
	if _, err := io.ReadFull(random, secret); err != nil {
		return "", "", hash, err
	}
	enc := base64.RawURLEncoding.EncodeToString(secret)
	return prefix, prefix + "." + enc, sha256.Sum256([]byte(enc)), nil
}

var apiKeyRE = regexp.MustCompile(`^chk_[A-Za-z0-9]{12}\.[A-Za-z0-9_-]{43}$`)

// parseAPIKey splits a presented key into prefix and secret, or reports
// false for anything not in the format.
func parseAPIKey(raw []byte) (prefix string, secret []byte, ok bool) {
	if len(raw) != APIKeyLen || !apiKeyRE.Match(raw) {
		return "", nil, false
	}
	return string(raw[:apiKeyPrefixLen]), raw[apiKeyPrefixLen+1:], true
}

// Scope grammar: "<resource>:<read|write>", resource being the first path
// segment after /api/v1/ of the routes it opens ("students",
// "sessions"...) or "*" for all. read admits GET and HEAD, write every
// other method. Account routes (auth, api-keys, users, me) never admit API
// keys.
var scopeRE = regexp.MustCompile(`^(\*|[a-z][a-z0-9-]{0,39}):(read|write)$`)

// ValidScope reports whether s is a well-formed scope.
func ValidScope(s string) bool { return scopeRE.MatchString(s) }

// RouteScope returns the scope a route needs from an API key: for method
// and a route template under /api/v1/, "<first segment>:<read|write>"; ""
// when no API key may call it.
func RouteScope(method, template string) string {
	rest, ok := strings.CutPrefix(template, "/api/v1/")
	if !ok {
		return ""
	}
	resource, _, _ := strings.Cut(rest, "/")
	switch resource {
	case "", "auth", "api-keys", "users", "me":
		return ""
	}
	action := "write"
	if method == "GET" || method == "HEAD" {
		action = "read"
	}
	return resource + ":" + action
}

// HasScope reports whether scopes grant need ("r:a" by itself or "*:a").
func HasScope(scopes []string, need string) bool {
	if need == "" {
		return false
	}
	_, action, _ := strings.Cut(need, ":")
	for _, s := range scopes {
		if s == need || s == "*:"+action {
			return true
		}
	}
	return false
}

// checkScopes validates requested scopes against the resources the API
// serves.
func checkScopes(scopes []string, resources map[string]bool) error {
	if len(scopes) == 0 {
		return &FieldError{Field: "scopes", Message: "must list at least one scope such as students:read"}
	}
	if len(scopes) > 50 {
		return &FieldError{Field: "scopes", Message: "must list at most 50 scopes"}
	}
	for i, s := range scopes {
		field := fmt.Sprintf("scopes[%d]", i)
		if !ValidScope(s) {
			return &FieldError{Field: field, Message: "is not a scope; want <resource>:read or <resource>:write, e.g. students:read"}
		}
		res, _, _ := strings.Cut(s, ":")
		if res != "*" && !resources[res] {
			return &FieldError{Field: field, Message: "names no resource an API key can use"}
		}
	}
	return nil
}

func clipStr(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
