package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// adminServer serves the admin paths the probe uses with the given status.
func adminServer(t *testing.T, status int) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/readyz", "/healthz":
			w.WriteHeader(status)
		default:
			w.WriteHeader(http.StatusNotFound)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "gateway.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

const probeConfig = `
listen:
  https: "127.0.0.1:0"
  http: ""
  admin: "127.0.0.1:9"
upstreams:
  - name: campus
    instances: [{addr: "127.0.0.1:1"}]
routes:
  - {name: api, path_prefix: /api/, upstream: campus}
`

func runHealthcheck(t *testing.T, env []string, args ...string) (string, string, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), append([]string{"healthcheck"}, args...), env, &stdout, &stderr)
	return stdout.String(), stderr.String(), err
}

func TestHealthcheckProbesAdminListenerFromConfigAndEnv(t *testing.T) {
	srv := adminServer(t, http.StatusOK)
	admin := strings.TrimPrefix(srv.URL, "http://")
	cfg := writeConfig(t, probeConfig)
	// The environment override wins over the file, as in the server.
	out, _, err := runHealthcheck(t, []string{"GATEWAY__LISTEN__ADMIN=" + admin}, "--config", cfg)
	if err != nil {
		t.Fatalf("healthcheck: %v", err)
	}
	if want := "ok: http://" + admin + "/readyz answered 200"; !strings.Contains(out, want) {
		t.Errorf("stdout %q, want %q", out, want)
	}
	out, _, err = runHealthcheck(t, []string{"GATEWAY__LISTEN__ADMIN=" + admin}, "--config", cfg, "--path", "/healthz")
	if err != nil || !strings.Contains(out, "/healthz answered 200") {
		t.Fatalf("healthcheck --path /healthz: %q, %v", out, err)
	}
}

func TestHealthcheckFailsOnNotReady(t *testing.T) {
	srv := adminServer(t, http.StatusServiceUnavailable)
	admin := strings.TrimPrefix(srv.URL, "http://")
	_, _, err := runHealthcheck(t, []string{"GATEWAY__LISTEN__ADMIN=" + admin}, "--config", writeConfig(t, probeConfig))
	if err == nil || !strings.Contains(err.Error(), "answered 503") {
		t.Fatalf("err = %v, want an 'answered 503' error", err)
	}
}

func TestHealthcheckExplicitURL(t *testing.T) {
	srv := adminServer(t, http.StatusOK)
	if _, _, err := runHealthcheck(t, nil, srv.URL+"/healthz"); err != nil {
		t.Fatalf("healthcheck URL: %v", err)
	}
	if _, _, err := runHealthcheck(t, nil, srv.URL+"/nothing"); err == nil || !strings.Contains(err.Error(), "answered 404") {
		t.Fatalf("err = %v, want an 'answered 404' error", err)
	}
	for _, bad := range []string{"ftp://x/", "127.0.0.1:9090/readyz", "http://"} {
		if _, stderr, err := runHealthcheck(t, nil, bad); !errors.Is(err, errUsage) || !strings.Contains(stderr, "not an http") {
			t.Errorf("healthcheck %q: err %v stderr %q, want a usage error", bad, err, stderr)
		}
	}
}

func TestHealthcheckUnreachableAndSlow(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	if _, _, err := runHealthcheck(t, nil, "http://"+closed+"/readyz"); err == nil || !strings.Contains(err.Error(), closed) {
		t.Fatalf("err = %v, want an error naming %s", err, closed)
	}

	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(func() { close(release); slow.Close() })
	start := time.Now()
	_, _, err = runHealthcheck(t, nil, "--timeout", "100ms", slow.URL+"/readyz")
	if err == nil || !strings.Contains(err.Error(), "no answer within 100ms") {
		t.Fatalf("err = %v, want a timeout error", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("probe took %s despite a 100ms timeout", d)
	}
}

func TestHealthcheckConfigProblems(t *testing.T) {
	_, _, err := runHealthcheck(t, []string{"GATEWAY__LISTEN__ADMIN="}, "--config", writeConfig(t, probeConfig))
	if err == nil || !strings.Contains(err.Error(), "listen.admin is disabled") {
		t.Fatalf("err = %v, want 'listen.admin is disabled'", err)
	}
	_, _, err = runHealthcheck(t, nil, "--config", writeConfig(t, "listen: {https: 1.2.3}\nbogus: 1\n"))
	if err == nil || !strings.Contains(err.Error(), "configuration is invalid") {
		t.Fatalf("err = %v, want 'configuration is invalid'", err)
	}
	_, _, err = runHealthcheck(t, nil, "--config", writeConfig(t, probeConfig), "--path", "readyz")
	if err == nil || !strings.Contains(err.Error(), "must start with /") {
		t.Fatalf("err = %v, want a --path error", err)
	}
	for _, args := range [][]string{{"--timeout", "0s"}, {"--bogus"}, {"http://a/", "http://b/"}} {
		if _, _, err := runHealthcheck(t, nil, args...); !errors.Is(err, errUsage) {
			t.Errorf("healthcheck %q: err %v, want a usage error", args, err)
		}
	}
	var stderr bytes.Buffer
	if err := run(context.Background(), []string{"healthcheck", "-h"}, nil, io.Discard, &stderr); !errors.Is(err, errUsage) ||
		!strings.Contains(stderr.String(), "usage: gateway healthcheck") {
		t.Errorf("healthcheck -h: %v, %q", err, stderr.String())
	}
}
