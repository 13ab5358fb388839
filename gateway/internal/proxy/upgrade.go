package proxy

import (
	"bufio"
	"bytes"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/campshub360/edge/gateway/internal/balancer"
	"github.com/campshub360/edge/gateway/internal/exchange"
	"github.com/campshub360/edge/shared/problem"
)

var (
	headerUpgrade    = []byte("Upgrade")
	headerConnection = []byte("Connection")
	tokenWebSocket   = []byte("websocket")
	tokenUpgrade     = []byte("Upgrade")
	headerWSKey      = []byte("Sec-WebSocket-Key")
	headerWSVersion  = []byte("Sec-WebSocket-Version")
	wsVersion13      = []byte("13")
)

// UpgradeRequested reports whether the request asks to switch protocols
// (an Upgrade header listed in Connection, RFC 9110 §7.8).
func UpgradeRequested(h *fasthttp.RequestHeader) bool {
	return len(h.PeekBytes(headerUpgrade)) > 0 && hasToken(h.PeekBytes(headerConnection), tokenUpgrade)
}

// IsWebSocket reports whether the request is a WebSocket opening handshake
// (RFC 6455 §4.1: GET, Upgrade: websocket, Connection: Upgrade,
// Sec-WebSocket-Key, Sec-WebSocket-Version: 13). Other upgrades (h2c,
// TLS) are not relayed: the Upgrade header is hop-by-hop and is dropped,
// so such a request is served as plain HTTP/1.1.
func IsWebSocket(h *fasthttp.RequestHeader) bool {
	return h.IsGet() && UpgradeRequested(h) && hasToken(h.PeekBytes(headerUpgrade), tokenWebSocket) &&
		len(h.PeekBytes(headerWSKey)) > 0 && bytes.Equal(h.PeekBytes(headerWSVersion), wsVersion13)
}

// hasToken reports whether the comma-separated list v contains tok
// (case-insensitive).
func hasToken(v, tok []byte) bool {
	for len(v) > 0 {
		var t []byte
		if i := bytes.IndexByte(v, ','); i >= 0 {
			t, v = v[:i], v[i+1:]
		} else {
			t, v = v, nil
		}
		if bytes.EqualFold(bytes.TrimSpace(t), tok) {
			return true
		}
	}
	return false
}

// ServeWebSocket relays a WebSocket opening handshake to an instance of t's
// pool and, when the upstream answers 101 Switching Protocols, turns the
// client connection into a tunnel (fasthttp hijack) that copies bytes both
// ways until either side closes or nothing flowed either way for
// t.WebSocketIdle. A non-101 answer is relayed as an ordinary response.
// Upstream failures map like Serve's (503, 504, 502). Tunnels are closed
// by CloseTunnels on shutdown.
func (p *Proxy) ServeWebSocket(ctx *fasthttp.RequestCtx, t *Target) {
	ex := exchange.From(ctx)
	ex.Upstream = t.Pool.Name
	p.prepare(ctx, ex, t)
	h := &ctx.Request.Header
	h.SetBytesKV(headerUpgrade, tokenWebSocket)
	h.SetBytesKV(headerConnection, tokenUpgrade)

	pick := balancer.Request{Now: p.now().UnixNano()}
	pick.Key, pick.HasKey = t.Pool.Key.Hash(ctx, ex.ClientIP, ex.Subject)
	u := t.Pool.Pick(0, pick)
	if u == nil {
		p.fail(ctx, ex, nil)
		return
	}
	ex.Instance = u.Addr
	ex.Attempts = 1
	start := p.now()
	deadline := start.Add(t.Timeout)
	// The instance's own dialer: its dial timeout, TLS when the pool uses
	// it, and a *balancer.DialError on failure like any forwarded request.
	conn, err := u.Client.DialTimeout(u.Addr, deadline.Sub(start))
	if err != nil {
		t.instances[u.Index].Observe(0, p.now().Sub(start).Seconds())
		p.log.Warn("websocket dial failed", "request_id", string(ex.RequestID), "upstream", t.Pool.Name, "instance", u.Addr, "error", err.Error())
		p.fail(ctx, ex, err)
		return
	}
	_ = conn.SetDeadline(deadline)
	bw := bufio.NewWriter(conn)
	br := bufio.NewReader(conn)
	var resp fasthttp.Response
	err = ctx.Request.Write(bw)
	if err == nil {
		err = bw.Flush()
	}
	if err == nil {
		err = resp.Header.Read(br)
	}
	took := p.now().Sub(start)
	ex.UpstreamDuration = took
	if err != nil {
		conn.Close()
		t.instances[u.Index].Observe(0, took.Seconds())
		p.log.Warn("websocket handshake failed", "request_id", string(ex.RequestID), "upstream", t.Pool.Name, "instance", u.Addr, "error", err.Error())
		p.fail(ctx, ex, err)
		return
	}
	t.instances[u.Index].Observe(resp.StatusCode(), took.Seconds())
	if resp.StatusCode() != fasthttp.StatusSwitchingProtocols || !hasToken(resp.Header.PeekBytes(headerUpgrade), tokenWebSocket) {
		// Refused: relay the answer as a normal response.
		err = resp.ReadBody(br, 1<<20)
		conn.Close()
		if err != nil {
			p.fail(ctx, ex, err)
			return
		}
		resp.CopyTo(&ctx.Response)
		cleanResponse(&ctx.Response.Header)
		ctx.SetConnectionClose()
		return
	}
	_ = conn.SetDeadline(time.Time{})

	// The 101 head the client gets: the upstream's, hop-by-hop and
	// disclosing fields removed, then Upgrade/Connection restored, plus
	// the request id.
	cleanResponse(&resp.Header)
	resp.Header.SetBytesKV(headerUpgrade, tokenWebSocket)
	resp.Header.SetBytesKV(headerConnection, tokenUpgrade)
	resp.Header.SetBytesKV(headerRequestID, ex.RequestID)
	head := resp.Header.AppendBytes(nil)
	var pending []byte
	if n := br.Buffered(); n > 0 {
		pending, _ = br.Peek(n)
		pending = bytes.Clone(pending)
	}
	ex.Upgraded = true
	// For the metrics and the access log; nothing more is written by
	// fasthttp (HijackSetNoResponse).
	ctx.Response.SetStatusCode(fasthttp.StatusSwitchingProtocols)
	ctx.HijackSetNoResponse(true)
	idle := t.WebSocketIdle
	ctx.Hijack(func(client net.Conn) {
		defer conn.Close()
		// Whatever deadlines fasthttp left on the connection no longer
		// apply: the tunnel sets its own per read and write.
		_ = client.SetDeadline(time.Now().Add(idle))
		if _, err := client.Write(head); err != nil {
			return
		}
		if len(pending) > 0 {
			if _, err := client.Write(pending); err != nil {
				return
			}
		}
		p.tunnels.run(client, conn, idle, p.now)
	})
}

