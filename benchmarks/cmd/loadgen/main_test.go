package main

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/campshub360/edge/benchmarks/internal/report"
	"github.com/campshub360/edge/benchmarks/internal/runner"
	"github.com/campshub360/edge/benchmarks/internal/testsrv"
)

// syncBuffer is a bytes.Buffer safe for the progress goroutine and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
	// onWrite, when set, sees every write.
	onWrite func(string)
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.onWrite != nil {
		s.onWrite(string(p))
	}
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func startCampus(t *testing.T) (*testsrv.Campus, *testsrv.Server) {
	t.Helper()
	c := &testsrv.Campus{Password: "secret", Students: 20}
	return c, testsrv.Start(t, c.Handle, false)
}

// loadgen runs the command line and returns stdout, stderr and the error.
func loadgen(t *testing.T, ctx context.Context, env []string, args ...string) (string, string, error) {
	t.Helper()
	var stdout, stderr syncBuffer
	err := run(ctx, args, env, &stdout, &stderr)
	return stdout.String(), stderr.String(), err
}

func readResult(t *testing.T, path string) *report.Result {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var r report.Result
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return &r
}

// TestBundledScenariosSmoke runs every bundled scenario briefly against a
// local server, so the scenarios cannot rot.
func TestBundledScenariosSmoke(t *testing.T) {
	_, srv := startCampus(t)
	files, err := filepath.Glob(filepath.Join("..", "..", "scenarios", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no scenarios: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "result.json")
			md := filepath.Join(t.TempDir(), "result.md")
			stdout, stderr, err := loadgen(t, t.Context(), nil, "run", "--scenario", f, "--target", srv.URL,
				"--duration", "1s", "--max-requests", "60", "--connections", "4", "--seed", "7",
				"--json", out, "--md", md, "--max-error-rate", "0")
			if err != nil {
				t.Fatalf("%v\nstderr:\n%s", err, stderr)
			}
			r := readResult(t, out)
			if r.Requests == 0 || r.Errors != 0 || r.Requests != r.Responses || r.Seed != 7 || r.URL != srv.URL {
				t.Fatalf("result %+v", r)
			}
			if !strings.Contains(stdout, "| target | scenario |") || !strings.Contains(stdout, "| "+srv.URL+" | "+r.Scenario+" |") {
				t.Fatalf("stdout:\n%s", stdout)
			}
			mdText, err := os.ReadFile(md)
			if err != nil || !strings.Contains(string(mdText), "| target | scenario |") {
				t.Fatalf("markdown file: %v\n%s", err, mdText)
			}
		})
	}
}

func TestURLModes(t *testing.T) {
	campus, srv := startCampus(t)
	t.Run("open", func(t *testing.T) {
		stdout, stderr, err := loadgen(t, t.Context(), nil, "url", "--rate", "40", "--duration", "500ms", "--progress", "100ms", "--json", "-", srv.URL+"/health/")
		if err != nil {
			t.Fatalf("%v\n%s", err, stderr)
		}
		var r report.Result
		if err := json.Unmarshal([]byte(stdout), &r); err != nil {
			t.Fatalf("stdout is not only JSON: %v\n%s", err, stdout)
		}
		// 40 rps for 500ms intends 20 requests; one woken after the deadline
		// on a loaded machine counts as unsent, never as missing.
		if r.Mode != "open" || r.Requests+r.Unsent != 20 || r.OK != r.Requests || r.Scenario != "url" || r.ByRequest[0].Name != "GET /health/" {
			t.Fatalf("result %+v", r)
		}
		if !strings.Contains(stderr, "open loop, 40 rps for 500ms, 32 connections") {
			t.Fatalf("stderr:\n%s", stderr)
		}
	})
	t.Run("closed with body and headers", func(t *testing.T) {
		stdout, stderr, err := loadgen(t, t.Context(), nil, "url", "--connections", "2", "--max-requests", "10",
			"--method", "POST", "--header", "X-Test: {seq}", "--body", `{"n":{seq}}`, "--quiet", srv.URL+"/api/v1/auth/login")
		if err != nil {
			t.Fatalf("%v\n%s", err, stderr)
		}
		if stderr != "" {
			t.Fatalf("--quiet wrote to stderr:\n%s", stderr)
		}
		// The fake answers 400 to a login without a username.
		if !strings.Contains(stdout, "| closed | 10 |") || !strings.Contains(stdout, "400: 10") {
			t.Fatalf("stdout:\n%s", stdout)
		}
		var posts int
		for _, s := range campus.Seen() {
			if s.Method == "POST" && s.ContentType == "application/json" && strings.HasPrefix(s.Body, `{"n":`) {
				posts++
			}
		}
		if posts != 10 {
			t.Fatalf("%d POSTs with a JSON body", posts)
		}
	})
}

