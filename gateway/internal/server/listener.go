package server

import (
	"bytes"
	"crypto/tls"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// listener wraps the public listeners' accepted connections:
//
//   - a cap on concurrent connections per client IP (server.
//     max_conns_per_ip): connections over it are closed at once, before
//     any TLS work is spent on them;
//   - on the HTTPS listener, TLS whose handshake must finish within
//     tls_handshake_timeout, run on the connection's first Read or Write
//     in fasthttp's per-connection goroutine, never in the accept loop;
//   - a note of the line being received, so that a request head that
//     overflows the read buffer can be answered 414 (the request line was
//     too long) or 431 (a header line was) exactly; fasthttp resets the
//     header before reporting the overflow and cannot say which.
type listener struct {
	net.Listener
	tls       *tls.Config // nil: plain
	handshake time.Duration
	perIP     int

	mu    sync.Mutex
	conns map[netip.Addr]int
}

func newListener(ln net.Listener, cfg *tls.Config, handshake time.Duration, perIP int) *listener {
	return &listener{Listener: ln, tls: cfg, handshake: handshake, perIP: perIP, conns: map[netip.Addr]int{}}
}

// Accept returns the next connection within the per-IP cap, wrapped.
func (l *listener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		var ip netip.Addr
		if l.perIP > 0 {
			if ta, ok := c.RemoteAddr().(*net.TCPAddr); ok {
				ip = ta.AddrPort().Addr().Unmap()
			}
			if !l.admit(ip) {
				_ = c.Close()
				continue
			}
		}
		release := func() {}
		if l.perIP > 0 {
			release = func() { l.leave(ip) }
		}
		if l.tls == nil {
			return &plainConn{Conn: c, release: release}, nil
		}
		return &tlsConn{Conn: tls.Server(c, l.tls), timeout: l.handshake, release: release}, nil
	}
}

func (l *listener) admit(ip netip.Addr) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.conns[ip] >= l.perIP {
		return false
	}
	l.conns[ip]++
	return true
}

func (l *listener) leave(ip netip.Addr) {
	l.mu.Lock()
	if n := l.conns[ip] - 1; n > 0 {
		l.conns[ip] = n
	} else {
		delete(l.conns, ip)
	}
	l.mu.Unlock()
}

// lineTracker remembers the start of the line being received: whether a
// line feed ended the previous read data, and the first bytes of the
// current, unterminated line. Only the connection's serving goroutine
// reads, so no locking is needed.
type lineTracker struct {
	head [24]byte
	n    int
}

func (t *lineTracker) observe(p []byte) {
	if i := bytes.LastIndexByte(p, '\n'); i >= 0 {
		p = p[i+1:]
		t.n = 0
	}
	t.n += copy(t.head[min(t.n, len(t.head)):], p)
}

// requestLine reports whether the unterminated line looks like a request
// line ("METHOD SP target"): a token followed by a space. A header line
// has a colon after its name and no space before it.
func (t *lineTracker) requestLine() bool {
	h := t.head[:min(t.n, len(t.head))]
	sp, colon := bytes.IndexByte(h, ' '), bytes.IndexByte(h, ':')
	return sp > 0 && (colon < 0 || sp < colon)
}

// overflowConn is what the error handler asks a connection whose request
// head overflowed the read buffer.
type overflowConn interface{ requestLineOverflow() bool }

type plainConn struct {
	net.Conn
	lines   lineTracker
	release func()
	closed  atomic.Bool
}

func (c *plainConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.lines.observe(p[:n])
	return n, err
}

func (c *plainConn) requestLineOverflow() bool { return c.lines.requestLine() }

func (c *plainConn) Close() error {
	if c.closed.Swap(true) {
		return nil
	}
	c.release()
	return c.Conn.Close()
}

// tlsConn is a *tls.Conn (its Handshake and ConnectionState methods let
// fasthttp see TLS) whose handshake is bounded by timeout on top of
// whatever deadline fasthttp set.
type tlsConn struct {
	*tls.Conn
	timeout time.Duration
	release func()
	lines   lineTracker
	closed  atomic.Bool
	once    sync.Once
	err     error
	// readDeadline is the last read deadline fasthttp set, restored after
	// the handshake.
	mu           sync.Mutex
	readDeadline time.Time
}

func (c *tlsConn) handshake() error {
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

// Handshake runs the bounded handshake (for callers that start it
// explicitly, as fasthttp does when it negotiates ALPN protocols).
func (c *tlsConn) Handshake() error { return c.handshake() }

// Read completes the handshake first.
func (c *tlsConn) Read(p []byte) (int, error) {
	if err := c.handshake(); err != nil {
		return 0, err
	}
	n, err := c.Conn.Read(p)
	c.lines.observe(p[:n])
	return n, err
}

// Write completes the handshake first.
func (c *tlsConn) Write(p []byte) (int, error) {
	if err := c.handshake(); err != nil {
		return 0, err
	}
	return c.Conn.Write(p)
}

func (c *tlsConn) requestLineOverflow() bool { return c.lines.requestLine() }

// SetReadDeadline records the deadline so the handshake can restore it.
func (c *tlsConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	c.readDeadline = t
	c.mu.Unlock()
	return c.Conn.SetReadDeadline(t)
}

// SetDeadline records the read half like SetReadDeadline.
func (c *tlsConn) SetDeadline(t time.Time) error {
	c.mu.Lock()
	c.readDeadline = t
	c.mu.Unlock()
	return c.Conn.SetDeadline(t)
}

// Close releases the connection's per-IP slot once.
func (c *tlsConn) Close() error {
	if c.closed.Swap(true) {
		return nil
	}
	c.release()
	return c.Conn.Close()
}
