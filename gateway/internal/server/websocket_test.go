package server

import (
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

const wsRoutes = `routes:
  - name: api
    path_prefix: /api/
    upstream: campus
    timeout: 2s
  - name: live
    path_prefix: /api/live/
    upstream: campus
    timeout: 2s
    websocket: true
    websocket_idle_timeout: 300ms
`

// wsEcho is a real WebSocket echo server (gorilla/websocket) that also
// answers plain HTTP with the Upgrade header it saw.
func wsEcho(t *testing.T) (addr string, upgrades *atomic.Int64) {
	t.Helper()
	upgrades = &atomic.Int64{}
	up := websocket.Upgrader{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !websocket.IsWebSocketUpgrade(r) {
			w.Header().Set("X-Seen-Upgrade", r.Header.Get("Upgrade"))
			w.Header().Set("Content-Type", "text/plain")
			_, _ = w.Write([]byte("plain"))
			return
		}
		c, err := up.Upgrade(w, r, http.Header{"X-Upstream": {"echo"}})
		if err != nil {
			return
		}
		upgrades.Add(1)
		defer c.Close()
		for {
			mt, msg, err := c.ReadMessage()
			if err != nil {
				return
			}
			if err := c.WriteMessage(mt, msg); err != nil {
				return
			}
		}
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://"), upgrades
}

func TestWebSocketTunnel(t *testing.T) {
	addr, upgrades := wsEcho(t)
	g := startWith(t, "", wsRoutes, addr)
	d := websocket.Dialer{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, HandshakeTimeout: 3 * time.Second}

	c, resp, err := d.Dial("wss://"+g.addrs.HTTPS+"/api/live/roster", nil)
	if err != nil {
		t.Fatalf("dial: %v (%v)", err, resp)
	}
	defer c.Close()
	if resp.Header.Get("X-Request-ID") == "" || resp.Header.Get("X-Upstream") != "echo" {
		t.Fatalf("101 headers %v", resp.Header)
	}
	if resp.Header.Get("Content-Encoding") != "" {
		t.Fatal("a tunnel must not be compressed")
	}
	for i, msg := range []string{"mark present s-1", strings.Repeat("big", 20000), "bye"} {
		if err := c.WriteMessage(websocket.TextMessage, []byte(msg)); err != nil {
			t.Fatal(err)
		}
		_ = c.SetReadDeadline(time.Now().Add(3 * time.Second))
		_, got, err := c.ReadMessage()
		if err != nil || string(got) != msg {
			t.Fatalf("message %d: %v (%d bytes)", i, err, len(got))
		}
	}
	// Active traffic keeps the tunnel open past the idle timeout...
	for i := 0; i < 4; i++ {
		time.Sleep(150 * time.Millisecond) // pacing the client, not waiting on the gateway
		if err := c.WriteMessage(websocket.TextMessage, []byte("ping")); err != nil {
			t.Fatalf("tunnel closed while active: %v", err)
		}
		if _, _, err := c.ReadMessage(); err != nil {
			t.Fatalf("tunnel closed while active: %v", err)
		}
	}
	// ...and silence closes it.
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	start := time.Now()
	if _, _, err := c.ReadMessage(); err == nil {
		t.Fatal("idle tunnel still delivering")
	}
	if time.Since(start) > 4*time.Second {
		t.Fatal("idle tunnel was not closed by the gateway")
	}
	if upgrades.Load() != 1 {
		t.Fatalf("upstream upgrades %d", upgrades.Load())
	}
	m := g.metricsText(t)
	if !strings.Contains(m, `gateway_http_requests_total{code_class="1xx",method="GET",route="live"} 1`) {
		t.Fatal("tunnel not counted as 1xx on its route")
	}
}

func TestUpgradesRefused(t *testing.T) {
	addr, upgrades := wsEcho(t)
	g := startWith(t, "", wsRoutes, addr)

	// WebSocket on a route without websocket: true.
	d := websocket.Dialer{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, HandshakeTimeout: 3 * time.Second}
	_, resp, err := d.Dial("wss://"+g.addrs.HTTPS+"/api/plain", nil)
	if err == nil || resp == nil || resp.StatusCode != 400 {
		t.Fatalf("websocket on a plain route: %v %v", err, resp)
	}
	// h2c: the upgrade is dropped and the request served as HTTP/1.1.
	resp2, body := g.get(t, "/api/live/x", map[string]string{
		"Connection": "Upgrade, HTTP2-Settings", "Upgrade": "h2c", "HTTP2-Settings": "AAMAAABkAARAAAAAAAIAAAAA",
	})
	if resp2.StatusCode != 200 || string(body) != "plain" || resp2.Header.Get("X-Seen-Upgrade") != "" {
		t.Fatalf("h2c: %d %q upstream saw Upgrade %q", resp2.StatusCode, body, resp2.Header.Get("X-Seen-Upgrade"))
	}
	if upgrades.Load() != 0 {
		t.Fatal("an upgrade reached the upstream")
	}
}
