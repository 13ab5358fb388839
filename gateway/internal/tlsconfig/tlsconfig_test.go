package tlsconfig

import (
	"bufio"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/campshub360/edge/gateway/internal/testpki"
	"github.com/campshub360/edge/shared/testkit"
)

// echoServer serves the store's TLS listener: each line read is answered
// with "pong\n".
type echoServer struct {
	addr  string
	store *Store
	m     *Metrics
}

func startEcho(t *testing.T, s *Store) *echoServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tl := s.Listen(ln)
	t.Cleanup(func() { tl.Close() })
	go func() {
		for {
			c, err := tl.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				r := bufio.NewReader(c)
				for {
					if _, err := r.ReadString('\n'); err != nil {
						return
					}
					if _, err := io.WriteString(c, "pong\n"); err != nil {
						return
					}
				}
			}()
		}
	}()
	return &echoServer{addr: ln.Addr().String(), store: s, m: s.metrics}
}

func newStore(t *testing.T) (*Store, *Metrics) {
	t.Helper()
	m, err := NewMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	return NewStore(m, nil, nil), m
}

type fixture struct {
	ca  *testpki.CA
	dir string
}

func newFixture(t *testing.T) *fixture {
	return &fixture{ca: testpki.NewCA(t, "test CA"), dir: t.TempDir()}
}

func (f *fixture) pair(t *testing.T, base, cn string, names ...string) Pair {
	c, k := f.ca.Write(t, f.dir, base, testpki.Leaf{CN: cn, DNSNames: names})
	return Pair{CertFile: c, KeyFile: k}
}

// dial handshakes with cfg (RootCAs and ServerName filled in) and returns
// the connection and the served leaf's CN.
func (f *fixture) dial(t *testing.T, addr string, cfg *tls.Config) (*tls.Conn, string, error) {
	t.Helper()
	if cfg == nil {
		cfg = &tls.Config{}
	}
	cfg.RootCAs = f.ca.Pool()
	if cfg.ServerName == "" {
		cfg.InsecureSkipVerify = true // no SNI: verify only that a handshake happens
	}
	d := &net.Dialer{Timeout: 5 * time.Second}
	c, err := tls.DialWithDialer(d, "tcp", addr, cfg)
	if err != nil {
		return nil, "", err
	}
	t.Cleanup(func() { c.Close() })
	return c, c.ConnectionState().PeerCertificates[0].Subject.CommonName, nil
}

func ping(t *testing.T, c net.Conn) {
	t.Helper()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, "ping\n"); err != nil {
		t.Fatalf("write: %v", err)
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || line != "pong\n" {
		t.Fatalf("read %q, %v", line, err)
	}
}

func TestVersionsAndSuites(t *testing.T) {
	f := newFixture(t)
	s, m := newStore(t)
	if err := s.Load(Source{Pairs: []Pair{f.pair(t, "a", "a.campus.test", "a.campus.test")}}); err != nil {
		t.Fatal(err)
	}
	srv := startEcho(t, s)

	for _, tc := range []struct {
		name     string
		min, max uint16
		ok       bool
	}{
		{"tls1.0", tls.VersionTLS10, tls.VersionTLS10, false},
		{"tls1.1", tls.VersionTLS11, tls.VersionTLS11, false},
		{"tls1.2", tls.VersionTLS12, tls.VersionTLS12, true},
		{"tls1.3", tls.VersionTLS13, tls.VersionTLS13, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, _, err := f.dial(t, srv.addr, &tls.Config{ServerName: "a.campus.test", MinVersion: tc.min, MaxVersion: tc.max})
			if tc.ok != (err == nil) {
				t.Fatalf("handshake err = %v, want ok=%v", err, tc.ok)
			}
			if err != nil {
				return
			}
			st := c.ConnectionState()
			if st.Version != tc.max || st.NegotiatedProtocol != "" && st.NegotiatedProtocol != "http/1.1" {
				t.Fatalf("state %+v", st)
			}
			ping(t, c)
		})
	}

	// Non-AEAD or non-ECDHE TLS 1.2 suites are refused.
	_, _, err := f.dial(t, srv.addr, &tls.Config{ServerName: "a.campus.test", MaxVersion: tls.VersionTLS12,
		CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA, tls.TLS_RSA_WITH_AES_128_GCM_SHA256}})
	if err == nil {
		t.Fatal("CBC / static-RSA suite accepted")
	}
	// ALPN: http/1.1 is negotiated; h2 never is.
	c, _, err := f.dial(t, srv.addr, &tls.Config{ServerName: "a.campus.test", NextProtos: []string{"h2", "http/1.1"}})
	if err != nil || c.ConnectionState().NegotiatedProtocol != "http/1.1" {
		t.Fatalf("ALPN: %v %q", err, c.ConnectionState().NegotiatedProtocol)
	}

	// The metric labels come from the negotiated or offered version.
	poll(t, func() bool {
		return testutil.ToFloat64(m.Handshakes.WithLabelValues("1.0", "failure")) == 1 &&
			testutil.ToFloat64(m.Handshakes.WithLabelValues("1.1", "failure")) == 1 &&
			testutil.ToFloat64(m.Handshakes.WithLabelValues("1.3", "success")) >= 2
	})

	// TLS 1.3 only.
	s.SetPolicy("1.3", time.Second)
	if _, _, err := f.dial(t, srv.addr, &tls.Config{ServerName: "a.campus.test", MaxVersion: tls.VersionTLS12}); err == nil {
		t.Fatal("TLS 1.2 accepted with min_version 1.3")
	}
	if _, _, err := f.dial(t, srv.addr, &tls.Config{ServerName: "a.campus.test"}); err != nil {
		t.Fatal(err)
	}
}

