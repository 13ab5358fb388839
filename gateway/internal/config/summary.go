package config

import (
	"fmt"
	"strings"
)

// Summary renders a validated configuration as the short normalized text
// `gateway --check-config` prints: listeners, upstream pools and routes in
// match order, with defaults filled in.
func Summary(c *Config) string {
	var b strings.Builder
	fmt.Fprintf(&b, "configuration is valid\n")
	fmt.Fprintf(&b, "listen: https=%s http=%s admin=%s\n", c.Listen.HTTPS, orNone(c.Listen.HTTP), orNone(c.Listen.Admin))
	switch {
	case len(c.TLS.Certificates) == 0 && c.TLS.CertificatesDir == "":
		fmt.Fprintf(&b, "tls: min %s, self-signed development certificate under %s\n", c.TLS.MinVersion, c.RuntimeDir)
	case c.TLS.CertificatesDir != "":
		fmt.Fprintf(&b, "tls: min %s, %d certificate(s) listed plus those in %s\n", c.TLS.MinVersion, len(c.TLS.Certificates), c.TLS.CertificatesDir)
	default:
		fmt.Fprintf(&b, "tls: min %s, %d certificate(s)\n", c.TLS.MinVersion, len(c.TLS.Certificates))
	}
	sv := c.Server
	fmt.Fprintf(&b, "server: read %s, body %s, write %s, idle %s, tls handshake %s; max header %dB, uri %dB, body %dB; conns/ip %s\n",
		sv.ReadTimeout, sv.BodyTimeout, sv.WriteTimeout, sv.IdleTimeout, c.TLS.HandshakeTimeout,
		sv.MaxHeaderBytes, sv.MaxURIBytes, sv.MaxBodyBytes, capOrNone(sv.MaxConnsPerIP))
	fmt.Fprintf(&b, "shutdown: drain %s, deadline %s\n", sv.DrainDelay, sv.ShutdownTimeout)
	fmt.Fprintf(&b, "trusted proxies: %s\n", orNone(strings.Join(c.TrustedProxies, ", ")))
	if c.Compression.Enabled {
		fmt.Fprintf(&b, "compression: zstd, br, gzip from %dB for %s\n", c.Compression.MinBytes, strings.Join(c.Compression.Types, " "))
	} else {
		fmt.Fprintf(&b, "compression: off\n")
	}
	fmt.Fprintf(&b, "access log: %s\n", accessSummary(c.Log.Access))
	for _, u := range c.Upstreams {
		addrs := make([]string, len(u.Instances))
		for i, in := range u.Instances {
			addrs[i] = fmt.Sprintf("%s(w=%d)", in.Addr, in.Weight)
		}
		fmt.Fprintf(&b, "upstream %s: %s [%s]\n", u.Name, u.Balancer, strings.Join(addrs, " "))
	}
	for _, r := range c.Routes {
		host := r.Host
		if host == "" {
			host = "*"
		}
		var flags []string
		if r.StreamRequestBody {
			flags = append(flags, "stream-request")
		}
		if r.StreamResponseBody {
			flags = append(flags, "stream-response")
		}
		if r.DisableCompression || !c.Compression.Enabled {
			flags = append(flags, "no-compression")
		}
		if r.WebSocket {
			flags = append(flags, fmt.Sprintf("websocket(idle %s)", r.WebSocketIdleTimeout))
		}
		fmt.Fprintf(&b, "route %s: %s%s -> %s (timeout %s, body %dB in %s, write %s)%s\n", r.Name, host, r.PathPrefix, r.Upstream,
			r.Timeout, r.MaxBodyBytes, r.BodyTimeout, r.WriteTimeout, prefixed(" ", strings.Join(flags, " ")))
	}
	return b.String()
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

func capOrNone(n int) string {
	if n == 0 {
		return "unlimited"
	}
	return fmt.Sprint(n)
}

func prefixed(p, s string) string {
	if s == "" {
		return ""
	}
	return p + s
}

func accessSummary(a AccessLog) string {
	if !a.Enabled {
		return "off"
	}
	return fmt.Sprintf("on, 2xx/3xx sampled at %g, flushed every %s", a.Sample2xx, a.FlushInterval)
}