// tunnels tracks open WebSocket tunnels so shutdown can close them.
type tunnels struct {
	mu     sync.Mutex
	open   map[*tunnel]struct{}
	closed bool
}

type tunnel struct {
	a, b net.Conn
	last atomic.Int64 // unix nanoseconds of the last byte either way
}

func (ts *tunnels) add(t *tunnel) bool {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if ts.closed {
		return false
	}
	if ts.open == nil {
		ts.open = map[*tunnel]struct{}{}
	}
	ts.open[t] = struct{}{}
	return true
}

func (ts *tunnels) remove(t *tunnel) {
	ts.mu.Lock()
	delete(ts.open, t)
	ts.mu.Unlock()
}

// run copies between client and upstream until one side ends or the
// tunnel has been idle (no byte either way) for idle.
func (ts *tunnels) run(client, upstream net.Conn, idle time.Duration, now func() time.Time) {
	t := &tunnel{a: client, b: upstream}
	t.last.Store(now().UnixNano())
	if !ts.add(t) {
		return
	}
	defer ts.remove(t)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); t.pipe(upstream, client, idle, now) }()
	go func() { defer wg.Done(); t.pipe(client, upstream, idle, now) }()
	wg.Wait()
}

// pipe copies src to dst. A read deadline of idle past the last activity
// in either direction bounds each read (when it passes while the other
// direction was active, the wait is extended), and each write must finish
// within idle.
func (t *tunnel) pipe(dst, src net.Conn, idle time.Duration, now func() time.Time) {
	defer func() {
		// Closing both ends stops the other direction too.
		t.a.Close()
		t.b.Close()
	}()
	buf := make([]byte, 16<<10)
	for {
		_ = src.SetReadDeadline(time.Unix(0, t.last.Load()).Add(idle))
		n, err := src.Read(buf)
		if n > 0 {
			t.last.Store(now().UnixNano())
			// A peer that stops reading must not hold the tunnel either.
			_ = dst.SetWriteDeadline(now().Add(idle))
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() && now().Sub(time.Unix(0, t.last.Load())) < idle {
				continue // the other direction kept the tunnel alive
			}
			return // EOF, reset or idle: the tunnel ends
		}
	}
}

// CloseTunnels closes every open WebSocket tunnel and refuses new ones;
// called on shutdown after in-flight HTTP requests finished.
func (p *Proxy) CloseTunnels() {
	ts := &p.tunnels
	ts.mu.Lock()
	ts.closed = true
	open := make([]*tunnel, 0, len(ts.open))
	for t := range ts.open {
		open = append(open, t)
	}
	ts.mu.Unlock()
	for _, t := range open {
		t.a.Close()
		t.b.Close()
	}
}

// webSocketRefused is the answer to a WebSocket handshake on a route that
// does not allow WebSocket.
var webSocketRefused = problem.New(fasthttp.StatusBadRequest, "upgrade-refused", "Bad Request",
	"This route does not accept WebSocket connections.")

// RefuseWebSocket answers a WebSocket handshake on a route without
// websocket: true.
func RefuseWebSocket(ctx *fasthttp.RequestCtx) {
	problem.Write(ctx, webSocketRefused)
}
