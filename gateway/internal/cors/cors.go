// Package cors answers cross-origin requests at the edge (the CORS protocol
// of the WHATWG Fetch standard, §3.2): preflights are answered by the
// gateway without touching a backend, and actual responses get the
// Access-Control-* headers of the route's policy. Header values are built
// once per policy.
//
// Rules: an origin is allowed when it equals a listed origin or matches a
// wildcard subdomain pattern (https://*.campus.edu); a disallowed origin
// gets no CORS headers at all (and its preflight a 403), the allowed
// origin is echoed, never "*" together with credentials, and every
// response of a route with a policy carries Vary: Origin because it
// depends on the request's Origin.
package cors

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/campshub360/edge/shared/problem"
)

// Options are one route's policy, as configured (config.CORS).
type Options struct {
	// AllowOrigins: exact origins ("https://portal.campus.edu"), wildcard
	// subdomains ("https://*.campus.edu"), or "*" (any origin; not with
	// AllowCredentials).
	AllowOrigins []string
	// AllowMethods a preflight may ask for (CORS-safelisted GET, HEAD and
	// POST are always allowed).
	AllowMethods []string
	// AllowHeaders a preflight may ask for, case-insensitive; "*" allows
	// any (the requested list is echoed).
	AllowHeaders []string
	// ExposeHeaders scripts may read.
	ExposeHeaders []string
	// AllowCredentials sends Access-Control-Allow-Credentials: true.
	AllowCredentials bool
	// MaxAge is the preflight cache lifetime (whole seconds; 0: none sent).
	MaxAge time.Duration
}

// Policy is a compiled CORS policy. Immutable; safe for concurrent use.
type Policy struct {
	anyOrigin   bool
	exact       map[string]struct{}
	wild        []wildcard
	methods     map[string]struct{}
	headers     map[string]struct{}
	anyHeader   bool
	credentials bool

	allowMethods, allowHeaders, expose, maxAge []byte
}

type wildcard struct {
	scheme string // "https"
	suffix string // ".campus.edu"
	port   string // "" or "8443"
}

// New compiles o. Errors name the first bad origin; config validation
// reports them all earlier.
func New(o Options) (*Policy, error) {
	if len(o.AllowOrigins) == 0 {
		return nil, errors.New("cors: no allowed origins")
	}
	p := &Policy{
		exact: map[string]struct{}{}, methods: map[string]struct{}{}, headers: map[string]struct{}{},
		credentials: o.AllowCredentials,
	}
	for _, og := range o.AllowOrigins {
		og = strings.ToLower(og)
		switch {
		case og == "*":
			if o.AllowCredentials {
				return nil, errors.New(`cors: "*" cannot be combined with credentials`)
			}
			p.anyOrigin = true
		case strings.Contains(og, "://*."):
			scheme, rest, _ := strings.Cut(og, "://*.")
			host, port := rest, ""
			if i := strings.LastIndexByte(rest, ':'); i >= 0 {
				host, port = rest[:i], rest[i+1:]
			}
			if host == "" || strings.Contains(host, "*") {
				return nil, fmt.Errorf("cors: bad origin pattern %q", og)
			}
			p.wild = append(p.wild, wildcard{scheme: scheme, suffix: "." + host, port: port})
		default:
			if strings.Contains(og, "*") || !strings.Contains(og, "://") {
				return nil, fmt.Errorf("cors: bad origin %q", og)
			}
			p.exact[og] = struct{}{}
		}
	}
	for _, m := range o.AllowMethods {
		p.methods[m] = struct{}{}
	}
	for _, h := range o.AllowHeaders {
		if h == "*" {
			p.anyHeader = true
			continue
		}
		p.headers[strings.ToLower(h)] = struct{}{}
	}
	p.allowMethods = []byte(strings.Join(o.AllowMethods, ", "))
	hs := make([]string, 0, len(o.AllowHeaders))
	for _, h := range o.AllowHeaders {
		if h != "*" {
			hs = append(hs, h)
		}
	}
	p.allowHeaders = []byte(strings.Join(hs, ", "))
	p.expose = []byte(strings.Join(o.ExposeHeaders, ", "))
	if o.MaxAge > 0 {
		p.maxAge = []byte(strconv.FormatInt(int64(o.MaxAge/time.Second), 10))
	}
	return p, nil
}

// maxOrigin bounds the Origin values looked at; longer ones never match.
const maxOrigin = 256

