// Package compress compresses upstream responses for clients that accept
// it (RFC 9110 §8.4 content codings, §12.5.3 Accept-Encoding): zstd
// (RFC 8878), br (RFC 7932) or gzip (RFC 1952), using the encoders fasthttp
// already carries (klauspost/compress, go-brrr) with pooled state.
//
// The request's Accept-Encoding is normalized to one of a small set of
// values ("zstd", "br", "gzip" or "identity") before it is forwarded, so
// the upstream (and a cache keyed on it) sees at most four variants. A
// response is compressed only when the upstream did not encode it, its
// media type is compressible, it is at least MinBytes long, it is not a
// partial (206) or bodiless response, not streamed, and not marked
// Cache-Control: no-transform. Every response of a compressible type gets
// Vary: Accept-Encoding, compressed or not, so shared caches keep the
// variants apart; a compressed response's strong ETag is weakened (the
// bytes differ from the identity representation).
package compress

import (
	"bytes"
	"strings"
	"sync"

	"github.com/valyala/fasthttp"
)

// Coding is a content coding the gateway can produce.
type Coding uint8

// The codings, in the gateway's order of preference for equal q-values:
// zstd and br compress JSON better than gzip at lower CPU cost.
const (
	Identity Coding = iota
	Zstd
	Brotli
	Gzip
)

var codingNames = [...][]byte{Identity: []byte("identity"), Zstd: []byte("zstd"), Brotli: []byte("br"), Gzip: []byte("gzip")}

// String returns the coding's token.
func (c Coding) String() string { return string(codingNames[c]) }

// Options configure a Compressor.
type Options struct {
	// MinBytes is the smallest body compressed.
	MinBytes int
	// Types are compressible media types without parameters: exact
	// ("application/json") or a whole top-level type ("text/*"). A listed
	// type also matches its structured-syntax variants ("application/json"
	// matches "application/vnd.campus+json").
	Types []string
}

// Compressor negotiates and applies response compression. Immutable after
// New; safe for concurrent use.
type Compressor struct {
	min      int
	exact    [][]byte
	prefixes [][]byte // "text/"
	suffixes [][]byte // "+json"
	bufs     sync.Pool
	enc      *encoders
}

// New returns a Compressor for o.
func New(o Options) *Compressor {
	c := &Compressor{min: max(o.MinBytes, 1), enc: newEncoders()}
	for _, t := range o.Types {
		t = strings.ToLower(strings.TrimSpace(t))
		if top, ok := strings.CutSuffix(t, "/*"); ok {
			c.prefixes = append(c.prefixes, []byte(top+"/"))
			continue
		}
		c.exact = append(c.exact, []byte(t))
		if _, sub, ok := strings.Cut(t, "/"); ok && (sub == "json" || sub == "xml") {
			c.suffixes = append(c.suffixes, []byte("+"+sub))
		}
	}
	return c
}

var (
	headerAcceptEncoding  = []byte("Accept-Encoding")
	headerVary            = []byte("Vary")
	headerContentEncoding = []byte("Content-Encoding")
	headerCacheControl    = []byte("Cache-Control")
	headerETag            = []byte("ETag")
	headerAcceptRanges    = []byte("Accept-Ranges")
	tokenNoTransform      = []byte("no-transform")
	varyValue             = []byte("Accept-Encoding")
)

// Negotiate picks the coding for the response from the request's
// Accept-Encoding (q-values honoured, "*" understood, q=0 excludes) and
// rewrites the header to that single coding for the upstream. A request
// without Accept-Encoding gets Identity (RFC 9110 §12.5.3 would allow any
// coding, but many clients that omit it cannot decode one). It does not
// allocate.
func Negotiate(h *fasthttp.RequestHeader) Coding {
	v := h.PeekBytes(headerAcceptEncoding)
	if len(v) == 0 {
		return Identity
	}
	c := Parse(v)
	h.SetBytesKV(headerAcceptEncoding, codingNames[c])
	return c
}

// Parse returns the preferred coding of an Accept-Encoding value: the
// highest q-value among zstd, br and gzip (explicitly or through "*"),
// ties broken by the gateway's preference; Identity when none is
// acceptable. It does not allocate.
func Parse(v []byte) Coding {
	var q [4]int // per coding, in thousandths; -1 = not mentioned
	q[Zstd], q[Brotli], q[Gzip] = -1, -1, -1
	star := -1
	for len(v) > 0 {
		var item []byte
		if i := bytes.IndexByte(v, ','); i >= 0 {
			item, v = v[:i], v[i+1:]
		} else {
			item, v = v, nil
		}
		name, params, _ := bytes.Cut(item, []byte(";"))
		name = bytes.TrimSpace(name)
		weight := 1000
		for len(params) > 0 {
			var p []byte
			p, params, _ = bytes.Cut(params, []byte(";"))
			p = bytes.TrimSpace(p)
			if len(p) > 2 && (p[0] == 'q' || p[0] == 'Q') && p[1] == '=' {
				weight = parseQ(p[2:])
			}
		}
		switch {
		case bytes.EqualFold(name, codingNames[Zstd]):
			q[Zstd] = weight
		case bytes.EqualFold(name, codingNames[Brotli]):
			q[Brotli] = weight
		case bytes.EqualFold(name, codingNames[Gzip]), bytes.EqualFold(name, []byte("x-gzip")):
			q[Gzip] = weight
		case len(name) == 1 && name[0] == '*':
			star = weight
		}
	}
	best, bestQ := Identity, 0
	for _, c := range [...]Coding{Zstd, Brotli, Gzip} {
		w := q[c]
		if w < 0 {
			w = star
		}
		if w > bestQ {
			best, bestQ = c, w
		}
	}
	return best
}

