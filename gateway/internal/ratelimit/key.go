package ratelimit

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"net/netip"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/valyala/fasthttp"
)

// HeaderAPIKey carries the client's API key; limits key on its id (an
// HMAC of the value), never on the value itself.
const HeaderAPIKey = "X-API-Key"

// Component kinds, also the tag byte that starts each component in a
// built key, which keeps keys of different shapes apart.
const (
	compIP       byte = 'i' // client IP: 4 bytes (IPv4) or the /64 (8 bytes, IPv6)
	compUser     byte = 'u' // verified token subject
	compAPIKey   byte = 'k' // HMAC-SHA-256 of X-API-Key, first 16 bytes
	compHeader   byte = 'h' // a request header value
	compUsername byte = 'n' // username from the JSON body, case-folded
	hashedFlag   byte = 0x80
)

// maxRawComponent is the longest component value kept verbatim; longer
// values are replaced by the first 16 bytes of their SHA-256 (tag with
// hashedFlag), so keys stay short whatever a client sends.
const maxRawComponent = 64

// maxKeyBytes bounds a built key: at most 4 components of 1 tag + 1
// length + 64 bytes.
const maxKeyBytes = 4 * (2 + maxRawComponent)

// maxLoginBody is the largest request body the username component reads.
// Larger bodies count as carrying no username (the route's body limit
// applies separately).
const maxLoginBody = 8 << 10

// errEmptyKey reports a key specification without components.
var errEmptyKey = errors.New("ratelimit: key has no components")

// component is one compiled key component.
type component struct {
	kind   byte
	header []byte // header name (compHeader) or JSON field name (compUsername)
}

// KeySpec builds the bucket key of a request for one policy. It is
// immutable after NewKeySpec; Append is safe for concurrent use.
type KeySpec struct {
	comps  []component
	hashes *sync.Pool // of hash.Hash (HMAC-SHA-256 keyed with the API key secret)
}

// NewKeySpec compiles key components as config.ParseKey returns them
// ("ip", "user", "api_key", "username", "header:Name"; "login" is ip
// followed by username). usernameField
// names the top-level JSON body field of the username component; secret
// keys the HMAC that derives API key ids (required when api_key is used).
func NewKeySpec(components []string, usernameField string, secret []byte) (*KeySpec, error) {
	if len(components) == 0 {
		return nil, errEmptyKey
	}
	k := &KeySpec{}
	for _, c := range components {
		switch {
		case c == "ip":
			k.comps = append(k.comps, component{kind: compIP})
		case c == "user":
			k.comps = append(k.comps, component{kind: compUser})
		case c == "api_key":
			if len(secret) == 0 {
				return nil, errors.New("ratelimit: api_key component needs a secret")
			}
			k.comps = append(k.comps, component{kind: compAPIKey, header: []byte(HeaderAPIKey)})
			key := bytes.Clone(secret)
			k.hashes = &sync.Pool{New: func() any { return hmac.New(sha256.New, key) }}
		case c == "username", c == "login":
			if c == "login" {
				k.comps = append(k.comps, component{kind: compIP})
			}
			if usernameField == "" {
				return nil, errors.New("ratelimit: username component needs a field name")
			}
			k.comps = append(k.comps, component{kind: compUsername, header: []byte(usernameField)})
		case strings.HasPrefix(c, "header:") && len(c) > len("header:"):
			k.comps = append(k.comps, component{kind: compHeader, header: []byte(c[len("header:"):])})
		default:
			return nil, fmt.Errorf("ratelimit: unknown key component %q", c)
		}
	}
	return k, nil
}

// Input is what a key is built from: the resolved client and the request.
// Header and Body are read, never modified, so the request reaches the
// upstream unchanged.
type Input struct {
	// ClientIP is the client address after the trusted-proxy walk
	// (exchange.ClientIP); never a header a client can set directly.
	ClientIP netip.Addr
	// Subject is the verified token subject, "" when none.
	Subject string
	// Header is the request header (X-API-Key, header components,
	// Content-Type).
	Header *fasthttp.RequestHeader
	// Body is the buffered request body (username component).
	Body []byte
}

