package cache

import (
	"encoding/binary"
	"errors"
	"time"
)

// Kind tells what an entry holds.
type Kind uint8

const (
	// KindResponse is a stored response.
	KindResponse Kind = 1
	// KindVary marks a URL whose responses vary: it holds the Vary field
	// names; the responses live under keys that add the request's values
	// of those fields (RFC 9111 §4.1).
	KindVary Kind = 2
	// KindHitForMiss remembers for a short while that a URL's response was
	// not storable, so that requests for it go to the origin in parallel
	// instead of queueing behind one another (coalescing off).
	KindHitForMiss Kind = 3
)

// Entry flags.
const (
	// FlagNoCache: the response said no-cache; revalidate on every use.
	FlagNoCache uint8 = 1 << iota
	// FlagMustRevalidate: must-revalidate, proxy-revalidate or s-maxage;
	// never served stale.
	FlagMustRevalidate
	// FlagAuthOK: public, s-maxage or must-revalidate; may satisfy
	// requests with Authorization (RFC 9111 §3.5).
	FlagAuthOK
)

const (
	entryMagic   = 0xCA
	entryVersion = 1
	fixedLen     = 54
	nSections    = 10
)

// ErrCorrupt is returned by DecodeEntry for bytes that are not an entry of
// this version.
var ErrCorrupt = errors.New("cache: corrupt entry")

// Entry is the decoded view of one stored value. The byte-slice fields
// point into the encoded value, which is immutable once stored; an Entry is
// therefore read-only and safe to share between goroutines.
//
// The encoding is a 54-byte fixed header (magic, version, kind, flags,
// response time, corrected initial age, freshness lifetime,
// stale-while-revalidate and stale-if-error windows, Last-Modified, status)
// followed by ten sections, each a little-endian uint32 length and its
// bytes: full key, host, path, query, partition, ETag, Vary names,
// surrogate keys, header block, body. Per-entry freshness lives here
// because bigcache's life window is one global duration, not a TTL.
type Entry struct {
	// Kind is what the entry holds.
	Kind Kind
	// Flags are the Flag* bits.
	Flags uint8
	// ResponseTime is when the response was received (Unix ns).
	ResponseTime int64
	// InitialAge is the corrected initial age (RFC 9111 §4.2.3), ns.
	InitialAge int64
	// Lifetime is the freshness lifetime (RFC 9111 §4.2.1), ns.
	Lifetime int64
	// SWR and SIE are the stale-while-revalidate and stale-if-error
	// windows (RFC 5861), ns.
	SWR, SIE int64
	// LastModified is the Last-Modified validator, Unix seconds (0: none).
	LastModified int64
	// Status is the response status code.
	Status int
	// Key is the full cache key; compared on every read, so a hash
	// collision can never return another URL's entry.
	Key []byte
	// Host, Path and Query identify the URL for purges: lower-case host,
	// normalized path, canonical (sorted, encoded) query.
	Host, Path, Query []byte
	// Partition is "" for the shared partition or the user partition id.
	Partition []byte
	// ETag is the entity-tag validator ("" when none).
	ETag []byte
	// Vary is the canonical comma-separated list of lower-case field names
	// the response varies on.
	Vary []byte
	// Surrogate is the space-separated Surrogate-Key tags.
	Surrogate []byte
	// Headers is the stored header block (see EachHeader).
	Headers []byte
	// Body is the complete response body.
	Body []byte
}

// Age returns the current age at now (Unix ns), RFC 9111 §4.2.3.
func (e *Entry) Age(now int64) time.Duration {
	return time.Duration(e.InitialAge + max(0, now-e.ResponseTime))
}

// TTL returns the remaining freshness at now (negative when stale).
func (e *Entry) TTL(now int64) time.Duration { return time.Duration(e.Lifetime) - e.Age(now) }

// Size is the encoded size of e.
func (e *Entry) Size() int {
	return fixedLen + 4*nSections + len(e.Key) + len(e.Host) + len(e.Path) + len(e.Query) + len(e.Partition) +
		len(e.ETag) + len(e.Vary) + len(e.Surrogate) + len(e.Headers) + len(e.Body)
}

