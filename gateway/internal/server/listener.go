package server

import (
	"crypto/tls"
	"net"
	"sync"
	"time"
)

// tlsListener wraps accepted connections in TLS whose handshake must
// finish within a timeout, so that a client opening connections and never
// completing (or trickling) the handshake cannot hold them. The handshake
// runs on the connection's first Read or Write, in fasthttp's per
// connection goroutine, never in the accept loop.
type tlsListener struct {
	net.Listener
	cfg     *tls.Config
	timeout time.Duration
}

func newTLSListener(ln net.Listener, cfg *tls.Config, timeout time.Duration) net.Listener {
	return &tlsListener{Listener: ln, cfg: cfg, timeout: timeout}
}

// Accept returns the next connection wrapped in TLS.
func (l *tlsListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &handshakeConn{Conn: tls.Server(c, l.cfg), timeout: l.timeout}, nil
}

// handshakeConn is a *tls.Conn whose handshake is bounded by timeout
// (on top of whatever deadline fasthttp set). It keeps *tls.Conn's
// methods (Handshake, ConnectionState) so fasthttp still sees TLS.
type handshakeConn struct {
	*tls.Conn
	timeout time.Duration
	once    sync.Once
	err     error
	// readDeadline is the last read deadline fasthttp set, restored after
	// the handshake.
	mu           sync.Mutex
	readDeadline time.Time
}

func (c *handshakeConn) handshake() error {
	c.once.Do(func() {
		c.mu.Lock()
		rd := c.readDeadline
		c.mu.Unlock()
		d := time.Now().Add(c.timeout)
		if !rd.IsZero() && rd.Before(d) {
			d = rd
		}
		_ = c.Conn.SetDeadline(d)
		c.err = c.Conn.Handshake()
		_ = c.Conn.SetWriteDeadline(time.Time{})
		_ = c.Conn.SetReadDeadline(rd)
	})
	return c.err
}

// Read completes the handshake first.
func (c *handshakeConn) Read(p []byte) (int, error) {
	if err := c.handshake(); err != nil {
		return 0, err
	}
	return c.Conn.Read(p)
}

// Write completes the handshake first.
func (c *handshakeConn) Write(p []byte) (int, error) {
	if err := c.handshake(); err != nil {
		return 0, err
	}
	return c.Conn.Write(p)
}

// SetReadDeadline records the deadline so the handshake can restore it.
func (c *handshakeConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	c.readDeadline = t
	c.mu.Unlock()
	return c.Conn.SetReadDeadline(t)
}

// SetDeadline records the read half like SetReadDeadline.
func (c *handshakeConn) SetDeadline(t time.Time) error {
	c.mu.Lock()
	c.readDeadline = t
	c.mu.Unlock()
	return c.Conn.SetDeadline(t)
}