// Append appends the key of in to dst and reports whether the policy
// applies: false when a component other than username is missing (no
// client IP, no verified subject, no API key, an absent or empty header).
// A missing username counts as the empty username, so login attempts
// without one share a bucket per IP. The key is at most maxKeyBytes long
// and never holds an API key or an over-long value verbatim. Append does
// not allocate when dst has room for the key.
func (k *KeySpec) Append(dst []byte, in *Input) ([]byte, bool) {
	for _, c := range k.comps {
		switch c.kind {
		case compIP:
			if !in.ClientIP.IsValid() {
				return dst, false
			}
			dst = appendIP(dst, in.ClientIP)
		case compUser:
			if in.Subject == "" {
				return dst, false
			}
			dst = appendValue(dst, compUser, in.Subject)
		case compAPIKey:
			v := peek(in.Header, c.header)
			if len(v) == 0 {
				return dst, false
			}
			h := k.hashes.Get().(hash.Hash)
			h.Reset()
			h.Write(v)
			dst = append(dst, compAPIKey, 16)
			dst = h.Sum(dst)
			dst = dst[:len(dst)-16]
			k.hashes.Put(h)
		case compHeader:
			v := peek(in.Header, c.header)
			if len(v) == 0 {
				return dst, false
			}
			dst = appendValue(dst, compHeader, v)
		case compUsername:
			dst = appendUsername(dst, in, c.header)
		}
	}
	return dst, true
}

func peek(h *fasthttp.RequestHeader, name []byte) []byte {
	if h == nil {
		return nil
	}
	return h.PeekBytes(name)
}

// appendIP appends the IPv4 address, or the /64 network of an IPv6
// address (one subscriber usually holds a whole /64).
func appendIP(dst []byte, ip netip.Addr) []byte {
	ip = ip.Unmap()
	if ip.Is4() {
		a := ip.As4()
		return append(append(dst, compIP, 4), a[:]...)
	}
	a := ip.As16()
	return append(append(dst, compIP, 8), a[:8]...)
}

// appendValue appends tag, length and value, or the hashed form for values
// longer than maxRawComponent.
func appendValue[T string | []byte](dst []byte, tag byte, v T) []byte {
	if len(v) > maxRawComponent {
		sum := sha256.Sum256([]byte(v))
		return append(append(dst, tag|hashedFlag, 16), sum[:16]...)
	}
	return append(append(dst, tag, byte(len(v))), v...)
}

// appendUsername appends the username component: the top-level JSON
// string field of a JSON request body, trimmed and case-folded so that
// "Alice@Campus.test " and "alice@campus.test" share a bucket.
func appendUsername(dst []byte, in *Input, field []byte) []byte {
	start := len(dst)
	dst = append(dst, compUsername, 0)
	var name []byte
	if in.Header != nil && len(in.Body) <= maxLoginBody && isJSON(in.Header.ContentType()) {
		// The value is decoded into dst's spare capacity, right after the
		// component header, then folded in place.
		var ok bool
		if name, ok = jsonStringField(in.Body, field, dst[len(dst):]); !ok {
			name = nil
		}
	}
	if len(name) == 0 {
		return dst
	}
	folded := foldUsername(name)
	if len(folded) > maxRawComponent {
		sum := sha256.Sum256(folded)
		dst = dst[:start]
		return append(append(dst, compUsername|hashedFlag, 16), sum[:16]...)
	}
	dst = append(dst[:start], compUsername, byte(len(folded)))
	return append(dst, folded...)
}

