package config

import (
	"fmt"
	"strings"
	"time"
)

// UpstreamTLS configures TLS from the gateway to one pool's instances
// (mutual TLS when a client certificate is given). Off unless Enabled.
type UpstreamTLS struct {
	// Enabled makes every connection to the pool a TLS connection (TLS 1.2
	// minimum, certificate verified against CAFile or the system roots).
	Enabled bool `yaml:"enabled"`
	// CAFile is a PEM bundle of the CAs that sign the instances'
	// certificates; empty: the system roots.
	CAFile string `yaml:"ca_file"`
	// ServerName is the name verified in the instances' certificates and
	// sent as SNI; empty: the host part of each instance address.
	ServerName string `yaml:"server_name"`
	// CertFile and KeyFile are the gateway's client certificate and key
	// (PEM) for instances that require mutual TLS; both or neither.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
}

func (c *Config) fillTLSDefaults() {
	if c.TLS.HandshakeTimeout == 0 {
		c.TLS.HandshakeTimeout = 10 * time.Second
	}
}

func (c *Config) validateTLS(ck *checker) {
	t := c.TLS
	switch t.MinVersion {
	case "1.2", "1.3":
	default:
		ck.add("tls.min_version", "%q: want 1.2 or 1.3", t.MinVersion)
	}
	if t.HandshakeTimeout <= 0 || t.HandshakeTimeout > time.Minute {
		ck.add("tls.handshake_timeout", "%s: want more than 0 and at most 1m", t.HandshakeTimeout)
	}
	names := map[string]int{}
	for i, cert := range t.Certificates {
		p := fmt.Sprintf("tls.certificates[%d]", i)
		if cert.CertFile == "" {
			ck.add(p+".cert_file", "must be set")
		}
		if cert.KeyFile == "" {
			ck.add(p+".key_file", "must be set")
		}
		if cert.Name != "" {
			if !labelSafe(cert.Name) {
				ck.add(p+".name", "%q: use letters, digits, '.', '-', '_' and '*' (at most 64)", cert.Name)
			}
			if prev, dup := names[cert.Name]; dup {
				ck.add(p+".name", "%q is also tls.certificates[%d]", cert.Name, prev)
			}
			names[cert.Name] = i
		}
	}
	if t.DefaultCertificate != "" && len(t.Certificates) == 0 && t.CertificatesDir == "" {
		ck.add("tls.default_certificate", "names a certificate, but no certificates or certificates_dir are configured")
	}
	for i, u := range c.Upstreams {
		p := fmt.Sprintf("upstreams[%d].tls", i)
		ut := u.TLS
		if !ut.Enabled {
			if ut.CAFile != "" || ut.ServerName != "" || ut.CertFile != "" || ut.KeyFile != "" {
				ck.add(p+".enabled", "TLS options are set but enabled is false")
			}
			continue
		}
		if (ut.CertFile == "") != (ut.KeyFile == "") {
			ck.add(p, "cert_file and key_file go together (client certificate for mutual TLS)")
		}
		if strings.ContainsAny(ut.ServerName, " /:") {
			ck.add(p+".server_name", "%q must be a bare host name", ut.ServerName)
		}
	}
}

// labelSafe reports whether s may be a metric label value and a log field
// without escaping.
func labelSafe(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '-', r == '_', r == '*':
		default:
			return false
		}
	}
	return true
}
