package cache

import (
	"crypto/tls"
	"errors"
	"net"
	"time"
)

// bgConn stands in for the client connection of a background fetch: it
// carries the triggering request's remote address and, through tlsBGConn,
// whether it arrived over TLS (fasthttp's RequestCtx.IsTLS looks for the
// Handshake and ConnectionState methods), so that the rest of the chain
// forwards it exactly as it would the client's request (X-Forwarded-For,
// X-Forwarded-Proto). It never reads or writes.
type bgConn struct{ remote net.Addr }

var errBackground = errors.New("cache: background request has no client connection")

func (bgConn) Read([]byte) (int, error)         { return 0, errBackground }
func (bgConn) Write([]byte) (int, error)        { return 0, errBackground }
func (bgConn) Close() error                     { return nil }
func (bgConn) LocalAddr() net.Addr              { return &net.TCPAddr{IP: net.IPv4zero} }
func (c bgConn) RemoteAddr() net.Addr           { return c.remote }
func (bgConn) SetDeadline(time.Time) error      { return nil }
func (bgConn) SetReadDeadline(time.Time) error  { return nil }
func (bgConn) SetWriteDeadline(time.Time) error { return nil }

// tlsBGConn is a bgConn for a request that arrived over TLS.
type tlsBGConn struct{ bgConn }

func (tlsBGConn) Handshake() error { return nil }
func (tlsBGConn) ConnectionState() tls.ConnectionState {
	return tls.ConnectionState{HandshakeComplete: true}
}

// discardLogger drops fasthttp's context log lines of background fetches.
type discardLogger struct{}

func (discardLogger) Printf(string, ...any) {}
