package server

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"encoding/json"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/campshub360/edge/shared/testkit"
)

// The wire tests speak raw HTTP/1.1 over TCP or TLS to the public
// listeners: timeouts on TLS connections, refusing declared bodies over the
// limit before reading them, bare LF line ends, and the bound on the
// connection-error log.

// dialWire opens a raw connection to addr, over TLS when secure.
func dialWire(t *testing.T, addr string, secure bool) net.Conn {
	t.Helper()
	var c net.Conn
	var err error
	if secure {
		c, err = tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true})
	} else {
		c, err = net.Dial("tcp", addr)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// readToClose reads until the gateway closes the connection. A read still
// blocked after d fails the test (the gateway hung); any other read error
// (a reset, a TLS record that does not decrypt) is returned with what was
// read before it. io.ReadAll's nil error means a clean close.
func readToClose(t *testing.T, c net.Conn, d time.Duration) ([]byte, error) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(d))
	b, err := io.ReadAll(c)
	var ne net.Error
	if errorsAs(err, &ne) && ne.Timeout() {
		t.Fatalf("no answer within %v; read %q", d, b)
	}
	return b, err
}

// wireProblem is the part of a problem body the wire tests check.
type wireProblem struct {
	Type      string `json:"type"`
	Status    int    `json:"status"`
	RequestID string `json:"request_id"`
}

// parseWire parses one response from b and, when it is an error, checks
// that it is a problem whose request_id is its X-Request-ID.
func parseWire(t *testing.T, br *bufio.Reader) (*fasthttp.Response, wireProblem) {
	t.Helper()
	resp := &fasthttp.Response{}
	if err := resp.Read(br); err != nil {
		t.Fatalf("reading the response: %v", err)
	}
	var p wireProblem
	if resp.StatusCode() >= 400 {
		if err := json.Unmarshal(resp.Body(), &p); err != nil || p.Type == "" || p.Status != resp.StatusCode() {
			t.Fatalf("status %d without a problem body: %q", resp.StatusCode(), resp.Body())
		}
		if id := string(resp.Header.Peek("X-Request-ID")); id == "" || id != p.RequestID {
			t.Fatalf("X-Request-ID %q, problem request_id %q", id, p.RequestID)
		}
	}
	return resp, p
}

// TestStalledBodyOverTLSGets408 reproduces a stalled body on a new TLS
// connection with the read, body and write timeouts equal, as in the
// shipped configuration: the client must get a well-formed 408 problem
// and a clean close, not a TLS record that fails to decrypt (the write
// deadline fasthttp armed when the connection opened used to pass just
// before the body timeout, breaking the TLS connection mid-answer).
func TestStalledBodyOverTLSGets408(t *testing.T) {
	up := startEcho(t, "a")
	g := startWith(t, "  read_timeout: 1s\n  body_timeout: 1s\n  write_timeout: 1s\n", plainRoutes, up.addr)
	c := dialWire(t, g.addrs.HTTPS, true)
	_, _ = io.WriteString(c, "POST /api/x HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{}")
	b, err := readToClose(t, c, 10*time.Second)
	if err != nil {
		t.Fatalf("the connection did not end cleanly: %v (read %q)", err, b)
	}
	resp, p := parseWire(t, bufio.NewReader(bytes.NewReader(b)))
	if resp.StatusCode() != 408 || !strings.HasSuffix(p.Type, "/request-timeout") || !resp.ConnectionClose() {
		t.Fatalf("stalled body answered %q", b)
	}
	if up.hits.Load() != 0 {
		t.Fatal("the stalled request reached the upstream")
	}
}

