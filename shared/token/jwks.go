package token

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"sort"
)

// MaxJWKSBytes bounds a JWK Set document accepted by ParseJWKS.
const MaxJWKSBytes = 64 << 10

// KeySet is an immutable set of Ed25519 public keys by key id. Safe for
// concurrent use.
type KeySet struct {
	keys map[string]ed25519.PublicKey
}

// NewKeySet returns a set of the given keys (kid -> public key).
func NewKeySet(keys map[string]ed25519.PublicKey) *KeySet {
	m := make(map[string]ed25519.PublicKey, len(keys))
	for k, v := range keys {
		m[k] = v
	}
	return &KeySet{keys: m}
}

// Key returns the public key for kid.
func (ks *KeySet) Key(kid string) (ed25519.PublicKey, bool) {
	k, ok := ks.keys[kid]
	return k, ok
}

// Len returns the number of keys.
func (ks *KeySet) Len() int { return len(ks.keys) }

// KeyIDs returns the key ids of the set in sorted order (a fresh slice).
func (ks *KeySet) KeyIDs() []string {
	ids := make([]string, 0, len(ks.keys))
	for kid := range ks.keys {
		ids = append(ids, kid)
	}
	sort.Strings(ids)
	return ids
}

// Equal reports whether ks and other hold the same key ids with the same
// keys. A nil set equals only a nil set.
func (ks *KeySet) Equal(other *KeySet) bool {
	if ks == nil || other == nil {
		return ks == other
	}
	if len(ks.keys) != len(other.keys) {
		return false
	}
	for kid, k := range ks.keys {
		o, ok := other.keys[kid]
		if !ok || !k.Equal(o) {
			return false
		}
	}
	return true
}

// Covers reports whether every key of other is in ks under the same id
// (ks may hold more). A nil other is covered by any set.
func (ks *KeySet) Covers(other *KeySet) bool {
	if other == nil {
		return true
	}
	if ks == nil {
		return len(other.keys) == 0
	}
	for kid, k := range other.keys {
		o, ok := ks.keys[kid]
		if !ok || !k.Equal(o) {
			return false
		}
	}
	return true
}

// jwk is one OKP key of a JWK Set (RFC 8037 §2).
type jwk struct {
	Kty string `json:"kty"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Kid string `json:"kid"`
	Alg string `json:"alg,omitempty"`
	Use string `json:"use,omitempty"`
}

type jwks struct {
	Keys []jwk `json:"keys"`
}

// MarshalJWKS renders the set as a JWK Set document (kid order).
func (ks *KeySet) MarshalJWKS() ([]byte, error) {
	doc := jwks{Keys: []jwk{}}
	for kid, k := range ks.keys {
		doc.Keys = append(doc.Keys, jwk{Kty: "OKP", Crv: "Ed25519", X: base64.RawURLEncoding.EncodeToString(k), Kid: kid, Alg: Algorithm, Use: "sig"})
	}
	sort.Slice(doc.Keys, func(i, j int) bool { return doc.Keys[i].Kid < doc.Keys[j].Kid })
	return json.Marshal(doc)
}

// ParseJWKS parses a JWK Set document. Keys that are not Ed25519 signing
// keys (other kty/crv, "use" other than "sig", "alg" other than EdDSA) are
// skipped; a malformed Ed25519 key, a missing or duplicate kid, or a set
// with no usable key is an error.
func ParseJWKS(b []byte) (*KeySet, error) {
	if len(b) > MaxJWKSBytes {
		return nil, fmt.Errorf("jwks: document larger than %d bytes", MaxJWKSBytes)
	}
	var doc jwks
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("jwks: %w", err)
	}
	keys := map[string]ed25519.PublicKey{}
	for i, k := range doc.Keys {
		if k.Kty != "OKP" || k.Crv != "Ed25519" || (k.Use != "" && k.Use != "sig") || (k.Alg != "" && k.Alg != Algorithm) {
			continue
		}
		if k.Kid == "" {
			return nil, fmt.Errorf("jwks: key %d has no kid", i)
		}
		if _, dup := keys[k.Kid]; dup {
			return nil, fmt.Errorf("jwks: duplicate kid %q", k.Kid)
		}
		x, err := base64.RawURLEncoding.DecodeString(k.X)
		if err != nil || len(x) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("jwks: key %q: x is not a base64url Ed25519 public key", k.Kid)
		}
		keys[k.Kid] = ed25519.PublicKey(x)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("jwks: no Ed25519 signing keys")
	}
	return &KeySet{keys: keys}, nil
}

// KeyID derives a stable key id from a public key: the base64url SHA-256
// thumbprint of the key bytes, first 16 characters (in the spirit of the
// RFC 7638 thumbprint, shortened).
func KeyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return base64.RawURLEncoding.EncodeToString(sum[:])[:16]
}
