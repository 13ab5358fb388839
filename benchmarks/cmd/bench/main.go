// Command bench runs the campus benchmark suite of CampsHub360 Edge and
// assembles benchmarks/RESULTS.md. `make bench` calls it through
// benchmarks/scripts/bench.sh, which builds the binaries and provides
// PostgreSQL, Redis and nginx.
//
//	bench run --bin DIR --database-url URL [--redis-url URL] [--nginx PATH]
//	          --root DIR --work DIR --out DIR [--quick] [--runs 3] [--duration D] [flags]
//	bench results --dir DIR --out FILE
//
// run starts the stack (package stack: backend instances, the gateway,
// nginx, the ceiling; load-test accounts provisioned in the given
// database), runs the suite (package suite), and writes to --out:
// outcome.json (every run), table.md and scenarios.md, the RESULTS.md
// section. results concatenates the sections of --dir (scenarios.md first,
// then the others by name) under the RESULTS.md preamble.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/campshub360/edge/benchmarks/internal/stack"
	"github.com/campshub360/edge/benchmarks/internal/suite"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		if errors.Is(err, errUsage) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

var errUsage = errors.New("usage: bench run [flags] | bench results --dir DIR --out FILE (bench run -h lists the flags)")

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errUsage
	}
	switch args[0] {
	case "run":
		return cmdRun(ctx, args[1:], stdout, stderr)
	case "results":
		return cmdResults(args[1:], stderr)
	default:
		return errUsage
	}
}

// list is a comma-separated flag value.
type list []string

func (l *list) String() string { return strings.Join(*l, ",") }
func (l *list) Set(s string) error {
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			*l = append(*l, p)
		}
	}
	return nil
}

// repeated is a repeatable flag.
type repeated []string

func (r *repeated) String() string     { return strings.Join(*r, "; ") }
func (r *repeated) Set(s string) error { *r = append(*r, s); return nil }