// TestStalledBodyOnKeepAliveGets408: the second request of a keep-alive
// connection stalls its body for longer than the write timeout the first
// response left armed; on both listeners it must still get its 408.
func TestStalledBodyOnKeepAliveGets408(t *testing.T) {
	up := startEcho(t, "a")
	g := startWith(t, "  body_timeout: 1s\n  write_timeout: 300ms\n", plainRoutes, up.addr)
	for _, l := range []struct {
		name   string
		addr   string
		secure bool
	}{{"https", g.addrs.HTTPS, true}, {"http", g.addrs.HTTP, false}} {
		t.Run(l.name, func(t *testing.T) {
			c := dialWire(t, l.addr, l.secure)
			_ = c.SetDeadline(time.Now().Add(10 * time.Second))
			br := bufio.NewReader(c)
			_, _ = io.WriteString(c, "GET /api/x HTTP/1.1\r\nHost: a\r\n\r\n")
			if resp, _ := parseWire(t, br); resp.StatusCode() >= 400 || resp.ConnectionClose() {
				t.Fatalf("first request: %d", resp.StatusCode())
			}
			_, _ = io.WriteString(c, "POST /api/x HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n{}")
			resp, _ := parseWire(t, br)
			if resp.StatusCode() != 408 || !resp.ConnectionClose() {
				t.Fatalf("stalled body: %d", resp.StatusCode())
			}
			if _, err := br.ReadByte(); err != io.EOF {
				t.Fatalf("after the 408: %v, want a clean close", err)
			}
		})
	}
}

// TestDeclaredBodyOverLimitRefusedAtOnce: a Content-Length over the
// applicable limit is answered 413 from the head alone, with or without
// "Expect: 100-continue", without a 100 Continue first and without waiting
// for the body (body_timeout is 30 s here, the client waits 5 s at most);
// the connection is closed and nothing reaches the upstream. Bodies within
// the limit still get their 100 Continue.
func TestDeclaredBodyOverLimitRefusedAtOnce(t *testing.T) {
	up := startEcho(t, "a")
	g := startWith(t, framingServer+"  max_body_bytes: 1000\n  body_timeout: 30s\n", framingRoutes, up.addr)
	for _, tc := range []struct {
		name, head string
		secure     bool
	}{
		{"expect, over the route limit", "POST /api/upload HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 2000000\r\n\r\n", true},
		{"no expect, over the route limit", "POST /api/upload HTTP/1.1\r\nHost: a\r\nContent-Length: 2000000\r\n\r\n", true},
		{"expect, over the inherited server limit", "PUT /api/x HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\nContent-Length: 1001\r\n\r\n", true},
		{"no expect, no route, over the server limit", "POST /elsewhere HTTP/1.1\r\nHost: a\r\nContent-Length: 1001\r\n\r\n", true},
		{"plain HTTP listener, expect", "POST /api/upload HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 2000000\r\n\r\n", false},
		{"plain HTTP listener, no expect", "POST /health/x HTTP/1.1\r\nHost: a\r\nContent-Length: 2000000\r\n\r\n", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := g.addrs.HTTPS
			if !tc.secure {
				addr = g.addrs.HTTP
			}
			c := dialWire(t, addr, tc.secure)
			_, _ = io.WriteString(c, tc.head)
			b, err := readToClose(t, c, 5*time.Second)
			if err != nil {
				t.Fatalf("the connection did not end cleanly: %v (read %q)", err, b)
			}
			if !bytes.HasPrefix(b, []byte("HTTP/1.1 413 ")) {
				t.Fatalf("answered %q, want a 413 first", b)
			}
			resp, p := parseWire(t, bufio.NewReader(bytes.NewReader(b)))
			if !strings.HasSuffix(p.Type, "/body-too-large") || !resp.ConnectionClose() {
				t.Fatalf("answered %q", b)
			}
			testkit.Poll(t, 5*time.Second, "the access line of the refused request", func() bool {
				return strings.Contains(g.access.String(), p.RequestID)
			})
		})
	}
	if up.hits.Load() != 0 {
		t.Fatal("a refused request reached the upstream")
	}

	t.Run("no expect, the body sent at once", func(t *testing.T) {
		// The gateway refuses from the head while the client is still
		// sending. Its lingering close reads and drops the rest of the body
		// instead of resetting the connection under it (a reset can destroy
		// the 413 before the client reads it): the client's write completes.
		for _, l := range []struct {
			addr   string
			secure bool
		}{{g.addrs.HTTPS, true}, {g.addrs.HTTP, false}} {
			c := dialWire(t, l.addr, l.secure)
			_ = c.SetDeadline(time.Now().Add(10 * time.Second))
			wrote := make(chan error, 1)
			go func() {
				_, err := io.WriteString(c, "POST /api/upload HTTP/1.1\r\nHost: a\r\nContent-Length: 2000000\r\n\r\n"+strings.Repeat("x", 2000000))
				wrote <- err
			}()
			br := bufio.NewReader(c)
			resp, _ := parseWire(t, br)
			if resp.StatusCode() != 413 || !resp.ConnectionClose() {
				t.Fatalf("secure=%v: %d", l.secure, resp.StatusCode())
			}
			if err := <-wrote; err != nil {
				t.Fatalf("secure=%v: sending the body after the 413: %v", l.secure, err)
			}
			if _, err := br.ReadByte(); err != io.EOF {
				t.Fatalf("secure=%v: after the 413: %v, want a clean close", l.secure, err)
			}
		}
	})
	t.Run("expect within the limit", func(t *testing.T) {
		c := dialWire(t, g.addrs.HTTPS, true)
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		br := bufio.NewReader(c)
		_, _ = io.WriteString(c, "POST /api/upload HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 10\r\n\r\n")
		line, err := br.ReadString('\n')
		if err != nil || line != "HTTP/1.1 100 Continue\r\n" {
			t.Fatalf("interim response %q, %v", line, err)
		}
		if blank, _ := br.ReadString('\n'); blank != "\r\n" {
			t.Fatalf("100 Continue not ended: %q", blank)
		}
		_, _ = io.WriteString(c, "0123456789")
		if resp, _ := parseWire(t, br); resp.StatusCode() != 200 {
			t.Fatalf("body within the limit: %d", resp.StatusCode())
		}
	})
	t.Run("HTTP/1.0 over the limit", func(t *testing.T) {
		// Expect does not apply to HTTP/1.0: the route stage refuses the
		// body once its prefetch is in.
		c := dialWire(t, g.addrs.HTTPS, true)
		_, _ = io.WriteString(c, "POST /api/upload HTTP/1.0\r\nHost: a\r\nContent-Length: 20\r\n\r\n"+strings.Repeat("x", 20))
		b, _ := readToClose(t, c, 5*time.Second)
		if !bytes.HasPrefix(b, []byte("HTTP/1.1 413 ")) {
			t.Fatalf("answered %q", b)
		}
	})
}

