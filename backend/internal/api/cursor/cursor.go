// Package cursor encodes and decodes the opaque keyset-pagination cursors
// of list endpoints.
//
// A cursor is the unpadded base64url (RFC 4648 §5) encoding of a small
// versioned binary record:
//
//	offset  size  field
//	0       1     version (1)
//	1       8     filter hash: first 8 bytes of SHA-256(scope 0x00 filters)
//	9       16    id of the last row returned (UUID bytes)
//	25      1     n = length of the sort value in bytes (0..255)
//	26      n     sort value of the last row (UTF-8)
//	26+n    4     CRC-32C (Castagnoli) of all preceding bytes, big-endian
//
// The filter hash binds a cursor to the list (scope) and the exact filters
// it was issued for, so a cursor replayed with other filters is rejected;
// the checksum rejects truncated, corrupted or hand-edited cursors. A cursor
// is not a secret nor a capability: it only names a position any client
// could reach by paging, so it is integrity-checked, not signed.
package cursor

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"unicode/utf8"

	"github.com/google/uuid"
)

// Version is the record version Encode writes and Decode accepts.
const Version = 1

// MaxSortLen is the longest sort value a cursor holds, in bytes.
const MaxSortLen = 255

// MaxLen is the longest cursor string Decode looks at, in bytes; longer
// input is malformed without being decoded.
const MaxLen = 512

const (
	hashLen   = 8
	headerLen = 1 + hashLen + 16 + 1
	crcLen    = 4
)

// ErrMalformed reports a cursor that is not one this package wrote:
// bad base64, wrong length, unknown version, bad checksum or bad contents.
var ErrMalformed = errors.New("malformed cursor")

// ErrMismatch reports a well-formed cursor issued for another list or other
// filters than the request it came with.
var ErrMismatch = errors.New("cursor was issued for different filters")

// ErrSortTooLong is returned by Encode for a sort value over MaxSortLen
// bytes or not valid UTF-8.
var ErrSortTooLong = errors.New("cursor sort value too long or not UTF-8")

// Key is a keyset position: the sort value and the id of the last row of a
// page.
type Key struct {
	Sort string
	ID   uuid.UUID
}

// encoding is strict unpadded base64url: it rejects padding and non-zero
// trailing bits; with alphabetOnly, every cursor has exactly one spelling.
func encoding() *base64.Encoding { return base64.RawURLEncoding.Strict() }

// filterHash binds a cursor to a list and its filters. filters must be a
// canonical rendering of the active filters (same filters, same bytes).
func filterHash(scope, filters string) [hashLen]byte {
	h := sha256.New()
	h.Write([]byte(scope))
	h.Write([]byte{0})
	h.Write([]byte(filters))
	var out [hashLen]byte
	copy(out[:], h.Sum(nil))
	return out
}

// Encode returns the cursor for key in the list scope (e.g. "students")
// under filters, the canonical rendering of the active filters. It fails
// only with ErrSortTooLong. Safe for concurrent use.
func Encode(scope, filters string, key Key) (string, error) {
	if len(key.Sort) > MaxSortLen || !utf8.ValidString(key.Sort) {
		return "", ErrSortTooLong
	}
	buf := make([]byte, 0, headerLen+len(key.Sort)+crcLen)
	buf = append(buf, Version)
	fh := filterHash(scope, filters)
	buf = append(buf, fh[:]...)
	buf = append(buf, key.ID[:]...)
	buf = append(buf, byte(len(key.Sort)))
	buf = append(buf, key.Sort...)
	buf = binary.BigEndian.AppendUint32(buf, crc32.Checksum(buf, castagnoli()))
	return encoding().EncodeToString(buf), nil
}

// Decode parses a cursor issued by Encode for the same scope and filters.
// It returns ErrMalformed for anything Encode could not have produced, and
// ErrMismatch for a valid cursor of another scope or other filters. Safe
// for concurrent use.
func Decode(s, scope, filters string) (Key, error) {
	if len(s) == 0 || len(s) > MaxLen || !alphabetOnly(s) {
		return Key{}, ErrMalformed
	}
	raw, err := encoding().DecodeString(s)
	if err != nil || len(raw) < headerLen+crcLen {
		return Key{}, ErrMalformed
	}
	body, sum := raw[:len(raw)-crcLen], raw[len(raw)-crcLen:]
	if crc32.Checksum(body, castagnoli()) != binary.BigEndian.Uint32(sum) {
		return Key{}, ErrMalformed
	}
	if body[0] != Version {
		return Key{}, ErrMalformed
	}
	n := int(body[headerLen-1])
	if len(body) != headerLen+n {
		return Key{}, ErrMalformed
	}
	sortVal := body[headerLen:]
	if !utf8.Valid(sortVal) {
		return Key{}, ErrMalformed
	}
	fh := filterHash(scope, filters)
	if !bytes.Equal(body[1:1+hashLen], fh[:]) {
		return Key{}, ErrMismatch
	}
	var key Key
	copy(key.ID[:], body[1+hashLen:1+hashLen+16])
	key.Sort = string(sortVal)
	return key, nil
}

// alphabetOnly reports whether s holds only base64url alphabet characters:
// the decoder itself skips CR and LF, which would give one cursor several
// spellings.
func alphabetOnly(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-', c == '_':
		default:
			return false
		}
	}
	return true
}

// castagnoli returns the CRC-32C table (built once by the standard
// library and cached there).
func castagnoli() *crc32.Table { return crc32.MakeTable(crc32.Castagnoli) }
