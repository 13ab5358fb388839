package proxy

import (
	"bytes"

	"github.com/valyala/fasthttp"
)

// hopByHop are the connection-specific header fields of RFC 9110 §7.6.1
// plus the de-facto ones (Keep-Alive, Proxy-Connection) that a proxy must
// not forward. Transfer-Encoding is re-framed by fasthttp itself.
var hopByHop = [][]byte{
	[]byte("Connection"), []byte("Keep-Alive"), []byte("Proxy-Connection"),
	[]byte("Proxy-Authenticate"), []byte("Proxy-Authorization"),
	[]byte("TE"), []byte("Trailer"), []byte("Upgrade"),
}

// protected are headers the gateway sets itself after hop-by-hop removal;
// a client naming them in Connection must not make the gateway drop them
// (that would let a client strip, say, X-Forwarded-For to spoof identity
// towards a backend that falls back to other sources).
var protected = [][]byte{
	[]byte("X-Forwarded-For"), []byte("X-Forwarded-Proto"), []byte("X-Forwarded-Host"),
	[]byte("Forwarded"), []byte("X-Request-ID"), []byte("X-Real-IP"), []byte("Host"),
	[]byte("Content-Length"), []byte("Content-Type"),
}

// connectionTokens appends to dst copies of the field names listed in all
// Connection header lines (RFC 9110 §7.6.1), skipping "close",
// "keep-alive" and protected names. Copies are needed because deleting
// headers moves the bytes the tokens point into.
func connectionTokens(dst [][]byte, lines [][]byte) [][]byte {
	for _, line := range lines {
		for len(line) > 0 {
			var tok []byte
			if i := bytes.IndexByte(line, ','); i >= 0 {
				tok, line = line[:i], line[i+1:]
			} else {
				tok, line = line, nil
			}
			tok = bytes.TrimSpace(tok)
			if len(tok) == 0 || bytes.EqualFold(tok, []byte("close")) || bytes.EqualFold(tok, []byte("keep-alive")) {
				continue
			}
			if isProtected(tok) {
				continue
			}
			dst = append(dst, append([]byte(nil), tok...))
		}
	}
	return dst
}

func isProtected(name []byte) bool {
	for _, p := range protected {
		if bytes.EqualFold(p, name) {
			return true
		}
	}
	return false
}

// stripRequestHopByHop removes hop-by-hop fields, including every field
// named in Connection, from an inbound request before it is forwarded.
func stripRequestHopByHop(h *fasthttp.RequestHeader) {
	if lines := h.PeekAll(fasthttp.HeaderConnection); len(lines) > 0 {
		for _, tok := range connectionTokens(nil, lines) {
			h.DelBytes(tok)
		}
	}
	for _, k := range hopByHop {
		h.DelBytes(k)
	}
	// Keep-alive to the upstream is the gateway's decision, not the client's.
	h.ResetConnectionClose()
}

// stripResponseHopByHop is stripRequestHopByHop for an upstream response.
func stripResponseHopByHop(h *fasthttp.ResponseHeader) {
	if lines := h.PeekAll(fasthttp.HeaderConnection); len(lines) > 0 {
		for _, tok := range connectionTokens(nil, lines) {
			h.DelBytes(tok)
		}
	}
	for _, k := range hopByHop {
		h.DelBytes(k)
	}
	// An upstream closing its connection says nothing about the client's.
	h.ResetConnectionClose()
}
