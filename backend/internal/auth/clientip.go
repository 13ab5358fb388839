package auth

import (
	"bytes"
	"fmt"
	"net/netip"
	"strings"

	"github.com/valyala/fasthttp"
)

// Proxies resolves a request's client address, trusting X-Forwarded-For
// and X-Real-IP only when the connection comes from a trusted proxy (the
// gateway). X-Forwarded-For is walked right to left, skipping trusted
// proxies; the first untrusted address is the client (the left part of the
// header is whatever the client sent and is never believed). Immutable and
// safe for concurrent use.
type Proxies struct {
	nets []netip.Prefix
}

// DefaultTrustedProxies is the TRUSTED_PROXIES default: loopback only.
const DefaultTrustedProxies = "127.0.0.0/8,::1/128"

// ParseProxies parses a comma-separated list of CIDR prefixes or single
// addresses ("10.0.0.0/8, 192.0.2.7"); an empty list trusts nobody.
func ParseProxies(s string) (*Proxies, error) {
	p := &Proxies{}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		if !strings.Contains(part, "/") {
			a, err := netip.ParseAddr(part)
			if err != nil {
				return nil, fmt.Errorf("%q is not an IP address or CIDR prefix", part)
			}
			part = netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()).String()
		}
		pr, err := netip.ParsePrefix(part)
		if err != nil {
			return nil, fmt.Errorf("%q is not an IP address or CIDR prefix", part)
		}
		p.nets = append(p.nets, pr.Masked())
	}
	return p, nil
}

func (p *Proxies) trusted(a netip.Addr) bool {
	a = a.Unmap()
	for _, n := range p.nets {
		if n.Contains(a) {
			return true
		}
	}
	return false
}

// ClientIP returns the client address of ctx.
func (p *Proxies) ClientIP(ctx *fasthttp.RequestCtx) netip.Addr {
	remote, _ := netip.AddrFromSlice(ctx.RemoteIP())
	return p.Resolve(remote.Unmap(), ctx.Request.Header.Peek("X-Forwarded-For"), ctx.Request.Header.Peek("X-Real-IP"))
}

// Resolve returns the client address for a connection from remote with
// the given X-Forwarded-For and X-Real-IP header values (nil when absent).
func (p *Proxies) Resolve(remote netip.Addr, xff, realIP []byte) netip.Addr {
	if !remote.IsValid() || !p.trusted(remote) {
		return remote
	}
	if len(xff) > 0 {
		client := remote
		rest := xff
		for len(rest) > 0 {
			i := bytes.LastIndexByte(rest, ',')
			part := bytes.TrimSpace(rest[i+1:])
			rest = rest[:max(i, 0)]
			a, err := netip.ParseAddr(string(part))
			if err != nil {
				return client // garbage: trust nothing further left
			}
			client = a.Unmap()
			if !p.trusted(client) {
				return client
			}
			if i < 0 {
				break
			}
		}
		return client
	}
	if len(realIP) > 0 {
		if a, err := netip.ParseAddr(string(bytes.TrimSpace(realIP))); err == nil {
			return a.Unmap()
		}
	}
	return remote
}
