// Package headers sets the security headers of a JSON API on every response
// the gateway sends, its own included (errors, redirects), with values built
// once at construction.
package headers

import (
	"slices"

	"github.com/valyala/fasthttp"
)

// Set is a precomputed list of response headers. Immutable; safe for
// concurrent use.
type Set struct {
	kv [][2][]byte
	// strip lists upstream response headers removed before the client sees
	// them (they disclose implementation details).
	strip [][]byte
}

// Defaults returns the default set for a JSON API (OWASP Secure Headers
// Project recommendations): nosniff, no referrer, no framing, a CSP that
// allows nothing, same-site resource policy and a restrictive
// Permissions-Policy.
func Defaults() *Set {
	return New(map[string]string{
		"X-Content-Type-Options":       "nosniff",
		"Referrer-Policy":              "no-referrer",
		"X-Frame-Options":              "DENY",
		"Content-Security-Policy":      "default-src 'none'; frame-ancestors 'none'",
		"Cross-Origin-Resource-Policy": "same-site",
		"Permissions-Policy":           "accelerometer=(), camera=(), geolocation=(), gyroscope=(), magnetometer=(), microphone=(), payment=(), usb=()",
	})
}

// New returns a Set of the given headers (name -> value), in name order.
func New(h map[string]string) *Set {
	s := &Set{strip: [][]byte{[]byte("Server"), []byte("X-Powered-By")}}
	names := make([]string, 0, len(h))
	for k := range h {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		s.kv = append(s.kv, [2][]byte{[]byte(k), []byte(h[k])})
	}
	return s
}

// Apply removes disclosing upstream headers and sets the security headers
// on resp, replacing any upstream values. It does not allocate.
func (s *Set) Apply(resp *fasthttp.ResponseHeader) {
	for _, k := range s.strip {
		resp.DelBytes(k)
	}
	for _, kv := range s.kv {
		resp.SetBytesKV(kv[0], kv[1])
	}
}

// Middleware applies s to every response of next, including responses
// written while a panic unwinds (the deferred Apply runs first, the
// recover stage outside keeps the headers).
func Middleware(s *Set, next fasthttp.RequestHandler) fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) {
		defer s.Apply(&ctx.Response.Header)
		next(ctx)
	}
}
