package cache

import (
	"bytes"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// hitPath builds a cache whose origin answers a cacheable body of size
// bytes, fills it, and returns the handler and a request context that
// hits the stored entry.
func hitPath(tb testing.TB, size int) (fasthttp.RequestHandler, *fasthttp.RequestCtx) {
	tb.Helper()
	c, err := New(Options{
		Store:     StoreOptions{MaxBytes: 64 << 20, HotBytes: 16 << 20, MaxObjectBytes: 1 << 20, LifeWindow: time.Hour},
		Encodings: []string{"br", "gzip", "zstd"}, PartitionKey: []byte("k"), CoalesceWait: time.Second,
		HitForMiss: time.Second, RefreshAhead: 0.1,
	})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = c.Close() })
	body := bytes.Repeat([]byte("s"), size)
	pol := c.Policy("api", true, 0)
	h := c.Middleware(func(*fasthttp.RequestCtx) *Policy { return pol }, func(ctx *fasthttp.RequestCtx) {
		ctx.Response.Header.Set("Cache-Control", "public, max-age=3600")
		ctx.Response.Header.Set("ETag", `"v1"`)
		ctx.Response.Header.Set("Vary", "Accept-Encoding")
		ctx.Response.Header.SetContentType("application/json")
		ctx.SetBody(body)
	})
	var req fasthttp.Request
	req.SetRequestURI("http://campus.test/api/v1/sections/42/roster?limit=50&after=0")
	req.Header.Set("Accept-Encoding", "gzip, br")
	req.Header.Set("Accept", "application/json")
	ctx := &fasthttp.RequestCtx{}
	ctx.Init(&req, nil, nil)
	for i := 0; i < 3; i++ {
		ctx.Response.Reset()
		h(ctx)
	}
	if !bytes.Contains(ctx.Response.Header.Peek("Cache-Status"), []byte("; hit")) || len(ctx.Response.Body()) != size {
		tb.Fatalf("not a hit: %q", ctx.Response.Header.Peek("Cache-Status"))
	}
	return h, ctx
}

func TestHitPathDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under the race detector; run go test without -race")
	}
	for _, size := range []int{2 << 10, 64 << 10} {
		h, ctx := hitPath(t, size)
		allocs := testing.AllocsPerRun(200, func() {
			ctx.Response.Reset()
			h(ctx)
		})
		if allocs != 0 {
			t.Fatalf("%d-byte hit: %v allocations per request", size, allocs)
		}
	}
}

func benchHit(b *testing.B, size int) {
	h, ctx := hitPath(b, size)
	b.ReportAllocs()
	b.SetBytes(int64(size))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ctx.Response.Reset()
		h(ctx)
	}
}

// BenchmarkHit2KB and BenchmarkHit64KB measure the cache-hit path of the
// stage: key, lookup, freshness, response written (body not copied).
func BenchmarkHit2KB(b *testing.B)  { benchHit(b, 2<<10) }
func BenchmarkHit64KB(b *testing.B) { benchHit(b, 64<<10) }
