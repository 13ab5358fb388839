package tlsconfig

import (
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Pair names one certificate chain file and its key file (PEM). Name
// labels the pair in logs and metrics; empty: the certificate's subject
// CN, else its first DNS name, else the certificate file's base name.
type Pair struct {
	Name, CertFile, KeyFile string
}

// Source is where the served certificates come from: listed pairs, plus
// the pairs found in Dir (see ScanDir). Default names the pair served to
// clients without SNI or with a name no certificate covers; empty: the
// first listed pair, else the first pair of Dir in name order.
type Source struct {
	Pairs   []Pair
	Dir     string
	Default string
}

// Store holds the served certificates and the listener's TLS policy. The
// certificate set and the policy are swapped atomically: a handshake uses
// one consistent set. Safe for concurrent use.
//
// SNI selection (RFC 6066 §3): the exact DNS name, then a wildcard for the
// name's parent, then the default certificate. Every certificate is served
// under the same tls.Config, so a client with an unknown name gets the
// default certificate, never a weaker protocol or cipher setting.
type Store struct {
	set       atomic.Pointer[certSet]
	conf      atomic.Pointer[tls.Config]
	hsTimeout atomic.Int64

	mu      sync.Mutex // serializes Load and Refresh
	src     Source
	changed chan struct{}

	metrics *Metrics
	log     *slog.Logger
	now     func() time.Time
}

// NewStore returns an empty store recording on m (nil: no metrics) and
// logging reloads on log. now is the clock (time.Now when nil). The
// policy starts at TLS 1.2 minimum with a 10 s handshake timeout.
func NewStore(m *Metrics, log *slog.Logger, now func() time.Time) *Store {
	if now == nil {
		now = time.Now
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Store{metrics: m, log: log, now: now, changed: make(chan struct{}, 1)}
	s.SetPolicy("1.2", 10*time.Second)
	return s
}

// loaded is one certificate in a set, with what it was read from.
type loaded struct {
	name string
	pair Pair
	sum  [32]byte // SHA-256 of cert file || key file
	cert *tls.Certificate
}

type certSet struct {
	def    *tls.Certificate
	byName map[string][]*tls.Certificate // lower-case DNS names; "*.x" for wildcards
	certs  []loaded
}

// Load reads every pair of src and, when all of them are good, makes them
// the served set and src the source Refresh re-reads. On any error the
// previous set stays in place and the error names every bad pair and why
// (unreadable, key does not match, expired, default name unknown).
func (s *Store) Load(src Source) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	pairs, err := resolve(src)
	if err != nil {
		s.count("failure")
		return err
	}
	var errs []error
	var certs []loaded
	for _, p := range pairs {
		l, err := s.read(p)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		certs = append(certs, l)
	}
	if len(errs) > 0 {
		s.count("failure")
		return errors.Join(errs...)
	}
	cs, err := build(certs, src.Default)
	if err != nil {
		s.count("failure")
		return err
	}
	s.install(cs)
	s.src = src
	s.count("success")
	select {
	case s.changed <- struct{}{}:
	default:
	}
	return nil
}

// Refresh re-reads the current source (rescanning its directory) and
// swaps in what changed. A pair that fails to load keeps its previous
// certificate (a new pair that fails is left out); the other pairs are
// updated. The error names every pair that failed and why; the served set
// is then the best one available.
func (s *Store) Refresh() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.set.Load()
	pairs, err := resolve(s.src)
	if err != nil {
		s.count("failure")
		return fmt.Errorf("%w; the previous certificates stay in use", err)
	}
	var errs []error
	var certs []loaded
	changed := false
	for _, p := range pairs {
		l, err := s.read(p)
		if err == nil {
			prev, had := old.find(p)
			if !had || prev.sum != l.sum {
				changed = true
				s.log.Info("certificate loaded", "cert", l.name, "file", p.CertFile, "not_after", l.cert.Leaf.NotAfter)
			} else {
				l = prev
			}
			certs = append(certs, l)
			continue
		}
		if prev, had := old.find(p); had {
			errs = append(errs, fmt.Errorf("%w; the previous certificate stays in use", err))
			certs = append(certs, prev)
		} else {
			errs = append(errs, err)
		}
	}
	if old != nil && len(certs) != len(old.certs) {
		changed = true
	}
	if changed {
		cs, err := build(certs, s.src.Default)
		if err != nil {
			errs = append(errs, fmt.Errorf("%w; the previous certificates stay in use", err))
		} else {
			s.install(cs)
		}
	}
	if len(errs) > 0 {
		s.count("failure")
		return errors.Join(errs...)
	}
	if changed {
		s.count("success")
	}
	return nil
}

