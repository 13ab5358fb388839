// Package testkit holds the few helpers the test suites of every module
// share: the integration-environment switch, a concurrency-safe output
// buffer, a loopback address nobody listens on, polling with a deadline and
// building a command for a test to run as a process. It is imported only
// from _test.go files; nothing in it is meant for production code.
package testkit

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"
)

// EnvRequired names the environment variable that, set to "required" (as
// scripts/test.sh and so `make test` do), turns a missing integration
// environment from a skipped test into a failed one: CI must not pass by
// skipping.
const EnvRequired = "CAMPSHUB_INTEGRATION"

// Env returns the value of the environment variable name (e.g.
// TEST_REDIS_URL). When it is unset or empty, t is skipped, or fails when
// EnvRequired is "required".
func Env(t testing.TB, name string) string {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		if os.Getenv(EnvRequired) == "required" {
			t.Fatalf("%s is not set and %s=required", name, EnvRequired)
		}
		t.Skipf("%s is not set; skipping integration test", name)
	}
	return v
}

// SyncBuffer is a bytes.Buffer safe for concurrent use: a running server
// or process writes its log to it while the test reads it. The zero value
// is ready to use; it must not be copied after first use.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p; it never fails.
func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns a copy of everything written so far.
func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// UnusedAddr returns a loopback address "127.0.0.1:port" on which nothing
// listened when it returned: the port was bound on 127.0.0.1:0 and released.
// A test uses it as a server that refuses connections, or as a fixed port
// for a process it starts (which another process may take in between, a
// small risk tests accept).
func UnusedAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// PollInterval is the pause between two checks of Poll.
const PollInterval = 10 * time.Millisecond

// Poll calls cond every PollInterval until it returns true, and fails t
// with "timed out after <within> waiting for <what>" when within passes
// first. cond runs on the test's goroutine.
func Poll(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", within, what)
		}
		time.Sleep(PollInterval)
	}
}

// GoBuild builds the main packages pkgs (import paths) with `go build` into
// a new temporary directory whose name starts with prefix, and returns the
// directory: each command is there under its package's base name. The
// directory outlives the test binary's tests (callers build once per test
// binary, e.g. with sync.OnceValues); the error carries the compiler's
// output.
func GoBuild(prefix string, pkgs ...string) (string, error) {
	dir, err := os.MkdirTemp("", prefix)
	if err != nil {
		return "", err
	}
	args := append([]string{"build", "-o", dir + string(os.PathSeparator)}, pkgs...)
	out, err := exec.Command("go", args...).CombinedOutput()
	if err != nil {
		os.RemoveAll(dir)
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return dir, nil
}
