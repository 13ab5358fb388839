package framing

import (
	"bufio"
	"bytes"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

var limits = Limits{MaxURIBytes: 256, MaxHeaderBytes: 1024}

// parse reads a raw request head the way the server does; ok is false
// when fasthttp itself refuses it.
func parse(raw string) (*fasthttp.Request, bool) {
	var req fasthttp.Request
	if err := req.Header.Read(bufio.NewReader(strings.NewReader(raw))); err != nil {
		return nil, false
	}
	return &req, true
}

func TestCheck(t *testing.T) {
	for _, tc := range []struct {
		name, raw string
		want      *Error
	}{
		{"plain GET", "GET /a HTTP/1.1\r\nHost: campus.example\r\n\r\n", nil},
		{"chunked", "POST /a HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n", nil},
		{"chunked any case", "POST /a HTTP/1.1\r\nHost: h\r\nTransfer-Encoding:  CHUNKED \r\n\r\n", nil},
		{"CL and TE", "POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", ErrLengthWithChunked},
		{"identity", "POST /a HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: identity\r\n\r\n", ErrTransferCoding},
		{"obs-fold", "GET /a HTTP/1.1\r\nHost: h\r\nX: a\r\n b\r\n\r\n", ErrObsFold},
		{"bare LF", "GET /a HTTP/1.1\r\nHost: h\r\nX: a\nY: b\r\n\r\n", ErrHeaderBytes},
		{"name with space", "GET /a HTTP/1.1\r\nHost: h\r\nX Y: a\r\n\r\n", ErrHeaderName},
		{"HTTP/2.0", "GET /a HTTP/2.0\r\nHost: h\r\n\r\n", ErrVersion},
		{"CONNECT", "CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\n\r\n", ErrMethod},
		{"TRACE", "TRACE /a HTTP/1.1\r\nHost: h\r\n\r\n", ErrMethod},
		{"long target", "GET /" + strings.Repeat("a", 300) + " HTTP/1.1\r\nHost: h\r\n\r\n", ErrURITooLong},
		{"big header", "GET /a HTTP/1.1\r\nHost: h\r\nX: " + strings.Repeat("a", 1100) + "\r\n\r\n", ErrHeaderTooLarge},
		{"encoded NUL", "GET /a%00 HTTP/1.1\r\nHost: h\r\n\r\n", ErrTarget},
		{"encoded LF", "GET /a%0a HTTP/1.1\r\nHost: h\r\n\r\n", ErrTarget},
		{"bad host", "GET /a HTTP/1.1\r\nHost: a@b\r\n\r\n", ErrHost},
		{"host port", "GET /a HTTP/1.1\r\nHost: h:8443\r\n\r\n", nil},
		{"ipv6 host", "GET /a HTTP/1.1\r\nHost: [2001:db8::1]:8443\r\n\r\n", nil},
		{"bad port", "GET /a HTTP/1.1\r\nHost: h:84x3\r\n\r\n", ErrHost},
		{"absolute", "GET http://campus.example/a HTTP/1.1\r\nHost: other\r\n\r\n", nil},
		{"absolute ftp", "GET ftp://campus.example/a HTTP/1.1\r\nHost: h\r\n\r\n", ErrTarget},
		{"absolute userinfo", "GET http://u:p@campus.example/a HTTP/1.1\r\nHost: h\r\n\r\n", ErrTarget},
		{"asterisk OPTIONS", "OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, ok := parse(tc.raw)
			if !ok {
				t.Fatalf("fasthttp refused %q; the case belongs to the server tests", tc.raw)
			}
			if got := Check(req, limits); got != tc.want {
				t.Fatalf("Check = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestAbsoluteFormSetsOneHost(t *testing.T) {
	req, _ := parse("GET http://campus.example:8443/a?b=1 HTTP/1.1\r\nHost: other.example\r\n\r\n")
	if err := Check(req, limits); err != nil {
		t.Fatal(err)
	}
	if string(req.Header.Host()) != "campus.example:8443" || string(req.URI().Host()) != "campus.example:8443" {
		t.Fatalf("Host %q, URI host %q", req.Header.Host(), req.URI().Host())
	}
}

func TestCheckAllocations(t *testing.T) {
	req, _ := parse("POST /api/v1/attendance HTTP/1.1\r\nHost: campus.example\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nAuthorization: Bearer x\r\n\r\n")
	if n := testing.AllocsPerRun(100, func() { _ = Check(req, limits) }); n != 0 {
		t.Fatalf("Check allocates %.1f", n)
	}
}

// FuzzCheck feeds arbitrary request heads: Check never panics, and what
// it accepts has unambiguous framing.
func FuzzCheck(f *testing.F) {
	for _, s := range []string{
		"GET / HTTP/1.1\r\nHost: h\r\n\r\n",
		"POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
		"GET http://x/ HTTP/1.1\r\nHost: y\r\nX: a\r\n b\r\n\r\n",
		"OPTIONS * HTTP/1.0\r\nHost: h\r\n\r\n",
		"GET /%00 HTTP/1.1\r\nHost: [::1]:1\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		req, ok := parse(string(raw))
		if !ok {
			return
		}
		if Check(req, limits) != nil {
			return
		}
		h := req.Header.RawHeaders()
		lower := bytes.ToLower(h)
		if bytes.Contains(lower, []byte("\ncontent-length:")) && bytes.Contains(lower, []byte("\ntransfer-encoding:")) {
			t.Fatalf("accepted CL with TE: %q", raw)
		}
		if bytes.Contains(h, []byte("\n ")) || bytes.Contains(h, []byte("\n\t")) {
			t.Fatalf("accepted obs-fold: %q", raw)
		}
		if !AsteriskOptions(&req.Header) && !ValidHost(req.Header.Host()) {
			t.Fatalf("accepted host %q", req.Header.Host())
		}
		if bytes.ContainsAny(req.URI().Path(), "\x00\r\n") {
			t.Fatalf("accepted path %q", req.URI().Path())
		}
	})
}
