package api_test

import (
	"context"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/campshub360/edge/shared/token"
	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
	"github.com/pquerna/otp/totp"
)

func TestMFAEnrollLoginRecoveryDisable(t *testing.T) {
	t.Parallel()
	st := newStack(t, stackOptions{})
	st.user(t, "mfa@staff.example", "admin", goodPassword, false)
	tk := st.login(t, "mfa@staff.example", goodPassword)

	var enroll struct {
		Secret string `json:"secret"`
		URL    string `json:"otpauth_url"`
	}
	if r := st.call(t, "POST", "/api/v1/auth/mfa/enroll", tk.AccessToken, nil, &enroll); r.status != 200 || !strings.HasPrefix(enroll.URL, "otpauth://totp/") {
		t.Fatalf("enroll: %d %s", r.status, r.body)
	}
	// The secret is stored sealed, never in clear.
	var sealed []byte
	if err := st.db.Pool.QueryRow(context.Background(), `SELECT mfa_secret_ciphertext FROM users WHERE email = 'mfa@staff.example'`).Scan(&sealed); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(sealed), enroll.Secret) || len(sealed) < 40 {
		t.Fatal("MFA secret stored in clear")
	}
	code := func() string {
		c, err := totp.GenerateCode(enroll.Secret, st.clock.Now())
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	if r := st.call(t, "POST", "/api/v1/auth/mfa/verify", tk.AccessToken, map[string]string{"code": "000000"}, nil); r.status != 400 {
		t.Fatalf("verify with a wrong code: %d", r.status)
	}
	var rec struct {
		Codes []string `json:"recovery_codes"`
	}
	if r := st.call(t, "POST", "/api/v1/auth/mfa/verify", tk.AccessToken, map[string]string{"code": code()}, &rec); r.status != 200 || len(rec.Codes) != 10 {
		t.Fatalf("verify: %d %s", r.status, r.body)
	}
	if r := st.call(t, "POST", "/api/v1/auth/mfa/enroll", tk.AccessToken, nil, nil); r.status != 409 {
		t.Fatalf("enroll again: %d", r.status)
	}

	// Sign-in now takes two steps.
	st.clock.Add(30 * time.Second) // the verify code's step is spent
	ch := st.login(t, "mfa@staff.example", goodPassword)
	if !ch.MFARequired || ch.MFAToken == "" || ch.AccessToken != "" {
		t.Fatalf("challenge %+v", ch)
	}
	if r := st.call(t, "POST", "/api/v1/auth/login/mfa", "", map[string]string{"mfa_token": ch.MFAToken, "code": "123456"}, nil); r.status != 401 {
		t.Fatalf("wrong code: %d", r.status)
	}
	c := code()
	var pair tokens
	if r := st.call(t, "POST", "/api/v1/auth/login/mfa", "", map[string]string{"mfa_token": ch.MFAToken, "code": c}, &pair); r.status != 200 || pair.AccessToken == "" {
		t.Fatalf("right code: %d %s", r.status, r.body)
	}
	// A challenge is used once, and a code is accepted once.
	if r := st.call(t, "POST", "/api/v1/auth/login/mfa", "", map[string]string{"mfa_token": ch.MFAToken, "code": c}, nil); r.status != 401 {
		t.Fatalf("challenge reuse: %d", r.status)
	}
	ch2 := st.login(t, "mfa@staff.example", goodPassword)
	if r := st.call(t, "POST", "/api/v1/auth/login/mfa", "", map[string]string{"mfa_token": ch2.MFAToken, "code": c}, nil); r.status != 401 {
		t.Fatalf("TOTP replay: %d", r.status)
	}
	// A recovery code works once.
	if r := st.call(t, "POST", "/api/v1/auth/login/mfa", "", map[string]string{"mfa_token": ch2.MFAToken, "code": strings.ToUpper(rec.Codes[3])}, &pair); r.status != 200 {
		t.Fatalf("recovery code: %d %s", r.status, r.body)
	}
	ch3 := st.login(t, "mfa@staff.example", goodPassword)
	if r := st.call(t, "POST", "/api/v1/auth/login/mfa", "", map[string]string{"mfa_token": ch3.MFAToken, "code": rec.Codes[3]}, nil); r.status != 401 {
		t.Fatalf("recovery code reuse: %d", r.status)
	}
	// Three wrong codes exhaust a challenge.
	for i := 0; i < 2; i++ {
		st.call(t, "POST", "/api/v1/auth/login/mfa", "", map[string]string{"mfa_token": ch3.MFAToken, "code": "999999"}, nil)
	}
	st.clock.Add(30 * time.Second)
	if r := st.call(t, "POST", "/api/v1/auth/login/mfa", "", map[string]string{"mfa_token": ch3.MFAToken, "code": code()}, nil); r.status != 401 {
		t.Fatalf("exhausted challenge: %d", r.status)
	}
	// An expired challenge is refused.
	ch4 := st.login(t, "mfa@staff.example", goodPassword)
	st.clock.Add(6 * time.Minute)
	if r := st.call(t, "POST", "/api/v1/auth/login/mfa", "", map[string]string{"mfa_token": ch4.MFAToken, "code": code()}, nil); r.status != 401 {
		t.Fatalf("expired challenge: %d", r.status)
	}

	// Disable needs the password.
	if r := st.call(t, "POST", "/api/v1/auth/mfa/disable", pair.AccessToken, map[string]string{"password": "not the password"}, nil); r.status != 403 {
		t.Fatalf("disable with a wrong password: %d", r.status)
	}
	if r := st.call(t, "POST", "/api/v1/auth/mfa/disable", pair.AccessToken, map[string]string{"password": goodPassword}, nil); r.status != 204 {
		t.Fatalf("disable: %d %s", r.status, r.body)
	}
	if tk := st.login(t, "mfa@staff.example", goodPassword); tk.MFARequired {
		t.Fatal("MFA still required after disable")
	}
}