// WatchedDirs returns the directories holding the current source's files
// (for the file watcher), sorted and without duplicates.
func (s *Store) WatchedDirs() []string {
	s.mu.Lock()
	src := s.src
	s.mu.Unlock()
	seen := map[string]bool{}
	var dirs []string
	add := func(d string) {
		if d != "" && !seen[d] {
			seen[d] = true
			dirs = append(dirs, d)
		}
	}
	for _, p := range src.Pairs {
		add(filepath.Dir(p.CertFile))
		add(filepath.Dir(p.KeyFile))
	}
	if src.Dir != "" {
		add(src.Dir)
		if ents, err := os.ReadDir(src.Dir); err == nil {
			for _, e := range ents {
				if isDir(src.Dir, e) {
					add(filepath.Join(src.Dir, e.Name()))
				}
			}
		}
	}
	return dirs
}

// Names returns the names of the served certificates, default first.
func (s *Store) Names() []string {
	cs := s.set.Load()
	if cs == nil {
		return nil
	}
	var out []string
	for _, l := range cs.certs {
		if l.cert == cs.def {
			out = append([]string{l.name}, out...)
		} else {
			out = append(out, l.name)
		}
	}
	return out
}

func (s *Store) count(result string) {
	if s.metrics != nil {
		s.metrics.Reloads.WithLabelValues(result).Inc()
	}
}

func (s *Store) install(cs *certSet) {
	s.set.Store(cs)
	if s.metrics == nil {
		return
	}
	s.metrics.CertExpiry.Reset()
	for _, l := range cs.certs {
		s.metrics.CertExpiry.WithLabelValues(l.name).Set(float64(l.cert.Leaf.NotAfter.Unix()))
	}
}

func (cs *certSet) find(p Pair) (loaded, bool) {
	if cs == nil {
		return loaded{}, false
	}
	for _, l := range cs.certs {
		if l.pair.CertFile == p.CertFile && l.pair.KeyFile == p.KeyFile {
			return l, true
		}
	}
	return loaded{}, false
}

// read loads and checks one pair.
func (s *Store) read(p Pair) (loaded, error) {
	certPEM, err := os.ReadFile(p.CertFile)
	if err != nil {
		return loaded{}, fmt.Errorf("certificate %s: %w", p.CertFile, err)
	}
	keyPEM, err := os.ReadFile(p.KeyFile)
	if err != nil {
		return loaded{}, fmt.Errorf("certificate %s: key: %w", p.CertFile, err)
	}
	c, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return loaded{}, fmt.Errorf("certificate %s with key %s: %w", p.CertFile, p.KeyFile, err)
	}
	now := s.now()
	if now.After(c.Leaf.NotAfter) {
		return loaded{}, fmt.Errorf("certificate %s expired at %s", p.CertFile, c.Leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	if now.Before(c.Leaf.NotBefore) {
		return loaded{}, fmt.Errorf("certificate %s is not valid before %s", p.CertFile, c.Leaf.NotBefore.UTC().Format(time.RFC3339))
	}
	h := sha256.New()
	h.Write(certPEM)
	h.Write([]byte{0})
	h.Write(keyPEM)
	l := loaded{pair: p, cert: &c, name: p.Name}
	copy(l.sum[:], h.Sum(nil))
	if l.name == "" {
		l.name = nameOf(&c, p.CertFile)
	}
	return l, nil
}

// nameOf derives a bounded label for a certificate.
func nameOf(c *tls.Certificate, file string) string {
	n := c.Leaf.Subject.CommonName
	if n == "" && len(c.Leaf.DNSNames) > 0 {
		n = c.Leaf.DNSNames[0]
	}
	if n == "" {
		n = strings.TrimSuffix(filepath.Base(file), filepath.Ext(file))
	}
	if len(n) > 64 {
		n = n[:64]
	}
	return n
}

// build indexes certs by DNS name and picks the default.
func build(certs []loaded, def string) (*certSet, error) {
	if len(certs) == 0 {
		return nil, errors.New("no certificates")
	}
	cs := &certSet{byName: map[string][]*tls.Certificate{}}
	names := map[string]int{}
	for i := range certs {
		// Names label metrics and must be unique: a second "campus.edu"
		// becomes "campus.edu#2".
		base := certs[i].name
		names[base]++
		if n := names[base]; n > 1 {
			certs[i].name = fmt.Sprintf("%s#%d", base, n)
		}
		c := certs[i].cert
		for _, n := range c.Leaf.DNSNames {
			n = strings.ToLower(strings.TrimSuffix(n, "."))
			cs.byName[n] = append(cs.byName[n], c)
		}
		if def != "" && (certs[i].pair.Name == def || certs[i].name == def) && cs.def == nil {
			cs.def = c
		}
	}
	if def != "" && cs.def == nil {
		return nil, fmt.Errorf("default certificate %q: no certificate has that name", def)
	}
	if cs.def == nil {
		cs.def = certs[0].cert
	}
	cs.certs = certs
	return cs, nil
}

// GetCertificate implements tls.Config.GetCertificate: the exact name,
// then a wildcard for the name's parent, then the default. Among several
// certificates for one name (an ECDSA and an RSA one, say) the first the
// client supports wins. It does not allocate for a lower-case name.
func (s *Store) GetCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	cs := s.set.Load()
	if cs == nil {
		return nil, errors.New("tls: no certificates loaded")
	}
	name := strings.TrimSuffix(hello.ServerName, ".")
	if name != "" {
		if !isLower(name) {
			name = strings.ToLower(name)
		}
		if c := pick(hello, cs.byName[name]); c != nil {
			return c, nil
		}
		if i := strings.IndexByte(name, '.'); i > 0 {
			var buf [256]byte
			wild := append(append(buf[:0], '*'), name[i:]...)
			if c := pick(hello, cs.byName[string(wild)]); c != nil {
				return c, nil
			}
		}
	}
	return cs.def, nil
}