func TestCompare(t *testing.T) {
	_, a := startCampus(t)
	_, b := startCampus(t)
	out := filepath.Join(t.TempDir(), "cmp.json")
	stdout, stderr, err := loadgen(t, t.Context(), nil, "compare", "--scenario", filepath.Join("..", "..", "scenarios", "smoke.yaml"),
		"--target", "nginx="+a.URL, "--target", "gateway="+b.URL, "--rounds", "2", "--pause", "0",
		"--duration", "300ms", "--json", out, "--seed", "3")
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	raw, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var c report.Comparison
	if err := json.Unmarshal(raw, &c); err != nil {
		t.Fatal(err)
	}
	var order []string
	for _, r := range c.Runs {
		order = append(order, r.Target+"/"+string(rune('0'+r.Round)))
	}
	if strings.Join(order, " ") != "nginx/1 gateway/1 nginx/2 gateway/2" {
		t.Fatalf("run order %v", order)
	}
	if c.Reference != "nginx" || len(c.Targets) != 2 || c.Targets[1].Runs != 2 || c.Targets[0].Ratio.AchievedRPS == nil || *c.Targets[0].Ratio.AchievedRPS != 1 {
		t.Fatalf("comparison %+v", c)
	}
	if !strings.Contains(stdout, "×ref") || !strings.Contains(stdout, "Runs in order:") || !strings.Contains(stderr, "[gateway 2/2]") {
		t.Fatalf("stdout:\n%s\nstderr:\n%s", stdout, stderr)
	}
}

func TestRemoteTargetRefused(t *testing.T) {
	for _, args := range [][]string{
		{"url", "--rate", "1", "http://10.1.2.3/"},
		{"run", "--scenario", filepath.Join("..", "..", "scenarios", "smoke.yaml"), "--target", "https://example.com"},
	} {
		_, _, err := loadgen(t, t.Context(), nil, args...)
		if !errors.Is(err, runner.ErrRemote) {
			t.Errorf("%v: err = %v, want ErrRemote", args, err)
		}
	}
}