// Allowed reports whether the serialized origin (an Origin header value)
// may read the route's responses. Matching is case-insensitive; "null",
// malformed origins and origins with a path never match. It does not
// allocate.
func (p *Policy) Allowed(origin []byte) bool {
	if len(origin) == 0 || len(origin) > maxOrigin {
		return false
	}
	var buf [maxOrigin]byte
	o := buf[:len(origin)]
	for i, c := range origin {
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		o[i] = c
	}
	scheme, host, port, ok := splitOrigin(o)
	if !ok {
		return false
	}
	if p.anyOrigin {
		return true
	}
	if _, ok := p.exact[string(o)]; ok {
		return true
	}
	for _, w := range p.wild {
		if string(scheme) == w.scheme && string(port) == w.port &&
			len(host) > len(w.suffix) && string(host[len(host)-len(w.suffix):]) == w.suffix {
			return true
		}
	}
	return false
}

// splitOrigin parses a lower-cased serialized origin: scheme "://" host
// [":" port], host of letters, digits, '-' and '.', or a bracketed IPv6
// literal.
func splitOrigin(o []byte) (scheme, host, port []byte, ok bool) {
	i := bytes.Index(o, []byte("://"))
	if i <= 0 {
		return nil, nil, nil, false
	}
	scheme, rest := o[:i], o[i+3:]
	if string(scheme) != "https" && string(scheme) != "http" {
		return nil, nil, nil, false
	}
	host = rest
	if len(rest) > 0 && rest[0] == '[' {
		j := bytes.IndexByte(rest, ']')
		if j < 0 {
			return nil, nil, nil, false
		}
		host, rest = rest[:j+1], rest[j+1:]
		if len(rest) > 0 {
			if rest[0] != ':' {
				return nil, nil, nil, false
			}
			port = rest[1:]
		}
	} else if j := bytes.IndexByte(rest, ':'); j >= 0 {
		host, port = rest[:j], rest[j+1:]
	}
	if port != nil && (len(port) == 0 || len(port) > 5) {
		return nil, nil, nil, false
	}
	for _, c := range port {
		if c < '0' || c > '9' {
			return nil, nil, nil, false
		}
	}
	if len(host) == 0 || host[0] == '.' || host[len(host)-1] == '.' {
		return nil, nil, nil, false
	}
	if host[0] != '[' {
		for _, c := range host {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
				return nil, nil, nil, false
			}
		}
		if bytes.Contains(host, []byte("..")) {
			return nil, nil, nil, false
		}
	}
	return scheme, host, port, true
}

var (
	hOrigin       = []byte("Origin")
	hVary         = []byte("Vary")
	hACRM         = []byte("Access-Control-Request-Method")
	hACRH         = []byte("Access-Control-Request-Headers")
	hACAO         = []byte("Access-Control-Allow-Origin")
	hACAC         = []byte("Access-Control-Allow-Credentials")
	hACAM         = []byte("Access-Control-Allow-Methods")
	hACAH         = []byte("Access-Control-Allow-Headers")
	hACEH         = []byte("Access-Control-Expose-Headers")
	hACMA         = []byte("Access-Control-Max-Age")
	vTrue         = []byte("true")
	vStar         = []byte("*")
	vOrigin       = []byte("Origin")
	vPreflightVar = []byte("Origin, Access-Control-Request-Method, Access-Control-Request-Headers")
	mOptions      = []byte(fasthttp.MethodOptions)
	// upstreamCORS are removed from upstream responses on routes with a
	// policy: the gateway's policy is the only one clients see.
	upstreamCORS = [][]byte{hACAO, hACAC, hACAM, hACAH, hACEH, hACMA}
)

// Middleware applies the policy pick chooses for the request (nil: the
// route has none, and the request passes untouched). A preflight (OPTIONS
// with Origin and Access-Control-Request-Method) is answered here: 204
// with the policy's headers, or 403 without CORS headers for a disallowed
// origin, method or header. Any other request goes to next; its response
// gets Vary: Origin and, for an allowed origin, the Allow-Origin,
// Allow-Credentials and Expose-Headers headers, replacing any an upstream
// sent.
func Middleware(pick func(ctx *fasthttp.RequestCtx) *Policy, next fasthttp.RequestHandler) fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) {
		p := pick(ctx)
		if p == nil {
			next(ctx)
			return
		}
		origin := ctx.Request.Header.PeekBytes(hOrigin)
		if len(origin) > 0 && bytes.Equal(ctx.Method(), mOptions) && len(ctx.Request.Header.PeekBytes(hACRM)) > 0 {
			p.preflight(ctx, origin)
			return
		}
		next(ctx)
		h := &ctx.Response.Header
		for _, k := range upstreamCORS {
			h.DelBytes(k)
		}
		addVary(h, vOrigin)
		// The request's Origin bytes may have been reused by a later stage
		// (the proxy rewrites the request); re-read them.
		origin = ctx.Request.Header.PeekBytes(hOrigin)
		if !p.Allowed(origin) {
			return
		}
		p.setOrigin(h, origin)
		if len(p.expose) > 0 {
			h.SetBytesKV(hACEH, p.expose)
		}
	}
}

