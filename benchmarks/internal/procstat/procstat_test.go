package procstat

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

func TestSelf(t *testing.T) {
	r, err := New("")
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	if r.tick <= 0 || r.tick > time.Second {
		t.Fatalf("tick %v", r.tick)
	}
	pid := os.Getpid()
	before, err := r.CPU(pid)
	if err != nil {
		t.Fatal(err)
	}
	// Burn CPU until the counter moves (a tick or two).
	deadline := time.Now().Add(10 * time.Second)
	x := 0
	for {
		for i := range 1_000_000 {
			x += i
		}
		after, err := r.CPU(pid)
		if err != nil {
			t.Fatal(err)
		}
		if after > before {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("CPU time did not move: %v (x=%d)", after, x)
		}
	}
	if err := r.ResetPeak(pid); err != nil {
		t.Fatal(err)
	}
	peak, err := r.PeakRSS(pid)
	if err != nil || peak < 1<<20 {
		t.Fatalf("peak RSS %d: %v", peak, err)
	}
	if _, err := r.CPU(1 << 30); err == nil {
		t.Fatal("a missing process has CPU time")
	}
}

func TestChildren(t *testing.T) {
	r, err := New("")
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	cmd := exec.Command("sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Skipf("no sleep: %v", err)
	}
	defer func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}()
	kids, err := r.Children(os.Getpid())
	if err != nil || !slices.Contains(kids, cmd.Process.Pid) {
		t.Fatalf("children %v (want %d): %v", kids, cmd.Process.Pid, err)
	}
}

func TestParsesFixtures(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "42")
	if err := os.MkdirAll(filepath.Join(root, "self"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(path, s string) {
		if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(root, "self", "stat"), "1 (x) S")
	// A command name with spaces and a parenthesis.
	write(filepath.Join(dir, "stat"), "42 (nginx: worker) x) S 1 42 42 0 -1 4194560 100 0 0 0 250 150 0 0 20 0 1 0 100 0 0")
	write(filepath.Join(dir, "status"), "Name:\tnginx\nVmHWM:\t  2048 kB\nVmRSS:\t1024 kB\n")
	r, err := New(root)
	if err != nil {
		t.Fatal(err)
	}
	cpu, err := r.CPU(42)
	if err != nil || cpu != 400*r.tick {
		t.Fatalf("cpu %v: %v", cpu, err)
	}
	peak, err := r.PeakRSS(42, 42)
	if err != nil || peak != 2*2048<<10 {
		t.Fatalf("peak %d: %v", peak, err)
	}
}