func TestUsage(t *testing.T) {
	scen := filepath.Join("..", "..", "scenarios", "smoke.yaml")
	cases := [][]string{
		{},
		{"bogus"},
		{"run"},
		{"run", "--scenario", scen, "extra"},
		{"run", "--nope"},
		{"url", "http://127.0.0.1:1/"},
		{"url", "--rate", "5"},
		{"url", "--rate", "5", "not a url"},
		{"compare", "--scenario", scen, "--target", "a=http://127.0.0.1:1"},
		{"compare", "--scenario", scen, "--target", "a=http://127.0.0.1:1", "--target", "b=http://127.0.0.1:2", "--reference", "c"},
		{"compare", "--scenario", scen, "--target", "a=http://127.0.0.1:1", "--target", "a=http://127.0.0.1:2"},
		{"compare", "--scenario", scen, "--target", "noequals"},
	}
	for _, args := range cases {
		if _, _, err := loadgen(t, t.Context(), nil, args...); !errors.Is(err, errUsage) {
			t.Errorf("%q: err = %v, want a usage error", args, err)
		}
	}
	for _, args := range [][]string{{"help"}, {"run", "-h"}, {"url", "--help"}} {
		stdout, stderr, err := loadgen(t, t.Context(), nil, args...)
		if err != nil || !strings.Contains(stdout+stderr, "Usage: loadgen") && !strings.Contains(stdout, "Usage:") {
			t.Errorf("%q: %v\n%s%s", args, err, stdout, stderr)
		}
	}
	// Bad flag values are errors too, not usage errors.
	if _, _, err := loadgen(t, t.Context(), nil, "url", "--rate", "5", "--max-error-rate", "2", "http://127.0.0.1:1/"); err == nil {
		t.Error("--max-error-rate 2 accepted")
	}
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(bad, []byte("name: x\nrequests:\n  - path: /\n    wieght: 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := loadgen(t, t.Context(), nil, "run", "--scenario", bad, "--target", "http://127.0.0.1:1"); err == nil || !strings.Contains(err.Error(), "bad.yaml:4:") {
		t.Errorf("bad scenario: %v", err)
	}
}

func TestInterruptStillReports(t *testing.T) {
	_, srv := startCampus(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var stdout, stderr syncBuffer
	stderr.onWrite = func(s string) {
		if strings.Contains(s, " sent ") {
			cancel() // Ctrl-C once the first progress line is out
		}
	}
	err := run(ctx, []string{"url", "--rate", "50", "--duration", "30s", "--progress", "50ms", srv.URL + "/health/"}, nil, &stdout, &stderr)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stdout.String(), "stopped by interrupted") || !strings.Contains(stderr.String(), "interrupted after") {
		t.Fatalf("stdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
	}
}

func TestMaxErrorRate(t *testing.T) {
	dead := testsrv.ClosedPortURL(t)
	stdout, _, err := loadgen(t, t.Context(), nil, "url", "--connections", "1", "--max-requests", "3", "--max-error-rate", "0", dead+"/")
	if err == nil || !strings.Contains(err.Error(), "error rate 100%") {
		t.Fatalf("err = %v", err)
	}
	if !strings.Contains(stdout, "connect_refused: 3") {
		t.Fatalf("the report is still printed:\n%s", stdout)
	}
}

func TestAuthScenarioFromCLI(t *testing.T) {
	campus, srv := startCampus(t)
	dir := t.TempDir()
	scen := filepath.Join(dir, "campus.yaml")
	src := `name: campus
description: students read with logins
rate: 50
duration: 400ms
auth:
  users: [{username: fac1, password: "${PW}"}]
  generate: {username: "student%03d", password: "${PW}", count: 3, start: 1}
params:
  student_id: {url: "/api/v1/students?limit=10", pluck: "items[].id"}
requests:
  - {name: list, path: "/api/v1/students?limit=5", weight: 2}
  - {name: get, path: "/api/v1/students/{student_id}"}
`
	if err := os.WriteFile(scen, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "r.json")
	_, stderr, err := loadgen(t, t.Context(), []string{"PW=secret", "OTHER=x"}, "run", "--scenario", scen, "--target", srv.URL, "--json", out, "--max-error-rate", "0")
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	r := readResult(t, out)
	if r.Requests+r.Unsent != 20 || r.OK != r.Requests || len(r.ByRequest) != 2 || r.ByRequest[0].Requests+r.ByRequest[1].Requests != r.Requests {
		t.Fatalf("result %+v", r)
	}
	if !strings.Contains(stderr, "logging in 4 users") || !strings.Contains(stderr, "parameter student_id: 10 values") {
		t.Fatalf("stderr:\n%s", stderr)
	}
	if strings.Contains(stderr, "secret") {
		t.Fatal("password on stderr")
	}
	var logins int
	for _, s := range campus.Seen() {
		if strings.HasSuffix(s.URI, "/login") {
			logins++
		}
	}
	if logins != 4 {
		t.Fatalf("%d logins, want one per user", logins)
	}
	// Without the environment variable the run fails before sending load.
	if _, _, err := loadgen(t, t.Context(), nil, "run", "--scenario", scen, "--target", srv.URL); err == nil || !strings.Contains(err.Error(), "PW is not set") {
		t.Fatalf("err = %v", err)
	}
}

func TestTLSFromCLI(t *testing.T) {
	c := &testsrv.Campus{}
	srv := testsrv.Start(t, c.Handle, true)
	if _, stderr, err := loadgen(t, t.Context(), nil, "url", "--connections", "2", "--max-requests", "6", "--insecure", "--max-error-rate", "0", srv.URL+"/health/"); err != nil {
		t.Fatalf("--insecure: %v\n%s", err, stderr)
	}
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Cert.Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, stderr, err := loadgen(t, t.Context(), nil, "url", "--connections", "2", "--max-requests", "6", "--cacert", ca, "--max-error-rate", "0", srv.URL+"/health/"); err != nil {
		t.Fatalf("--cacert: %v\n%s", err, stderr)
	}
	stdout, _, err := loadgen(t, t.Context(), nil, "url", "--connections", "1", "--max-requests", "2", "--max-error-rate", "0", srv.URL+"/health/")
	if err == nil || !strings.Contains(stdout, "tls: 2") {
		t.Fatalf("unverified TLS: %v\n%s", err, stdout)
	}
}
