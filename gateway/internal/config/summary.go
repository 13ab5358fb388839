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
	fmt.Fprintf(&b, "trusted proxies: %s\n", orNone(strings.Join(c.TrustedProxies, ", ")))
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
		fmt.Fprintf(&b, "route %s: %s%s -> %s (timeout %s)\n", r.Name, host, r.PathPrefix, r.Upstream, r.Timeout)
	}
	return b.String()
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}
