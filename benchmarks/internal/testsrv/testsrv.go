// Package testsrv starts real fasthttp servers on 127.0.0.1 for the load
// generator's tests: plain or TLS with a freshly generated self-signed
// certificate, with a way to kill every connection at once.
package testsrv

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// Server is a fasthttp server listening on 127.0.0.1 with a random port.
// Its methods are safe for concurrent use, also from its handler.
type Server struct {
	// URL is the base URL, "http://127.0.0.1:PORT" or "https://...".
	URL string
	// Cert is the self-signed certificate of a TLS server, nil otherwise.
	Cert *x509.Certificate

	ln   *trackingListener
	srv  *fasthttp.Server
	done chan struct{}
}

// Start serves handler on 127.0.0.1:0, over TLS with a self-signed
// certificate for 127.0.0.1, ::1 and localhost when useTLS is set. The
// server stops at the end of the test.
func Start(t testing.TB, handler fasthttp.RequestHandler, useTLS bool) *Server {
	t.Helper()
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testsrv: listen: %v", err)
	}
	s := &Server{
		ln: &trackingListener{Listener: raw},
		srv: &fasthttp.Server{
			Handler:         handler,
			ReadTimeout:     10 * time.Second,
			CloseOnShutdown: true,
			// Killed connections and failed handshakes are the point of
			// some tests; keep their logs quiet.
			Logger: quiet{},
		},
		done: make(chan struct{}),
	}
	var ln net.Listener = s.ln
	scheme := "http"
	if useTLS {
		cert, leaf, err := SelfSigned()
		if err != nil {
			t.Fatalf("testsrv: %v", err)
		}
		s.Cert = leaf
		ln = tls.NewListener(s.ln, &tls.Config{
			Certificates: []tls.Certificate{cert},
			MinVersion:   tls.VersionTLS12,
			NextProtos:   []string{"http/1.1"},
		})
		scheme = "https"
	}
	s.URL = scheme + "://" + raw.Addr().String()
	go func() {
		defer close(s.done)
		_ = s.srv.Serve(ln)
	}()
	t.Cleanup(func() {
		s.Kill()
		_ = s.srv.Shutdown()
		<-s.done
	})
	return s
}

// Kill closes the listener, so new connections are refused, and resets
// every accepted connection (SO_LINGER 0), as a crashed server would.
func (s *Server) Kill() { s.ln.kill() }

// Accepted returns how many TCP connections the server accepted.
func (s *Server) Accepted() int64 { return s.ln.accepted.Load() }

// CertPool returns a pool trusting the server's certificate (TLS servers).
func (s *Server) CertPool() *x509.CertPool {
	p := x509.NewCertPool()
	if s.Cert != nil {
		p.AddCert(s.Cert)
	}
	return p
}

// SelfSigned generates an ECDSA P-256 self-signed certificate valid for an
// hour for 127.0.0.1, ::1 and localhost.
func SelfSigned() (tls.Certificate, *x509.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(now.UnixNano()),
		Subject:               pkix.Name{CommonName: "loadgen test"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(time.Hour),
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		DNSNames:              []string{"localhost"},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, leaf, nil
}

// ClosedPortURL returns "http://127.0.0.1:PORT" for a port that was free a
// moment ago and has no listener now: connections to it are refused.
func ClosedPortURL(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testsrv: listen: %v", err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatalf("testsrv: close: %v", err)
	}
	return "http://" + addr
}

// trackingListener remembers accepted connections so kill can reset them.
type trackingListener struct {
	net.Listener
	mu       sync.Mutex
	conns    []net.Conn
	killed   bool
	accepted atomic.Int64
}

func (l *trackingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.killed {
		resetClose(c)
		return nil, net.ErrClosed
	}
	l.conns = append(l.conns, c)
	l.accepted.Add(1)
	return c, nil
}

func (l *trackingListener) kill() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.killed {
		return
	}
	l.killed = true
	_ = l.Listener.Close()
	for _, c := range l.conns {
		resetClose(c)
	}
	l.conns = nil
}

func resetClose(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = c.Close()
}

// quiet is a fasthttp.Logger that discards everything.
type quiet struct{}

func (quiet) Printf(string, ...any) {}
