package tlsconfig

import (
	"crypto/tls"
	"fmt"
	"strings"
	"sync/atomic"
)

// Pair names one certificate chain file and its key file (PEM).
type Pair struct {
	CertFile, KeyFile string
}

// Store holds the loaded certificates and answers SNI lookups. The first
// certificate is the default, served to clients without SNI or with an
// unknown name (never a weaker setting: all certificates share one
// tls.Config). Safe for concurrent use; Load swaps the set atomically.
type Store struct {
	set atomic.Pointer[certSet]
}

type certSet struct {
	def    *tls.Certificate
	byName map[string]*tls.Certificate // lower-case DNS names; "*.x" for wildcards
}

// Load reads every pair, and on success replaces the served set. On any
// error the previous set stays in place and the error names the bad pair.
func (s *Store) Load(pairs []Pair) error {
	if len(pairs) == 0 {
		return fmt.Errorf("no certificates")
	}
	cs := &certSet{byName: map[string]*tls.Certificate{}}
	for i, p := range pairs {
		c, err := tls.LoadX509KeyPair(p.CertFile, p.KeyFile)
		if err != nil {
			return fmt.Errorf("certificate %d (%s): %w", i, p.CertFile, err)
		}
		if i == 0 {
			cs.def = &c
		}
		for _, n := range c.Leaf.DNSNames {
			n = strings.ToLower(n)
			if _, dup := cs.byName[n]; !dup {
				cs.byName[n] = &c
			}
		}
	}
	s.set.Store(cs)
	return nil
}

// GetCertificate implements tls.Config.GetCertificate: exact name, then
// wildcard for the name's parent, then the default.
func (s *Store) GetCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	cs := s.set.Load()
	if cs == nil {
		return nil, fmt.Errorf("no certificates loaded")
	}
	name := strings.ToLower(strings.TrimSuffix(hello.ServerName, "."))
	if name != "" {
		if c, ok := cs.byName[name]; ok {
			return c, nil
		}
		if i := strings.IndexByte(name, '.'); i > 0 {
			if c, ok := cs.byName["*"+name[i:]]; ok {
				return c, nil
			}
		}
	}
	return cs.def, nil
}

// ServerConfig returns the listener's tls.Config: TLS 1.2 minimum (1.3
// when minVersion is "1.3"), AEAD suites with forward secrecy only (the
// TLS 1.3 suites are all AEAD and not configurable), X25519 then P-256,
// and ALPN "http/1.1" only: the gateway serves HTTP/1.1, so it never
// negotiates h2.
func (s *Store) ServerConfig(minVersion string) *tls.Config {
	mv := uint16(tls.VersionTLS12)
	if minVersion == "1.3" {
		mv = tls.VersionTLS13
	}
	return &tls.Config{
		MinVersion: mv,
		CipherSuites: []uint16{
			tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
			tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
		},
		CurvePreferences: []tls.CurveID{tls.X25519, tls.CurveP256},
		NextProtos:       []string{"http/1.1"},
		GetCertificate:   s.GetCertificate,
	}
}
