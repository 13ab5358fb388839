// Command origin is a fixed-response upstream for proxy benchmarks: every
// GET answers 200 with the same JSON document of a chosen size (default
// 2 KB), with Content-Type application/json, so that a benchmark measures
// the proxy in front of it and not the origin.
//
// Usage:
//
//	origin [--listen 127.0.0.1:19001] [--size 2048]
//
// It prints "listening on ADDR" once bound and serves until SIGINT or
// SIGTERM. Only loopback addresses are accepted.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/valyala/fasthttp"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "origin:", err)
		os.Exit(1)
	}
}

// run binds, announces the address on stdout and serves until ctx ends.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("origin", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:0", "loopback `host:port` to listen on")
	size := fs.Int("size", 2048, "response body size in `bytes` (at least 21)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	host, _, err := net.SplitHostPort(*listen)
	if err != nil || !(host == "localhost" || net.ParseIP(host) != nil && net.ParseIP(host).IsLoopback()) {
		return fmt.Errorf("--listen %q: want a loopback host:port", *listen)
	}
	if *size < 21 {
		return fmt.Errorf("--size %d: want at least 21", *size)
	}
	body := Document(*size)
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	srv := &fasthttp.Server{
		Handler: func(ctx *fasthttp.RequestCtx) {
			ctx.SetContentType("application/json")
			ctx.SetBody(body)
		},
		NoDefaultServerHeader: true,
		NoDefaultDate:         true,
	}
	fmt.Fprintf(stdout, "listening on %s\n", ln.Addr())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		return srv.Shutdown()
	}
}

// Document returns a JSON array of student-like records exactly size
// bytes long.
func Document(size int) []byte {
	const rec = `{"id":"0190b8a2-7c1e-7000-8000-000000000000","name":"Student","programme":"BSc"},`
	var b strings.Builder
	b.WriteString(`{"items":[`)
	const tail = `],"pad":""}`
	for b.Len()+len(rec)+len(tail) <= size {
		b.WriteString(rec)
	}
	s := strings.TrimSuffix(b.String(), ",")
	s += `],"pad":"`
	for len(s)+2 < size {
		s += "x"
	}
	return []byte(s + `"}`)
}