func TestAPIKeys(t *testing.T) {
	t.Parallel()
	st := newStack(t, stackOptions{})
	st.user(t, "int@staff.example", "registrar", goodPassword, false)
	st.user(t, "stu@students.example", "student", goodPassword, false)
	tk := st.login(t, "int@staff.example", goodPassword)

	for _, bad := range []map[string]any{
		{"name": "x", "scopes": []string{}},
		{"name": "x", "scopes": []string{"students:delete"}},
		{"name": "x", "scopes": []string{"nonexistent:read"}},
		{"name": "x", "scopes": []string{"auth:write"}},
		{"name": "", "scopes": []string{"students:read"}},
		{"name": "x", "scopes": []string{"students:read"}, "expires_in_days": 0},
		{"name": "x", "scopes": []string{"students:read"}, "expires_in_days": 10000},
	} {
		if r := st.call(t, "POST", "/api/v1/api-keys", tk.AccessToken, bad, nil); r.status != 400 {
			t.Fatalf("bad key request %v: %d %s", bad, r.status, r.body)
		}
	}
	var created struct {
		ID     string   `json:"id"`
		Prefix string   `json:"prefix"`
		Key    string   `json:"key"`
		Scopes []string `json:"scopes"`
	}
	if r := st.call(t, "POST", "/api/v1/api-keys", tk.AccessToken, map[string]any{"name": "sis export", "scopes": []string{"students:read"}, "expires_in_days": 30}, &created); r.status != 201 {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	if !strings.HasPrefix(created.Key, created.Prefix+".") {
		t.Fatalf("key %q prefix %q", created.Key, created.Prefix)
	}
	var stored []byte
	if err := st.db.Pool.QueryRow(context.Background(), `SELECT secret_hash FROM api_keys WHERE id = $1`, created.ID).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	secret := strings.SplitN(created.Key, ".", 2)[1]
	if sum := sha256.Sum256([]byte(secret)); string(stored) != string(sum[:]) {
		t.Fatal("stored hash is not the SHA-256 of the secret")
	}
	var list struct {
		Items []map[string]any `json:"items"`
	}
	if r := st.call(t, "GET", "/api/v1/api-keys", tk.AccessToken, nil, &list); r.status != 200 || len(list.Items) != 1 || strings.Contains(string(r.body), secret) {
		t.Fatalf("list: %d %s", r.status, r.body)
	}
	withKey := func(method, path, key string) response {
		return st.do(t, method, path, map[string]string{"X-API-Key": key})
	}
	if r := withKey("GET", "/api/v1/students", created.Key); r.status != 200 {
		t.Fatalf("key on a scoped route: %d %s", r.status, r.body)
	}
	if r := withKey("GET", "/api/v1/me", created.Key); r.status != 403 || problemType(t, r) != "insufficient-scope" {
		t.Fatalf("key on an account route: %d %s", r.status, r.body)
	}
	if r := withKey("GET", "/api/v1/api-keys", created.Key); r.status != 403 {
		t.Fatalf("key listing keys: %d", r.status)
	}
	tampered := created.Key[:len(created.Key)-1] + map[bool]string{true: "A", false: "B"}[created.Key[len(created.Key)-1] != 'A']
	for _, bad := range []string{tampered, "chk_AAAAAAAAAAAA." + strings.Repeat("A", 43), "garbage", created.Prefix} {
		if r := withKey("GET", "/api/v1/students", bad); r.status != 401 {
			t.Fatalf("bad key %q: %d", bad, r.status)
		}
	}
	// A bearer token and a key together are refused (RFC 6750 §3.1:
	// more than one method is invalid_request).
	if r := st.do(t, "GET", "/api/v1/students", map[string]string{"X-API-Key": created.Key, "Authorization": "Bearer " + tk.AccessToken}); r.status != 400 ||
		!strings.Contains(r.header.Get("WWW-Authenticate"), `error="invalid_request"`) {
		t.Fatalf("both credentials: %d %q", r.status, r.header.Get("WWW-Authenticate"))
	}
	// Students cannot hold keys.
	stu := st.login(t, "stu@students.example", goodPassword)
	if r := st.call(t, "POST", "/api/v1/api-keys", stu.AccessToken, map[string]any{"name": "x", "scopes": []string{"students:read"}}, nil); r.status != 403 {
		t.Fatalf("student creating a key: %d", r.status)
	}
	// Another user cannot revoke it; its owner can.
	if r := st.call(t, "DELETE", "/api/v1/api-keys/"+created.ID, stu.AccessToken, nil, nil); r.status != 403 {
		t.Fatalf("student revoking: %d", r.status)
	}
	if r := st.call(t, "DELETE", "/api/v1/api-keys/"+created.ID, tk.AccessToken, nil, nil); r.status != 204 {
		t.Fatalf("revoke: %d %s", r.status, r.body)
	}
	if r := withKey("GET", "/api/v1/students", created.Key); r.status != 401 {
		t.Fatalf("revoked key: %d", r.status)
	}
	// Expiry.
	var short struct {
		Key string `json:"key"`
	}
	st.call(t, "POST", "/api/v1/api-keys", tk.AccessToken, map[string]any{"name": "short", "scopes": []string{"*:read"}, "expires_in_days": 1}, &short)
	if r := withKey("GET", "/api/v1/students", short.Key); r.status != 200 {
		t.Fatalf("wildcard read key: %d", r.status)
	}
	st.clock.Add(25 * time.Hour)
	if r := withKey("GET", "/api/v1/students", short.Key); r.status != 401 {
		t.Fatalf("expired key: %d", r.status)
	}
	var lastUsed *time.Time
	if err := st.db.Pool.QueryRow(context.Background(), `SELECT last_used_at FROM api_keys WHERE id = $1`, created.ID).Scan(&lastUsed); err != nil || lastUsed == nil {
		t.Fatalf("last_used_at not recorded: %v", err)
	}
}

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

func TestForgedAndMalformedTokens(t *testing.T) {
	t.Parallel()
	st := newStack(t, stackOptions{})
	uid := st.user(t, "victim@staff.example", "student", goodPassword, false)
	good := st.login(t, "victim@staff.example", goodPassword).AccessToken
	parts := strings.Split(good, ".")
	kid, _ := st.keys.Signer()
	pub, _ := st.keys.Set().Key(kid)

	claims := func(role string, exp time.Time) string {
		return b64(`{"sub":"` + uid.String() + `","role":"` + role + `","iss":"campshub360","aud":["campus-api"],"exp":` +
			itoa(exp.Unix()) + `,"iat":` + itoa(st.clock.Now().Unix()) + `,"jti":"forged-jti-000000"}`)
	}
	hsHeader := b64(`{"alg":"HS256","typ":"JWT","kid":"` + kid + `"}`)
	mac := hmac.New(sha256.New, pub)
	mac.Write([]byte(hsHeader + "." + claims("admin", st.clock.Now().Add(time.Hour))))
	hs := hsHeader + "." + claims("admin", st.clock.Now().Add(time.Hour)) + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))

	_, otherKey, _ := ed25519.GenerateKey(nil)
	forger := token.Signer{KeyID: kid, Key: otherKey, Issuer: "campshub360", Audience: "campus-api", TTL: time.Hour, Now: st.clock.Now}
	forged, _, _ := forger.Sign(uid.String(), "admin", "forged-jti-000001")

	// A genuine key, the admin role: but the user is a student (role
	// mismatch with the database), so it is refused too.
	priv := signerKey(st)
	elevated := jwt.NewWithClaims(jwt.SigningMethodEdDSA, token.Claims{RegisteredClaims: jwt.RegisteredClaims{
		Subject: uid.String(), Issuer: "campshub360", Audience: jwt.ClaimStrings{"campus-api"},
		ExpiresAt: jwt.NewNumericDate(st.clock.Now().Add(time.Hour)), IssuedAt: jwt.NewNumericDate(st.clock.Now()), ID: "elevated-jti-0000"}, Role: "admin"})
	elevated.Header["kid"] = kid
	elevatedTok, _ := elevated.SignedString(priv)
	// A genuine token for a user that does not exist.
	ghost := jwt.NewWithClaims(jwt.SigningMethodEdDSA, token.Claims{RegisteredClaims: jwt.RegisteredClaims{
		Subject: uuid.NewString(), Issuer: "campshub360", Audience: jwt.ClaimStrings{"campus-api"},
		ExpiresAt: jwt.NewNumericDate(st.clock.Now().Add(time.Hour)), IssuedAt: jwt.NewNumericDate(st.clock.Now()), ID: "ghost-jti-0000000"}, Role: "admin"})
	ghost.Header["kid"] = kid
	ghostTok, _ := ghost.SignedString(priv)

	for name, tok := range map[string]string{
		"alg none":          b64(`{"alg":"none","typ":"JWT"}`) + "." + claims("admin", st.clock.Now().Add(time.Hour)) + ".",
		"hs256 confusion":   hs,
		"foreign key":       forged,
		"tampered payload":  parts[0] + "." + claims("admin", st.clock.Now().Add(time.Hour)) + "." + parts[2],
		"role mismatch":     elevatedTok,
		"unknown user":      ghostTok,
		"garbage":           "not-a-token",
		"bad base64":        "@@@.###.$$$",
		"sql in token":      "' OR 1=1 --",
		"three empty parts": "..",
	} {
		r := st.do(t, "GET", "/api/v1/me", map[string]string{"Authorization": "Bearer " + tok})
		if r.status != 401 || !strings.Contains(r.header.Get("WWW-Authenticate"), "invalid_token") {
			t.Errorf("%s: %d %s", name, r.status, r.body)
		}
	}
	// A token too large for the server's header buffer is refused before
	// authentication.
	if r := st.do(t, "GET", "/api/v1/me", map[string]string{"Authorization": "Bearer " + strings.Repeat("a", 40<<10)}); r.status != 431 {
		t.Errorf("huge token: %d", r.status)
	}
	// Other schemes, and a token in the query string, are not credentials.
	for name, h := range map[string]map[string]string{
		"basic":          {"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte("victim@staff.example:"+goodPassword))},
		"bare token":     {"Authorization": good},
		"gateway header": {"Authorization": "", "X-Authenticated-Subject": uid.String(), "X-Authenticated-Role": "admin"},
	} {
		if r := st.do(t, "GET", "/api/v1/me", h); r.status != 401 {
			t.Errorf("%s: %d", name, r.status)
		}
	}
	if r := st.do(t, "GET", "/api/v1/me?access_token="+good, map[string]string{"Authorization": ""}); r.status != 401 {
		t.Errorf("token in query: %d", r.status)
	}
	if r := st.do(t, "GET", "/api/v1/me", map[string]string{"Authorization": "bearer " + good}); r.status != 200 {
		t.Errorf("lower-case scheme: %d", r.status)
	}
}

