package runner

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

// ErrRemote is wrapped by the errors of NewClient and of dialing when a
// target is not a loopback address and remote targets were not allowed.
var ErrRemote = errors.New("runner: target is not a loopback address (127.0.0.0/8, ::1, localhost); pass --allow-remote to load a remote host")

// ErrURL is wrapped by NewClient's error for an unusable base URL.
var ErrURL = errors.New("runner: invalid target URL")

// ClientConfig configures a Client.
type ClientConfig struct {
	// URL is the target's base URL: http or https, a host with an optional
	// port, and an optional path prefix that every request path is appended
	// to. No query, fragment or user info.
	URL string
	// Connections caps the open connections; > 0.
	Connections int
	// Timeout bounds each request (dial, TLS handshake, write, read); > 0.
	Timeout time.Duration
	// Insecure skips TLS certificate verification (self-signed targets).
	Insecure bool
	// RootCAs, when set, replaces the system roots for verification.
	RootCAs *x509.CertPool
	// AllowRemote permits targets (and sources) other than loopback
	// addresses.
	AllowRemote bool
	// Sources are local addresses new connections bind, in turn (one
	// client address per connection, as the target sees it); empty lets
	// the system choose. Linux routes all of 127.0.0.0/8 to loopback, so
	// 127.0.1.1-127.0.1.200 are 200 distinct clients without setup.
	Sources []netip.Addr
}

// Client sends HTTP/1.1 requests with keep-alive, over plain TCP or TLS
// (ALPN http/1.1), to one target through fasthttp.HostClient. It never
// retries a request, counts the bytes its connections read and write, and,
// unless remote targets are allowed, dials loopback addresses only (names
// are resolved and filtered before any packet is sent). A Client is safe for
// concurrent use.
type Client struct {
	hc     *fasthttp.HostClient
	base   string // scheme://host[:port]/prefix without a trailing slash
	host   string // host[:port] for the Host header
	tls    bool
	remote bool

	timeout  time.Duration
	sources  []netip.Addr
	nextSrc  atomic.Uint64
	bytesIn  atomic.Int64
	bytesOut atomic.Int64
}

// NewClient validates cfg and returns a Client. Errors wrap ErrURL for an
// unusable URL and ErrRemote for a non-loopback target without AllowRemote.
// Only literal loopback IPs and the name localhost (and *.localhost, RFC
// 6761) count as loopback.
func NewClient(cfg ClientConfig) (*Client, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("%w %q: %w", ErrURL, cfg.URL, err)
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, fmt.Errorf("%w %q: scheme must be http or https", ErrURL, cfg.URL)
	case u.Host == "" || u.Hostname() == "":
		return nil, fmt.Errorf("%w %q: no host", ErrURL, cfg.URL)
	case u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "":
		return nil, fmt.Errorf("%w %q: only scheme, host, port and path are allowed", ErrURL, cfg.URL)
	}
	if cfg.Connections <= 0 {
		return nil, fmt.Errorf("runner: connections must be > 0, got %d", cfg.Connections)
	}
	if cfg.Timeout <= 0 {
		return nil, fmt.Errorf("runner: timeout must be > 0, got %v", cfg.Timeout)
	}
	host := u.Hostname()
	if !cfg.AllowRemote && !IsLoopbackHost(host) {
		return nil, fmt.Errorf("%w: %q", ErrRemote, host)
	}
	for _, a := range cfg.Sources {
		if !cfg.AllowRemote && !a.IsLoopback() {
			return nil, fmt.Errorf("%w: source address %s", ErrRemote, a)
		}
	}
	port := u.Port()
	if port == "" {
		port = "80"
		if u.Scheme == "https" {
			port = "443"
		}
	}
	c := &Client{
		base:    u.Scheme + "://" + u.Host + strings.TrimRight(u.EscapedPath(), "/"),
		host:    u.Host,
		tls:     u.Scheme == "https",
		remote:  cfg.AllowRemote,
		timeout: cfg.Timeout,
		sources: slices.Clone(cfg.Sources),
	}
	c.hc = &fasthttp.HostClient{
		Addr:        net.JoinHostPort(host, port),
		Name:        "campshub360-loadgen",
		IsTLS:       c.tls,
		DialTimeout: c.dial,
		MaxConns:    cfg.Connections,
		// One attempt per request: a load generator counts failures instead
		// of hiding them behind retries.
		MaxIdemponentCallAttempts: 1,
		RetryIfErr:                func(*fasthttp.Request, int, error) (bool, bool) { return false, false },
		ReadTimeout:               cfg.Timeout,
		WriteTimeout:              cfg.Timeout,
		MaxConnWaitTimeout:        cfg.Timeout,
		ReadBufferSize:            16 << 10,
		WriteBufferSize:           16 << 10,
		DisablePathNormalizing:    true,
	}
	if c.tls {
		c.hc.TLSConfig = &tls.Config{
			MinVersion:         tls.VersionTLS12,
			NextProtos:         []string{"http/1.1"},
			InsecureSkipVerify: cfg.Insecure, //nolint:gosec // asked for, to load self-signed test targets
			RootCAs:            cfg.RootCAs,
		}
	}
	return c, nil
}

