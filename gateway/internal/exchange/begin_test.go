package exchange

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/campshub360/edge/shared/requestid"
)

func beginHandler(trusted bool, seen *[]byte) fasthttp.RequestHandler {
	var pool Pool
	return Begin(BeginOptions{
		Pool: &pool, IDs: requestid.NewGenerator(nil), Now: time.Now,
		Trusted: func(netip.Addr) bool { return trusted },
		Peer:    func(*fasthttp.RequestCtx) netip.Addr { return netip.MustParseAddr("10.0.0.1") },
	}, func(ctx *fasthttp.RequestCtx) {
		*seen = append((*seen)[:0], ctx.Request.Header.Peek(requestid.Header)...)
		ctx.Response.Header.Del(requestid.Header) // a proxied response replaces the header block
	})
}

func serve(h fasthttp.RequestHandler, inbound []byte) *fasthttp.RequestCtx {
	var ctx fasthttp.RequestCtx
	ctx.Init(&fasthttp.Request{}, &net.TCPAddr{IP: net.IPv4(10, 0, 0, 1)}, nil)
	if inbound != nil {
		ctx.Request.Header.SetBytesKV([]byte(requestid.Header), inbound)
	}
	h(&ctx)
	return &ctx
}

func TestBeginRequestID(t *testing.T) {
	var seen []byte
	for _, tc := range []struct {
		trusted bool
		in      string
		kept    bool
	}{
		{true, "lb-7f3a9c", true},
		{false, "lb-7f3a9c", false},
		{true, "has space", false},
		{true, "", false},
	} {
		ctx := serve(beginHandler(tc.trusted, &seen), []byte(tc.in))
		out := ctx.Response.Header.Peek(requestid.Header)
		if string(out) != string(seen) {
			t.Fatalf("response id %q, forwarded %q", out, seen)
		}
		if kept := string(out) == tc.in; kept != tc.kept {
			t.Fatalf("trusted=%v in=%q: response id %q", tc.trusted, tc.in, out)
		}
		if !requestid.Valid(out) {
			t.Fatalf("invalid id %q", out)
		}
	}
}

// FuzzBeginRequestID: whatever a trusted peer sends, the id echoed and
// forwarded is valid, and equal in both directions.
func FuzzBeginRequestID(f *testing.F) {
	for _, s := range []string{"abc", "", "a\r\nX-Evil: 1", "0190b8a2-7c1e-7000-8000-000000000000", "\xff"} {
		f.Add([]byte(s))
	}
	var seen []byte
	h := beginHandler(true, &seen)
	f.Fuzz(func(t *testing.T, in []byte) {
		ctx := serve(h, in)
		out := ctx.Response.Header.Peek(requestid.Header)
		if !requestid.Valid(out) || string(out) != string(seen) {
			t.Fatalf("in %q: response %q, forwarded %q", in, out, seen)
		}
	})
}
