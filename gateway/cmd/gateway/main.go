// Command gateway is the CampsHub360 edge gateway: TLS termination,
// security headers, client-IP trust, routing and load balancing to backend
// instances, with metrics, access logs and an admin listener.
//
// Usage:
//
//	gateway [--config FILE]        serve (embedded defaults without --config)
//	gateway --check-config FILE    validate FILE as a start would (certificates,
//	                               keys and CA files loaded) and print a summary
//	gateway --version
//	gateway healthcheck [--config FILE] [--path /readyz] [URL]
//	                               probe a running gateway (container health checks)
//
// Signals: SIGHUP reloads the configuration; SIGTERM and SIGINT shut down
// gracefully.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/campshub360/edge/gateway/internal/config"
	"github.com/campshub360/edge/gateway/internal/server"
	"github.com/campshub360/edge/shared/logging"
)

// version is stamped at build time (-ldflags "-X main.version=v1.2.3").
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Environ(), os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, errUsage) {
			fmt.Fprintln(os.Stderr, "gateway:", err)
		}
		os.Exit(1)
	}
}

var errUsage = errors.New("usage")

// run is the whole program: it parses args, loads configuration from the
// file and env, and serves until ctx is done. Access log lines go to
// stdout, process logs to stderr.
func run(ctx context.Context, args, env []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "healthcheck" {
		return healthcheck(ctx, args[1:], env, stdout, stderr)
	}
	fs := flag.NewFlagSet("gateway", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "", "configuration file (YAML); embedded defaults when empty")
	check := fs.String("check-config", "", "validate this configuration file as a start would (loading its certificates, keys and CA files), print a summary, and exit")
	showVersion := fs.Bool("version", false, "print the version and exit")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "gateway: unexpected argument %q\n", fs.Arg(0))
		return errUsage
	}
	if *showVersion {
		fmt.Fprintln(stdout, version)
		return nil
	}
	if *check != "" {
		cfg, err := config.Load(*check, env)
		if err == nil {
			err = server.Check(cfg, time.Now)
		}
		if err != nil {
			return fmt.Errorf("%s is invalid:\n%w", *check, err)
		}
		fmt.Fprint(stdout, config.Summary(cfg))
		return nil
	}

	// The same checks as --check-config, so that a bad start names every
	// problem by its field path.
	cfg, err := config.Load(*configPath, env)
	if err == nil {
		err = server.Check(cfg, time.Now)
	}
	if err != nil {
		name := *configPath
		if name == "" {
			name = "the embedded default configuration"
		}
		return fmt.Errorf("%s is invalid:\n%w", name, err)
	}
	log, err := logging.New(stderr, cfg.Log.Level, cfg.Log.Format)
	if err != nil {
		return err
	}
	srv, err := server.New(cfg, server.Options{
		ConfigPath: *configPath, Env: env, Log: log, AccessLog: stdout,
		Registry: prometheus.NewRegistry(), Version: version,
	})
	if err != nil {
		return err
	}
	if err := srv.Listen(); err != nil {
		return err
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for {
			select {
			case <-hup:
				_ = srv.Reload() // Reload logs its outcome.
			case <-ctx.Done():
				return
			}
		}
	}()
	return srv.Serve(ctx)
}
