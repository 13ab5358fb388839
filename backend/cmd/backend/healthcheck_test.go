package main

import (
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/campshub360/edge/shared/testkit"
)

// readyServer answers /health/ with 200 and /ready with readyStatus.
func readyServer(t *testing.T, readyStatus int) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/health/":
			w.WriteHeader(http.StatusOK)
		case "/ready":
			w.WriteHeader(readyStatus)
		default:
			w.WriteHeader(http.StatusNotFound)
		}
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

func TestHealthcheckLivenessAndReadiness(t *testing.T) {
	t.Parallel()
	addr := readyServer(t, http.StatusServiceUnavailable)
	out, err := runCmd(t, nil, "healthcheck", "--listen", addr)
	if err != nil {
		t.Fatalf("healthcheck: %v", err)
	}
	if want := "ok: http://" + addr + "/health/ answered 200"; !strings.Contains(out, want) {
		t.Errorf("stdout %q, want %q", out, want)
	}
	_, err = runCmd(t, nil, "healthcheck", "--listen", addr, "--ready")
	if err == nil || !strings.Contains(err.Error(), "/ready answered 503") {
		t.Fatalf("healthcheck --ready: %v, want '/ready answered 503'", err)
	}
}

func TestHealthcheckWildcardListenProbesLoopback(t *testing.T) {
	t.Parallel()
	addr := readyServer(t, http.StatusOK)
	_, port, _ := net.SplitHostPort(addr)
	for _, listen := range []string{":" + port, "0.0.0.0:" + port} {
		out, err := runCmd(t, nil, "healthcheck", "--listen", listen, "--ready")
		if err != nil {
			t.Fatalf("healthcheck --listen %s: %v", listen, err)
		}
		if !strings.Contains(out, "http://127.0.0.1:"+port+"/ready") {
			t.Errorf("--listen %s probed %q, want loopback", listen, out)
		}
	}
}

func TestHealthcheckFailures(t *testing.T) {
	t.Parallel()
	closed := testkit.UnusedAddr(t)
	_, err := runCmd(t, nil, "healthcheck", "--listen", closed)
	if err == nil || !strings.Contains(err.Error(), closed) {
		t.Fatalf("unreachable: %v, want an error naming %s", err, closed)
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
	_, err = runCmd(t, nil, "healthcheck", "--listen", strings.TrimPrefix(slow.URL, "http://"), "--timeout", "100ms")
	if err == nil || !strings.Contains(err.Error(), "no answer within 100ms") {
		t.Fatalf("slow: %v, want a timeout error", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("probe took %s despite a 100ms timeout", d)
	}

	for _, args := range [][]string{
		{"--listen", "nope"}, {"--listen", "127.0.0.1:0"}, {"--timeout", "-1s"}, {"--bogus"}, {"extra"},
	} {
		_, err := runCmd(t, nil, append([]string{"healthcheck"}, args...)...)
		var ue *usageError
		if !errors.As(err, &ue) {
			t.Errorf("healthcheck %q: %v, want a usage error", args, err)
		}
	}
}
