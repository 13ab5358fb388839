package tlsconfig

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"sync"
	"time"
)

// Listen wraps inner (a TCP listener) so that every accepted connection is
// a TLS server connection under the store's current policy. The handshake
// runs on the connection's first Read or Write (in the serving goroutine,
// never in Accept) and is bounded by the policy's handshake timeout: a
// client that opens a connection and never completes the handshake is
// disconnected then. Each handshake is counted in the store's metrics.
func (s *Store) Listen(inner net.Listener) net.Listener { return &listener{Listener: inner, s: s} }

type listener struct {
	net.Listener
	s *Store
}

func (l *listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	rc := &rawConn{Conn: c}
	return &Conn{Conn: tls.Server(rc, l.s.conf.Load()), raw: rc, s: l.s}, nil
}

// rawConn is the TCP connection under a TLS server connection. It records
// the protocol version the client hello offered, for the handshake metric
// of a failed handshake: the highest supported_versions entry (set by the
// store's GetConfigForClient) or, for clients too old to send that
// extension (SSL 3.0 .. TLS 1.2), the hello's legacy version sniffed from
// the first bytes read.
type rawConn struct {
	net.Conn
	offered uint16
	legacy  uint16
	sniffed bool
}

func (c *rawConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if !c.sniffed && n > 0 {
		c.sniffed = true
		// TLSPlaintext{type=22 handshake, version, length} then
		// Handshake{type=1 client_hello, length[3], client_version}.
		if n >= 11 && b[0] == 22 && b[5] == 1 {
			c.legacy = uint16(b[9])<<8 | uint16(b[10])
		}
	}
	return n, err
}

// Conn is a TLS server connection whose handshake is bounded by a timeout
// and counted. It satisfies fasthttp's TLS connection interface
// (Handshake, ConnectionState), so handlers see ctx.IsTLS() true.
type Conn struct {
	*tls.Conn
	raw   *rawConn
	s     *Store
	once  sync.Once
	hsErr error
}

// Handshake runs the TLS handshake once, within the handshake timeout,
// and returns its result on every call.
func (c *Conn) Handshake() error {
	c.once.Do(c.handshake)
	return c.hsErr
}

func (c *Conn) handshake() {
	timeout := time.Duration(c.s.hsTimeout.Load())
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	err := c.Conn.HandshakeContext(ctx)
	cancel()
	c.hsErr = err
	if c.s.metrics == nil {
		return
	}
	switch {
	case err == nil:
		c.s.metrics.Handshakes.WithLabelValues(VersionName(c.Conn.ConnectionState().Version), "success").Inc()
	case errors.Is(err, context.DeadlineExceeded) || isTimeout(err):
		c.s.metrics.Handshakes.WithLabelValues(c.offered(), "timeout").Inc()
	default:
		c.s.metrics.Handshakes.WithLabelValues(c.offered(), "failure").Inc()
	}
}

func (c *Conn) offered() string {
	if c.raw.offered != 0 {
		return VersionName(c.raw.offered)
	}
	return VersionName(c.raw.legacy)
}

// Read completes the handshake first, then reads application data.
func (c *Conn) Read(b []byte) (int, error) {
	if err := c.Handshake(); err != nil {
		return 0, err
	}
	return c.Conn.Read(b)
}

// Write completes the handshake first, then writes application data.
func (c *Conn) Write(b []byte) (int, error) {
	if err := c.Handshake(); err != nil {
		return 0, err
	}
	return c.Conn.Write(b)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
