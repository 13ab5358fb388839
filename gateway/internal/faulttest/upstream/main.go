// Command upstream is a small backend instance for the gateway's fault
// tests and the fault benchmark (benchmarks/scripts/fault.sh): real processes that
// can be killed, stopped, slowed down and restarted.
//
//	upstream -listen 127.0.0.1:0 -name b [-log FILE]
//
// It prints "listening ADDR" on stdout once it accepts connections, and
// serves:
//
//	GET  /health/          200, or what /_control set (a status, or alternating 200/503)
//	POST /_control         ?delay=30ms  ?health=503  ?flap=true|false   (changes the behaviour)
//	GET  /_control         {"name":..,"probes":N,"requests":N}
//	anything else          200 with the instance name in the body and in X-Instance, after
//	                       the configured delay; a POST is appended to -log
//	                       ("POST <X-Request-Seq>\n") before it is answered
//
// The log is opened O_APPEND and written with one write per request, so
// its lines survive SIGKILL.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "listen address")
	name := flag.String("name", "upstream", "instance name")
	logPath := flag.String("log", "", "append received POSTs to this file")
	flag.Parse()

	var logf *os.File
	if *logPath != "" {
		f, err := os.OpenFile(*logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			fmt.Fprintln(os.Stderr, "upstream:", err)
			os.Exit(1)
		}
		logf = f
	}
	var (
		delay    atomic.Int64
		health   atomic.Int64
		flap     atomic.Bool
		probes   atomic.Int64
		requests atomic.Int64
		logMu    sync.Mutex
	)
	health.Store(200)
	h := func(ctx *fasthttp.RequestCtx) {
		switch string(ctx.Path()) {
		case "/health/":
			n := probes.Add(1)
			status := int(health.Load())
			if flap.Load() && n%2 == 0 {
				status = 503
			}
			ctx.SetStatusCode(status)
			return
		case "/_control":
			if ctx.IsPost() {
				a := ctx.QueryArgs()
				if v := a.Peek("delay"); len(v) > 0 {
					d, err := time.ParseDuration(string(v))
					if err != nil {
						ctx.SetStatusCode(400)
						return
					}
					delay.Store(int64(d))
				}
				if v := a.GetUintOrZero("health"); v > 0 {
					health.Store(int64(v))
				}
				if v := a.Peek("flap"); len(v) > 0 {
					flap.Store(string(v) == "true")
				}
			}
			b, _ := json.Marshal(map[string]any{"name": *name, "probes": probes.Load(), "requests": requests.Load()})
			ctx.SetContentType("application/json")
			ctx.SetBody(b)
			return
		}
		requests.Add(1)
		if ctx.IsPost() && logf != nil {
			line := fmt.Sprintf("POST %s\n", ctx.Request.Header.Peek("X-Request-Seq"))
			logMu.Lock()
			_, _ = logf.WriteString(line)
			logMu.Unlock()
		}
		if d := time.Duration(delay.Load()); d > 0 {
			time.Sleep(d)
		}
		ctx.Response.Header.Set("X-Instance", *name)
		ctx.SetBodyString(*name)
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintln(os.Stderr, "upstream:", err)
		os.Exit(1)
	}
	fmt.Printf("listening %s\n", ln.Addr())
	srv := &fasthttp.Server{Handler: h, Name: "upstream", ReadTimeout: 30 * time.Second, IdleTimeout: time.Minute}
	if err := srv.Serve(ln); err != nil {
		fmt.Fprintln(os.Stderr, "upstream:", err)
		os.Exit(1)
	}
}
