package server

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/campshub360/edge/shared/testkit"
)

const plainRoutes = `routes:
  - name: api
    path_prefix: /api/
    upstream: campus
    timeout: 300ms
`

// rawUpstream accepts connections and hands each to serve.
func rawUpstream(t *testing.T, serve func(net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go serve(c)
		}
	}()
	return ln.Addr().String()
}

// TestUpstreamErrorMapping: each failure maps once to its status with an
// RFC 9457 body carrying the request id and no internal text.
func TestUpstreamErrorMapping(t *testing.T) {
	release := make(chan struct{})
	slow := fastUpstream(t, &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) { <-release }})
	t.Cleanup(func() { close(release) }) // runs before the upstream's Shutdown
	reset := rawUpstream(t, func(c net.Conn) {
		_, _ = bufio.NewReader(c).ReadString('\n')
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetLinger(0) // RST
		}
		c.Close()
	})
	garbage := rawUpstream(t, func(c net.Conn) {
		defer c.Close()
		_, _ = bufio.NewReader(c).ReadString('\n')
		_, _ = io.WriteString(c, "HELLO THERE\r\n\r\n")
	})
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	refused := ln.Addr().String()
	ln.Close()

	for _, tc := range []struct {
		name, addr string
		status     int
		slug       string
	}{
		{"timeout", slow, 504, "upstream-timeout"},
		{"reset", reset, 502, "upstream-failed"},
		{"bad response", garbage, 502, "upstream-failed"},
		{"refused", refused, 502, "upstream-failed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := startWith(t, "", plainRoutes, tc.addr)
			resp, body := g.get(t, "/api/v1/x", nil)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, body)
			}
			assertProblem(t, resp, body, tc.slug)
			for _, leak := range []string{tc.addr, "refused", "reset by peer", "i/o timeout", "EOF", "HELLO", "dial"} {
				if strings.Contains(string(body), leak) {
					t.Fatalf("internal text %q leaked: %s", leak, body)
				}
			}
		})
	}

	t.Run("no instance", func(t *testing.T) {
		a := startEcho(t, "a")
		g := startWith(t, "", plainRoutes, a.addr)
		g.srv.current.Load().pools["campus"].Instances[0].SetHealthy(false, time.Now().UnixNano())
		resp, body := g.get(t, "/api/v1/x", nil)
		if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" {
			t.Fatalf("status %d Retry-After %q: %s", resp.StatusCode, resp.Header.Get("Retry-After"), body)
		}
		assertProblem(t, resp, body, "upstream-unavailable")
	})
}

const streamRoutes = `routes:
  - name: api
    path_prefix: /api/
    upstream: campus
    timeout: 5s
  - name: upload
    path_prefix: /api/files/
    upstream: campus
    timeout: 5s
    max_body_bytes: 10485760
    stream_request_body: true
    stream_response_body: true
`

