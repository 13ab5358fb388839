package server

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"

	"github.com/campshub360/edge/gateway/internal/config"
)

// BenchmarkPipelineCacheHit measures the whole request chain of a
// generation (request id, metrics, security headers, client IP, cache) for
// a request answered from the cache, without sockets.
func BenchmarkPipelineCacheHit(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	body := make([]byte, 2048)
	up := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		ctx.Response.Header.Set("Cache-Control", "public, max-age=3600")
		ctx.Response.Header.SetContentType("application/json")
		ctx.SetBody(body)
	}}
	go up.Serve(ln) //nolint:errcheck // ends with Shutdown
	defer up.Shutdown()
	dir := b.TempDir()
	path := filepath.Join(dir, "gateway.yaml")
	doc := fmt.Sprintf(`runtime_dir: %s
log: {access: {enabled: false}}
listen: {https: "127.0.0.1:0", http: "", admin: ""}
upstreams: [{name: campus, instances: [{addr: %q}]}]
routes: [{name: api, path_prefix: /api/, upstream: campus, cache: {enabled: true}}]
`, dir, ln.Addr().String())
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		b.Fatal(err)
	}
	cfg, err := config.Load(path, nil)
	if err != nil {
		b.Fatal(err)
	}
	srv, err := New(cfg, Options{Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Registry: prometheus.NewRegistry()})
	if err != nil {
		b.Fatal(err)
	}
	defer srv.cache.Close()
	h := srv.current.Load().handler
	var req fasthttp.Request
	req.SetRequestURI("https://campus.test/api/v1/sections/42/roster?limit=50")
	ctx := &fasthttp.RequestCtx{}
	ctx.Init(&req, nil, nil)
	for i := 0; i < 3; i++ {
		ctx.Response.Reset()
		h(ctx)
	}
	if len(ctx.Response.Body()) != 2048 {
		b.Fatalf("status %d body %d", ctx.Response.StatusCode(), len(ctx.Response.Body()))
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ctx.Response.Reset()
		h(ctx)
	}
}
