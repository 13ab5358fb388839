package server

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/campshub360/edge/shared/testkit"
)

const framingRoutes = `routes:
  - name: api
    path_prefix: /api/
    upstream: campus
    timeout: 2s
  - name: small
    path_prefix: /api/upload
    upstream: campus
    max_body_bytes: 10
`

const framingServer = "  max_uri_bytes: 1024\n  max_header_bytes: 2048\n"

// TestFramingRawSocket sends each smuggling-prone or malformed request
// over a raw TLS socket and checks the status, that the connection is
// closed and that nothing reached the upstream. The comment on each case
// says who rejects it: fasthttp's parser on its own, or the gateway's
// framing stage where fasthttp v1.78.0 accepts it.
func TestFramingRawSocket(t *testing.T) {
	up := startEcho(t, "a")
	g := startWith(t, framingServer, framingRoutes, up.addr)
	long := strings.Repeat("a", 1100)
	for _, tc := range []struct {
		name, req string
		status    int
	}{
		// fasthttp reads the body as chunked and adds Connection: close;
		// the framing stage refuses the pair.
		{"CL with TE", "POST /api/x HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nbody\r\n0\r\n\r\n", 400},
		{"TE with CL", "POST /api/x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n4\r\nbody\r\n0\r\n\r\n", 400},
		// fasthttp: duplicate content-length header.
		{"duplicate CL", "POST /api/x HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nContent-Length: 4\r\n\r\nbody", 400},
		{"conflicting CL", "POST /api/x HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\nbody1", 400},
		// fasthttp: non-numeric Content-Length.
		{"CL list", "POST /api/x HTTP/1.1\r\nHost: a\r\nContent-Length: 4, 4\r\n\r\nbody", 400},
		{"CL sign", "POST /api/x HTTP/1.1\r\nHost: a\r\nContent-Length: +4\r\n\r\nbody", 400},
		{"CL negative", "POST /api/x HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\nbody", 400},
		// fasthttp accepts "identity" and reads no body: the gateway refuses.
		{"TE identity", "POST /api/x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\n\r\nbody", 400},
		// fasthttp: unsupported transfer-encoding.
		{"TE gzip", "POST /api/x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\nbody", 400},
		{"TE gzip, chunked", "POST /api/x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n4\r\nbody\r\n0\r\n\r\n", 400},
		{"TE twice", "POST /api/x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nbody\r\n0\r\n\r\n", 400},
		// fasthttp unfolds obs-fold silently: the gateway refuses it.
		{"obs-fold TE", "POST /api/x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\r\n chunked\r\n\r\n4\r\nbody\r\n0\r\n\r\n", 400},
		{"obs-fold CL", "POST /api/x HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n 4\r\n\r\nbody", 400},
		{"obs-fold other", "GET /api/x HTTP/1.1\r\nHost: a\r\nX-A: b\r\n\tc\r\n\r\n", 400},
		// fasthttp: invalid character '\n' after chunk size.
		{"bare LF chunk size", "POST /api/x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n4\nbody\r\n0\r\n\r\n", 400},
		{"bad chunk size", "POST /api/x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nbody\r\n0\r\n\r\n", 400},
		// fasthttp accepts a bare LF line end inside the header block.
		{"bare LF in header", "GET /api/x HTTP/1.1\r\nHost: a\r\nX-A: b\nX-B: c\r\n\r\n", 400},
		// fasthttp: invalid header value.
		{"CR in header value", "GET /api/x HTTP/1.1\r\nHost: a\r\nX-A: b\rc\r\n\r\n", 400},
		{"NUL in header value", "GET /api/x HTTP/1.1\r\nHost: a\r\nX-A: b\x00c\r\n\r\n", 400},
		// fasthttp: invalid request uri.
		{"NUL in target", "GET /api/a\x00b HTTP/1.1\r\nHost: a\r\n\r\n", 400},
		{"CR in target", "GET /api/a\rb HTTP/1.1\r\nHost: a\r\n\r\n", 400},
		// Decoded NUL/CR/LF in the path: the gateway refuses.
		{"encoded NUL in path", "GET /api/a%00b HTTP/1.1\r\nHost: a\r\n\r\n", 400},
		{"encoded CRLF in path", "GET /api/a%0d%0aSet-Cookie:x HTTP/1.1\r\nHost: a\r\n\r\n", 400},
		// fasthttp accepts a space inside a field name.
		{"space in field name", "GET /api/x HTTP/1.1\r\nHost: a\r\nX A: b\r\n\r\n", 400},
		{"space before colon", "GET /api/x HTTP/1.1\r\nHost: a\r\nX-A : b\r\n\r\n", 400},
		{"host with userinfo", "GET /api/x HTTP/1.1\r\nHost: u@a\r\n\r\n", 400},
		{"host with slash", "GET /api/x HTTP/1.1\r\nHost: a/b\r\n\r\n", 400},
		{"two hosts", "GET /api/x HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400},
		{"no host", "GET /api/x HTTP/1.1\r\n\r\n", 400},
		{"absolute-form ftp", "GET ftp://a/api/x HTTP/1.1\r\nHost: a\r\n\r\n", 400},
		{"absolute-form userinfo", "GET http://u:p@a/api/x HTTP/1.1\r\nHost: a\r\n\r\n", 400},
		{"HTTP/2.0 on HTTP/1 framing", "GET /api/x HTTP/2.0\r\nHost: a\r\n\r\n", 505},
		{"CONNECT", "CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n", 405},
		{"TRACE", "TRACE /api/x HTTP/1.1\r\nHost: a\r\n\r\n", 405},
		{"asterisk GET", "GET * HTTP/1.1\r\nHost: a\r\n\r\n", 400},
		{"URI over max_uri_bytes", "GET /api/" + long + " HTTP/1.1\r\nHost: a\r\n\r\n", 414},
		{"URI over the read buffer", "GET /api/" + strings.Repeat("a", 8000) + " HTTP/1.1\r\nHost: a\r\n\r\n", 414},
		{"header block over max_header_bytes", "GET /api/x HTTP/1.1\r\nHost: a\r\nX-A: " + strings.Repeat("a", 2100) + "\r\n\r\n", 431},
		{"header block over the read buffer", "GET /api/x HTTP/1.1\r\nHost: a\r\nX-A: " + strings.Repeat("a", 8000) + "\r\n\r\n", 431},
		{"declared body over route limit", "POST /api/upload HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n" + strings.Repeat("x", 100), 413},
		{"chunked body over route limit", "POST /api/upload HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n20\r\n" + strings.Repeat("x", 32) + "\r\n0\r\n\r\n", 413},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := up.hits.Load()
			status, body, closed := g.raw(t, tc.req)
			if status != tc.status {
				t.Fatalf("status %d, want %d (%s)", status, tc.status, body)
			}
			if !closed {
				t.Fatal("connection left open after a rejected request")
			}
			var p struct {
				Type      string `json:"type"`
				RequestID string `json:"request_id"`
			}
			if err := json.Unmarshal([]byte(body), &p); err != nil || p.Type == "" || p.RequestID == "" {
				t.Fatalf("not a problem body with request id: %q", body)
			}
			if up.hits.Load() != before {
				t.Fatal("the request reached the upstream")
			}
			testkit.Poll(t, 5*time.Second, "the access line of the refused request", func() bool {
				return strings.Contains(g.access.String(), p.RequestID)
			})
		})
	}
}