// AppendBinary appends the encoding of e to dst.
func (e *Entry) AppendBinary(dst []byte) []byte {
	dst = append(dst, entryMagic, entryVersion, byte(e.Kind), e.Flags)
	dst = binary.LittleEndian.AppendUint64(dst, uint64(e.ResponseTime))
	dst = binary.LittleEndian.AppendUint64(dst, uint64(e.InitialAge))
	dst = binary.LittleEndian.AppendUint64(dst, uint64(e.Lifetime))
	dst = binary.LittleEndian.AppendUint64(dst, uint64(e.SWR))
	dst = binary.LittleEndian.AppendUint64(dst, uint64(e.SIE))
	dst = binary.LittleEndian.AppendUint64(dst, uint64(e.LastModified))
	dst = binary.LittleEndian.AppendUint16(dst, uint16(e.Status))
	for _, s := range [nSections][]byte{e.Key, e.Host, e.Path, e.Query, e.Partition, e.ETag, e.Vary, e.Surrogate, e.Headers, e.Body} {
		dst = binary.LittleEndian.AppendUint32(dst, uint32(len(s)))
		dst = append(dst, s...)
	}
	return dst
}

// DecodeEntry decodes b into e without copying: e's slices point into b.
// It returns ErrCorrupt for anything malformed. It does not allocate.
func DecodeEntry(b []byte, e *Entry) error {
	if len(b) < fixedLen || b[0] != entryMagic || b[1] != entryVersion {
		return ErrCorrupt
	}
	e.Kind, e.Flags = Kind(b[2]), b[3]
	e.ResponseTime = int64(binary.LittleEndian.Uint64(b[4:]))
	e.InitialAge = int64(binary.LittleEndian.Uint64(b[12:]))
	e.Lifetime = int64(binary.LittleEndian.Uint64(b[20:]))
	e.SWR = int64(binary.LittleEndian.Uint64(b[28:]))
	e.SIE = int64(binary.LittleEndian.Uint64(b[36:]))
	e.LastModified = int64(binary.LittleEndian.Uint64(b[44:]))
	e.Status = int(binary.LittleEndian.Uint16(b[52:]))
	rest := b[fixedLen:]
	for _, dst := range [nSections]*[]byte{&e.Key, &e.Host, &e.Path, &e.Query, &e.Partition, &e.ETag, &e.Vary, &e.Surrogate, &e.Headers, &e.Body} {
		if len(rest) < 4 {
			return ErrCorrupt
		}
		n := binary.LittleEndian.Uint32(rest)
		rest = rest[4:]
		if uint64(n) > uint64(len(rest)) {
			return ErrCorrupt
		}
		*dst = rest[:n:n]
		rest = rest[n:]
	}
	if len(rest) != 0 || e.Kind < KindResponse || e.Kind > KindHitForMiss {
		return ErrCorrupt
	}
	return nil
}

// appendHeader appends one field to a header block: uint16 name length,
// name, uint32 value length, value.
func appendHeader(dst, name, value []byte) []byte {
	dst = binary.LittleEndian.AppendUint16(dst, uint16(len(name)))
	dst = append(dst, name...)
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(value)))
	return append(dst, value...)
}

// nextHeader splits the first field off a header block; ok is false at
// the end or on a malformed block.
func nextHeader(block []byte) (name, value, rest []byte, ok bool) {
	if len(block) < 2 {
		return nil, nil, nil, false
	}
	n := int(binary.LittleEndian.Uint16(block))
	block = block[2:]
	if len(block) < n+4 {
		return nil, nil, nil, false
	}
	name, block = block[:n], block[n:]
	v := binary.LittleEndian.Uint32(block)
	block = block[4:]
	if uint64(v) > uint64(len(block)) {
		return nil, nil, nil, false
	}
	return name, block[:v], block[v:], true
}
