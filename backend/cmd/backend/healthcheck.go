package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/campshub360/edge/backend/internal/config"
)

// healthcheck implements `backend healthcheck [--listen HOST:PORT]
// [--ready] [--timeout 2s]`: one HTTP GET of /health/ (liveness) or, with
// --ready, /ready (readiness) on a backend serving at --listen (the same
// value given to `backend serve`; a wildcard host is probed on loopback).
// It returns nil on a 2xx answer within the timeout and an error naming
// the URL and the failure otherwise. It is meant for container health
// checks in images without a shell or curl, and reads no environment.
func healthcheck(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("healthcheck", flag.ContinueOnError)
	listen := fs.String("listen", config.DefaultListen, "listen address of the backend to probe (as given to serve)")
	ready := fs.Bool("ready", false, "probe readiness (/ready: PostgreSQL answers; Redis down only degrades) instead of liveness (/health/)")
	timeout := fs.Duration("timeout", 2*time.Second, "give up after this long")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *timeout <= 0 {
		return &flagError{err: errors.New("--timeout must be positive")}
	}
	host, port, err := net.SplitHostPort(*listen)
	if err != nil || port == "" || port == "0" {
		return &flagError{err: fmt.Errorf("--listen %q must be host:port with a fixed port", *listen)}
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
		if ip != nil && ip.To4() == nil {
			host = "::1"
		}
	}
	path := "/health/"
	if *ready {
		path = "/ready"
	}
	target := "http://" + net.JoinHostPort(host, port) + path

	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return fmt.Errorf("healthcheck %s: %w", target, err)
	}
	client := &http.Client{
		Transport:     &http.Transport{Proxy: nil, DisableKeepAlives: true},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	resp, err := client.Do(req)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("healthcheck %s: no answer within %s", target, *timeout)
		}
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("healthcheck %s: %w", target, err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("healthcheck %s answered %d", target, resp.StatusCode)
	}
	fmt.Fprintf(stdout, "ok: %s answered %d\n", target, resp.StatusCode)
	return nil
}
