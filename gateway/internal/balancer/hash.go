package balancer

import (
	"math"
	"net/netip"
	"strings"

	"github.com/cespare/xxhash/v2"
	"github.com/valyala/fasthttp"
)

// Hash is weighted rendezvous (highest random weight) hashing (Thaler and
// Ravishankar, "Using Name-Based Mappings to Increase Hit Rates", 1998;
// weighted form: score = -w/ln(h), Schindelhauer and Schomaker 2005): each
// eligible instance scores hash(key, instance) and the highest wins. A
// key always lands on the same instance while it is eligible; when that
// instance is down (or already tried) the key falls back to its
// next-highest instance, and only the keys of a removed instance move.
// Requests without a key are placed by P2C. Safe for concurrent use; Pick
// does not allocate.
type Hash struct{ fallback P2C }

// Pick implements Policy.
func (h *Hash) Pick(instances []*Upstream, eligible Set, req Request) *Upstream {
	if !req.HasKey {
		return h.fallback.Pick(instances, eligible, req)
	}
	var best *Upstream
	bestScore := math.Inf(-1)
	for s := eligible; s != 0; s &= s - 1 {
		u := instances[s.Nth(0)]
		// A uniform value in (0,1) from the pair's hash.
		x := (float64(mix64(req.Key^u.hashSeed)>>11) + 0.5) * 0x1p-53
		score := -u.EffectiveWeight(req.Now) / math.Log(x)
		if score > bestScore {
			best, bestScore = u, score
		}
	}
	return best
}

// KeySource says which part of a request is the hash policy's key. The
// zero value extracts nothing. Immutable; safe for concurrent use.
type KeySource struct {
	kind keyKind
	name []byte
}

type keyKind uint8

const (
	keyNone keyKind = iota
	keyClientIP
	keyHeader
	keyCookie
	keySubject
)

// ParseKeySource parses a hash key specification: "client_ip" (the client
// address after the trusted-proxy walk), "header:NAME", "cookie:NAME", or
// "subject" (the verified JWT subject).
func ParseKeySource(s string) (KeySource, bool) {
	switch {
	case s == "client_ip":
		return KeySource{kind: keyClientIP}, true
	case s == "subject":
		return KeySource{kind: keySubject}, true
	case strings.HasPrefix(s, "header:") && validToken(s[len("header:"):]):
		return KeySource{kind: keyHeader, name: []byte(s[len("header:"):])}, true
	case strings.HasPrefix(s, "cookie:") && validToken(s[len("cookie:"):]):
		return KeySource{kind: keyCookie, name: []byte(s[len("cookie:"):])}, true
	}
	return KeySource{}, false
}

// validToken reports whether s is a non-empty RFC 9110 §5.6.2 token.
func validToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0 {
			continue
		}
		return false
	}
	return true
}

// Hash returns the request's key hashed to 64 bits, and false when the
// request has no such key (no header, no cookie, no verified subject,
// no client address). It does not allocate.
func (k KeySource) Hash(ctx *fasthttp.RequestCtx, client netip.Addr, subject string) (uint64, bool) {
	switch k.kind {
	case keyClientIP:
		if !client.IsValid() {
			return 0, false
		}
		b := client.Unmap().As16()
		return xxhash.Sum64(b[:]), true
	case keyHeader:
		if v := ctx.Request.Header.PeekBytes(k.name); len(v) > 0 {
			return xxhash.Sum64(v), true
		}
	case keyCookie:
		if v := ctx.Request.Header.CookieBytes(k.name); len(v) > 0 {
			return xxhash.Sum64(v), true
		}
	case keySubject:
		if subject != "" {
			return xxhash.Sum64String(subject), true
		}
	}
	return 0, false
}