// signerKey returns the stack's current private signing key.
func signerKey(st *stack) ed25519.PrivateKey {
	_, k := st.keys.Signer()
	return k
}

func itoa(n int64) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			return string(b[i:])
		}
	}
}

func TestSigningKeyRotation(t *testing.T) {
	t.Parallel()
	st := newStack(t, stackOptions{})
	st.user(t, "rot@staff.example", "admin", goodPassword, false)
	old := st.login(t, "rot@staff.example", goodPassword)
	oldKID, _ := st.keys.Signer()

	jwksKIDs := func() []string {
		var doc struct {
			Keys []struct {
				Kid string `json:"kid"`
			} `json:"keys"`
		}
		r := st.call(t, "GET", "/api/v1/auth/jwks.json", "", nil, &doc)
		if r.status != 200 || r.header.Get("Content-Type") != "application/jwk-set+json" {
			t.Fatalf("jwks: %d %v", r.status, r.header)
		}
		if _, err := token.ParseJWKS(r.body); err != nil {
			t.Fatalf("jwks does not parse with shared/token: %v", err)
		}
		var out []string
		for _, k := range doc.Keys {
			out = append(out, k.Kid)
		}
		return out
	}
	if k := jwksKIDs(); len(k) != 1 || k[0] != oldKID {
		t.Fatalf("initial jwks %v", k)
	}
	newKID, err := st.keys.Rotate(context.Background(), 10*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	// Published before it signs.
	if k := jwksKIDs(); len(k) != 2 {
		t.Fatalf("jwks after rotate %v", k)
	}
	if kid, _ := st.keys.Signer(); kid != oldKID {
		t.Fatal("new key signs before its activation")
	}
	st.clock.Add(11 * time.Minute)
	if err := st.keys.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	if kid, _ := st.keys.Signer(); kid != newKID {
		t.Fatal("new key does not sign after its activation")
	}
	fresh := st.login(t, "rot@staff.example", goodPassword)
	if r := st.call(t, "GET", "/api/v1/me", fresh.AccessToken, nil, nil); r.status != 200 {
		t.Fatalf("token of the new key: %d", r.status)
	}
	// The old key stays published until its last token has expired.
	if k := jwksKIDs(); len(k) != 2 {
		t.Fatalf("old key dropped too early: %v", k)
	}
	st.clock.Add(16 * time.Minute)
	if err := st.keys.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	if k := jwksKIDs(); len(k) != 1 || k[0] != newKID {
		t.Fatalf("jwks after the old key's tokens expired: %v", k)
	}
	if r := st.call(t, "GET", "/api/v1/me", old.AccessToken, nil, nil); r.status != 401 {
		t.Fatalf("old token: %d", r.status)
	}
	// The private key is sealed at rest.
	var sealed []byte
	if err := st.db.Pool.QueryRow(context.Background(), `SELECT private_key_sealed FROM signing_keys WHERE kid = $1`, newKID).Scan(&sealed); err != nil {
		t.Fatal(err)
	}
	if _, k := st.keys.Signer(); strings.Contains(string(sealed), string(k.Seed())) {
		t.Fatal("private key stored in clear")
	}
}
