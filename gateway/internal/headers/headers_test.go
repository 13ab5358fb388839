package headers

import (
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

func TestDefaultsAndHSTS(t *testing.T) {
	s := New(HSTS{MaxAge: 365 * 24 * time.Hour, IncludeSubdomains: true})
	var h fasthttp.ResponseHeader
	h.Set("Server", "nginx")
	h.Set("X-Powered-By", "php")
	h.Set("X-Frame-Options", "ALLOWALL") // an upstream's value is replaced
	h.Set("Strict-Transport-Security", "max-age=1")
	s.Apply(&h, false)
	for k, want := range DefaultValues() {
		if got := string(h.Peek(k)); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	for _, k := range []string{"Server", "X-Powered-By", "Strict-Transport-Security"} {
		if v := h.Peek(k); len(v) != 0 {
			t.Errorf("plain HTTP response kept %s: %q", k, v)
		}
	}
	s.Apply(&h, true)
	if got := string(h.Peek("Strict-Transport-Security")); got != "max-age=31536000; includeSubDomains" {
		t.Fatalf("HSTS %q", got)
	}
}

func TestHSTSValue(t *testing.T) {
	for h, want := range map[HSTS]string{
		{}:                  "",
		{MaxAge: time.Hour}: "max-age=3600",
		{MaxAge: 2 * 365 * 24 * time.Hour, IncludeSubdomains: true, Preload: true}: "max-age=63072000; includeSubDomains; preload",
	} {
		if got := h.Value(); got != want {
			t.Errorf("%+v: %q, want %q", h, got, want)
		}
	}
	if New(HSTS{}).Get("Strict-Transport-Security", true) != "" {
		t.Fatal("HSTS with max_age 0")
	}
}

func TestLayers(t *testing.T) {
	s := New(HSTS{},
		Layer{Set: map[string]string{"x-custom": "1"}, Remove: []string{"permissions-policy"}},
		Layer{Set: map[string]string{"Content-Security-Policy": "default-src 'self'"}, Remove: []string{"X-Custom"}},
	)
	var h fasthttp.ResponseHeader
	h.Set("Permissions-Policy", "camera=*") // removed names are stripped from upstream responses too
	s.Apply(&h, true)
	if got := string(h.Peek("Content-Security-Policy")); got != "default-src 'self'" {
		t.Fatalf("CSP %q", got)
	}
	if len(h.Peek("Permissions-Policy")) != 0 || len(h.Peek("X-Custom")) != 0 {
		t.Fatalf("removed headers present: %s", h.String())
	}
	if string(h.Peek("X-Content-Type-Options")) != "nosniff" {
		t.Fatal("untouched default lost")
	}
}

func TestMiddlewareAppliesOnEveryResponse(t *testing.T) {
	s := Defaults()
	h := Middleware(func(*fasthttp.RequestCtx) *Set { return s }, func(ctx *fasthttp.RequestCtx) {
		ctx.SetStatusCode(429)
	})
	var ctx fasthttp.RequestCtx
	h(&ctx)
	if ctx.Response.StatusCode() != 429 || !strings.Contains(ctx.Response.Header.String(), "X-Content-Type-Options: nosniff") {
		t.Fatalf("%s", ctx.Response.Header.String())
	}
}

func TestApplyDoesNotAllocate(t *testing.T) {
	s := New(HSTS{MaxAge: time.Hour, IncludeSubdomains: true})
	var h fasthttp.ResponseHeader
	s.Apply(&h, true) // warm the header buffers
	if n := testing.AllocsPerRun(100, func() { s.Apply(&h, true) }); n != 0 {
		t.Fatalf("Apply allocates %v times", n)
	}
}

func BenchmarkApply(b *testing.B) {
	s := New(HSTS{MaxAge: time.Hour, IncludeSubdomains: true})
	var h fasthttp.ResponseHeader
	b.ReportAllocs()
	for b.Loop() {
		h.Set("Server", "upstream")
		s.Apply(&h, true)
	}
}
