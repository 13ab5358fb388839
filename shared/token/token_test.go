package token

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

type fixture struct {
	signer   *Signer
	verifier *Verifier
	now      time.Time
	pub      ed25519.PublicKey
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{now: time.Unix(1_800_000_000, 0), pub: pub}
	clock := func() time.Time { return f.now }
	kid := KeyID(pub)
	f.signer = &Signer{KeyID: kid, Key: priv, Issuer: "campshub360", Audience: "campus-api", TTL: 15 * time.Minute, Now: clock}
	ks := NewKeySet(map[string]ed25519.PublicKey{kid: pub})
	f.verifier = &Verifier{Issuer: "campshub360", Audience: "campus-api", Keys: func() *KeySet { return ks }, Now: clock}
	return f
}

func TestSignVerifyRoundTrip(t *testing.T) {
	f := newFixture(t)
	tok, exp, err := f.signer.Sign("user-1", "faculty", "jti-1")
	if err != nil {
		t.Fatal(err)
	}
	if !exp.Equal(f.now.Add(15 * time.Minute)) {
		t.Fatalf("exp %v", exp)
	}
	c, err := f.verifier.Verify(tok)
	if err != nil {
		t.Fatal(err)
	}
	if c.Subject != "user-1" || c.Role != "faculty" || c.ID != "jti-1" {
		t.Fatalf("claims %+v", c)
	}
}

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

func TestVerifyRejects(t *testing.T) {
	f := newFixture(t)
	good, _, _ := f.signer.Sign("user-1", "student", "j")
	parts := strings.Split(good, ".")

	other := newFixture(t)
	other.signer.KeyID = f.signer.KeyID // same kid, different key
	forged, _, _ := other.signer.Sign("user-1", "admin", "j")

	unknownKid := newFixture(t)
	unknownTok, _, _ := unknownKid.signer.Sign("user-1", "student", "j")

	// HS256 keyed with the public key: the classic algorithm confusion.
	hsHeader := b64(`{"alg":"HS256","typ":"JWT","kid":"` + f.signer.KeyID + `"}`)
	mac := hmac.New(sha256.New, f.pub)
	mac.Write([]byte(hsHeader + "." + parts[1]))
	hs := hsHeader + "." + parts[1] + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))

	none := b64(`{"alg":"none","typ":"JWT"}`) + "." + parts[1] + "."

	tampered := parts[0] + "." + b64(`{"sub":"user-1","role":"admin","iss":"campshub360","aud":["campus-api"],"exp":1800000900,"iat":1800000000}`) + "." + parts[2]

	cases := map[string]struct {
		tok  string
		want error
		at   time.Duration
	}{
		"expired":          {good, ErrExpired, 16 * time.Minute},
		"not yet valid":    {good, ErrNotYetValid, -time.Minute},
		"forged signature": {forged, ErrSignature, 0},
		"unknown kid":      {unknownTok, ErrUnknownKey, 0},
		"hs256 confusion":  {hs, ErrAlgorithm, 0},
		"alg none":         {none, ErrAlgorithm, 0},
		"tampered payload": {tampered, ErrSignature, 0},
		"garbage":          {"not.a.token", ErrMalformed, 0},
		"bad base64":       {"@@@.###.$$$", ErrMalformed, 0},
		"empty":            {"", ErrMalformed, 0},
		"huge":             {strings.Repeat("a", MaxTokenBytes+1), ErrMalformed, 0},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			base := f.now
			f.now = base.Add(tc.at)
			defer func() { f.now = base }()
			_, err := f.verifier.Verify(tc.tok)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestWrongIssuerAudienceAndMissingClaims(t *testing.T) {
	f := newFixture(t)
	s := *f.signer
	s.Issuer = "someone-else"
	tok, _, _ := s.Sign("u", "student", "j")
	if _, err := f.verifier.Verify(tok); !errors.Is(err, ErrIssuer) {
		t.Fatalf("issuer: %v", err)
	}
	s = *f.signer
	s.Audience = "other-api"
	tok, _, _ = s.Sign("u", "student", "j")
	if _, err := f.verifier.Verify(tok); !errors.Is(err, ErrAudience) {
		t.Fatalf("audience: %v", err)
	}
	// A validly signed token without a role.
	t2 := jwt.NewWithClaims(jwt.SigningMethodEdDSA, Claims{RegisteredClaims: jwt.RegisteredClaims{
		Subject: "u", Issuer: "campshub360", Audience: jwt.ClaimStrings{"campus-api"},
		ExpiresAt: jwt.NewNumericDate(f.now.Add(time.Minute)),
	}})
	t2.Header["kid"] = f.signer.KeyID
	raw, _ := t2.SignedString(f.signer.Key)
	if _, err := f.verifier.Verify(raw); !errors.Is(err, ErrClaims) {
		t.Fatalf("missing role: %v", err)
	}
	// No exp at all.
	t3 := jwt.NewWithClaims(jwt.SigningMethodEdDSA, Claims{RegisteredClaims: jwt.RegisteredClaims{
		Subject: "u", Issuer: "campshub360", Audience: jwt.ClaimStrings{"campus-api"},
	}, Role: "student"})
	t3.Header["kid"] = f.signer.KeyID
	raw, _ = t3.SignedString(f.signer.Key)
	if _, err := f.verifier.Verify(raw); !errors.Is(err, ErrClaims) {
		t.Fatalf("missing exp: %v", err)
	}
}

func TestJWKSRoundTripAndRejects(t *testing.T) {
	f := newFixture(t)
	ks := NewKeySet(map[string]ed25519.PublicKey{"k1": f.pub})
	b, err := ks.MarshalJWKS()
	if err != nil {
		t.Fatal(err)
	}
	back, err := ParseJWKS(b)
	if err != nil {
		t.Fatal(err)
	}
	if k, ok := back.Key("k1"); !ok || !k.Equal(f.pub) {
		t.Fatal("key lost in round trip")
	}
	for name, doc := range map[string]string{
		"not json":      `{`,
		"no keys":       `{"keys":[]}`,
		"only rsa":      `{"keys":[{"kty":"RSA","kid":"r","n":"x","e":"AQAB"}]}`,
		"short x":       `{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"a","x":"AAAA"}]}`,
		"no kid":        `{"keys":[{"kty":"OKP","crv":"Ed25519","x":"` + base64.RawURLEncoding.EncodeToString(f.pub) + `"}]}`,
		"duplicate kid": `{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"a","x":"` + base64.RawURLEncoding.EncodeToString(f.pub) + `"},{"kty":"OKP","crv":"Ed25519","kid":"a","x":"` + base64.RawURLEncoding.EncodeToString(f.pub) + `"}]}`,
	} {
		if _, err := ParseJWKS([]byte(doc)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func BenchmarkVerify(b *testing.B) {
	f := newFixture(b)
	tok, _, _ := f.signer.Sign("user-1", "student", "j")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := f.verifier.Verify(tok); err != nil {
			b.Fatal(err)
		}
	}
}

func FuzzVerify(f *testing.F) {
	fx := newFixture(f)
	good, _, _ := fx.signer.Sign("user-1", "student", "j")
	f.Add(good)
	f.Add("a.b.c")
	f.Add(b64(`{"alg":"none"}`) + ".e30.")
	f.Add(strings.Repeat(".", 100))
	f.Fuzz(func(t *testing.T, raw string) {
		c, err := fx.verifier.Verify(raw)
		if err == nil && raw != good {
			// Only the genuinely signed token (or an equivalent encoding of it) may pass.
			if c.Subject != "user-1" || c.Role != "student" {
				t.Fatalf("accepted forged token %q", raw)
			}
		}
	})
}
