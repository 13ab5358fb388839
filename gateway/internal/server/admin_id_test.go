package server

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestAdminResponsesCarryRequestID: every admin response has an
// X-Request-ID, and problem bodies carry it as request_id, for requests
// the admin handler answers and for requests that do not parse.
func TestAdminResponsesCarryRequestID(t *testing.T) {
	up := startEcho(t, "a")
	g := startWith(t, "", plainRoutes, up.addr)
	seen := map[string]bool{}
	for _, tc := range []struct {
		method, path string
		status       int
	}{
		{"GET", "/healthz", 200},
		{"GET", "/readyz", 200},
		{"GET", "/metrics", 200},
		{"GET", "/admin/config", 200},
		{"GET", "/admin/nowhere", 404},
		{"GET", "/admin/reload", 405},
	} {
		req, _ := http.NewRequest(tc.method, "http://"+g.addrs.Admin+tc.path, nil)
		resp, err := g.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		id := resp.Header.Get("X-Request-ID")
		if resp.StatusCode != tc.status || id == "" || seen[id] {
			t.Fatalf("%s %s: status %d, X-Request-ID %q (ids must be present and new)", tc.method, tc.path, resp.StatusCode, id)
		}
		seen[id] = true
		if tc.status >= 400 && !strings.Contains(string(body), `"request_id":"`+id+`"`) {
			t.Fatalf("%s %s: problem without its request id: %s", tc.method, tc.path, body)
		}
	}

	c := dialWire(t, g.addrs.Admin, false)
	_, _ = io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: a\r\nContent-Length: x\r\n\r\n")
	b, err := readToClose(t, c, 5*time.Second)
	if err != nil {
		t.Fatalf("the connection did not end cleanly: %v (read %q)", err, b)
	}
	resp, _ := parseWire(t, bufio.NewReader(bytes.NewReader(b)))
	if resp.StatusCode() != 400 || !resp.ConnectionClose() {
		t.Fatalf("malformed admin request answered %q", b)
	}
}
