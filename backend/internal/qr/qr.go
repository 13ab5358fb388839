// Package qr issues and verifies the short-lived signed tokens of QR
// check-in: a faculty member's screen shows a token for an open session,
// rotating (each issue carries a fresh expiry), and a student's app
// submits it. The token names the session and when it expires and is
// authenticated with HMAC-SHA256 (RFC 2104) under a key shared by every
// backend instance; it carries nothing about the student, who is the
// authenticated caller of the check-in.
//
// Wire form: unpadded base64url (RFC 4648 §5) of
//
//	offset  size  field
//	0       1     version (1)
//	1       16    session id (UUID bytes)
//	17      8     expiry, Unix seconds, big-endian
//	25      16    HMAC-SHA256 of bytes 0..24, truncated to 128 bits
package qr

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"time"

	"github.com/google/uuid"
)

const (
	version = 1
	bodyLen = 1 + 16 + 8
	macLen  = 16
	rawLen  = bodyLen + macLen
	// TokenLen is the length of a token string in bytes.
	TokenLen = (rawLen*8 + 5) / 6
)

// MinKeyBytes is the shortest key New accepts.
const MinKeyBytes = 32

// Errors of Verify.
var (
	// ErrInvalid: not a token this key signed (malformed, forged, other
	// key or version).
	ErrInvalid = errors.New("qr: invalid token")
	// ErrExpired: a genuine token past its expiry.
	ErrExpired = errors.New("qr: token expired")
)

// Signer issues and verifies tokens. Immutable; safe for concurrent use.
type Signer struct {
	key  []byte
	ttl  time.Duration
	skew time.Duration
	now  func() time.Time
}

// New returns a Signer with key (at least MinKeyBytes), tokens living ttl,
// and clock now (time.Now when nil). Verification tolerates skew of clock
// difference between instances (expiries further in the future than
// ttl+skew are refused as forged).
func New(key []byte, ttl, skew time.Duration, now func() time.Time) (*Signer, error) {
	if len(key) < MinKeyBytes {
		return nil, errors.New("qr: key shorter than 32 bytes")
	}
	if ttl <= 0 {
		return nil, errors.New("qr: ttl must be positive")
	}
	if now == nil {
		now = time.Now
	}
	return &Signer{key: append([]byte(nil), key...), ttl: ttl, skew: skew, now: now}, nil
}

// TTL is the lifetime of issued tokens.
func (s *Signer) TTL() time.Duration { return s.ttl }

// Issue returns a token for session valid until the returned expiry
// (now + TTL, whole seconds).
func (s *Signer) Issue(session uuid.UUID) (string, time.Time) {
	exp := s.now().Add(s.ttl).Truncate(time.Second)
	var raw [rawLen]byte
	raw[0] = version
	copy(raw[1:17], session[:])
	binary.BigEndian.PutUint64(raw[17:25], uint64(exp.Unix()))
	copy(raw[bodyLen:], s.mac(raw[:bodyLen]))
	return base64.RawURLEncoding.EncodeToString(raw[:]), exp
}

// Verify checks token and returns its session. It fails with ErrInvalid or
// ErrExpired.
func (s *Signer) Verify(token string) (uuid.UUID, error) {
	if len(token) != TokenLen {
		return uuid.Nil, ErrInvalid
	}
	var raw [rawLen]byte
	n, err := base64.RawURLEncoding.Strict().Decode(raw[:], []byte(token))
	if err != nil || n != rawLen || raw[0] != version {
		return uuid.Nil, ErrInvalid
	}
	if !hmac.Equal(raw[bodyLen:], s.mac(raw[:bodyLen])) {
		return uuid.Nil, ErrInvalid
	}
	exp := time.Unix(int64(binary.BigEndian.Uint64(raw[17:25])), 0)
	now := s.now()
	if exp.After(now.Add(s.ttl + s.skew)) {
		return uuid.Nil, ErrInvalid
	}
	if !now.Before(exp.Add(s.skew)) {
		return uuid.Nil, ErrExpired
	}
	var id uuid.UUID
	copy(id[:], raw[1:17])
	return id, nil
}

func (s *Signer) mac(body []byte) []byte {
	m := hmac.New(sha256.New, s.key)
	m.Write(body)
	return m.Sum(nil)[:macLen]
}