// parseQ parses a qvalue (RFC 9110 §12.4.2) into thousandths; invalid
// values count as 0 (not acceptable).
func parseQ(b []byte) int {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || len(b) > 5 {
		return 0
	}
	if b[0] == '1' {
		for _, c := range b[1:] {
			if c != '.' && c != '0' {
				return 0
			}
		}
		return 1000
	}
	if b[0] != '0' {
		return 0
	}
	if len(b) == 1 {
		return 0
	}
	if b[1] != '.' {
		return 0
	}
	n, scale := 0, 100
	for _, c := range b[2:] {
		if c < '0' || c > '9' {
			return 0
		}
		n += int(c-'0') * scale
		scale /= 10
	}
	return n
}

// Apply compresses ctx's response with coding when it qualifies (see the
// package doc) and adds Vary: Accept-Encoding to every response of a
// compressible type. head reports a HEAD request (never compressed, the
// body is absent). The compressed body replaces the response body through
// a pooled buffer; the steady state does not allocate.
func (c *Compressor) Apply(ctx *fasthttp.RequestCtx, coding Coding) {
	resp := &ctx.Response
	h := &resp.Header
	if !c.compressible(h.ContentType()) {
		return
	}
	addVary(h)
	if coding == Identity || ctx.IsHead() || resp.IsBodyStream() {
		return
	}
	switch status := resp.StatusCode(); {
	case status < 200, status == fasthttp.StatusNoContent, status == fasthttp.StatusPartialContent,
		status == fasthttp.StatusNotModified:
		return
	}
	if len(h.PeekBytes(headerContentEncoding)) > 0 || hasToken(h.PeekBytes(headerCacheControl), tokenNoTransform) {
		return
	}
	body := resp.Body()
	if len(body) < c.min {
		return
	}
	bp, _ := c.bufs.Get().(*[]byte)
	if bp == nil {
		bp = new([]byte)
	}
	out := c.enc.append(coding, (*bp)[:0], body)
	if len(out) >= len(body) {
		*bp = out
		c.bufs.Put(bp)
		return // incompressible: keep the identity body
	}
	*bp = resp.SwapBody(out)
	c.bufs.Put(bp)
	h.SetBytesKV(headerContentEncoding, codingNames[coding])
	h.DelBytes(headerAcceptRanges)
	if etag := h.PeekBytes(headerETag); len(etag) > 1 && etag[0] == '"' {
		var buf [256]byte
		h.SetBytesKV(headerETag, append(append(buf[:0], "W/"...), etag...))
	}
}

// compressible reports whether a Content-Type names a compressible type.
func (c *Compressor) compressible(ct []byte) bool {
	if i := bytes.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	ct = bytes.TrimSpace(ct)
	if len(ct) == 0 {
		return false
	}
	for _, t := range c.exact {
		if bytes.EqualFold(ct, t) {
			return true
		}
	}
	for _, p := range c.prefixes {
		if len(ct) > len(p) && bytes.EqualFold(ct[:len(p)], p) {
			return true
		}
	}
	for _, s := range c.suffixes {
		if len(ct) > len(s) && bytes.EqualFold(ct[len(ct)-len(s):], s) {
			return true
		}
	}
	return false
}

// addVary adds Accept-Encoding to Vary unless it is already listed or Vary
// is "*".
func addVary(h *fasthttp.ResponseHeader) {
	v := h.PeekBytes(headerVary)
	if len(v) == 0 {
		h.SetBytesKV(headerVary, varyValue)
		return
	}
	if hasToken(v, varyValue) || hasToken(v, []byte("*")) {
		return
	}
	var buf [256]byte
	h.SetBytesKV(headerVary, append(append(append(buf[:0], v...), ", "...), varyValue...))
}

// hasToken reports whether the comma-separated list v contains tok
// (case-insensitive; parameters after '=' are ignored for the match).
func hasToken(v, tok []byte) bool {
	for len(v) > 0 {
		var t []byte
		if i := bytes.IndexByte(v, ','); i >= 0 {
			t, v = v[:i], v[i+1:]
		} else {
			t, v = v, nil
		}
		t = bytes.TrimSpace(t)
		if i := bytes.IndexByte(t, '='); i >= 0 {
			t = t[:i]
		}
		if bytes.EqualFold(t, tok) {
			return true
		}
	}
	return false
}