// An SSL 3.0 ClientHello (which crypto/tls cannot send) gets an alert, not
// a ServerHello.
func TestSSLv3HelloRefused(t *testing.T) {
	f := newFixture(t)
	s, m := newStore(t)
	if err := s.Load(Source{Pairs: []Pair{f.pair(t, "a", "a", "a.campus.test")}}); err != nil {
		t.Fatal(err)
	}
	srv := startEcho(t, s)
	c, err := net.Dial("tcp", srv.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	body := []byte{0x03, 0x00} // client_version SSL 3.0
	body = append(body, make([]byte, 32)...)
	body = append(body, 0)                            // session id
	body = append(body, 0, 4, 0x00, 0x2f, 0x00, 0x0a) // TLS_RSA_WITH_AES_128_CBC_SHA, 3DES
	body = append(body, 1, 0)                         // null compression
	hs := append([]byte{1, 0, byte(len(body) >> 8), byte(len(body))}, body...)
	rec := append([]byte{22, 0x03, 0x00, byte(len(hs) >> 8), byte(len(hs))}, hs...)
	if _, err := c.Write(rec); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 7)
	n, _ := io.ReadFull(c, buf)
	if n > 0 && buf[0] != 21 {
		t.Fatalf("got record type %d, want an alert (21) or a closed connection", buf[0])
	}
	if n == 7 && buf[6] != 70 {
		t.Fatalf("alert %d, want protocol_version (70)", buf[6])
	}
	poll(t, func() bool { return testutil.ToFloat64(m.Handshakes.WithLabelValues("ssl3", "failure")) == 1 })
}

func TestHandshakeTimeout(t *testing.T) {
	f := newFixture(t)
	s, m := newStore(t)
	if err := s.Load(Source{Pairs: []Pair{f.pair(t, "a", "a", "a.campus.test")}}); err != nil {
		t.Fatal(err)
	}
	s.SetPolicy("1.2", 200*time.Millisecond)
	srv := startEcho(t, s)
	for _, partial := range [][]byte{nil, {22, 3, 1, 0, 200, 1}} { // silence; a hello cut short
		c, err := net.Dial("tcp", srv.addr)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Write(partial); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, err = c.Read(make([]byte, 1))
		if err == nil {
			t.Fatal("server sent data to an unfinished handshake")
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("server kept the connection open %v", time.Since(start))
		}
		c.Close()
	}
	poll(t, func() bool {
		return testutil.ToFloat64(m.Handshakes.WithLabelValues("unknown", "timeout")) == 2
	})
}

func TestSNISelection(t *testing.T) {
	f := newFixture(t)
	s, _ := newStore(t)
	def := f.pair(t, "default", "default", "campus.test")
	api := f.pair(t, "api", "api", "api.campus.test")
	wild := f.pair(t, "wild", "wild", "*.portal.campus.test")
	if err := s.Load(Source{Pairs: []Pair{api, def, wild}, Default: "default"}); err != nil {
		t.Fatal(err)
	}
	srv := startEcho(t, s)
	for sni, want := range map[string]string{
		"api.campus.test":        "api",
		"API.Campus.Test":        "api",
		"x.portal.campus.test":   "wild",
		"campus.test":            "default",
		"unknown.example":        "default",
		"a.b.portal.campus.test": "default", // a wildcard covers one label only
		"":                       "default", // no SNI
	} {
		cfg := &tls.Config{ServerName: sni, InsecureSkipVerify: true}
		_, cn, err := f.dial(t, srv.addr, cfg)
		if err != nil || cn != want {
			t.Errorf("SNI %q: got %q (%v), want %q", sni, cn, err, want)
		}
	}
	// Verified handshakes for the names the certificates cover.
	if _, _, err := f.dial(t, srv.addr, &tls.Config{ServerName: "x.portal.campus.test"}); err != nil {
		t.Fatal(err)
	}
}