func cmdRun(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		cfg      stack.Config
		opts     suite.Options
		only     list
		targets  list
		describe repeated
	)
	fs.StringVar(&cfg.Bin, "bin", "", "directory of the gateway, backend and benchsrv binaries (required)")
	fs.StringVar(&cfg.DatabaseURL, "database-url", "", "PostgreSQL database to migrate, seed and provision: a development or benchmark database (required)")
	fs.StringVar(&cfg.RedisURL, "redis-url", "", "Redis of the backends and the gateway (optional)")
	fs.StringVar(&cfg.Nginx, "nginx", "", "nginx binary; empty leaves the nginx target out")
	fs.StringVar(&cfg.Root, "root", ".", "repository root (deploy/ and benchmarks/scenarios/campus/ are read from it)")
	fs.StringVar(&cfg.Work, "work", "", "work directory for logs, configurations and the fixture (required)")
	fs.StringVar(&cfg.State, "state", "", "directory kept with the database between runs: development keyrings, bench password (required)")
	fs.IntVar(&cfg.Backends, "backends", 3, "backend instances (the gateway's configuration names three)")
	fs.IntVar(&cfg.SeedStudents, "seed-students", 5000, "students seeded into an empty database")
	fs.IntVar(&cfg.Students, "students", 2000, "student accounts provisioned for the scenarios (whole sections)")
	fs.IntVar(&cfg.BcryptCost, "bcrypt-cost", 4, "bcrypt cost of the bench accounts and the backends (4..16)")
	out := fs.String("out", "", "directory for outcome.json, table.md and scenarios.md (required)")
	fs.BoolVar(&opts.Quick, "quick", false, "short runs (see the suite's entries)")
	fs.IntVar(&opts.Rounds, "runs", 3, "measured runs per scenario and target (the table shows medians)")
	fs.Float64Var(&opts.Scale, "scale", 1, "multiply every run's length")
	fs.DurationVar(&opts.Duration, "duration", 0, "length of every run instead of each scenario's own (e.g. 10s)")
	fs.Int64Var(&opts.MaxRequests, "max-requests", 0, "bound each run (each group of a scenario) to this many requests; 0 keeps the scenarios' bounds")
	fs.DurationVar(&opts.Warmup, "warmup", 2*time.Second, "unmeasured run per scenario and target before the measured ones; 0 for none")
	fs.DurationVar(&opts.Pause, "pause", 2*time.Second, "pause between runs")
	fs.Var(&only, "only", "comma-separated scenarios to run (default: all)")
	fs.Var(&targets, "targets", "comma-separated targets: gateway, nginx, direct, ceiling (default: all)")
	fs.Var(&describe, "describe", "a line describing the stack for RESULTS.md (repeatable), e.g. \"PostgreSQL 15.8\"")
	command := fs.String("command", "", "the command to print as how the results were made (default: this command line)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return errUsage
	}
	if cfg.Bin == "" || cfg.DatabaseURL == "" || cfg.Work == "" || cfg.State == "" || *out == "" || fs.NArg() > 0 {
		fs.Usage()
		return errUsage
	}
	for _, n := range only {
		if !slices.ContainsFunc(suite.Entries, func(e suite.Entry) bool { return e.Name == n }) {
			return fmt.Errorf("--only: no scenario %q", n)
		}
	}
	for _, n := range targets {
		if !slices.Contains([]string{"gateway", "nginx", "direct", "ceiling"}, n) {
			return fmt.Errorf("--targets: no target %q", n)
		}
	}
	opts.Only, opts.Targets = only, targets
	opts.Scenarios = filepath.Join(cfg.Root, "benchmarks", "scenarios", "campus")
	if *command == "" {
		*command = "bench run " + strings.Join(args, " ")
	}
	logf := func(format string, a ...any) {
		fmt.Fprintf(stderr, "[%s] %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, a...))
	}
	cfg.Logf, opts.Logf = logf, logf
	for _, d := range []string{cfg.Work, cfg.State, *out} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	machine := suite.Machine()

	st, err := stack.Start(ctx, cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	opts.Getenv = func(k string) string {
		switch k {
		case "BENCH_FIXTURE":
			return st.Fixture.Dir
		case "BENCH_PASSWORD":
			return st.Fixture.Password
		}
		return os.Getenv(k)
	}
	outcome, runErr := suite.Execute(ctx, st, opts)
	if outcome == nil {
		return runErr
	}
	st.Close()

	meta := suite.Meta{Command: *command, Machine: machine, Stack: stackLines(cfg, describe)}
	if err := writeJSON(filepath.Join(*out, "outcome.json"), outcome); err != nil {
		return err
	}
	if err := writeWith(filepath.Join(*out, "table.md"), func(w io.Writer) error { return suite.Table(w, suite.Rows(outcome)) }); err != nil {
		return err
	}
	if err := writeWith(filepath.Join(*out, "scenarios.md"), func(w io.Writer) error { return suite.Section(w, outcome, meta) }); err != nil {
		return err
	}
	if err := suite.Table(stdout, suite.Rows(outcome)); err != nil {
		return err
	}
	if runErr != nil {
		return runErr
	}
	if len(outcome.Failures) > 0 {
		return fmt.Errorf("%d failures:\n  %s", len(outcome.Failures), strings.Join(outcome.Failures, "\n  "))
	}
	return nil
}

// stackLines describes the stack for RESULTS.md.
func stackLines(cfg stack.Config, describe []string) []string {
	lines := []string{
		fmt.Sprintf("%d backend instances (`backend serve`), one PostgreSQL database seeded with %d students, load-test accounts for %d students "+
			"(whole sections), their faculty and 4 registrars, bcrypt cost %d", cfg.Backends, cfg.SeedStudents, cfg.Students, cfg.BcryptCost),
		"gateway: `" + stack.GatewayConfig + "` with only addresses, the certificate and Redis set from the environment",
	}
	if cfg.Nginx != "" {
		v := "nginx"
		if out, err := exec.Command(cfg.Nginx, "-v").CombinedOutput(); err == nil {
			v = strings.TrimPrefix(strings.TrimSpace(string(out)), "nginx version: ")
		}
		lines = append(lines, "nginx: "+v+", `"+stack.NginxConfig+"`, worker_processes auto")
	} else {
		lines = append(lines, "nginx: not available, its rows are missing")
	}
	if cfg.RedisURL == "" {
		lines = append(lines, "Redis: none (gateway limits fall back to local buckets, the backend runs without its cache)")
	}
	lines = append(lines, "load generator (benchmarks/internal/runner) in the harness process, on the same machine")
	return append(lines, describe...)
}

func writeJSON(path string, v any) error {
	return writeWith(path, func(w io.Writer) error {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	})
}

func writeWith(path string, write func(io.Writer) error) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := write(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// preamble opens RESULTS.md.
const preamble = `# Benchmark results

Every section below states the command that produced it, the machine and the date. ` + "`make bench`" + ` generates
the campus scenarios section on top, ` + "`make bench-compare`" + ` the focused edge comparisons (proxy core, TLS, cache,
rate limit, fault), each written by its script, never typed; the backend and micro-benchmark sections are
recorded from the Go benchmark and ` + "`make bench-backend`" + ` commands they name. The machine is shared and noisy:
compare figures within a section (ratios against references measured in the same run), not across sections
or runs.

`

// cmdResults assembles RESULTS.md from the section files of --dir.
func cmdResults(args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench results", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("dir", "", "directory of the generated sections (*.md)")
	out := fs.String("out", "", "RESULTS.md to write")
	if err := fs.Parse(args); err != nil || *dir == "" || *out == "" || fs.NArg() > 0 {
		return errUsage
	}
	files, err := filepath.Glob(filepath.Join(*dir, "*.md"))
	if err != nil {
		return err
	}
	slices.SortFunc(files, func(a, b string) int {
		// The campus scenarios first, then the others by name.
		ka, kb := filepath.Base(a) != "scenarios.md", filepath.Base(b) != "scenarios.md"
		if ka != kb {
			if !ka {
				return -1
			}
			return 1
		}
		return strings.Compare(a, b)
	})
	var b strings.Builder
	b.WriteString(preamble)
	for _, f := range files {
		text, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		b.WriteString(strings.TrimSpace(string(text)) + "\n\n")
	}
	return os.WriteFile(*out, []byte(strings.TrimRight(b.String(), "\n")+"\n"), 0o644)
}
