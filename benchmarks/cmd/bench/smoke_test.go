package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/campshub360/edge/benchmarks/internal/suite"
)

// TestSuiteSmoke runs every scenario of the suite for two seconds at its
// own load, at most 300 requests per run and group (the closed loop of
// catalog-hit would otherwise take the machine's CPUs from the tests
// running beside it), against the real stack the harness starts: three
// backend instances on a throwaway database of TEST_DATABASE_URL, the
// gateway with the single-host configuration, and nginx with
// deploy/nginx/bench.conf when an nginx binary is on PATH; failover kills
// and restarts backend instance 2. It keeps the scenarios, the stack and
// the harness from rotting; it asserts that every scenario ran against
// every target with its requests mostly answered as the scenario
// expects, never a speed.
func TestSuiteSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the whole stack")
	}
	server := integrationEnv(t, "TEST_DATABASE_URL")
	redisURL := integrationEnv(t, "TEST_REDIS_URL")
	root, err := filepath.Abs(filepath.Join("..", "..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	build := exec.Command("go", "build", "-o", bin+string(filepath.Separator),
		"github.com/campshub360/edge/gateway/cmd/gateway",
		"github.com/campshub360/edge/backend/cmd/backend",
		"github.com/campshub360/edge/benchmarks/cmd/benchsrv")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	targets := "gateway"
	nginx, _ := exec.LookPath("nginx")
	if nginx != "" {
		targets += ",nginx"
	} else {
		t.Log("nginx not on PATH: the nginx target is left out")
	}
	out := filepath.Join(dir, "out")
	args := []string{"run", "--bin", bin, "--database-url", throwawayDatabase(t, server),
		"--redis-url", redisDB(t, redisURL, 9), "--nginx", nginx, "--root", root,
		"--work", filepath.Join(dir, "work"), "--state", filepath.Join(dir, "state"), "--out", out,
		"--runs", "1", "--duration", "2s", "--max-requests", "300", "--warmup", "0", "--pause", "200ms",
		"--seed-students", "300", "--students", "100", "--bcrypt-cost", "4", "--targets", targets}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var stdout, stderr lockedBuffer
	if err := run(ctx, args, &stdout, &stderr); err != nil {
		t.Fatalf("bench run: %v\n%s", err, stderr.String())
	}

	b, err := os.ReadFile(filepath.Join(out, "outcome.json"))
	if err != nil {
		t.Fatal(err)
	}
	var o suite.Outcome
	if err := json.Unmarshal(b, &o); err != nil {
		t.Fatal(err)
	}
	want := strings.Split(targets, ",")
	for _, e := range suite.Entries {
		for _, target := range want {
			if e.Targets != nil && !slices.Contains(e.Targets, target) {
				continue
			}
			i := slices.IndexFunc(o.Runs, func(r *suite.Run) bool { return r.Entry == e.Name && r.Target == target })
			if i < 0 {
				t.Errorf("%s on %s: no run", e.Name, target)
				continue
			}
			r := o.Runs[i]
			if r.Error != "" || len(r.Results) == 0 {
				t.Errorf("%s on %s: %q, %d results", e.Name, target, r.Error, len(r.Results))
			}
			for _, res := range r.Results {
				// What a rotten scenario shows: no success at all, or
				// statuses saying its requests are wrong (4xx other than
				// 429, 500). Refusals and failures of a loaded machine
				// (429, 502, 503, timeouts) are the scenario's load, not
				// rot; the flood of abuse is meant to be refused.
				var wrong int64
				for code, n := range res.Status {
					if c, err := strconv.Atoi(code); err == nil && (c >= 400 && c < 500 && c != 429 || c == 500) {
						wrong += n
					}
				}
				if res.Requests == 0 || (res.OK == 0 && res.Group != "flood") || wrong*100 > res.Requests {
					t.Errorf("%s/%s on %s: %d requests, %d answered as expected, statuses %v, errors %v",
						e.Name, res.Group, target, res.Requests, res.OK, res.Status, res.ErrorsByKind)
				}
			}
			if e.Fault != nil && !slices.ContainsFunc(r.Events, func(ev string) bool { return strings.HasSuffix(ev, "serving") }) {
				t.Errorf("%s on %s: the killed instance did not come back: %v", e.Name, target, r.Events)
			}
		}
	}
	for _, f := range []string{"table.md", "scenarios.md"} {
		if fi, err := os.Stat(filepath.Join(out, f)); err != nil || fi.Size() == 0 {
			t.Errorf("%s not written: %v", f, err)
		}
	}
	if !strings.Contains(stdout.String(), "| failover | gateway |") {
		t.Errorf("the printed table has no failover row:\n%s", stdout.String())
	}
}

// integrationEnv returns the variable, skipping the test when it is unset
// unless CAMPSHUB_INTEGRATION=required (scripts/test.sh), then failing.
func integrationEnv(t *testing.T, name string) string {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		if os.Getenv("CAMPSHUB_INTEGRATION") == "required" {
			t.Fatalf("%s is not set and CAMPSHUB_INTEGRATION=required", name)
		}
		t.Skipf("%s is not set", name)
	}
	return v
}

// throwawayDatabase creates a database on the server of serverURL and
// drops it when the test ends; it returns its URL.
func throwawayDatabase(t *testing.T, serverURL string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	suffix := make([]byte, 6)
	if _, err := rand.Read(suffix); err != nil {
		t.Fatal(err)
	}
	name := "bench_smoke_" + hex.EncodeToString(suffix)
	admin, err := pgx.Connect(ctx, serverURL)
	if err != nil {
		t.Fatalf("connect to TEST_DATABASE_URL: %v", err)
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		admin, err := pgx.Connect(ctx, serverURL)
		if err != nil {
			t.Errorf("drop %s: %v", name, err)
			return
		}
		defer admin.Close(ctx)
		if _, err := admin.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			t.Errorf("drop %s: %v", name, err)
		}
	})
	u, err := url.Parse(serverURL)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}

// redisDB returns raw with its database number set to n: the stack's keys
// stay apart from other test packages sharing the server.
func redisDB(t *testing.T, raw string, n int) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + strconv.Itoa(n)
	return u.String()
}

// lockedBuffer is a bytes.Buffer safe for concurrent writers.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