func TestECDSAAndRSAForOneName(t *testing.T) {
	f := newFixture(t)
	s, _ := newStore(t)
	ec := f.pair(t, "ec", "ec", "campus.test")
	rc, rk := f.ca.Write(t, f.dir, "rsa", testpki.Leaf{CN: "rsa", DNSNames: []string{"campus.test"}, RSA: true})
	if err := s.Load(Source{Pairs: []Pair{ec, {CertFile: rc, KeyFile: rk}}}); err != nil {
		t.Fatal(err)
	}
	srv := startEcho(t, s)
	_, cn, err := f.dial(t, srv.addr, &tls.Config{ServerName: "campus.test", MaxVersion: tls.VersionTLS12,
		CipherSuites: []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256}})
	if err != nil || cn != "rsa" {
		t.Fatalf("RSA-only client got %q, %v", cn, err)
	}
	if _, cn, _ := f.dial(t, srv.addr, &tls.Config{ServerName: "campus.test"}); cn != "ec" {
		t.Fatalf("modern client got %q, want the ECDSA certificate", cn)
	}
}

func TestLoadErrorsKeepTheServedSet(t *testing.T) {
	f := newFixture(t)
	s, m := newStore(t)
	good := f.pair(t, "good", "good", "campus.test")
	if err := s.Load(Source{Pairs: []Pair{good}}); err != nil {
		t.Fatal(err)
	}
	other := f.pair(t, "other", "other", "other.test")
	expiredC, expiredK := f.ca.Write(t, f.dir, "expired", testpki.Leaf{CN: "expired", DNSNames: []string{"x.test"},
		NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-time.Hour)})
	for name, tc := range map[string]struct {
		src  Source
		want string
	}{
		"missing file":    {Source{Pairs: []Pair{{CertFile: filepath.Join(f.dir, "nope.crt"), KeyFile: good.KeyFile}}}, "no such file"},
		"key mismatch":    {Source{Pairs: []Pair{{CertFile: good.CertFile, KeyFile: other.KeyFile}}}, "does not match"},
		"expired":         {Source{Pairs: []Pair{{CertFile: expiredC, KeyFile: expiredK}}}, "expired at"},
		"unknown default": {Source{Pairs: []Pair{good}, Default: "nope"}, `default certificate "nope"`},
		"empty dir":       {Source{Dir: t.TempDir()}, "no certificates"},
	} {
		err := s.Load(tc.src)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", name, err, tc.want)
		}
	}
	if got := s.Names(); len(got) != 1 || got[0] != "good" {
		t.Fatalf("served set changed: %v", got)
	}
	if testutil.ToFloat64(m.Reloads.WithLabelValues("failure")) != 5 {
		t.Fatal("failures not counted")
	}
}

func TestScanDir(t *testing.T) {
	f := newFixture(t)
	dir := t.TempDir()
	f.ca.Write(t, dir, "b-campus", testpki.Leaf{CN: "b", DNSNames: []string{"b.test"}})
	f.ca.Write(t, dir, "a-campus", testpki.Leaf{CN: "a", DNSNames: []string{"a.test"}})
	for _, sub := range []struct{ name, cert, key string }{{"k8s", "tls.crt", "tls.key"}, {"acme", "fullchain.pem", "privkey.pem"}} {
		if err := os.Mkdir(filepath.Join(dir, sub.name), 0o700); err != nil {
			t.Fatal(err)
		}
		c, k := f.ca.Issue(t, testpki.Leaf{CN: sub.name, DNSNames: []string{sub.name + ".test"}})
		testpki.WriteAtomic(t, filepath.Join(dir, sub.name, sub.cert), c)
		testpki.WriteAtomic(t, filepath.Join(dir, sub.name, sub.key), k)
	}
	c, _ := f.ca.Issue(t, testpki.Leaf{CN: "lonely"})
	testpki.WriteAtomic(t, filepath.Join(dir, "lonely.crt"), c) // no key: ignored
	pairs, err := ScanDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range pairs {
		names = append(names, p.Name)
	}
	if strings.Join(names, ",") != "a-campus,acme,b-campus,k8s" {
		t.Fatalf("pairs %v", names)
	}
	s, m := newStore(t)
	if err := s.Load(Source{Dir: dir, Default: "k8s"}); err != nil {
		t.Fatal(err)
	}
	if got := s.Names(); got[0] != "k8s" || len(got) != 4 {
		t.Fatalf("names %v", got)
	}
	if testutil.CollectAndCount(m.CertExpiry) != 4 {
		t.Fatal("expiry gauge per certificate missing")
	}
}