// TestFramingAccepted pins what must keep working: chunked bodies (any
// case of "chunked"), an absolute-form target (routed and forwarded by its
// authority alone), OPTIONS *, HTTP/1.0 (with a Host; without one it is
// refused like HTTP/1.1).
func TestFramingAccepted(t *testing.T) {
	up := startEcho(t, "a")
	g := startWith(t, framingServer, framingRoutes, up.addr)

	status, body := g.rawOpen(t, "POST /api/x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n4\r\nbody\r\n0\r\n\r\n")
	if status != 200 {
		t.Fatalf("chunked POST: %d %s", status, body)
	}
	var e echoed
	status, body = g.rawOpen(t, "GET http://campus.example:8443/api/x?q=1 HTTP/1.1\r\nHost: other.example\r\n\r\n")
	if status != 200 || json.Unmarshal([]byte(body), &e) != nil {
		t.Fatalf("absolute-form: %d %s", status, body)
	}
	if e.URI != "/api/x?q=1" || e.Headers["Host"] != "campus.example:8443" || e.Headers["X-Forwarded-Host"] != "campus.example:8443" {
		t.Fatalf("absolute-form forwarded as uri %q host %q xfh %q", e.URI, e.Headers["Host"], e.Headers["X-Forwarded-Host"])
	}
	if status, _ = g.rawOpen(t, "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n"); status != 204 {
		t.Fatalf("OPTIONS *: %d", status)
	}
	if status, body = g.rawOpen(t, "GET /api/x HTTP/1.0\r\nHost: a\r\n\r\n"); status != 200 {
		t.Fatalf("HTTP/1.0: %d %s", status, body)
	}
	if status, _, _ = g.raw(t, "GET /api/x HTTP/1.0\r\n\r\n"); status != 400 {
		t.Fatalf("HTTP/1.0 without Host: %d, want 400", status)
	}
}