func (p *Policy) setOrigin(h *fasthttp.ResponseHeader, origin []byte) {
	if p.anyOrigin && !p.credentials {
		h.SetBytesKV(hACAO, vStar)
	} else {
		h.SetBytesKV(hACAO, origin)
	}
	if p.credentials {
		h.SetBytesKV(hACAC, vTrue)
	}
}

// preflight answers a CORS-preflight request.
func (p *Policy) preflight(ctx *fasthttp.RequestCtx, origin []byte) {
	h := &ctx.Response.Header
	h.SetBytesKV(hVary, vPreflightVar)
	// Shared caches must not store preflight answers; browsers cache them
	// per Access-Control-Max-Age.
	h.Set(fasthttp.HeaderCacheControl, "no-store")
	if !p.Allowed(origin) {
		problem.Write(ctx, problem.New(fasthttp.StatusForbidden, "cors-origin-denied", "Forbidden",
			"Cross-origin requests from this origin are not allowed on this route."))
		return
	}
	method := ctx.Request.Header.PeekBytes(hACRM)
	if !p.methodAllowed(method) {
		problem.Write(ctx, problem.New(fasthttp.StatusForbidden, "cors-method-denied", "Forbidden",
			"The requested method is not allowed for cross-origin requests on this route."))
		return
	}
	reqHeaders := ctx.Request.Header.PeekBytes(hACRH)
	if !p.headersAllowed(reqHeaders) {
		problem.Write(ctx, problem.New(fasthttp.StatusForbidden, "cors-headers-denied", "Forbidden",
			"A requested header is not allowed for cross-origin requests on this route."))
		return
	}
	p.setOrigin(h, origin)
	h.SetBytesKV(hACAM, p.allowMethods)
	switch {
	case p.anyHeader && len(reqHeaders) > 0:
		h.SetBytesKV(hACAH, reqHeaders)
	case len(p.allowHeaders) > 0:
		h.SetBytesKV(hACAH, p.allowHeaders)
	}
	if len(p.maxAge) > 0 {
		h.SetBytesKV(hACMA, p.maxAge)
	}
	ctx.Response.ResetBody()
	ctx.SetStatusCode(fasthttp.StatusNoContent)
}

func (p *Policy) methodAllowed(m []byte) bool {
	switch string(m) {
	case "GET", "HEAD", "POST":
		return true
	}
	_, ok := p.methods[string(m)]
	return ok
}

// headersAllowed checks an Access-Control-Request-Headers value, a
// comma-separated list of lower-case names.
func (p *Policy) headersAllowed(list []byte) bool {
	if p.anyHeader {
		return true
	}
	var buf [64]byte
	for len(list) > 0 {
		var name []byte
		if i := bytes.IndexByte(list, ','); i >= 0 {
			name, list = list[:i], list[i+1:]
		} else {
			name, list = list, nil
		}
		name = bytes.TrimSpace(name)
		if len(name) == 0 {
			continue
		}
		if len(name) > len(buf) {
			return false
		}
		n := buf[:len(name)]
		for i, c := range name {
			if c >= 'A' && c <= 'Z' {
				c += 'a' - 'A'
			}
			n[i] = c
		}
		switch string(n) {
		case "accept", "accept-language", "content-language":
			continue
		}
		if _, ok := p.headers[string(n)]; !ok {
			return false
		}
	}
	return true
}

// addVary adds token to the response's Vary field unless a Vary line
// already lists it or is "*". Other Vary lines are kept (RFC 9110 §12.5.5:
// the field may span lines). It does not allocate when no line lists it.
func addVary(h *fasthttp.ResponseHeader, token []byte) {
	for k, v := range h.All() {
		if !bytes.EqualFold(k, hVary) {
			continue
		}
		for len(v) > 0 {
			var t []byte
			if i := bytes.IndexByte(v, ','); i >= 0 {
				t, v = v[:i], v[i+1:]
			} else {
				t, v = v, nil
			}
			t = bytes.TrimSpace(t)
			if bytes.Equal(t, vStar) || bytes.EqualFold(t, token) {
				return
			}
		}
	}
	h.AddBytesKV(hVary, token)
}
