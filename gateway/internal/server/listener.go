package server

import (
	"bytes"
	"crypto/tls"
	"errors"
	"io"
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
//     any TLS work is spent on them (the TLS handshake, bounded by
//     tls.handshake_timeout, runs lazily in tlsconfig's connection, on
//     the first Read or Write in fasthttp's per-connection goroutine);
//   - a note of the line being received, so that a request head that
//     overflows the read buffer can be answered 414 (the request line was
//     too long) or 431 (a header line was) exactly; fasthttp resets the
//     header before reporting the overflow and cannot say which;
//   - a scan of each request head as it arrives for a line ended by a bare
//     LF (headScanner): fasthttp accepts one on the request line, and waits
//     for a CRLFCRLF that never comes when the head ends with one, so the
//     client would hang until the read timeout. The scanner makes the
//     framing stage refuse the request, or, while fasthttp is still waiting
//     for the rest of the head, fails the next read with errBareLF, which
//     the error handler answers 400;
//   - a lingering close after a request refused before the handler ran
//     (lingerOnClose), so that the refusal is not lost to a reset.
//
// On the HTTPS listener it wraps the TLS connection, so it sees plaintext.
type listener struct {
	net.Listener
	perIP int

	mu    sync.Mutex
	conns map[netip.Addr]int
}

// newListener wraps ln (the raw TCP listener, or tlsconfig's TLS listener
// over it) with the per-IP cap perIP (0: none).
func newListener(ln net.Listener, perIP int) *listener {
	return &listener{Listener: ln, perIP: perIP, conns: map[netip.Addr]int{}}
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
		if t, ok := c.(tlsConnection); ok {
			return &trackedTLSConn{trackedConn: trackedConn{Conn: c, release: release}, tls: t}, nil
		}
		return &trackedConn{Conn: c, release: release}, nil
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

// errBareLF fails the reads of a connection whose request head had a line
// ended by a bare LF (see headScanner).
var errBareLF = errors.New("bare LF line end in the request head")

// headScanner scans the bytes of a request head as they are received for
// a line ended by LF alone (RFC 9112 §2.2: CRLF ends every line of the
// head). Scanning starts at the connection's first byte and again after
// each response (next); it stops at the blank line ending the head, so
// request bodies are never scanned. Empty lines before the request line
// are skipped, as fasthttp does (RFC 9112 §2.2 allows it). A head that
// arrives pipelined behind the previous request's body, in the same read
// as it, is not scanned; fasthttp and framing.Check still refuse a bare
// LF inside its header section. Only the connection's serving goroutine
// uses it.
type headScanner struct {
	lastByte byte // last byte scanned (0 at the start of a head)
	lineLen  int  // bytes of the current line so far, its CR included
	lines    int  // non-empty lines of this head so far
	inBody   bool // the head has ended: nothing is scanned until next
	bad      bool // a bare LF was seen
}

// observe scans the next bytes received.
func (h *headScanner) observe(p []byte) {
	for !h.inBody && !h.bad && len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			h.lineLen += len(p)
			h.lastByte = p[len(p)-1]
			return
		}
		before := h.lastByte
		if i > 0 {
			before = p[i-1]
		}
		if before != '\r' {
			h.bad = true
			return
		}
		switch {
		case h.lineLen+i > 1:
			h.lines++
		case h.lines > 0:
			h.inBody = true // the blank line: the head is complete
		}
		h.lineLen, h.lastByte, p = 0, '\n', p[i+1:]
	}
}

// next starts scanning the next request head.
func (h *headScanner) next() {
	if !h.bad {
		*h = headScanner{}
	}
}

// overflowConn is what the error handler asks a connection whose request
// head overflowed the read buffer.
type overflowConn interface{ requestLineOverflow() bool }

// headConn is what the server asks a connection about the request head
// being served: whether it had a bare LF line end (the framing stage then
// refuses it), and, once its response is written, to scan the next head.
type headConn interface {
	bareLF() bool
	nextHead()
}

// trackedConn records the line being received, scans request heads and
// releases the connection's per-IP slot once on Close.
type trackedConn struct {
	net.Conn
	lines   lineTracker
	head    headScanner
	release func()
	closed  atomic.Bool
	linger  atomic.Bool
}

// Read reads from the connection; after a bare LF in a request head it
// fails with errBareLF without reading.
func (c *trackedConn) Read(p []byte) (int, error) {
	if c.head.bad {
		return 0, errBareLF
	}
	n, err := c.Conn.Read(p)
	c.lines.observe(p[:n])
	c.head.observe(p[:n])
	return n, err
}

func (c *trackedConn) requestLineOverflow() bool { return c.lines.requestLine() }

func (c *trackedConn) bareLF() bool { return c.head.bad }

func (c *trackedConn) nextHead() { c.head.next() }

// Lingering close of a connection closed after a refused request: the
// gateway stops writing, then reads and discards what the client still
// sends for at most lingerTime or lingerBytes before closing. Closing a
// socket with unread data makes the kernel send a reset, which can destroy
// the refusal before the client reads it (a 413 answered from the head
// while the client is still sending its body); RFC 9112 §9.6 describes the
// staged close, nginx calls it lingering_close.
const (
	lingerTime  = 2 * time.Second
	lingerBytes = 4 << 20
)

// lingerConn is what the server asks a connection it closes after refusing
// a request.
type lingerConn interface{ lingerOnClose() }

func (c *trackedConn) lingerOnClose() { c.linger.Store(true) }

// Close closes the connection once, lingering first when asked to, and
// releases its per-IP slot.
func (c *trackedConn) Close() error {
	if c.closed.Swap(true) {
		return nil
	}
	defer c.release()
	if c.linger.Load() {
		c.drain()
	}
	return c.Conn.Close()
}

// drain half-closes the connection (a FIN on TCP; close_notify on TLS,
// whose CloseWrite leaves the TCP connection open) and discards what
// arrives until the client closes, lingerTime passes or lingerBytes were
// read.
func (c *trackedConn) drain() {
	cw, ok := c.Conn.(interface{ CloseWrite() error })
	if !ok || cw.CloseWrite() != nil {
		return
	}
	if c.Conn.SetReadDeadline(time.Now().Add(lingerTime)) != nil {
		return
	}
	_, _ = io.CopyN(io.Discard, c.Conn, lingerBytes)
}

// tlsConnection is fasthttp's view of a TLS connection: a connection with
// these methods makes ctx.IsTLS() true and ctx.TLSConnectionState work.
type tlsConnection interface {
	Handshake() error
	ConnectionState() tls.ConnectionState
}

// trackedTLSConn is a trackedConn over a TLS connection, keeping its
// Handshake and ConnectionState visible to fasthttp.
type trackedTLSConn struct {
	trackedConn
	tls tlsConnection
}

// Handshake runs (once) the wrapped connection's bounded handshake.
func (c *trackedTLSConn) Handshake() error { return c.tls.Handshake() }

// ConnectionState returns the wrapped connection's TLS state.
func (c *trackedTLSConn) ConnectionState() tls.ConnectionState { return c.tls.ConnectionState() }
