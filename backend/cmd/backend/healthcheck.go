package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/campshub360/edge/backend/internal/config"
	"github.com/campshub360/edge/shared/healthprobe"
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
	path := "/health/"
	if *ready {
		path = "/ready"
	}
	target, err := healthprobe.LoopbackURL(*listen, path)
	if err != nil {
		return &flagError{err: fmt.Errorf("--listen %q must be host:port with a fixed port", *listen)}
	}
	status, err := healthprobe.Get(ctx, target, *timeout)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	fmt.Fprintf(stdout, "ok: %s answered %d\n", target, status)
	return nil
}
