// Package requestid mints and validates request identifiers carried in the
// X-Request-ID header. Minted ids are UUIDv7 (RFC 9562 §5.7): a 48-bit Unix
// millisecond timestamp, a 12-bit counter in rand_a (RFC 9562 §6.2 method 1)
// so ids from one Generator strictly increase, and 62 random bits.
package requestid

import (
	"encoding/hex"
	"math/rand/v2"
	"sync/atomic"
	"time"
)

// Header is the request and response header that carries the id.
const Header = "X-Request-ID"

// MaxLen is the longest inbound id accepted, in bytes.
const MaxLen = 64

// Len is the length of a minted id in its canonical text form (36 bytes).
const Len = 36

// Generator mints UUIDv7 ids. The zero value is not usable; call
// NewGenerator. Safe for concurrent use; lock-free.
type Generator struct {
	now func() time.Time
	// state packs the last Unix millisecond (high 52 bits) and the 12-bit
	// counter (low bits); it only moves forward, so a wall-clock step back
	// cannot produce an id smaller than one already issued.
	state atomic.Uint64
}

// NewGenerator returns a Generator reading time from now (time.Now when nil).
func NewGenerator(now func() time.Time) *Generator {
	if now == nil {
		now = time.Now
	}
	return &Generator{now: now}
}

// next returns the packed timestamp/counter for a new id.
func (g *Generator) next() uint64 {
	ms := uint64(g.now().UnixMilli()) & (1<<48 - 1)
	for {
		prev := g.state.Load()
		v := ms << 12
		if v <= prev {
			// Same millisecond (or the clock stepped back): count up. A full
			// counter carries into the timestamp, as RFC 9562 §6.2 allows.
			v = prev + 1
		}
		if g.state.CompareAndSwap(prev, v) {
			return v
		}
	}
}

// AppendNew appends a new id in canonical 8-4-4-4-12 lower-case hex form to
// dst and returns the extended slice. It does not allocate when dst has room
// for Len more bytes.
func (g *Generator) AppendNew(dst []byte) []byte {
	tc := g.next()
	var id [16]byte
	ms := tc >> 12
	id[0], id[1], id[2] = byte(ms>>40), byte(ms>>32), byte(ms>>24)
	id[3], id[4], id[5] = byte(ms>>16), byte(ms>>8), byte(ms)
	id[6] = 0x70 | byte(tc>>8)&0x0f // version 7
	id[7] = byte(tc)
	r := rand.Uint64()
	id[8] = 0x80 | byte(r>>56)&0x3f // variant 10
	id[9], id[10], id[11] = byte(r>>48), byte(r>>40), byte(r>>32)
	id[12], id[13], id[14], id[15] = byte(r>>24), byte(r>>16), byte(r>>8), byte(r)

	var buf [Len]byte
	hex.Encode(buf[0:8], id[0:4])
	buf[8] = '-'
	hex.Encode(buf[9:13], id[4:6])
	buf[13] = '-'
	hex.Encode(buf[14:18], id[6:8])
	buf[18] = '-'
	hex.Encode(buf[19:23], id[8:10])
	buf[23] = '-'
	hex.Encode(buf[24:], id[10:])
	return append(dst, buf[:]...)
}

// New returns a new id as a string (see AppendNew).
func (g *Generator) New() string { return string(g.AppendNew(make([]byte, 0, Len))) }

// Valid reports whether an inbound id may be reused as is: 1 to MaxLen bytes
// of ASCII letters, digits and "-_.:". Anything else (spaces, quotes, CR/LF,
// non-ASCII) could poison logs or downstream headers and is replaced by a
// minted id.
func Valid(id []byte) bool {
	if len(id) == 0 || len(id) > MaxLen {
		return false
	}
	for _, c := range id {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '-', c == '_', c == '.', c == ':':
		default:
			return false
		}
	}
	return true
}
