// Package headers sets the security headers of a JSON API on every response
// the gateway sends, its own included (errors, redirects, limiter and cache
// answers), with values built once per configuration generation, and adds
// Strict-Transport-Security (RFC 6797) on HTTPS responses only.
package headers

import (
	"net/textproto"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/valyala/fasthttp"
)

// Set is a precomputed list of response headers. Immutable; safe for
// concurrent use.
type Set struct {
	// plain is for plain-HTTP responses; secure adds HSTS.
	plain, secure [][2][]byte
	// strip lists upstream response headers removed before the client sees
	// them (they disclose implementation details), plus the names a layer
	// removed from the default set.
	strip [][]byte
}

// Layer changes a header set: Set adds or replaces headers (name ->
// value), Remove drops names. Names are case-insensitive.
type Layer struct {
	Set    map[string]string
	Remove []string
}

// HSTS is the Strict-Transport-Security policy (RFC 6797 §6.1); MaxAge 0
// sends none.
type HSTS struct {
	MaxAge            time.Duration
	IncludeSubdomains bool
	Preload           bool
}

// Value renders the header value ("max-age=31536000; includeSubDomains"),
// or "" when MaxAge is not positive.
func (h HSTS) Value() string {
	if h.MaxAge <= 0 {
		return ""
	}
	v := "max-age=" + strconv.FormatInt(int64(h.MaxAge/time.Second), 10)
	if h.IncludeSubdomains {
		v += "; includeSubDomains"
	}
	if h.Preload {
		v += "; preload"
	}
	return v
}

// DefaultValues returns the default set for a JSON API (OWASP Secure
// Headers Project recommendations): nosniff, no referrer, no framing, a
// CSP that allows nothing, same-site resource policy and a restrictive
// Permissions-Policy. The map is a fresh copy.
func DefaultValues() map[string]string {
	return map[string]string{
		"X-Content-Type-Options":       "nosniff",
		"Referrer-Policy":              "no-referrer",
		"X-Frame-Options":              "DENY",
		"Content-Security-Policy":      "default-src 'none'; frame-ancestors 'none'",
		"Cross-Origin-Resource-Policy": "same-site",
		"Permissions-Policy":           "accelerometer=(), camera=(), geolocation=(), gyroscope=(), magnetometer=(), microphone=(), payment=(), usb=()",
	}
}

// Defaults returns DefaultValues without HSTS.
func Defaults() *Set { return New(HSTS{}) }

// New returns the default values changed by each layer in turn, with hsts
// added on HTTPS responses. Header names are emitted in canonical form and
// name order.
func New(hsts HSTS, layers ...Layer) *Set {
	vals := map[string]string{}
	for k, v := range DefaultValues() {
		vals[textproto.CanonicalMIMEHeaderKey(k)] = v
	}
	removed := map[string]bool{}
	for _, l := range layers {
		for _, k := range l.Remove {
			k = textproto.CanonicalMIMEHeaderKey(k)
			delete(vals, k)
			removed[k] = true
		}
		for k, v := range l.Set {
			k = textproto.CanonicalMIMEHeaderKey(k)
			vals[k] = v
			delete(removed, k)
		}
	}
	s := &Set{strip: [][]byte{[]byte("Server"), []byte("X-Powered-By")}}
	names := make([]string, 0, len(vals))
	for k := range vals {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		s.plain = append(s.plain, [2][]byte{[]byte(k), []byte(vals[k])})
	}
	s.secure = slices.Clone(s.plain)
	if v := hsts.Value(); v != "" {
		s.secure = append(s.secure, [2][]byte{[]byte("Strict-Transport-Security"), []byte(v)})
	}
	rm := make([]string, 0, len(removed))
	for k := range removed {
		rm = append(rm, k)
	}
	slices.Sort(rm)
	for _, k := range rm {
		s.strip = append(s.strip, []byte(k))
	}
	return s
}

// Apply removes disclosing upstream headers and sets the security headers
// on resp, replacing any upstream values; secure (the response goes out
// over TLS) adds HSTS, and on a plain-HTTP response an upstream's HSTS is
// removed (RFC 6797 §7.2). It does not allocate.
func (s *Set) Apply(resp *fasthttp.ResponseHeader, secure bool) {
	for _, k := range s.strip {
		resp.DelBytes(k)
	}
	kv := s.plain
	if secure {
		kv = s.secure
	} else {
		resp.DelBytes(headerHSTS)
	}
	for _, e := range kv {
		resp.SetBytesKV(e[0], e[1])
	}
}

var headerHSTS = []byte("Strict-Transport-Security")

// Get returns the value the set sends for name ("" when none), for
// HTTPS when secure. For tests and diagnostics.
func (s *Set) Get(name string, secure bool) string {
	kv := s.plain
	if secure {
		kv = s.secure
	}
	for _, e := range kv {
		if strings.EqualFold(string(e[0]), name) {
			return string(e[1])
		}
	}
	return ""
}

// Middleware applies the Set chosen by pick (per route; never nil) to every
// response of next, including responses written while a panic unwinds
// (the deferred Apply runs first, the recover stage outside keeps the
// headers). HSTS goes only on responses over TLS (ctx.IsTLS).
func Middleware(pick func(ctx *fasthttp.RequestCtx) *Set, next fasthttp.RequestHandler) fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) {
		defer func() { pick(ctx).Apply(&ctx.Response.Header, ctx.IsTLS()) }()
		next(ctx)
	}
}