// TestBareLFRefused sends request heads with a line ended by LF alone, in
// every position, to both listeners over raw sockets: each gets a 400
// problem and the connection closed at once (read_timeout is 30 s here, so
// a head fasthttp kept waiting for would fail the 5 s client deadline).
// CRLF heads, also split between writes, bodies holding bare LFs and
// empty lines before the request line are still served.
func TestBareLFRefused(t *testing.T) {
	up := startEcho(t, "a")
	g := startWith(t, framingServer+"  read_timeout: 30s\n", framingRoutes, up.addr)
	listeners := []struct {
		name   string
		addr   string
		secure bool
		ok     int // status of an accepted GET /api/x
	}{{"https", g.addrs.HTTPS, true, 200}, {"http", g.addrs.HTTP, false, 308}}

	refused := []struct{ name, req string }{
		{"LF everywhere", "GET /api/x HTTP/1.1\nHost: a\n\n"},
		{"request line", "GET /api/x HTTP/1.1\nHost: a\r\n\r\n"},
		{"request line with body", "POST /api/x HTTP/1.1\nHost: a\r\nContent-Length: 4\r\n\r\nbody"},
		{"request line, body to come", "POST /api/x HTTP/1.1\nHost: a\r\nContent-Length: 4\r\n\r\n"},
		{"last field line", "GET /api/x HTTP/1.1\r\nHost: a\n\r\n"},
		{"field line", "GET /api/x HTTP/1.1\r\nHost: a\r\nX-A: b\nX-B: c\r\n\r\n"},
		{"blank line", "GET /api/x HTTP/1.1\r\nHost: a\r\n\n"},
		{"before the request line", "\nGET /api/x HTTP/1.1\r\nHost: a\r\n\r\n"},
		{"health path", "GET /health/x HTTP/1.1\nHost: a\r\n\r\n"},
	}
	for _, l := range listeners {
		for _, tc := range refused {
			t.Run(l.name+"/"+tc.name, func(t *testing.T) {
				c := dialWire(t, l.addr, l.secure)
				_, _ = io.WriteString(c, tc.req)
				b, err := readToClose(t, c, 5*time.Second)
				if err != nil {
					t.Fatalf("the connection did not end cleanly: %v (read %q)", err, b)
				}
				resp, p := parseWire(t, bufio.NewReader(bytes.NewReader(b)))
				if resp.StatusCode() != 400 || !resp.ConnectionClose() {
					t.Fatalf("answered %q", b)
				}
				if !strings.HasSuffix(p.Type, "/bad-framing") && !strings.HasSuffix(p.Type, "/bad-header") {
					t.Fatalf("problem type %q", p.Type)
				}
			})
		}
		t.Run(l.name+"/second request on a connection", func(t *testing.T) {
			c := dialWire(t, l.addr, l.secure)
			_ = c.SetDeadline(time.Now().Add(5 * time.Second))
			br := bufio.NewReader(c)
			_, _ = io.WriteString(c, "POST /api/x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\na\nb\n\n")
			if resp, _ := parseWire(t, br); resp.StatusCode() != l.ok {
				t.Fatalf("body with bare LFs: %d", resp.StatusCode())
			}
			_, _ = io.WriteString(c, "GET /api/x HTTP/1.1\r\nHost: a\n\n")
			if resp, _ := parseWire(t, br); resp.StatusCode() != 400 {
				t.Fatalf("second head with bare LFs: %d", resp.StatusCode())
			}
		})
		t.Run(l.name+"/accepted", func(t *testing.T) {
			c := dialWire(t, l.addr, l.secure)
			_ = c.SetDeadline(time.Now().Add(5 * time.Second))
			br := bufio.NewReader(c)
			for _, parts := range [][]string{
				{"\r\nGET /api/x HTTP/1.1\r\nHost: a\r\n\r\n"},
				{"GET /api/x HTTP/1.1\r", "\nHost: a\r", "\n\r", "\n"},
				{"POST /api/x HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\n", "\n\n\n"},
			} {
				for _, p := range parts {
					_, _ = io.WriteString(c, p)
				}
				if resp, _ := parseWire(t, br); resp.StatusCode() != l.ok {
					t.Fatalf("%q: %d", parts, resp.StatusCode())
				}
			}
		})
	}
}

// TestHeadScanner pins the scanner's reading of heads split anywhere.
func TestHeadScanner(t *testing.T) {
	for _, tc := range []struct {
		in  string
		bad bool
	}{
		{"GET / HTTP/1.1\r\nHost: a\r\n\r\nbody\n\n", false},
		{"\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", false},
		{"GET / HTTP/1.1\nHost: a\r\n\r\n", true},
		{"GET / HTTP/1.1\r\nHost: a\n\r\n", true},
		{"GET / HTTP/1.1\r\nHost: a\r\n\n", true},
		{"\n", true},
		{"\r\n\n", true},
	} {
		for cut := 0; cut <= len(tc.in); cut++ {
			var h headScanner
			h.observe([]byte(tc.in[:cut]))
			h.observe([]byte(tc.in[cut:]))
			if h.bad != tc.bad {
				t.Fatalf("%q cut at %d: bad=%v, want %v", tc.in, cut, h.bad, tc.bad)
			}
		}
	}
}