// TestStreamedUploadAndDownload proves bodies flow through without being
// buffered whole: the upstream sees the first part of an upload while the
// client still holds the rest back, and the client gets the first part of
// a download while the upstream still holds the rest back.
func TestStreamedUploadAndDownload(t *testing.T) {
	var received atomic.Int64
	more := make(chan struct{})
	up := fastUpstream(t, &fasthttp.Server{StreamRequestBody: true, Handler: func(ctx *fasthttp.RequestCtx) {
		if ctx.IsGet() {
			ctx.SetContentType("application/octet-stream")
			ctx.SetBodyStreamWriter(func(w *bufio.Writer) {
				_, _ = w.WriteString("first-part;")
				_ = w.Flush()
				<-more
				_, _ = w.WriteString("second-part")
				_ = w.Flush()
			})
			return
		}
		buf := make([]byte, 32<<10)
		r := ctx.RequestBodyStream()
		for {
			n, err := r.Read(buf)
			received.Add(int64(n))
			if err != nil {
				break
			}
		}
		fmt.Fprintf(ctx, "got %d", received.Load())
	}})
	g := startWith(t, "", streamRoutes, up)

	// Upload: 1 MiB chunked, then hold the connection until the upstream
	// has seen it, then 1 MiB more.
	pr, pw := io.Pipe()
	req, _ := http.NewRequest(http.MethodPost, "https://"+g.addrs.HTTPS+"/api/files/report.csv", pr)
	done := make(chan string, 1)
	go func() {
		resp, err := g.client.Do(req)
		if err != nil {
			done <- err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		done <- fmt.Sprintf("%d %s", resp.StatusCode, b)
	}()
	chunk := bytes.Repeat([]byte("x"), 1<<20)
	if _, err := pw.Write(chunk); err != nil {
		t.Fatal(err)
	}
	testkit.Poll(t, 5*time.Second, "the upstream to receive the first MiB before the rest was sent", func() bool { return received.Load() >= 1<<20 })
	if _, err := pw.Write(chunk); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	if got := <-done; got != fmt.Sprintf("200 got %d", 2<<20) {
		t.Fatalf("upload answer %q", got)
	}

	// Download.
	resp, err := g.client.Get("https://" + g.addrs.HTTPS + "/api/files/export")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	first := make([]byte, len("first-part;"))
	if _, err := io.ReadFull(resp.Body, first); err != nil || string(first) != "first-part;" {
		t.Fatalf("first part %q %v", first, err)
	}
	close(more)
	rest, _ := io.ReadAll(resp.Body)
	if string(rest) != "second-part" {
		t.Fatalf("rest %q", rest)
	}
}

// TestStreamedUploadLimitAndClientGone: a streamed body over the route
// limit is cut off with 413; a client vanishing mid-body is logged 499.
func TestStreamedUploadLimitAndClientGone(t *testing.T) {
	up := fastUpstream(t, &fasthttp.Server{StreamRequestBody: true, Handler: func(ctx *fasthttp.RequestCtx) {
		_, _ = io.Copy(io.Discard, ctx.RequestBodyStream())
	}})
	g := startWith(t, "", strings.Replace(streamRoutes, "10485760", "4096", 1), up)

	status, body, closed := g.raw(t, "POST /api/files/x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n2000\r\n"+strings.Repeat("x", 0x2000)+"\r\n0\r\n\r\n")
	if status != 413 || !closed {
		t.Fatalf("over-limit stream: %d closed=%v %s", status, closed, body)
	}

	c, err := tls.Dial("tcp", g.addrs.HTTPS, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.WriteString(c, "POST /api/files/gone HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n10\r\n0123456789abcdef\r\n")
	c.Close()
	testkit.Poll(t, 5*time.Second, "a 499 access line", func() bool {
		for _, l := range g.accessLines(t) {
			if l["path"] == "/api/files/gone" && l["status"] == float64(499) {
				return true
			}
		}
		return false
	})
}

// TestCompression covers negotiation, the codings, Vary, pass-through of
// upstream-encoded bodies and the size and type rules.
func TestCompression(t *testing.T) {
	payload := strings.Repeat(`{"id":"s-0001","name":"Ada Lovelace","programme":"BSc Mathematics"},`, 40)
	var lastAE atomic.Value
	up := fastUpstream(t, &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		lastAE.Store(string(ctx.Request.Header.Peek("Accept-Encoding")))
		switch string(ctx.Path()) {
		case "/api/json":
			ctx.SetContentType("application/json; charset=utf-8")
			ctx.Response.Header.Set("ETag", `"v1"`)
			ctx.SetBodyString(payload)
		case "/api/small":
			ctx.SetContentType("application/json")
			ctx.SetBodyString(`{"ok":true}`)
		case "/api/png":
			ctx.SetContentType("image/png")
			ctx.SetBodyString(payload)
		case "/api/pregzipped":
			ctx.SetContentType("application/json")
			ctx.Response.Header.Set("Content-Encoding", "gzip")
			ctx.SetBody(fasthttp.AppendGzipBytes(nil, []byte(payload)))
		case "/api/notransform":
			ctx.SetContentType("application/json")
			ctx.Response.Header.Set("Cache-Control", "no-transform")
			ctx.SetBodyString(payload)
		}
	}})
	g := startWith(t, "", plainRoutes, up)

	for _, tc := range []struct {
		path, ae, wantCE, wantUpstreamAE string
		vary                             bool
	}{
		{"/api/json", "gzip, deflate, br, zstd", "zstd", "zstd", true},
		{"/api/json", "gzip;q=1.0, br;q=0.5", "gzip", "gzip", true},
		{"/api/json", "br", "br", "br", true},
		{"/api/json", "*;q=0.1, zstd;q=0", "br", "br", true},
		{"/api/json", "deflate", "", "identity", true},
		{"/api/json", "", "", "", true},
		{"/api/small", "gzip", "", "gzip", true},
		{"/api/png", "gzip", "", "gzip", false},
		{"/api/pregzipped", "gzip", "gzip", "gzip", true},
		{"/api/notransform", "gzip", "", "gzip", true},
	} {
		t.Run(tc.path+" "+tc.ae, func(t *testing.T) {
			hdr := map[string]string{}
			if tc.ae != "" {
				hdr["Accept-Encoding"] = tc.ae
			}
			resp, body := g.get(t, tc.path, hdr)
			if resp.StatusCode != 200 {
				t.Fatalf("status %d", resp.StatusCode)
			}
			if ce := resp.Header.Get("Content-Encoding"); ce != tc.wantCE {
				t.Fatalf("Content-Encoding %q, want %q", ce, tc.wantCE)
			}
			if got, _ := lastAE.Load().(string); got != tc.wantUpstreamAE {
				t.Fatalf("upstream Accept-Encoding %q, want %q", got, tc.wantUpstreamAE)
			}
			if has := resp.Header.Get("Vary") == "Accept-Encoding"; has != tc.vary {
				t.Fatalf("Vary %q", resp.Header.Get("Vary"))
			}
			plain, err := decode(tc.wantCE, body)
			if err != nil {
				t.Fatal(err)
			}
			if tc.path == "/api/json" && string(plain) != payload {
				t.Fatalf("decoded body differs (%d bytes)", len(plain))
			}
			if tc.wantCE != "" && tc.path == "/api/json" && resp.Header.Get("ETag") != `W/"v1"` {
				t.Fatalf("ETag of a compressed variant %q, want weak", resp.Header.Get("ETag"))
			}
		})
	}
}

