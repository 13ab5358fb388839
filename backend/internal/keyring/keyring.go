// Package keyring seals small secrets at rest (PII columns, TOTP secrets,
// token signing keys) with AES-256-GCM (NIST SP 800-38D) under a set of
// named keys. Every ciphertext carries the id of the key that sealed it, so
// keys can be rotated: new data is sealed under the primary key, old
// ciphertexts stay readable while their key is in the ring, and a rotation
// job re-seals them in batches (NeedsRotation tells which).
//
// Ciphertext layout (version 1):
//
//	0x01 | len(kid) (1 byte, 1..32) | kid | nonce (12 bytes) | GCM ciphertext and tag
//
// Callers pass associated data naming where the ciphertext lives (for
// example "students.phone:<uuid>"): a ciphertext copied to another row or
// column then fails to open instead of decrypting as someone else's data.
package keyring

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
)

// KeySize is the length of every key, in bytes (AES-256).
const KeySize = 32

const (
	version   = 1
	nonceSize = 12
	maxKIDLen = 32
)

var kidRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,32}$`)

// Errors returned by Open and Parse.
var (
	// ErrMalformed: the ciphertext is not in the keyring format.
	ErrMalformed = errors.New("keyring: malformed ciphertext")
	// ErrUnknownKey: the ciphertext names a key the ring does not hold.
	ErrUnknownKey = errors.New("keyring: ciphertext sealed under an unknown key")
	// ErrDecrypt: authentication failed (wrong key, tampered ciphertext or
	// wrong associated data).
	ErrDecrypt = errors.New("keyring: ciphertext does not authenticate")
)

// Key is one named AES-256 key.
type Key struct {
	// ID names the key inside ciphertexts: 1-32 of A-Z a-z 0-9 _ -.
	ID string
	// Secret is the 32-byte key.
	Secret []byte
}

// Ring holds the keys; the first is the primary, used to seal. Immutable
// after New and safe for concurrent use.
type Ring struct {
	primary string
	aeads   map[string]cipher.AEAD
	ids     []string
	rand    io.Reader
}

// New builds a ring from keys (the first is the primary). It fails when
// keys is empty, a key id is invalid or repeated, or a secret is not 32
// bytes. random supplies nonces (crypto/rand when nil).
func New(keys []Key, random io.Reader) (*Ring, error) {
	if len(keys) == 0 {
		return nil, errors.New("keyring: no keys")
	}
	if random == nil {
		random = rand.Reader
	}
	r := &Ring{primary: keys[0].ID, aeads: make(map[string]cipher.AEAD, len(keys)), rand: random}
	for _, k := range keys {
		if !kidRE.MatchString(k.ID) {
			return nil, fmt.Errorf("keyring: key id %q: want 1-32 of A-Z a-z 0-9 _ -", k.ID)
		}
		if _, dup := r.aeads[k.ID]; dup {
			return nil, fmt.Errorf("keyring: key id %q given twice", k.ID)
		}
		if len(k.Secret) != KeySize {
			return nil, fmt.Errorf("keyring: key %q: want %d bytes, got %d", k.ID, KeySize, len(k.Secret))
		}
		block, err := aes.NewCipher(k.Secret)
		if err != nil {
			return nil, fmt.Errorf("keyring: key %q: %w", k.ID, err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("keyring: key %q: %w", k.ID, err)
		}
		r.aeads[k.ID] = aead
		r.ids = append(r.ids, k.ID)
	}
	return r, nil
}

// Parse reads a ring from its configuration form: comma-separated
// "kid:base64key" entries (standard or URL base64, padded or not), the
// first being the primary, for example
//
//	2026-11:q5V0...=,2026-05:Zm9v...=
//
// Error messages never contain key material.
func Parse(s string) (*Ring, error) {
	var keys []Key
	for i, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		id, enc, ok := strings.Cut(part, ":")
		if !ok {
			return nil, fmt.Errorf("entry %d: want kid:base64key", i+1)
		}
		secret, err := decodeKey(strings.TrimSpace(enc))
		if err != nil {
			return nil, fmt.Errorf("key %q: %s", id, err.Error())
		}
		keys = append(keys, Key{ID: strings.TrimSpace(id), Secret: secret})
	}
	if len(keys) == 0 {
		return nil, errors.New("no keys (want kid:base64key[,kid:base64key...])")
	}
	return New(keys, nil)
}

// decodeKey decodes a 32-byte key from any common base64 alphabet.
func decodeKey(s string) ([]byte, error) {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			if len(b) != KeySize {
				return nil, fmt.Errorf("decodes to %d bytes, want %d (e.g. openssl rand -base64 32)", len(b), KeySize)
			}
			return b, nil
		}
	}
	return nil, errors.New("is not base64")
}

// Generate returns a new random key named id, and its configuration form
// "id:base64key".
func Generate(id string, random io.Reader) (Key, string, error) {
	if random == nil {
		random = rand.Reader
	}
	if !kidRE.MatchString(id) {
		return Key{}, "", fmt.Errorf("keyring: key id %q: want 1-32 of A-Z a-z 0-9 _ -", id)
	}
	secret := make([]byte, KeySize)
	if _, err := io.ReadFull(random, secret); err != nil {
		return Key{}, "", fmt.Errorf("keyring: random: %w", err)
	}
	return Key{ID: id, Secret: secret}, id + ":" + base64.StdEncoding.EncodeToString(secret), nil
}

// Primary returns the id of the key new ciphertexts are sealed under.
func (r *Ring) Primary() string { return r.primary }

// IDs returns the key ids, primary first.
func (r *Ring) IDs() []string { return append([]string(nil), r.ids...) }

// Seal encrypts plaintext under the primary key, binding aad, and returns
// the ciphertext in the layout above (len(plaintext)+2+len(kid)+28 bytes).
func (r *Ring) Seal(plaintext, aad []byte) ([]byte, error) {
	aead := r.aeads[r.primary]
	out := make([]byte, 0, 2+len(r.primary)+nonceSize+len(plaintext)+aead.Overhead())
	out = append(out, version, byte(len(r.primary)))
	out = append(out, r.primary...)
	nonce := out[len(out) : len(out)+nonceSize]
	if _, err := io.ReadFull(r.rand, nonce); err != nil {
		return nil, fmt.Errorf("keyring: nonce: %w", err)
	}
	out = out[:len(out)+nonceSize]
	return aead.Seal(out, nonce, plaintext, aad), nil
}

// Open decrypts a ciphertext made by Seal with the same aad. Errors:
// ErrMalformed, ErrUnknownKey, ErrDecrypt.
func (r *Ring) Open(ciphertext, aad []byte) ([]byte, error) {
	kid, rest, err := split(ciphertext)
	if err != nil {
		return nil, err
	}
	aead, ok := r.aeads[kid]
	if !ok {
		return nil, ErrUnknownKey
	}
	if len(rest) < nonceSize+aead.Overhead() {
		return nil, ErrMalformed
	}
	pt, err := aead.Open(nil, rest[:nonceSize], rest[nonceSize:], aad)
	if err != nil {
		return nil, ErrDecrypt
	}
	return pt, nil
}

// KeyID returns the id of the key a ciphertext was sealed under.
func KeyID(ciphertext []byte) (string, error) {
	kid, _, err := split(ciphertext)
	return kid, err
}

// NeedsRotation reports whether ciphertext was sealed under a key other
// than the primary (a malformed ciphertext reports true).
func (r *Ring) NeedsRotation(ciphertext []byte) bool {
	kid, _, err := split(ciphertext)
	return err != nil || kid != r.primary
}

func split(ct []byte) (kid string, rest []byte, err error) {
	if len(ct) < 2 || ct[0] != version {
		return "", nil, ErrMalformed
	}
	n := int(ct[1])
	if n == 0 || n > maxKIDLen || len(ct) < 2+n {
		return "", nil, ErrMalformed
	}
	return string(ct[2 : 2+n]), ct[2+n:], nil
}
