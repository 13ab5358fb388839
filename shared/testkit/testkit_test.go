package testkit

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestSyncBufferConcurrentWrites(t *testing.T) {
	var b SyncBuffer
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 100; j++ {
				fmt.Fprintln(&b, "line")
				_ = b.String()
			}
		}()
	}
	wg.Wait()
	if n := strings.Count(b.String(), "line\n"); n != 800 {
		t.Fatalf("%d lines, want 800", n)
	}
}

func TestUnusedAddrRefusesConnections(t *testing.T) {
	addr := UnusedAddr(t)
	if host, port, err := net.SplitHostPort(addr); err != nil || host != "127.0.0.1" || port == "0" {
		t.Fatalf("UnusedAddr = %q, %v", addr, err)
	}
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Fatalf("something listens on %s", addr)
	}
}

// recorder captures what Poll reports instead of failing the test.
type recorder struct {
	testing.TB
	failed string
}

func (r *recorder) Helper() {}
func (r *recorder) Fatalf(format string, args ...any) {
	r.failed = fmt.Sprintf(format, args...)
}

func TestPoll(t *testing.T) {
	n := 0
	Poll(t, time.Minute, "the third call", func() bool { n++; return n == 3 })
	if n != 3 {
		t.Fatalf("cond called %d times, want 3", n)
	}
	r := &recorder{TB: t}
	calls := 0
	Poll(r, 30*time.Millisecond, "nothing", func() bool {
		calls++
		return r.failed != "" // Fatalf does not stop this recorder: end the loop
	})
	if !strings.Contains(r.failed, "timed out after 30ms waiting for nothing") || calls < 2 {
		t.Fatalf("failure %q after %d calls", r.failed, calls)
	}
}

func TestEnv(t *testing.T) {
	t.Setenv("TESTKIT_PROBE", "value")
	if got := Env(t, "TESTKIT_PROBE"); got != "value" {
		t.Fatalf("Env = %q", got)
	}
	t.Setenv(EnvRequired, "required")
	t.Setenv("TESTKIT_PROBE", "")
	r := &recorder{TB: t}
	Env(r, "TESTKIT_PROBE")
	if !strings.Contains(r.failed, "TESTKIT_PROBE is not set") {
		t.Fatalf("Env with %s=required and the variable unset reported %q", EnvRequired, r.failed)
	}
}

func TestGoBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a command")
	}
	src := t.TempDir()
	if err := os.WriteFile(filepath.Join(src, "go.mod"), []byte("module example.com/hello\n\ngo 1.26\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, "main.go"), []byte("package main\n\nfunc main() {}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Chdir(src)
	t.Setenv("GOWORK", "off")
	dir, err := GoBuild("testkit-test-", ".")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	if _, err := os.Stat(filepath.Join(dir, "hello")); err != nil {
		t.Fatalf("built command missing: %v", err)
	}
	if _, err := GoBuild("testkit-test-", "./nonexistent"); err == nil || !strings.Contains(err.Error(), "go build") {
		t.Fatalf("building a missing package: %v", err)
	}
}