// IsLoopbackHost reports whether host (no port) is a literal loopback IP
// (127.0.0.0/8, ::1) or the name localhost or a subdomain of it.
func IsLoopbackHost(host string) bool {
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}

// BaseURL returns the target's base URL without a trailing slash: scheme,
// host, optional port and path prefix.
func (c *Client) BaseURL() string { return c.base }

// Host returns the host (with port when the URL had one) for the Host
// header.
func (c *Client) Host() string { return c.host }

// Timeout returns the per-request timeout.
func (c *Client) Timeout() time.Duration { return c.timeout }

// Do sends req and reads the whole response into resp, within the client's
// timeout. req must carry an absolute URI on the client's base URL (see
// BaseURL) and a Host header. Errors are fasthttp's and the dialer's; sort
// them with Classify.
func (c *Client) Do(req *fasthttp.Request, resp *fasthttp.Response) error {
	return c.hc.DoTimeout(req, resp, c.timeout)
}

// Bytes returns the bytes read from and written to the client's connections
// so far, TLS overhead included.
func (c *Client) Bytes() (in, out int64) { return c.bytesIn.Load(), c.bytesOut.Load() }

// CloseIdleConnections closes the keep-alive connections not in use.
func (c *Client) CloseIdleConnections() { c.hc.CloseIdleConnections() }

// dial connects to addr ("host:port") within timeout. Unless remote targets
// are allowed, a name is resolved first and only its loopback addresses are
// dialed, so no packet leaves the machine.
func (c *Client) dial(addr string, timeout time.Duration) (net.Conn, error) {
	if timeout <= 0 {
		timeout = c.timeout
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var d net.Dialer
	if len(c.sources) > 0 {
		src := c.sources[(c.nextSrc.Add(1)-1)%uint64(len(c.sources))]
		d.LocalAddr = &net.TCPAddr{IP: src.AsSlice()}
	}
	var conn net.Conn
	var err error
	if c.remote {
		conn, err = d.DialContext(ctx, "tcp", addr)
	} else {
		conn, err = dialLoopback(ctx, &d, addr)
	}
	if err != nil {
		return nil, err
	}
	return &countingConn{Conn: conn, in: &c.bytesIn, out: &c.bytesOut}, nil
}

func dialLoopback(ctx context.Context, d *net.Dialer, addr string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	var ips []net.IP
	if ip := net.ParseIP(host); ip != nil {
		ips = []net.IP{ip}
	} else {
		if !IsLoopbackHost(host) {
			return nil, fmt.Errorf("%w: %q", ErrRemote, host)
		}
		addrs, err := net.DefaultResolver.LookupIPAddr(ctx, host)
		if err != nil {
			return nil, err
		}
		for _, a := range addrs {
			ips = append(ips, a.IP)
		}
	}
	var firstErr error
	for _, ip := range ips {
		if !ip.IsLoopback() {
			continue
		}
		conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort(ip.String(), port))
		if err == nil {
			return conn, nil
		}
		if firstErr == nil {
			firstErr = err
		}
	}
	if firstErr == nil {
		firstErr = fmt.Errorf("%w: %q resolves to no loopback address", ErrRemote, host)
	}
	return nil, firstErr
}

// countingConn adds the bytes it reads and writes to shared counters.
type countingConn struct {
	net.Conn
	in, out *atomic.Int64
}

func (c *countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.in.Add(int64(n))
	}
	return n, err
}

func (c *countingConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	if n > 0 {
		c.out.Add(int64(n))
	}
	return n, err
}
