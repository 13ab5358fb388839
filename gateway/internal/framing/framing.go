// Package framing enforces the HTTP/1.1 message-framing and request-target
// rules that fasthttp's parser tolerates but a gateway in front of other
// servers must refuse, because a server behind it could read the same bytes
// differently (request smuggling, RFC 9112 §6.3 and §11.2):
//
//   - Content-Length together with Transfer-Encoding (RFC 9112 §6.1: "ought
//     to be handled as an error"),
//   - a transfer coding other than exactly "chunked" (fasthttp accepts
//     "identity" and treats the body as empty, leaving it on the wire as
//     the next request),
//   - obs-fold line folding (RFC 9112 §5.2 allows rejecting it with 400),
//   - a bare LF or CR, or a NUL, anywhere in the header section, and
//     header names that are not tokens (RFC 9110 §5.1); a bare LF ending
//     the request line or the head (ErrBareLF) is found by the server's
//     listener,
//   - a request target whose decoded path contains NUL, CR or LF,
//     asterisk-form outside OPTIONS, absolute-form with a scheme other than
//     http or https (RFC 9112 §3.2),
//   - a missing Host, or one that is not a plain authority (RFC 9110
//     §7.2),
//   - HTTP versions other than 1.0 and 1.1 (505), targets over the URI
//     limit (414) and header sections over the header limit (431),
//   - CONNECT and TRACE, which a reverse proxy does not relay (405).
//
// What fasthttp already rejects on its own before any handler runs
// (duplicate or non-numeric Content-Length, unknown transfer codings, bare
// LF in chunk sizes, CR or NUL in header values or in the raw target) is
// answered by the server's error handler; the raw-socket tests pin both
// halves down.
package framing

import (
	"bytes"

	"github.com/valyala/fasthttp"
)

// Error is one framing violation: the status and problem type the gateway
// answers with. The connection is always closed after it. Values are
// immutable and shared.
type Error struct {
	// Status is the HTTP status code (400, 405, 414, 431 or 505).
	Status int
	// Slug is the problem type suffix (problem.TypeBase + Slug).
	Slug string
	// Title is the problem title.
	Title string
	// Detail says what was wrong, in words safe to show the client.
	Detail string
}

// Error returns the detail text.
func (e *Error) Error() string { return e.Detail }

// The violations Check reports.
var (
	ErrLengthWithChunked = &Error{400, "bad-framing", "Bad Request", "Content-Length and Transfer-Encoding must not both be present."}
	ErrTransferCoding    = &Error{400, "bad-framing", "Bad Request", "Only the chunked transfer coding is accepted on requests."}
	ErrObsFold           = &Error{400, "bad-header", "Bad Request", "Header fields must not be folded over several lines."}
	ErrHeaderBytes       = &Error{400, "bad-header", "Bad Request", "Header fields must not contain bare CR or LF, NUL or other control characters."}
	ErrHeaderName        = &Error{400, "bad-header", "Bad Request", "A header field name is not a valid token."}
	ErrHost              = &Error{400, "bad-host", "Bad Request", "The Host header is missing or invalid."}
	ErrTarget            = &Error{400, "bad-target", "Bad Request", "The request target is malformed."}
	ErrMethod            = &Error{405, "method-not-allowed", "Method Not Allowed", "CONNECT and TRACE are not relayed."}
	ErrURITooLong        = &Error{414, "uri-too-long", "URI Too Long", "The request target exceeds the limit."}
	ErrHeaderTooLarge    = &Error{431, "header-too-large", "Request Header Fields Too Large", "The request header block exceeds the limit."}
	ErrVersion           = &Error{505, "http-version", "HTTP Version Not Supported", "Only HTTP/1.0 and HTTP/1.1 are served."}
)

// ErrBareLF is a request head with a line (the request line, a field
// line or the blank line ending it) ended by LF alone. RFC 9112 §2.2
// lets a recipient accept that; a gateway in front of other servers
// refuses it, since they may not. fasthttp keeps neither the request
// line's ending nor the final blank line, so the server's listener
// detects this one on the bytes received.
var ErrBareLF = &Error{400, "bad-framing", "Bad Request", "Every line of the request head must end with CRLF."}

// Limits are the size limits Check enforces, in bytes.
type Limits struct {
	// MaxURIBytes bounds the raw request target.
	MaxURIBytes int
	// MaxHeaderBytes bounds the header section (request line excluded).
	MaxHeaderBytes int
}

var (
	strHTTP11         = []byte("HTTP/1.1")
	strHTTP10         = []byte("HTTP/1.0")
	strContentLength  = []byte("Content-Length")
	strTransferEnc    = []byte("Transfer-Encoding")
	strChunked        = []byte("chunked")
	strHTTP           = []byte("http")
	strHTTPS          = []byte("https")
	strConnect        = []byte("CONNECT")
	strTrace          = []byte("TRACE")
	strOptions        = []byte("OPTIONS")
	asteriskForm      = []byte("*")
	schemeSep         = []byte("://")
	errAsteriskOption = &Error{400, "bad-target", "Bad Request", "The asterisk-form target is only valid for OPTIONS."}
)

// AsteriskOptions reports whether the request is "OPTIONS * HTTP/1.1", a
// question about the server itself that Check accepts and the caller
// answers without forwarding.
func AsteriskOptions(h *fasthttp.RequestHeader) bool {
	return bytes.Equal(h.RequestURI(), asteriskForm) && bytes.Equal(h.Method(), strOptions)
}