// foldUsername trims white space and lower-cases s in place (it only
// shrinks or keeps the length for ASCII; runes whose lower case is longer
// are kept as they are) and returns the folded prefix of s.
func foldUsername(s []byte) []byte {
	s = bytes.TrimFunc(s, unicode.IsSpace)
	w := 0
	for r := 0; r < len(s); {
		c := s[r]
		if c < utf8.RuneSelf {
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			s[w] = c
			w++
			r++
			continue
		}
		ru, n := utf8.DecodeRune(s[r:])
		lo := unicode.ToLower(ru)
		if ru != utf8.RuneError && utf8.RuneLen(lo) == n {
			utf8.EncodeRune(s[w:], lo)
		} else {
			copy(s[w:], s[r:r+n])
		}
		w += n
		r += n
	}
	return s[:w]
}

func isJSON(ct []byte) bool {
	if i := bytes.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	ct = bytes.TrimSpace(ct)
	return bytes.EqualFold(ct, []byte("application/json")) ||
		(len(ct) > 5 && bytes.EqualFold(ct[len(ct)-5:], []byte("+json")) && bytes.IndexByte(ct, '/') > 0)
}

// jsonStringField finds the last top-level member named field of the JSON
// object in body (names unescaped and compared case-insensitively, as
// encoding/json matches struct fields, so "UserName" cannot dodge the
// username key) and, when its value is a string, appends the unescaped value to
// scratch and returns it. It reports false for anything that is not a
// well-formed object, or when the member is absent or not a string. It
// never reads past body and does not allocate when scratch has room.
func jsonStringField(body, field, scratch []byte) ([]byte, bool) {
	s := jscan{b: body}
	s.ws()
	if !s.eat('{') {
		return nil, false
	}
	// scratch[:n] holds the value found so far; member names are decoded
	// after it and dropped once compared.
	buf, n, ok := scratch[:0], 0, false
	s.ws()
	if s.eat('}') {
		return nil, false
	}
	for {
		s.ws()
		key, good := s.str(buf[n:n])
		if !good {
			return nil, false
		}
		match := bytes.EqualFold(key, field)
		s.ws()
		if !s.eat(':') {
			return nil, false
		}
		s.ws()
		switch {
		case match && s.peek() == '"':
			v, good := s.str(buf[:0])
			if !good {
				return nil, false
			}
			buf, n, ok = v, len(v), true
		case match:
			n, ok = 0, false
			fallthrough
		default:
			if !s.value(0) {
				return nil, false
			}
		}
		s.ws()
		if s.eat(',') {
			continue
		}
		if s.eat('}') {
			break
		}
		return nil, false
	}
	return buf[:n], ok
}

// jscan is a minimal JSON scanner over a byte slice.
type jscan struct {
	b []byte
	i int
}

func (s *jscan) peek() byte {
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

func (s *jscan) eat(c byte) bool {
	if s.peek() == c && s.i < len(s.b) {
		s.i++
		return true
	}
	return false
}

func (s *jscan) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// str reads a JSON string at the cursor, appending its unescaped value
// to dst.
func (s *jscan) str(dst []byte) ([]byte, bool) {
	if !s.eat('"') {
		return dst, false
	}
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			s.i++
			return dst, true
		case c < 0x20:
			return dst, false
		case c != '\\':
			dst = append(dst, c)
			s.i++
			continue
		}
		s.i++
		if s.i >= len(s.b) {
			return dst, false
		}
		e := s.b[s.i]
		s.i++
		switch e {
		case '"', '\\', '/':
			dst = append(dst, e)
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r, ok := s.hex4()
			if !ok {
				return dst, false
			}
			if utf16IsSurrogate(r) {
				r2 := rune(-1)
				if s.i+1 < len(s.b) && s.b[s.i] == '\\' && s.b[s.i+1] == 'u' {
					save := s.i
					s.i += 2
					var ok2 bool
					r2, ok2 = s.hex4()
					if !ok2 {
						return dst, false
					}
					if dec := utf16Decode(r, r2); dec != unicode.ReplacementChar {
						dst = utf8.AppendRune(dst, dec)
						continue
					}
					s.i = save
				}
				dst = utf8.AppendRune(dst, unicode.ReplacementChar)
				continue
			}
			dst = utf8.AppendRune(dst, r)
		default:
			return dst, false
		}
	}
	return dst, false
}

