package auth

import (
	"crypto/sha256"
	"strings"
	"testing"
)

func TestAPIKeyFormatAndScopes(t *testing.T) {
	prefix, key, hash, err := NewAPIKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	p, secret, ok := parseAPIKey([]byte(key))
	if !ok || p != prefix || sha256.Sum256(secret) != hash || len(key) != APIKeyLen {
		t.Fatalf("round trip: %q %q %v", key, p, ok)
	}
	for _, bad := range []string{"", key + "x", strings.Replace(key, ".", "_", 1), "chk_" + strings.Repeat("!", 12) + "." + strings.Repeat("a", 43)} {
		if _, _, ok := parseAPIKey([]byte(bad)); ok {
			t.Fatalf("accepted %q", bad)
		}
	}
	for method, want := range map[string]string{"GET": "students:read", "HEAD": "students:read", "POST": "students:write", "DELETE": "students:write"} {
		if got := RouteScope(method, "/api/v1/students/{id}"); got != want {
			t.Fatalf("%s: %q", method, got)
		}
	}
	for _, tpl := range []string{"/api/v1/auth/login", "/api/v1/me", "/api/v1/api-keys", "/api/v1/users/{id}", "/health/", "/api/v1/"} {
		if s := RouteScope("GET", tpl); s != "" {
			t.Fatalf("%s admits keys: %q", tpl, s)
		}
	}
	if !HasScope([]string{"*:read"}, "students:read") || HasScope([]string{"*:read"}, "students:write") ||
		HasScope([]string{"students:read"}, "") || !HasScope([]string{"students:write"}, "students:write") {
		t.Fatal("HasScope")
	}
	res := map[string]bool{"students": true}
	if checkScopes([]string{"students:read", "*:write"}, res) != nil || checkScopes([]string{"sessions:read"}, res) == nil || checkScopes(nil, res) == nil {
		t.Fatal("checkScopes")
	}
}

func FuzzParseAPIKey(f *testing.F) {
	_, key, _, _ := NewAPIKey(nil)
	f.Add(key)
	f.Add("chk_.")
	f.Fuzz(func(t *testing.T, s string) {
		p, secret, ok := parseAPIKey([]byte(s))
		if ok && (len(p) != apiKeyPrefixLen || len(secret) != apiKeySecretLen) {
			t.Fatalf("accepted malformed %q", s)
		}
	})
}

func TestOneTimePasswordAndPolicy(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 200; i++ {
		pw, err := NewOneTimePassword(nil)
		if err != nil || len(pw) != 24 || seen[pw] || strings.ContainsAny(pw, "0O1lI") {
			t.Fatalf("one-time password %q (%v)", pw, err)
		}
		seen[pw] = true
	}
	p, err := NewPolicy(12)
	if err != nil {
		t.Fatal(err)
	}
	for pw, ok := range map[string]bool{
		"correct horse battery staple": true,
		"Password123!":                 false, // deny list after stripping the suffix
		"qwertyuiop12":                 false,
		"aaaaaaaaaaaaaaaa":             false, // too few distinct characters
		"short":                        false,
		"jane.doe-is-my-password":      false, // contains the user name
		strings.Repeat("x1y2z3", 13):   false, // over 72 bytes
		"tab\tinside the password":     false,
	} {
		if err := p.Check(pw, "jane.doe@students.example"); (err == nil) != ok {
			t.Errorf("%q: %v", pw, err)
		}
	}
}

func TestHasherConstantCostForUnknown(t *testing.T) {
	h, err := NewHasher(4, 2, 0)
	if err != nil {
		t.Fatal(err)
	}
	hash, _ := h.Hash(t.Context(), "the password")
	if ok, _, _ := h.Compare(t.Context(), hash, "the password"); !ok {
		t.Fatal("right password refused")
	}
	if ok, _, _ := h.Compare(t.Context(), nil, "the password"); ok {
		t.Fatal("missing hash matched")
	}
	if ok, _, _ := h.Compare(t.Context(), hash, "the password"+strings.Repeat("x", 80)); ok {
		t.Fatal("over-long password matched")
	}
	h10, _ := NewHasher(5, 1, 0)
	if _, stale, _ := h10.Compare(t.Context(), hash, "the password"); !stale {
		t.Fatal("cost change not reported")
	}
}