// Check inspects a parsed request before anything is forwarded and returns
// the first violation, or nil. For an absolute-form target it makes the
// target's authority the one Host (RFC 9112 §3.2.2: the Host header is
// ignored then), so routing, forwarding and X-Forwarded-Host all see a
// single authority. It does not allocate and is safe for concurrent use on
// distinct requests.
func Check(req *fasthttp.Request, l Limits) *Error {
	h := &req.Header
	if p := h.Protocol(); !bytes.Equal(p, strHTTP11) && !bytes.Equal(p, strHTTP10) {
		return ErrVersion
	}
	m := h.Method()
	if bytes.Equal(m, strConnect) || bytes.Equal(m, strTrace) {
		return ErrMethod
	}
	raw := h.RawHeaders()
	if len(raw) > l.MaxHeaderBytes {
		return ErrHeaderTooLarge
	}
	if err := checkHeaderSection(raw); err != nil {
		return err
	}
	target := h.RequestURI()
	if len(target) > l.MaxURIBytes {
		return ErrURITooLong
	}
	switch {
	case len(target) > 0 && target[0] == '/':
	case bytes.Equal(target, asteriskForm):
		if !bytes.Equal(m, strOptions) {
			return errAsteriskOption
		}
		return nil
	default:
		// absolute-form: http(s)://authority/path
		i := bytes.Index(target, schemeSep)
		if i <= 0 || !(bytes.EqualFold(target[:i], strHTTP) || bytes.EqualFold(target[:i], strHTTPS)) {
			return ErrTarget
		}
		if len(req.URI().Username()) > 0 || len(req.URI().Password()) > 0 {
			return ErrTarget // userinfo is deprecated for http(s) (RFC 9110 §4.2.4)
		}
		host := req.URI().Host()
		if !ValidHost(host) {
			return ErrHost
		}
		h.SetHostBytes(host)
	}
	for _, c := range req.URI().Path() {
		if c == 0 || c == '\r' || c == '\n' {
			return ErrTarget
		}
	}
	// Host is required from HTTP/1.0 clients too: the upstream hop is
	// HTTP/1.1 and needs one, and inventing one would route by a guess.
	if !ValidHost(h.Host()) {
		return ErrHost
	}
	return nil
}

// checkHeaderSection scans the header block exactly as received (fasthttp
// keeps it: RequestHeader.RawHeaders) line by line.
func checkHeaderSection(raw []byte) *Error {
	var sawLength, sawCoding bool
	for len(raw) > 0 {
		nl := bytes.IndexByte(raw, '\n')
		if nl < 0 {
			return ErrHeaderBytes
		}
		if nl == 0 || raw[nl-1] != '\r' {
			return ErrHeaderBytes // bare LF
		}
		line := raw[:nl-1]
		raw = raw[nl+1:]
		if len(line) == 0 {
			break // end of the header section
		}
		if line[0] == ' ' || line[0] == '\t' {
			return ErrObsFold
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 {
			return ErrHeaderName
		}
		name, value := line[:colon], line[colon+1:]
		for _, c := range name {
			if !isTokenChar(c) {
				return ErrHeaderName
			}
		}
		for _, c := range value {
			if (c < ' ' && c != '\t') || c == 0x7f {
				return ErrHeaderBytes
			}
		}
		switch {
		case bytes.EqualFold(name, strContentLength):
			sawLength = true
		case bytes.EqualFold(name, strTransferEnc):
			if sawCoding {
				return ErrTransferCoding
			}
			sawCoding = true
			if !bytes.EqualFold(bytes.Trim(value, " \t"), strChunked) {
				return ErrTransferCoding
			}
		}
	}
	if sawLength && sawCoding {
		return ErrLengthWithChunked
	}
	return nil
}

// isTokenChar reports whether c may appear in a token (RFC 9110 §5.6.2).
func isTokenChar(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	switch c {
	case '!', '#', '$', '%', '&', '\'', '*', '+', '-', '.', '^', '_', '`', '|', '~':
		return true
	}
	return false
}

// ValidHost reports whether h is a plain authority: a DNS name or IPv4
// address (letters, digits, '-', '.', '_') or a bracketed IPv6 literal,
// optionally followed by ":port". Userinfo, percent-encoding and other
// reg-name characters are refused: no campus host needs them, and they
// have been used to make a proxy and its upstream disagree on the host.
func ValidHost(h []byte) bool {
	if len(h) == 0 || len(h) > 260 {
		return false
	}
	if h[0] == '[' {
		end := bytes.IndexByte(h, ']')
		if end < 2 {
			return false
		}
		for _, c := range h[1:end] {
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' || c == ':' || c == '.') {
				return false
			}
		}
		return validPort(h[end+1:])
	}
	name := h
	var port []byte
	if i := bytes.IndexByte(h, ':'); i >= 0 {
		name, port = h[:i], h[i:]
	}
	if len(name) == 0 || len(name) > 253 {
		return false
	}
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_') {
			return false
		}
	}
	return validPort(port)
}

// validPort accepts "" or ":" followed by 1-5 digits.
func validPort(p []byte) bool {
	if len(p) == 0 {
		return true
	}
	if p[0] != ':' || len(p) < 2 || len(p) > 6 {
		return false
	}
	for _, c := range p[1:] {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
