package balancer

import (
	"errors"
	"io"
	"net"
	"sync/atomic"
	"syscall"
)

// UnsentError reports that a try failed before any byte of its request
// was written to the instance's connection: the kept-alive connection had
// been closed by the instance (it sent FIN or RST while idle, e.g. on a
// restart or an idle timeout), or the very first write of the request
// failed. Like a *DialError it means the request cannot have been
// processed, so any method may be sent to another instance.
type UnsentError struct{ Err error }

func (e *UnsentError) Error() string {
	return "upstream connection closed before the request: " + e.Err.Error()
}

// Unwrap returns the cause (io.EOF for a connection found closed).
func (e *UnsentError) Unwrap() error { return e.Err }

// trackedConn wraps an instance connection (below TLS) to tell a request
// that never left the gateway from one that did. fasthttp uses a
// connection for one request at a time, writing the whole request before
// reading its response, so "no byte written since the last read" marks
// the start of a request. Before the first write of a request on a reused
// connection it peeks at the socket without blocking (recv with MSG_PEEK
// and MSG_DONTWAIT, one system call): end-of-stream or a reset there
// means the instance closed the connection while it was idle, and the
// write is refused with *UnsentError instead of sending the request into
// a closed connection (Go's net/http detects the same with a background
// read per connection). The peek runs on the descriptor directly (not
// through the poller's read lock), so it never waits on a read in
// progress: the connection stays usable full duplex, as a WebSocket
// tunnel uses it. Safe for one reader and one writer at a time.
type trackedConn struct {
	net.Conn
	raw   syscall.RawConn // nil: no peeking (not a socket)
	wrote atomic.Bool     // a byte of the current request was written
	used  atomic.Bool     // a response byte was read: the connection is reused

	// The peek's state and callback, made once so that peeking does not
	// allocate; used by the writer only.
	peekFn  func(fd uintptr)
	peekBuf [1]byte
	peekN   int
	peekErr error
}

func newTrackedConn(c net.Conn) net.Conn {
	t := &trackedConn{Conn: c}
	if sc, ok := c.(syscall.Conn); ok {
		t.raw, _ = sc.SyscallConn()
	}
	t.peekFn = t.peek
	return t
}

func (c *trackedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		if c.wrote.Load() {
			c.wrote.Store(false)
		}
		if !c.used.Load() {
			c.used.Store(true)
		}
	}
	return n, err
}

func (c *trackedConn) Write(p []byte) (int, error) {
	first := !c.wrote.Load()
	if first && c.used.Load() && c.closedByPeer() {
		return 0, &UnsentError{Err: io.EOF}
	}
	n, err := c.Conn.Write(p)
	if n > 0 && first {
		c.wrote.Store(true)
	}
	if err != nil && first && n == 0 && !isTimeoutErr(err) {
		return 0, &UnsentError{Err: err}
	}
	return n, err
}

// closedByPeer reports whether the peer has closed the connection: a
// non-blocking peek sees end-of-stream or a reset. Pending bytes or no
// data mean it is open (or that nothing can be said).
func (c *trackedConn) closedByPeer() bool {
	if c.raw == nil {
		return false
	}
	c.peekN, c.peekErr = -1, nil
	if err := c.raw.Control(c.peekFn); err != nil {
		return false
	}
	return c.peekErr == nil && c.peekN == 0 || errors.Is(c.peekErr, syscall.ECONNRESET)
}

// peek is the raw receive of closedByPeer: MSG_PEEK leaves any data for
// the reader, MSG_DONTWAIT never blocks (EAGAIN: open, nothing pending).
func (c *trackedConn) peek(fd uintptr) {
	c.peekN, _, c.peekErr = syscall.Recvfrom(int(fd), c.peekBuf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
}

func isTimeoutErr(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
