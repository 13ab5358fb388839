package server

import (
	"bytes"
	"net/netip"

	"github.com/valyala/fasthttp"

	"github.com/campshub360/edge/gateway/internal/config"
)

// The plain-HTTP listener answers everything but health checks and ACME
// challenges with a 308 to the same host on HTTPS (serveHTTP). The host
// is the client's, copied into Location, so it is checked first:
//
//   - its syntax is RFC 9110 §7.2's uri-host [":" port] with a DNS name
//     (letters, digits, '-' in labels of 1 to 63 characters), an IPv4
//     address or a bracketed IPv6 literal; the port, when present, is
//     digits in 1..65535; userinfo, spaces, percent-encoding and every
//     other character are refused with 400;
//   - when routes name hosts (routes[].host), only those are redirected
//     (case-insensitive); any other host gets 421 Misdirected Request
//     (RFC 9110 §15.5.20): this gateway is not authoritative for it, and a
//     redirect would only send the client to a name it does not serve.
//     With no route naming a host, any well-formed host is redirected, as
//     every host is served on HTTPS too.

// redirectHost checks a Host value (h) for the redirect. It returns the
// host part without the port, and the status to answer instead (0 when
// the redirect may go ahead, 400 for a malformed value, 421 for a host no
// route names).
func redirectHost(routes []config.Route, h []byte) ([]byte, int) {
	host, ok := splitHostPort(h)
	if !ok {
		return nil, fasthttp.StatusBadRequest
	}
	if !knownHost(routes, host) {
		return nil, fasthttp.StatusMisdirectedRequest
	}
	return host, 0
}

// splitHostPort validates hostport syntax and returns the host.
func splitHostPort(h []byte) ([]byte, bool) {
	if len(h) == 0 {
		return nil, false
	}
	var host, port []byte
	hasPort := false
	if h[0] == '[' {
		end := bytes.IndexByte(h, ']')
		if end < 0 {
			return nil, false
		}
		host, rest := h[:end+1], h[end+1:]
		if len(rest) > 0 {
			if rest[0] != ':' {
				return nil, false
			}
			port, hasPort = rest[1:], true
		}
		if hasPort && !validPort(port) {
			return nil, false
		}
		a, err := netip.ParseAddr(string(host[1 : len(host)-1]))
		if err != nil || !a.Is6() || a.Zone() != "" {
			return nil, false
		}
		return host, true
	}
	host = h
	if i := bytes.IndexByte(h, ':'); i >= 0 {
		host, port, hasPort = h[:i], h[i+1:], true
	}
	if hasPort && !validPort(port) {
		return nil, false
	}
	return host, validName(host)
}

// validPort accepts 1 to 5 digits with a value in 1..65535.
func validPort(p []byte) bool {
	if len(p) == 0 || len(p) > 5 {
		return false
	}
	n := 0
	for _, c := range p {
		if c < '0' || c > '9' {
			return false
		}
		n = n*10 + int(c-'0')
	}
	return n >= 1 && n <= 65535
}

// validName accepts a DNS name (or dotted IPv4 address): labels of 1 to
// 63 letters, digits and '-', not starting or ending with '-', at most
// 253 characters, one trailing dot allowed.
func validName(h []byte) bool {
	h = bytes.TrimSuffix(h, []byte{'.'})
	if len(h) == 0 || len(h) > 253 {
		return false
	}
	label := 0
	for i, c := range h {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
			label++
		case c == '-':
			if label == 0 || i+1 == len(h) || h[i+1] == '.' {
				return false
			}
			label++
		case c == '.':
			if label == 0 {
				return false
			}
			label = 0
			continue
		default:
			return false
		}
		if label > 63 {
			return false
		}
	}
	return label > 0
}

// knownHost reports whether host may be redirected: true when no route
// names a host, else whether one does (case-insensitive, ignoring a
// trailing dot).
func knownHost(routes []config.Route, host []byte) bool {
	host = bytes.TrimSuffix(host, []byte{'.'})
	named := false
	for i := range routes {
		if r := routes[i].Host; r != "" {
			named = true
			if len(r) == len(host) && bytes.EqualFold([]byte(r), host) {
				return true
			}
		}
	}
	return !named
}
