package compress

import (
	"bytes"
	"compress/gzip"
	"io"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Coding
	}{
		{"", Identity},
		{"gzip", Gzip},
		{"gzip, deflate, br", Brotli},
		{"gzip, deflate, br, zstd", Zstd},
		{"br;q=0.5, gzip", Gzip},
		{"GZIP;Q=1", Gzip},
		{"zstd;q=0, br;q=0, gzip;q=0", Identity},
		{"*", Zstd},
		{"*;q=0.2, gzip;q=0.5", Gzip},
		{"*;q=0.5, zstd;q=0", Brotli},
		{"identity", Identity},
		{"deflate, compress", Identity},
		{"gzip;q=1.001", Identity},
		{"gzip;q=abc", Identity},
		{"x-gzip", Gzip},
		{" br ; q=0.9 , gzip ; q=0.8", Brotli},
		{"gzip;q=0.001", Gzip},
	} {
		if got := Parse([]byte(tc.in)); got != tc.want {
			t.Errorf("Parse(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func newResponse(ct, body string) *fasthttp.RequestCtx {
	var ctx fasthttp.RequestCtx
	ctx.Request.Header.SetMethod("GET")
	ctx.Response.Header.SetContentType(ct)
	ctx.Response.SetBodyString(body)
	return &ctx
}

func TestApply(t *testing.T) {
	c := New(Options{MinBytes: 100, Types: []string{"text/*", "application/json"}})
	body := strings.Repeat("compressible text ", 100)

	ctx := newResponse("application/vnd.campus+json; charset=utf-8", body)
	ctx.Response.Header.Set("Vary", "Origin")
	ctx.Response.Header.Set("ETag", `"abc"`)
	ctx.Response.Header.Set("Accept-Ranges", "bytes")
	c.Apply(ctx, Gzip)
	h := &ctx.Response.Header
	if string(h.Peek("Content-Encoding")) != "gzip" || string(h.Peek("Vary")) != "Origin, Accept-Encoding" ||
		string(h.Peek("ETag")) != `W/"abc"` || len(h.Peek("Accept-Ranges")) != 0 {
		t.Fatalf("headers: %s", h.String())
	}
	r, err := gzip.NewReader(bytes.NewReader(ctx.Response.Body()))
	if err != nil {
		t.Fatal(err)
	}
	if plain, _ := io.ReadAll(r); string(plain) != body {
		t.Fatal("round trip differs")
	}

	for _, tc := range []struct {
		name string
		prep func(*fasthttp.RequestCtx)
		vary bool
	}{
		{"HEAD", func(c *fasthttp.RequestCtx) { c.Request.Header.SetMethod("HEAD") }, true},
		{"206", func(c *fasthttp.RequestCtx) { c.Response.SetStatusCode(206) }, true},
		{"encoded", func(c *fasthttp.RequestCtx) { c.Response.Header.Set("Content-Encoding", "br") }, true},
		{"no-transform", func(c *fasthttp.RequestCtx) { c.Response.Header.Set("Cache-Control", "private, no-transform") }, true},
		{"small", func(c *fasthttp.RequestCtx) { c.Response.SetBodyString("{}") }, true},
		{"image", func(c *fasthttp.RequestCtx) { c.Response.Header.SetContentType("image/png") }, false},
	} {
		ctx := newResponse("text/csv", body)
		tc.prep(ctx)
		before := string(ctx.Response.Body())
		c.Apply(ctx, Zstd)
		if string(ctx.Response.Body()) != before || string(ctx.Response.Header.Peek("Content-Encoding")) == "zstd" {
			t.Errorf("%s: compressed", tc.name)
		}
		if got := string(ctx.Response.Header.Peek("Vary")) == "Accept-Encoding"; got != tc.vary {
			t.Errorf("%s: Vary %q", tc.name, ctx.Response.Header.Peek("Vary"))
		}
	}
}

func TestVaryStarKept(t *testing.T) {
	c := New(Options{MinBytes: 10, Types: []string{"text/*"}})
	ctx := newResponse("text/plain", strings.Repeat("a", 100))
	ctx.Response.Header.Set("Vary", "*")
	c.Apply(ctx, Brotli)
	if string(ctx.Response.Header.Peek("Vary")) != "*" || string(ctx.Response.Header.Peek("Content-Encoding")) != "br" {
		t.Fatalf("headers %s", ctx.Response.Header.String())
	}
}

func TestNegotiateNormalizes(t *testing.T) {
	var h fasthttp.RequestHeader
	h.Set("Accept-Encoding", "gzip, deflate, br;q=0.9, sdch")
	if c := Negotiate(&h); c != Gzip || string(h.Peek("Accept-Encoding")) != "gzip" {
		t.Fatalf("%v %q", c, h.Peek("Accept-Encoding"))
	}
	h.Set("Accept-Encoding", "deflate")
	if c := Negotiate(&h); c != Identity || string(h.Peek("Accept-Encoding")) != "identity" {
		t.Fatalf("%v %q", c, h.Peek("Accept-Encoding"))
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"gzip", "br;q=0.5, *;q=0.1", "zstd;q=0", ",,;;q=", "*;q=1.000, GZIP"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, v []byte) {
		c := Parse(v)
		if c > Gzip {
			t.Fatalf("coding %d", c)
		}
		if c != Identity {
			lower := bytes.ToLower(v)
			if !bytes.Contains(lower, codingNames[c]) && !bytes.Contains(lower, []byte("*")) && !(c == Gzip && bytes.Contains(lower, []byte("x-gzip"))) {
				t.Fatalf("chose %v from %q", c, v)
			}
		}
	})
}