func (s *jscan) hex4() (rune, bool) {
	if s.i+4 > len(s.b) {
		return 0, false
	}
	var r rune
	for _, c := range s.b[s.i : s.i+4] {
		r <<= 4
		switch {
		case '0' <= c && c <= '9':
			r |= rune(c - '0')
		case 'a' <= c && c <= 'f':
			r |= rune(c - 'a' + 10)
		case 'A' <= c && c <= 'F':
			r |= rune(c - 'A' + 10)
		default:
			return 0, false
		}
	}
	s.i += 4
	return r, true
}

func utf16IsSurrogate(r rune) bool { return 0xd800 <= r && r < 0xe000 }

func utf16Decode(r1, r2 rune) rune {
	if 0xd800 <= r1 && r1 < 0xdc00 && 0xdc00 <= r2 && r2 < 0xe000 {
		return (r1-0xd800)<<10 | (r2 - 0xdc00) + 0x10000
	}
	return unicode.ReplacementChar
}

// maxJSONDepth bounds nesting while skipping values.
const maxJSONDepth = 32

// value skips one JSON value at the cursor.
func (s *jscan) value(depth int) bool {
	if depth > maxJSONDepth {
		return false
	}
	s.ws()
	switch c := s.peek(); {
	case c == '"':
		return s.skipStr()
	case c == '{':
		s.i++
		s.ws()
		if s.eat('}') {
			return true
		}
		for {
			s.ws()
			if !s.skipStr() {
				return false
			}
			s.ws()
			if !s.eat(':') || !s.value(depth+1) {
				return false
			}
			s.ws()
			if s.eat(',') {
				continue
			}
			return s.eat('}')
		}
	case c == '[':
		s.i++
		s.ws()
		if s.eat(']') {
			return true
		}
		for {
			if !s.value(depth + 1) {
				return false
			}
			s.ws()
			if s.eat(',') {
				continue
			}
			return s.eat(']')
		}
	case c == '-' || ('0' <= c && c <= '9'):
		start := s.i
		for s.i < len(s.b) && strings.IndexByte("+-.eE0123456789", s.b[s.i]) >= 0 {
			s.i++
		}
		return s.i > start
	default:
		for _, lit := range [...]string{"true", "false", "null"} {
			if len(s.b)-s.i >= len(lit) && string(s.b[s.i:s.i+len(lit)]) == lit {
				s.i += len(lit)
				return true
			}
		}
		return false
	}
}

// skipStr skips a JSON string without decoding it.
func (s *jscan) skipStr() bool {
	if !s.eat('"') {
		return false
	}
	for s.i < len(s.b) {
		switch c := s.b[s.i]; {
		case c == '"':
			s.i++
			return true
		case c == '\\':
			s.i += 2
		case c < 0x20:
			return false
		default:
			s.i++
		}
	}
	return false
}

// keyHash maps a built key to the local store's 64-bit map key. seed is
// per process, so collisions cannot be planned from outside.
func keyHash(seed uint64, key []byte) uint64 {
	// FNV-1a over the key, then a 64-bit finalizer (SplitMix64) mixed with
	// the seed: cheap, allocation-free, and well spread for sharding.
	h := uint64(14695981039346656037) ^ seed
	for len(key) >= 8 {
		h ^= binary.LittleEndian.Uint64(key)
		h *= 1099511628211
		h ^= h >> 29
		key = key[8:]
	}
	for _, c := range key {
		h ^= uint64(c)
		h *= 1099511628211
	}
	h ^= h >> 30
	h *= 0xbf58476d1ce4e5b9
	h ^= h >> 27
	h *= 0x94d049bb133111eb
	h ^= h >> 31
	return h
}