func pick(hello *tls.ClientHelloInfo, cands []*tls.Certificate) *tls.Certificate {
	switch len(cands) {
	case 0:
		return nil
	case 1:
		return cands[0]
	}
	for _, c := range cands {
		if hello.SupportsCertificate(c) == nil {
			return c
		}
	}
	return cands[0]
}

func isLower(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 'A' && s[i] <= 'Z' {
			return false
		}
	}
	return true
}

// CipherSuites are the TLS 1.2 suites the listener accepts: ECDHE key
// exchange (forward secrecy) with AEAD ciphers only, ECDSA before RSA and
// AES-GCM before ChaCha20-Poly1305 (Mozilla "intermediate" profile,
// version 5.7). TLS 1.3 suites are all AEAD and not configurable in Go.
var CipherSuites = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
}

// Curves are the key exchange groups offered: X25519, then P-256.
var Curves = []tls.CurveID{tls.X25519, tls.CurveP256}

// ALPN is the only application protocol negotiated: the gateway serves
// HTTP/1.1 (fasthttp), so it never agrees to h2 (RFC 7301).
var ALPN = []string{"http/1.1"}

// SetPolicy sets the protocol policy of new handshakes: minVersion "1.3"
// allows TLS 1.3 only, anything else TLS 1.2 and 1.3; handshakeTimeout
// bounds each handshake. Connections already established keep theirs.
func (s *Store) SetPolicy(minVersion string, handshakeTimeout time.Duration) {
	s.conf.Store(s.ServerConfig(minVersion))
	s.hsTimeout.Store(int64(handshakeTimeout))
}

// ServerConfig returns a listener tls.Config over the store: the minimum
// version (TLS 1.2, or 1.3 when minVersion is "1.3"), CipherSuites,
// Curves, ALPN and SNI selection through GetCertificate. SSL 3.0, TLS 1.0
// and 1.1 client hellos are refused with a protocol_version alert.
func (s *Store) ServerConfig(minVersion string) *tls.Config {
	mv := uint16(tls.VersionTLS12)
	if minVersion == "1.3" {
		mv = tls.VersionTLS13
	}
	return &tls.Config{
		MinVersion:       mv,
		MaxVersion:       tls.VersionTLS13,
		CipherSuites:     CipherSuites,
		CurvePreferences: Curves,
		NextProtos:       ALPN,
		GetCertificate:   s.GetCertificate,
		GetConfigForClient: func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
			if rc, ok := hello.Conn.(*rawConn); ok {
				for _, v := range hello.SupportedVersions {
					rc.offered = max(rc.offered, v)
				}
			}
			return nil, nil
		},
	}
}

// Config returns the current listener tls.Config.
func (s *Store) Config() *tls.Config { return s.conf.Load() }
