// Package clientip decides which address is the client's: the TCP peer,
// unless the peer is a trusted proxy, in which case X-Forwarded-For is
// walked right to left, skipping trusted hops, and the first untrusted
// address is the client (the right-to-left rule of MDN's X-Forwarded-For
// security notes; leftmost values are client-controlled and never used
// unless every hop is trusted).
package clientip

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
)

// Resolver holds the trusted-proxy prefixes. Immutable; safe for
// concurrent use.
type Resolver struct {
	trusted []netip.Prefix
}

// New parses CIDRs (or bare addresses, meaning /32 or /128) of trusted
// proxies. An unparseable entry is an error naming it.
func New(cidrs []string) (*Resolver, error) {
	r := &Resolver{}
	for _, c := range cidrs {
		p, err := netip.ParsePrefix(c)
		if err != nil {
			a, err2 := netip.ParseAddr(c)
			if err2 != nil {
				return nil, fmt.Errorf("trusted proxy %q is not a CIDR or address", c)
			}
			p = netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen())
		}
		r.trusted = append(r.trusted, p.Masked())
	}
	return r, nil
}

// Trusted reports whether ip belongs to a trusted proxy.
func (r *Resolver) Trusted(ip netip.Addr) bool {
	ip = ip.Unmap()
	for _, p := range r.trusted {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// Peer converts the TCP peer address to a netip.Addr (IPv4-mapped IPv6
// addresses unmapped). It does not allocate.
func Peer(ip net.IP) netip.Addr {
	a, _ := netip.AddrFromSlice(ip)
	return a.Unmap()
}

// Client returns the client address for a request from peer carrying the
// given X-Forwarded-For header lines (in arrival order). When the peer is
// not trusted the header is ignored. Otherwise entries are walked from the
// right; trusted ones are skipped; the first untrusted entry is the
// client. An unparseable entry ends the walk: the last valid address
// walked (a trusted proxy) is returned, since nothing left of garbage can
// be believed. When every entry is trusted the leftmost one is returned.
func (r *Resolver) Client(peer netip.Addr, xff [][]byte) netip.Addr {
	if !r.Trusted(peer) {
		return peer
	}
	last := peer
	for i := len(xff) - 1; i >= 0; i-- {
		line := xff[i]
		for len(line) > 0 {
			var entry []byte
			if j := bytes.LastIndexByte(line, ','); j >= 0 {
				entry, line = line[j+1:], line[:j]
			} else {
				entry, line = line, nil
			}
			entry = bytes.TrimSpace(entry)
			if len(entry) == 0 {
				continue
			}
			a, ok := ParseHop(entry)
			if !ok {
				return last
			}
			if !r.Trusted(a) {
				return a
			}
			last = a
		}
	}
	return last
}

// ParseHop parses one X-Forwarded-For entry: an IPv4 or IPv6 address,
// optionally with a port ("192.0.2.1:443", "[2001:db8::1]:443") or
// brackets. It reports false for anything else (names, "unknown",
// obfuscated identifiers).
func ParseHop(b []byte) (netip.Addr, bool) {
	if len(b) == 0 || len(b) > 64 {
		return netip.Addr{}, false
	}
	s := string(b)
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Unmap(), true
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap(), true
	}
	if len(s) > 2 && s[0] == '[' && s[len(s)-1] == ']' {
		if a, err := netip.ParseAddr(s[1 : len(s)-1]); err == nil {
			return a.Unmap(), true
		}
	}
	return netip.Addr{}, false
}
