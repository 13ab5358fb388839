package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"time"

	"github.com/campshub360/edge/gateway/internal/config"
	"github.com/campshub360/edge/shared/healthprobe"
)

// healthcheckUsage documents `gateway healthcheck`.
const healthcheckUsage = `usage: gateway healthcheck [--config FILE] [--path /readyz] [--timeout 2s] [URL]

Probes the admin listener of a gateway running with the same configuration
(FILE plus GATEWAY__ environment overrides, as the server reads them) and
exits 0 when it answers 2xx, 1 otherwise. With URL, probes that URL instead.
Meant for container health checks in images without a shell or curl.
`

// healthcheck implements `gateway healthcheck`: one HTTP GET against the
// running gateway's admin listener (listen.admin of the configuration at
// --config, after environment overrides) or against an explicit URL. It
// returns nil when the answer is 2xx within the timeout, and an error
// naming the URL and what went wrong otherwise (no response body is
// printed: the admin endpoints carry no secrets, but probes stay quiet).
// It never follows redirects.
func healthcheck(ctx context.Context, args, env []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("gateway healthcheck", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, healthcheckUsage) }
	configPath := fs.String("config", "", "configuration file of the gateway to probe (embedded defaults when empty)")
	path := fs.String("path", "/readyz", "admin path to probe (/readyz or /healthz)")
	timeout := fs.Duration("timeout", 2*time.Second, "give up after this long")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	if fs.NArg() > 1 {
		fmt.Fprintf(stderr, "gateway healthcheck: unexpected argument %q\n", fs.Arg(1))
		return errUsage
	}
	if *timeout <= 0 {
		fmt.Fprintln(stderr, "gateway healthcheck: --timeout must be positive")
		return errUsage
	}
	target := fs.Arg(0)
	if target == "" {
		u, err := adminURL(*configPath, env, *path)
		if err != nil {
			return err
		}
		target = u
	} else if u, err := url.Parse(target); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		fmt.Fprintf(stderr, "gateway healthcheck: %q is not an http:// or https:// URL\n", target)
		return errUsage
	}
	return probe(ctx, target, *timeout, stdout)
}

// adminURL builds http://<listen.admin><path> from the configuration the
// server would load.
func adminURL(configPath string, env []string, path string) (string, error) {
	if path == "" || path[0] != '/' {
		return "", fmt.Errorf("healthcheck: --path %q must start with /", path)
	}
	cfg, err := config.Load(configPath, env)
	if err != nil {
		return "", fmt.Errorf("healthcheck: configuration is invalid:\n%w", err)
	}
	if cfg.Listen.Admin == "" {
		return "", errors.New("healthcheck: listen.admin is disabled in this configuration; pass a URL to probe")
	}
	u, err := healthprobe.LoopbackURL(cfg.Listen.Admin, path)
	if err != nil {
		return "", fmt.Errorf("healthcheck: listen.admin %q is not host:port with a fixed port", cfg.Listen.Admin)
	}
	return u, nil
}

// probe GETs target and succeeds on a 2xx answer.
func probe(ctx context.Context, target string, timeout time.Duration, stdout io.Writer) error {
	status, err := healthprobe.Get(ctx, target, timeout)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	fmt.Fprintf(stdout, "ok: %s answered %d\n", target, status)
	return nil
}