func decode(coding string, b []byte) ([]byte, error) {
	switch coding {
	case "":
		return b, nil
	case "gzip":
		r, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			return nil, err
		}
		return io.ReadAll(r)
	case "br":
		return fasthttp.AppendUnbrotliBytes(nil, b)
	case "zstd":
		return fasthttp.AppendUnzstdBytes(nil, b)
	}
	return nil, fmt.Errorf("coding %q", coding)
}

// TestAccessLogLine checks one JSON line per request with the listed
// fields, no query string, no header values, and 2xx sampling.
func TestAccessLogLine(t *testing.T) {
	a := startEcho(t, "a")
	g := startWith(t, "", plainRoutes, a.addr)
	resp, _ := g.get(t, "/api/v1/students?token=s3cr3t&limit=5", map[string]string{
		"Authorization": "Bearer tok-XYZ", "Cookie": "session=c00kie",
	})
	id := resp.Header.Get("X-Request-ID")
	var line map[string]any
	defer func() {
		if t.Failed() {
			t.Logf("access log:\n%s", g.access.String())
		}
	}()
	testkit.Poll(t, 5*time.Second, "the access line", func() bool {
		for _, l := range g.accessLines(t) {
			if l["request_id"] == id {
				line = l
				return true
			}
		}
		return false
	})
	for _, k := range []string{"time", "request_id", "client_ip", "method", "route", "path", "status", "bytes_in",
		"bytes_out", "upstream", "instance", "attempts", "duration_ms", "upstream_ms", "cache", "ratelimit"} {
		if _, ok := line[k]; !ok {
			t.Errorf("field %s missing: %v", k, line)
		}
	}
	if line["path"] != "/api/v1/students" || line["route"] != "api" || line["status"] != float64(200) ||
		line["client_ip"] != "127.0.0.1" || line["instance"] != a.addr || line["bytes_out"].(float64) <= 0 {
		t.Fatalf("line %v", line)
	}
	raw := g.access.String()
	for _, secret := range []string{"s3cr3t", "tok-XYZ", "c00kie", "limit=5"} {
		if strings.Contains(raw, secret) {
			t.Fatalf("access log holds %q", secret)
		}
	}
}

func TestAccessLogSampling(t *testing.T) {
	a := startEcho(t, "a")
	g := startWith(t, "", plainRoutes, a.addr)
	// Reconfigure sampling to 0: 2xx never logged, errors always.
	cfgText := strings.Replace(readFile(t, g.cfg), "sample_2xx: 1", "sample_2xx: 0", 1)
	writeFile(t, g.cfg, cfgText)
	if err := g.srv.Reload(); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 20; i++ {
		g.get(t, "/api/ok", nil)
	}
	resp, _ := g.get(t, "/nowhere", nil)
	id := resp.Header.Get("X-Request-ID")
	testkit.Poll(t, 5*time.Second, "the 404 line", func() bool { return strings.Contains(g.access.String(), id) })
	for _, l := range g.accessLines(t) {
		if l["status"] == float64(200) {
			t.Fatalf("2xx logged at sample_2xx 0: %v", l)
		}
	}
}
