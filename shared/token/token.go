// Package token signs and verifies the platform's access tokens: JWTs (RFC
// 7519) signed with Ed25519 (EdDSA, RFC 8037), published as a JWK Set (RFC
// 7517). The backend signs; the gateway and the backend verify with the
// same rules, so a token the edge accepts is one the backend accepts.
//
// Verification accepts only alg "EdDSA" with a key selected by the "kid"
// header from the key set: "none", HMAC (including HS256 keyed with the
// public key) and RSA/ECDSA tokens are rejected before any key is used.
// "exp", "iss", "aud" and "sub" are required; "nbf" and "iat" are checked
// when present.
package token

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Algorithm is the only JWS algorithm issued and accepted.
const Algorithm = "EdDSA"

// MaxTokenBytes is the longest compact token Verify looks at; longer input
// is rejected as malformed without being parsed.
const MaxTokenBytes = 4096

// Errors returned by Verify. All of them mean "invalid_token" to a client
// (RFC 6750 §3.1); they are distinct for logs and metrics only.
var (
	ErrMalformed   = errors.New("token: malformed")
	ErrAlgorithm   = errors.New("token: algorithm not allowed")
	ErrUnknownKey  = errors.New("token: unknown key id")
	ErrSignature   = errors.New("token: bad signature")
	ErrExpired     = errors.New("token: expired")
	ErrNotYetValid = errors.New("token: not yet valid")
	ErrIssuer      = errors.New("token: wrong issuer")
	ErrAudience    = errors.New("token: wrong audience")
	ErrClaims      = errors.New("token: required claim missing or invalid")
)

// Claims are the access-token claims: the registered ones (sub, iss, aud,
// exp, nbf, iat, jti) and the caller's role.
type Claims struct {
	jwt.RegisteredClaims
	// Role is one of admin, registrar, faculty, student, auditor.
	Role string `json:"role"`
}

// Verifier checks compact JWS tokens. Safe for concurrent use as long as
// Keys is.
type Verifier struct {
	// Issuer is the required "iss".
	Issuer string
	// Audience must appear in "aud".
	Audience string
	// Keys returns the current key set (it may change between calls, e.g.
	// after a JWKS refresh).
	Keys func() *KeySet
	// Leeway tolerates clock skew on exp/nbf/iat.
	Leeway time.Duration
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

// Verify parses and checks raw (the token without the "Bearer " prefix)
// and returns its claims, or one of the package's errors (wrapped).
func (v *Verifier) Verify(raw string) (*Claims, error) {
	if len(raw) == 0 || len(raw) > MaxTokenBytes {
		return nil, ErrMalformed
	}
	now := v.Now
	if now == nil {
		now = time.Now
	}
	// The algorithm is checked in the key function, which golang-jwt calls
	// before it touches the signature; that keeps "wrong algorithm"
	// distinct from "bad signature" in logs.
	p := jwt.NewParser(
		jwt.WithIssuer(v.Issuer),
		jwt.WithAudience(v.Audience),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(v.Leeway),
		jwt.WithTimeFunc(now),
		jwt.WithStrictDecoding(),
	)
	var c Claims
	_, err := p.ParseWithClaims(raw, &c, func(t *jwt.Token) (any, error) {
		if t.Method.Alg() != Algorithm || t.Method != jwt.SigningMethodEdDSA {
			return nil, ErrAlgorithm
		}
		kid, _ := t.Header["kid"].(string)
		ks := v.Keys()
		if ks == nil {
			return nil, ErrUnknownKey
		}
		k, ok := ks.Key(kid)
		if !ok {
			return nil, ErrUnknownKey
		}
		return k, nil
	})
	if err != nil {
		return nil, classify(err)
	}
	if c.Subject == "" || c.Role == "" {
		return nil, ErrClaims
	}
	return &c, nil
}

// classify maps golang-jwt's errors to the package's.
func classify(err error) error {
	switch {
	case errors.Is(err, ErrUnknownKey):
		return ErrUnknownKey
	case errors.Is(err, ErrAlgorithm), errors.Is(err, jwt.ErrTokenUnverifiable):
		return ErrAlgorithm
	case errors.Is(err, jwt.ErrTokenSignatureInvalid), errors.Is(err, jwt.ErrEd25519Verification):
		return ErrSignature
	case errors.Is(err, jwt.ErrTokenExpired):
		return ErrExpired
	case errors.Is(err, jwt.ErrTokenNotValidYet), errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return ErrNotYetValid
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		return ErrIssuer
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return ErrAudience
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing), errors.Is(err, jwt.ErrTokenInvalidClaims):
		return ErrClaims
	default:
		return ErrMalformed
	}
}

// Signer issues access tokens with one Ed25519 key. Safe for concurrent use.
type Signer struct {
	// KeyID goes into the "kid" header; verifiers look the key up by it.
	KeyID string
	// Key signs.
	Key ed25519.PrivateKey
	// Issuer and Audience go into "iss" and "aud".
	Issuer, Audience string
	// TTL is the token lifetime.
	TTL time.Duration
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

// Sign returns a compact token for subject with role and token id jti,
// and its expiry.
func (s *Signer) Sign(subject, role, jti string) (string, time.Time, error) {
	if subject == "" || role == "" || jti == "" {
		return "", time.Time{}, fmt.Errorf("token: subject, role and jti are required")
	}
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	iat := now().Truncate(time.Second)
	exp := iat.Add(s.TTL)
	t := jwt.NewWithClaims(jwt.SigningMethodEdDSA, Claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Subject:   subject,
			Issuer:    s.Issuer,
			Audience:  jwt.ClaimStrings{s.Audience},
			ExpiresAt: jwt.NewNumericDate(exp),
			NotBefore: jwt.NewNumericDate(iat),
			IssuedAt:  jwt.NewNumericDate(iat),
			ID:        jti,
		},
		Role: role,
	})
	t.Header["kid"] = s.KeyID
	signed, err := t.SignedString(s.Key)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("token: sign: %w", err)
	}
	return signed, exp, nil
}
