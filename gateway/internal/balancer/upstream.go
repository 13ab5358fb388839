// Package balancer holds upstream pools: each Upstream (one backend
// instance) pairs its immutable configuration with atomic live state, and a
// Policy picks the instance for a request by reading that state only.
//
// The split follows Caddy's reverseproxy (config apart from live counters,
// selection policies behind one interface).
package balancer

import (
	"context"
	"crypto/tls"
	"net"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

// MaxInstances is the largest pool size; Tried sets are 64-bit masks.
const MaxInstances = 64

// Upstream is one backend instance of a pool. Config fields are immutable;
// live state is atomic, so an Upstream is safe for concurrent use.
type Upstream struct {
	// Pool is the name of the pool the instance belongs to.
	Pool string
	// Addr is the instance's host:port.
	Addr string
	// Weight is the instance's relative share for weighted policies.
	Weight int
	// Index is the instance's position in its pool (0..MaxInstances-1).
	Index int
	// Client is the instance's keep-alive connection pool.
	Client *fasthttp.HostClient

	inflight atomic.Int64
	down     atomic.Bool
}

// ClientOptions configure an instance's connection pool.
type ClientOptions struct {
	// DialTimeout bounds opening a TCP connection.
	DialTimeout time.Duration
	// MaxConns caps open connections to the instance.
	MaxConns int
	// MaxIdleConnDuration closes keep-alive connections idle this long.
	MaxIdleConnDuration time.Duration
	// TLS, when not nil, makes every connection a TLS connection with this
	// client configuration (ServerName empty: the host part of the
	// address). The handshake is part of the dial, bounded by DialTimeout.
	TLS *tls.Config
}

// NewUpstream returns an instance with its own fasthttp.HostClient. The
// client never retries on its own (MaxIdemponentCallAttempts 1, RetryIfErr
// false: retries are the proxy's decision) and adds no User-Agent. Header
// names of upstream responses are canonicalized on receipt, as the public
// listener does for requests, so that every lookup, replacement and removal
// the gateway makes is case-insensitive (RFC 9110 §5.1): an upstream
// "server:" or "x-request-id:" line cannot slip past them. The request target it sends is the canonical
// path the gateway routed on (fasthttp's normalized, re-quoted path), so
// the upstream cannot be made to see a different path than the router.
func NewUpstream(pool, addr string, weight, index int, o ClientOptions) *Upstream {
	dialer := &net.Dialer{Timeout: o.DialTimeout, KeepAlive: 30 * time.Second}
	dial := dialer.Dial
	if o.TLS != nil {
		td := &tls.Dialer{NetDialer: dialer, Config: o.TLS}
		if td.Config.ServerName == "" {
			host, _, _ := net.SplitHostPort(addr)
			td.Config = td.Config.Clone()
			td.Config.ServerName = host
		}
		dial = func(network, a string) (net.Conn, error) {
			ctx, cancel := context.WithTimeout(context.Background(), o.DialTimeout)
			defer cancel()
			return td.DialContext(ctx, network, a)
		}
	}
	hc := &fasthttp.HostClient{
		Addr:                      addr,
		Name:                      "",
		NoDefaultUserAgentHeader:  true,
		MaxConns:                  o.MaxConns,
		MaxIdleConnDuration:       o.MaxIdleConnDuration,
		MaxIdemponentCallAttempts: 1,
		RetryIfErr:                func(*fasthttp.Request, int, error) (bool, bool) { return false, false },
		Dial: func(a string) (net.Conn, error) {
			c, err := dial("tcp", a)
			if err != nil {
				return nil, &DialError{Err: err}
			}
			return c, nil
		},
	}
	return &Upstream{Pool: pool, Addr: addr, Weight: weight, Index: index, Client: hc}
}

// InFlight returns the number of requests currently sent to the instance.
func (u *Upstream) InFlight() int64 { return u.inflight.Load() }

// Begin records a request sent to the instance; End must follow when it
// completes.
func (u *Upstream) Begin() { u.inflight.Add(1) }

// End records the completion of a request started with Begin.
func (u *Upstream) End() { u.inflight.Add(-1) }

// Available reports whether policies may pick the instance.
func (u *Upstream) Available() bool { return !u.down.Load() }

// SetDown marks the instance unavailable (true) or available (false).
func (u *Upstream) SetDown(down bool) { u.down.Store(down) }

// Close releases idle connections to the instance.
func (u *Upstream) Close() { u.Client.CloseIdleConnections() }

// DialError marks a failure to open a connection to an instance: the
// request's bytes never left the gateway, so any request, even a POST, may
// be retried on another instance.
type DialError struct{ Err error }

func (e *DialError) Error() string { return "dial upstream: " + e.Err.Error() }

// Unwrap returns the dialer's error (a *net.OpError, often a timeout).
func (e *DialError) Unwrap() error { return e.Err }

// Tried is a set of instance indexes already tried for one request.
type Tried uint64

// Add returns the set with index i added.
func (t Tried) Add(i int) Tried { return t | 1<<uint(i) }

// Has reports whether index i is in the set.
func (t Tried) Has(i int) bool { return t&(1<<uint(i)) != 0 }
