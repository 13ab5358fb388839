package server

import (
	"bufio"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/campshub360/edge/gateway/internal/config"
)

func TestRedirectHostSyntax(t *testing.T) {
	for h, want := range map[string]int{
		"campus.example.edu":             0,
		"Campus.Example.EDU:8080":        0,
		"campus.example.edu.":            0,
		"localhost":                      0,
		"127.0.0.1:80":                   0,
		"[::1]:8080":                     0,
		"[2001:db8::1]":                  0,
		"":                               400,
		"a b":                            400,
		"user@campus.example.edu":        400,
		"user:pw@campus":                 400,
		"campus.example.edu:0":           400,
		"campus.example.edu:65536":       400,
		"campus.example.edu:http":        400,
		"campus.example.edu:":            400,
		"campus:80:80":                   400,
		"-campus.edu":                    400,
		"campus-.edu":                    400,
		"campus..edu":                    400,
		"campus.edu/evil":                400,
		"campus%2eedu":                   400,
		"[::1":                           400,
		"[::1]x":                         400,
		"[127.0.0.1]":                    400,
		"[fe80::1%25eth0]":               400,
		"::1":                            400,
		strings.Repeat("a", 64) + ".edu": 400,
	} {
		if _, got := redirectHost(nil, []byte(h)); got != want {
			t.Errorf("%q: %d, want %d", h, got, want)
		}
	}
	host, _ := redirectHost(nil, []byte("[::1]:8080"))
	if string(host) != "[::1]" {
		t.Fatalf("host %q", host)
	}
}

func TestRedirectOnlyNamedHosts(t *testing.T) {
	routes := []config.Route{{Host: "campus.example.edu"}, {PathPrefix: "/"}}
	for h, want := range map[string]int{
		"campus.example.edu":      0,
		"CAMPUS.example.edu:8080": 0,
		"campus.example.edu.":     0,
		"evil.example":            421,
		"127.0.0.1":               421,
		"example.edu":             421,
		"a b":                     400,
	} {
		if _, got := redirectHost(routes, []byte(h)); got != want {
			t.Errorf("%q: %d, want %d", h, got, want)
		}
	}
}

// rawHTTP sends one request with the given Host to the plain-HTTP
// listener and returns the response.
func rawHTTP(t *testing.T, addr, host string) *fasthttp.Response {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte("GET /api/v1/x?a=1 HTTP/1.1\r\nHost: " + host + "\r\nConnection: close\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	resp := &fasthttp.Response{}
	if err := resp.Read(bufio.NewReader(c)); err != nil {
		t.Fatal(err)
	}
	return resp
}

func TestHTTPRedirectChecksHost(t *testing.T) {
	a := startEcho(t, "a")
	path := filepath.Join(t.TempDir(), "gateway.yaml")
	writeConfig(t, path, a.addr)
	g := startLogged(t, path)
	_, port, _ := net.SplitHostPort(g.addrs.HTTPS)

	// No route names a host: any well-formed host is redirected.
	if r := rawHTTP(t, g.addrs.HTTP, "elsewhere.example:80"); r.StatusCode() != 308 ||
		string(r.Header.Peek("Location")) != "https://elsewhere.example:"+port+"/api/v1/x?a=1" {
		t.Fatalf("%d %q", r.StatusCode(), r.Header.Peek("Location"))
	}
	for _, bad := range []string{"user@campus.example.edu", "campus.example.edu:99999", "campus.example.edu:x"} {
		// fasthttp refuses some itself (bad-request), the redirect the rest.
		if r := rawHTTP(t, g.addrs.HTTP, bad); r.StatusCode() != 400 || len(r.Header.Peek("Location")) != 0 {
			t.Errorf("%q: %d %q %s", bad, r.StatusCode(), r.Header.Peek("Location"), r.Body())
		}
	}

	// With a named host, only it is redirected.
	doc := strings.Replace(readFile(t, path), "  - name: api\n", "  - name: campus\n    host: campus.example.edu\n    path_prefix: /api/v2/\n    upstream: campus\n  - name: api\n", 1)
	writeFile(t, path, doc)
	if code, body := g.reload(t); code != 200 {
		t.Fatalf("reload %d %s", code, body)
	}
	if r := rawHTTP(t, g.addrs.HTTP, "Campus.Example.edu"); r.StatusCode() != 308 ||
		string(r.Header.Peek("Location")) != "https://Campus.Example.edu:"+port+"/api/v1/x?a=1" {
		t.Fatalf("%d %q", r.StatusCode(), r.Header.Peek("Location"))
	}
	r := rawHTTP(t, g.addrs.HTTP, "elsewhere.example")
	if r.StatusCode() != 421 || len(r.Header.Peek("Location")) != 0 || !strings.Contains(string(r.Body()), "misdirected-request") ||
		string(r.Header.Peek("X-Frame-Options")) == "" {
		t.Fatalf("unknown host: %d %q %s", r.StatusCode(), r.Header.Peek("Location"), r.Body())
	}
}
