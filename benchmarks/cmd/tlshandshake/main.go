// Command tlshandshake measures full TLS handshakes per second against
// loopback servers: each worker dials, completes a handshake with no
// session resumption (no session cache, no tickets reused) and closes, in a
// closed loop. With several targets it runs them in turn, A B A B ...,
// and prints the median rate per target and its ratio to the first.
//
//	tlshandshake --duration 3s --rounds 3 --workers 4 \
//	  nginx=127.0.0.1:18444 gateway=127.0.0.1:18443
//
// Targets must be loopback addresses. The client offers what the gateway
// accepts: TLS 1.2 and 1.3, ECDHE-AEAD suites, X25519 and P-256; --tls12
// pins TLS 1.2. Certificates are not verified (the handshake cost on the
// server is the same).
package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "tlshandshake:", err)
		os.Exit(1)
	}
}

type target struct{ name, addr string }

// Result is one target's outcome: handshakes per second of each round,
// their median, and the median's ratio to the first target's.
type Result struct {
	Target string    `json:"target"`
	Addr   string    `json:"addr"`
	Rates  []float64 `json:"rates_per_second"`
	Median float64   `json:"median_per_second"`
	Errors int64     `json:"errors"`
	Ratio  float64   `json:"ratio_to_reference"`
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("tlshandshake", flag.ContinueOnError)
	fs.SetOutput(stderr)
	duration := fs.Duration("duration", 3*time.Second, "length of one round per target")
	rounds := fs.Int("rounds", 3, "rounds per target, interleaved A B A B ...")
	workers := fs.Int("workers", 4, "concurrent handshaking connections")
	tls12 := fs.Bool("tls12", false, "pin TLS 1.2 (default: TLS 1.3 is negotiated)")
	serverName := fs.String("servername", "localhost", "SNI server name")
	jsonOut := fs.Bool("json", false, "print JSON instead of a table")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() == 0 || *rounds < 1 || *workers < 1 || *duration <= 0 || *duration > time.Minute {
		return errors.New("usage: tlshandshake [--duration D<=1m] [--rounds N] [--workers N] NAME=HOST:PORT ...")
	}
	var targets []target
	for _, a := range fs.Args() {
		name, addr, ok := strings.Cut(a, "=")
		if !ok {
			name, addr = a, a
		}
		if err := loopback(addr); err != nil {
			return err
		}
		targets = append(targets, target{name, addr})
	}
	cfg := &tls.Config{
		InsecureSkipVerify: true, //nolint:gosec // benchmark of the server's handshake cost
		ServerName:         *serverName,
		MinVersion:         tls.VersionTLS12,
		CipherSuites: []uint16{
			tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
		},
		CurvePreferences:       []tls.CurveID{tls.X25519, tls.CurveP256},
		NextProtos:             []string{"http/1.1"},
		SessionTicketsDisabled: true,
	}
	if *tls12 {
		cfg.MaxVersion = tls.VersionTLS12
	}
	results := make([]Result, len(targets))
	for r := 0; r < *rounds; r++ {
		for i, t := range targets {
			rate, errs := round(ctx, t.addr, cfg, *workers, *duration)
			results[i].Target, results[i].Addr = t.name, t.addr
			results[i].Rates = append(results[i].Rates, rate)
			results[i].Errors += errs
			time.Sleep(500 * time.Millisecond) // let TIME_WAIT sockets and the server settle
		}
	}
	for i := range results {
		results[i].Median = median(results[i].Rates)
		if results[0].Median > 0 {
			results[i].Ratio = results[i].Median / results[0].Median
		}
	}
	if *jsonOut {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(results)
	}
	fmt.Fprintf(stdout, "| target | handshakes/s (median of %d x %s, %d workers) | ratio to %s | errors |\n|---|---|---|---|\n",
		*rounds, *duration, *workers, results[0].Target)
	for _, r := range results {
		fmt.Fprintf(stdout, "| %s | %.0f | %.2f | %d |\n", r.Target, r.Median, r.Ratio, r.Errors)
	}
	return nil
}

// round runs workers handshaking in a closed loop for d and returns the
// completed handshakes per second and the failures.
func round(ctx context.Context, addr string, cfg *tls.Config, workers int, d time.Duration) (float64, int64) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var ok, failed atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dialer := &tls.Dialer{NetDialer: &net.Dialer{Timeout: 2 * time.Second}, Config: cfg}
			for ctx.Err() == nil {
				hctx, hcancel := context.WithTimeout(context.Background(), 2*time.Second)
				c, err := dialer.DialContext(hctx, "tcp", addr)
				hcancel()
				if err != nil {
					if ctx.Err() == nil {
						failed.Add(1)
					}
					continue
				}
				ok.Add(1)
				c.Close()
			}
		}()
	}
	wg.Wait()
	return float64(ok.Load()) / time.Since(start).Seconds(), failed.Load()
}

func median(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// loopback refuses targets that are not on this machine.
func loopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q: want HOST:PORT", addr)
	}
	if host == "localhost" {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("%q: only loopback targets (127.0.0.0/8, ::1, localhost)", addr)
	}
	return nil
}