// Reload while clients are connected: established connections keep
// working on the old certificate, new ones get the new certificate; a
// broken replacement keeps the old certificate.
func TestWatchReloadKeepsConnections(t *testing.T) {
	f := newFixture(t)
	s, m := newStore(t)
	p := f.pair(t, "site", "first", "campus.test")
	if err := s.Load(Source{Pairs: []Pair{p}}); err != nil {
		t.Fatal(err)
	}
	results := make(chan error, 16)
	w, err := s.Watch(20*time.Millisecond, func(err error) { results <- err })
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	srv := startEcho(t, s)

	old, cn, err := f.dial(t, srv.addr, &tls.Config{ServerName: "campus.test"})
	if err != nil || cn != "first" {
		t.Fatalf("%q %v", cn, err)
	}
	ping(t, old)

	f.ca.Write(t, f.dir, "site", testpki.Leaf{CN: "second", DNSNames: []string{"campus.test"}})
	poll(t, func() bool {
		_, cn, err := f.dial(t, srv.addr, &tls.Config{ServerName: "campus.test"})
		return err == nil && cn == "second"
	})
	ping(t, old) // the established connection still works
	if old.ConnectionState().PeerCertificates[0].Subject.CommonName != "first" {
		t.Fatal("old connection changed certificate")
	}

	// A broken pair: garbage certificate. The previous one stays, the
	// failure is reported.
	drain(results)
	testpki.WriteAtomic(t, p.CertFile, []byte("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n"))
	var rerr error
	poll(t, func() bool {
		select {
		case rerr = <-results:
			return rerr != nil
		default:
			return false
		}
	})
	if !strings.Contains(rerr.Error(), "previous certificate stays in use") {
		t.Fatalf("reload error %v", rerr)
	}
	if _, cn, err := f.dial(t, srv.addr, &tls.Config{ServerName: "campus.test"}); err != nil || cn != "second" {
		t.Fatalf("after a broken reload got %q %v", cn, err)
	}
	if testutil.ToFloat64(m.Reloads.WithLabelValues("failure")) < 1 {
		t.Fatal("failure not counted")
	}
}

func drain(c chan error) {
	for {
		select {
		case <-c:
		default:
			return
		}
	}
}

func TestUpstreamConfig(t *testing.T) {
	f := newFixture(t)
	caFile := f.ca.WriteCA(t, f.dir, "ca.pem")
	cc, ck := f.ca.Write(t, f.dir, "client", testpki.Leaf{CN: "gateway", Client: true})
	c, err := Upstream(UpstreamOptions{CAFile: caFile, ServerName: "backend.internal", CertFile: cc, KeyFile: ck})
	if err != nil {
		t.Fatal(err)
	}
	if c.ServerName != "backend.internal" || len(c.Certificates) != 1 || c.RootCAs == nil || c.MinVersion != tls.VersionTLS12 {
		t.Fatalf("config %+v", c)
	}
	if _, err := Upstream(UpstreamOptions{CAFile: cc + ".missing"}); err == nil {
		t.Fatal("missing CA accepted")
	}
	bad := filepath.Join(f.dir, "bad.pem")
	_ = os.WriteFile(bad, []byte("nothing"), 0o600)
	if _, err := Upstream(UpstreamOptions{CAFile: bad}); err == nil {
		t.Fatal("empty CA bundle accepted")
	}
}

func BenchmarkGetCertificate(b *testing.B) {
	ca := testpki.NewCA(b, "ca")
	dir := b.TempDir()
	var pairs []Pair
	for _, n := range []string{"a", "b", "c"} {
		c, k := ca.Write(b, dir, n, testpki.Leaf{CN: n, DNSNames: []string{n + ".campus.test", "*." + n + ".campus.test"}})
		pairs = append(pairs, Pair{CertFile: c, KeyFile: k})
	}
	s := NewStore(nil, nil, nil)
	if err := s.Load(Source{Pairs: pairs}); err != nil {
		b.Fatal(err)
	}
	hello := &tls.ClientHelloInfo{ServerName: "x.b.campus.test"}
	b.ReportAllocs()
	for b.Loop() {
		if c, _ := s.GetCertificate(hello); c == nil {
			b.Fatal("no cert")
		}
	}
}

// poll waits up to 10 s for cond.
func poll(t *testing.T, cond func() bool) {
	t.Helper()
	testkit.Poll(t, 10*time.Second, "the condition", cond)
}
