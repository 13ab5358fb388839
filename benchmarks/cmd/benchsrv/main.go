// Command benchsrv is the origin of the cache benchmarks
// (benchmarks/scripts/cache.sh): a fasthttp server answering every GET
// with a cacheable 2 KB JSON roster.
//
// Usage:
//
//	benchsrv --listen 127.0.0.1:PORT --mode origin|constant [--cert FILE --key FILE]
//
// mode "origin" encodes the roster on every request, like an API would;
// mode "constant" writes a body built once at start: the ceiling of what
// any server on this machine can do for a 2 KB response. With --cert and
// --key it serves TLS. SIGTERM or SIGINT stops it.
package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strconv"
	"syscall"

	"github.com/valyala/fasthttp"
)

type student struct {
	ID      string `json:"id"`
	Roll    string `json:"roll_number"`
	Name    string `json:"name"`
	Program string `json:"program"`
	Year    int    `json:"year"`
}

// roster returns the section roster served by the benchmark: 2 KB of JSON.
func roster() ([]byte, error) {
	type page struct {
		Section string    `json:"section"`
		Items   []student `json:"items"`
		Next    string    `json:"next_cursor"`
	}
	p := page{Section: "42", Next: "eyJhZnRlciI6IjAxOTAifQ"}
	for i := 0; len(p.Items) < 64; i++ {
		p.Items = append(p.Items, student{
			ID: "0190a2b4-7c1d-7e2f-9a3b-" + strconv.Itoa(100000000000+i), Roll: "CS24-" + strconv.Itoa(1000+i),
			Name: "Student " + strconv.Itoa(i), Program: "B.Tech CSE", Year: 2,
		})
		b, err := json.Marshal(p)
		if err != nil {
			return nil, err
		}
		if len(b) >= 2048 {
			p.Items = p.Items[:len(p.Items)-1]
			break
		}
	}
	b, err := json.Marshal(p)
	if err != nil {
		return nil, err
	}
	// Pad to exactly 2048 bytes with trailing whitespace (valid JSON).
	for len(b) < 2048 {
		b = append(b, ' ')
	}
	return b, nil
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "benchsrv:", err)
		os.Exit(1)
	}
}

func run() error {
	listen := flag.String("listen", "127.0.0.1:0", "listen `ADDR`")
	mode := flag.String("mode", "origin", "origin (encode per request) or constant (precomputed body)")
	cert := flag.String("cert", "", "PEM certificate `FILE` (TLS when set)")
	key := flag.String("key", "", "PEM key `FILE`")
	flag.Parse()
	body, err := roster()
	if err != nil {
		return err
	}
	var h fasthttp.RequestHandler
	headers := func(ctx *fasthttp.RequestCtx) {
		ctx.Response.Header.SetContentType("application/json")
		ctx.Response.Header.Set("Cache-Control", "public, max-age=3600")
		ctx.Response.Header.Set("ETag", `"roster-42-v1"`)
	}
	switch *mode {
	case "constant":
		h = func(ctx *fasthttp.RequestCtx) {
			headers(ctx)
			ctx.Response.SetBodyRaw(body)
		}
	case "origin":
		h = func(ctx *fasthttp.RequestCtx) {
			headers(ctx)
			b, err := roster()
			if err != nil {
				ctx.Error("encoding failed", fasthttp.StatusInternalServerError)
				return
			}
			ctx.SetBody(b)
		}
	default:
		return errors.New("--mode must be origin or constant")
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	if *cert != "" {
		pair, err := tls.LoadX509KeyPair(*cert, *key)
		if err != nil {
			return err
		}
		ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{pair}, NextProtos: []string{"http/1.1"}, MinVersion: tls.VersionTLS12})
	}
	srv := &fasthttp.Server{Handler: h, NoDefaultServerHeader: true}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	fmt.Printf("benchsrv %s listening on %s\n", *mode, ln.Addr())
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		return srv.Shutdown()
	}
}
