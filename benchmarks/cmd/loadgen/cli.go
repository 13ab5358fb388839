package main

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/campshub360/edge/benchmarks/internal/report"
	"github.com/campshub360/edge/benchmarks/internal/runner"
	"github.com/campshub360/edge/benchmarks/internal/scenario"
)

// errUsage marks command-line mistakes (exit status 2).
var errUsage = errors.New("usage")

const usage = `loadgen: HTTP load generator of CampsHub360 Edge

Usage:
  loadgen run     --scenario FILE [--target URL] [flags]
  loadgen compare --scenario FILE --target NAME=URL --target NAME=URL [--rounds 3] [--reference NAME] [flags]
  loadgen url     (--rate RPS | --connections N) [flags] URL
  loadgen help

Open loop (--rate, or rate/steps/ramp in a scenario) sends requests on a
fixed schedule and measures latency from each request's intended send time,
so a stalled server cannot hide behind a stalled generator. Closed loop
(--connections without --rate, or mode: closed) sends back to back on N
keep-alive connections, for peak throughput.

Every run is bounded by --duration (default 10s, or the scenario's) and
--max-requests (default 1000000). Targets must be loopback addresses
(127.0.0.0/8, ::1, localhost) unless --allow-remote is given.

compare runs the targets in turn, A B A B ..., --rounds times, and reports
per-target medians with ratios to --reference (default: the first target).

Output: a Markdown table on stdout (not with --json -), --json FILE and
--md FILE ("-" is stdout); a progress line on stderr every second unless
--quiet. Ctrl-C stops early and still reports; a second Ctrl-C kills.

Run "loadgen COMMAND -h" for the flags of a command.
`

// app is one invocation's environment.
type app struct {
	env            map[string]string
	stdout, stderr io.Writer
	tty            bool // stderr is a terminal: redraw the progress line
}

// run is main without the process: it parses args (without the program
// name) and runs the command, writing reports to stdout and progress and
// notes to stderr. env holds "KEY=value" entries (${KEY} in scenario user
// fields). Cancelling ctx stops a run early; it still reports.
func run(ctx context.Context, args, env []string, stdout, stderr io.Writer) error {
	a := &app{env: map[string]string{}, stdout: stdout, stderr: stderr, tty: isTerminal(stderr)}
	for _, kv := range env {
		if k, v, ok := strings.Cut(kv, "="); ok {
			a.env[k] = v
		}
	}
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errUsage
	}
	switch args[0] {
	case "run":
		return a.cmdRun(ctx, args[1:])
	case "compare":
		return a.cmdCompare(ctx, args[1:])
	case "url":
		return a.cmdURL(ctx, args[1:])
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		fmt.Fprintf(stderr, "loadgen: unknown command %q\n\n%s", args[0], usage)
		return errUsage
	}
}

// options are the flags every command shares.
type options struct {
	jsonOut, mdOut string
	allowRemote    bool
	insecure       bool
	quiet          bool
	cacert         string
	seed           uint64
	duration       time.Duration
	timeout        time.Duration
	maxRequests    int64
	connections    int
	maxErrorRate   float64
	progressEvery  time.Duration
}

func (o *options) register(fs *flag.FlagSet) {
	fs.StringVar(&o.jsonOut, "json", "", "write the result as JSON to `FILE` (- for stdout)")
	fs.StringVar(&o.mdOut, "md", "", "write the Markdown report to `FILE` (- for stdout)")
	fs.BoolVar(&o.allowRemote, "allow-remote", false, "allow targets that are not loopback addresses")
	fs.BoolVar(&o.insecure, "insecure", false, "skip TLS certificate verification (self-signed targets)")
	fs.StringVar(&o.cacert, "cacert", "", "trust the PEM certificates in `FILE` instead of the system roots")
	fs.BoolVar(&o.quiet, "quiet", false, "no progress line or notes on stderr")
	fs.Uint64Var(&o.seed, "seed", 0, "seed of the random choices (0: pick one and report it)")
	fs.DurationVar(&o.duration, "duration", 0, "hard bound on the run's length (default 10s or the scenario's)")
	fs.DurationVar(&o.timeout, "timeout", 0, "per-request timeout (default 5s or the scenario's)")
	fs.Int64Var(&o.maxRequests, "max-requests", 0, "hard bound on the requests sent (default 1000000 or the scenario's)")
	fs.IntVar(&o.connections, "connections", 0, "connections (closed loop: concurrent workers; default 32 or the scenario's)")
	fs.Float64Var(&o.maxErrorRate, "max-error-rate", 1, "exit non-zero when a run's error rate exceeds this fraction")
	fs.DurationVar(&o.progressEvery, "progress", time.Second, "interval of the progress line")
}

// check validates the shared flags.
func (o *options) check() error {
	var errs []error
	if o.duration < 0 || o.timeout < 0 || o.maxRequests < 0 || o.connections < 0 {
		errs = append(errs, errors.New("--duration, --timeout, --max-requests and --connections must not be negative"))
	}
	if o.maxErrorRate < 0 || o.maxErrorRate > 1 {
		errs = append(errs, errors.New("--max-error-rate must be within 0..1"))
	}
	if o.progressEvery <= 0 {
		errs = append(errs, errors.New("--progress must be > 0"))
	}
	if o.jsonOut == "-" && o.mdOut == "-" {
		errs = append(errs, errors.New("--json - and --md - cannot both use stdout"))
	}
	return errors.Join(errs...)
}

// newFlagSet returns a flag set that reports to stderr.
func (a *app) newFlagSet(name, synopsis string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(a.stderr)
	fs.Usage = func() {
		fmt.Fprintf(a.stderr, "Usage: loadgen %s\n\nFlags:\n", synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// parse parses flags interspersed with positional arguments and returns
// the positionals.
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, errHelp
			}
			return nil, errUsage
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// errHelp is returned by parse for -h; commands answer it with nil.
var errHelp = errors.New("help")

func (a *app) cmdRun(ctx context.Context, args []string) error {
	fs := a.newFlagSet("run", "run --scenario FILE [--target URL] [flags]")
	var o options
	o.register(fs)
	file := fs.String("scenario", "", "scenario YAML `FILE` (required)")
	target := fs.String("target", "", "base `URL` of the target, over the scenario's")
	rate := fs.Float64("rate", 0, "open loop at this constant `RPS`, over the scenario's load shape")
	pos, err := parse(fs, args)
	if err != nil {
		return helpOK(err)
	}
	if err := o.check(); err != nil {
		return err
	}
	if *file == "" || len(pos) > 0 {
		fs.Usage()
		return fmt.Errorf("%w: run needs --scenario FILE and no positional arguments", errUsage)
	}
	sc, err := scenario.Load(*file)
	if err != nil {
		return err
	}
	if err := a.apply(sc, &o, *target, *rate); err != nil {
		return err
	}
	pr, err := a.prepare(ctx, sc, &o, sc.Target, nil)
	if err != nil {
		return err
	}
	res, err := a.runOnce(ctx, sc, &o, pr, "")
	if res == nil {
		return err
	}
	if werr := a.writeResults(&o, resultsValue(res), func(w io.Writer) error { return report.Markdown(w, res...) }); werr != nil {
		return werr
	}
	if err != nil {
		return err
	}
	return checkErrorRates(&o, res)
}

// resultsValue is what --json writes for one run: the Result of a
// scenario without groups, the list of its groups' Results otherwise.
func resultsValue(res []*report.Result) any {
	if len(res) == 1 {
		return res[0]
	}
	return res
}

func (a *app) cmdURL(ctx context.Context, args []string) error {
	fs := a.newFlagSet("url", "url (--rate RPS | --connections N) [flags] URL")
	var o options
	o.register(fs)
	rate := fs.Float64("rate", 0, "open loop at this constant `RPS`")
	method := fs.String("method", "GET", "request `METHOD`")
	body := fs.String("body", "", "request `BODY` (sent as application/json unless a Content-Type header is given)")
	var headers headerList
	fs.Var(&headers, "header", "request header `NAME: VALUE` (repeatable)")
	think := fs.String("think", "", "closed-loop think time: `D` or MIN..MAX")
	pos, err := parse(fs, args)
	if err != nil {
		return helpOK(err)
	}
	if err := o.check(); err != nil {
		return err
	}
	if len(pos) != 1 {
		fs.Usage()
		return fmt.Errorf("%w: url needs exactly one URL", errUsage)
	}
	if *rate <= 0 && o.connections <= 0 {
		return fmt.Errorf("%w: set --rate RPS (open loop) or --connections N (closed loop)", errUsage)
	}
	u, err := url.Parse(pos[0])
	if err != nil || u.Host == "" || u.User != nil || u.Fragment != "" {
		return fmt.Errorf("%w: %q is not an absolute http(s) URL without user info or fragment", errUsage, pos[0])
	}
	path := u.EscapedPath()
	if path == "" {
		path = "/"
	}
	if u.RawQuery != "" {
		path += "?" + u.RawQuery
	}
	f := &scenario.File{
		Name:      "url",
		Target:    u.Scheme + "://" + u.Host,
		ThinkTime: *think,
		Headers:   map[string]string(headers),
		Requests:  []scenario.RequestSpec{{Name: *method + " " + path, Method: *method, Path: path, Body: *body}},
	}
	if *rate > 0 {
		f.Rate = rate
	}
	sc, err := scenario.Compile("url", f)
	if err != nil {
		return err
	}
	if err := a.apply(sc, &o, "", 0); err != nil {
		return err
	}
	pr, err := a.prepare(ctx, sc, &o, sc.Target, nil)
	if err != nil {
		return err
	}
	res, err := a.runOnce(ctx, sc, &o, pr, "")
	if err != nil {
		return err
	}
	if err := a.writeResults(&o, res[0], func(w io.Writer) error { return report.Markdown(w, res...) }); err != nil {
		return err
	}
	return checkErrorRates(&o, res)
}

func (a *app) cmdCompare(ctx context.Context, args []string) error {
	fs := a.newFlagSet("compare", "compare --scenario FILE --target NAME=URL --target NAME=URL [flags]")
	var o options
	o.register(fs)
	file := fs.String("scenario", "", "scenario YAML `FILE` (required)")
	var targets targetList
	fs.Var(&targets, "target", "a target as `NAME=URL` (repeat, at least two)")
	rounds := fs.Int("rounds", 3, "runs per target, interleaved A B A B ...")
	reference := fs.String("reference", "", "`NAME` of the target ratios are relative to (default: the first)")
	pause := fs.Duration("pause", time.Second, "pause between runs, to let connections drain")
	shareLogins := fs.Bool("share-logins", false, "log the users in once (through the first target) and reuse their tokens on every target; for targets in front of the same servers")
	rate := fs.Float64("rate", 0, "open loop at this constant `RPS`, over the scenario's load shape")
	pos, err := parse(fs, args)
	if err != nil {
		return helpOK(err)
	}
	if err := o.check(); err != nil {
		return err
	}
	switch {
	case *file == "" || len(pos) > 0:
		fs.Usage()
		return fmt.Errorf("%w: compare needs --scenario FILE and no positional arguments", errUsage)
	case len(targets) < 2:
		return fmt.Errorf("%w: compare needs at least two --target NAME=URL", errUsage)
	case *rounds < 1:
		return fmt.Errorf("%w: --rounds must be >= 1", errUsage)
	case *pause < 0:
		return fmt.Errorf("%w: --pause must not be negative", errUsage)
	}
	ref := *reference
	if ref == "" {
		ref = targets[0].name
	}
	if !targets.has(ref) {
		return fmt.Errorf("%w: --reference %q is not a target name", errUsage, ref)
	}
	sc, err := scenario.Load(*file)
	if err != nil {
		return err
	}
	// One seed for every run: each target gets the same request sequence.
	if o.seed == 0 {
		if o.seed, err = randomSeed(); err != nil {
			return err
		}
	}
	if err := a.apply(sc, &o, targets[0].url, *rate); err != nil {
		return err
	}
	preps := make([]*prepared, len(targets))
	for i, t := range targets {
		if err := checkTargetURL(t.url); err != nil {
			return fmt.Errorf("target %s: %w", t.name, err)
		}
		var reuse *scenario.Plan
		if *shareLogins && i > 0 {
			reuse = preps[0].plan
		}
		p, err := a.prepare(ctx, sc, &o, t.url, reuse)
		if err != nil {
			return fmt.Errorf("target %s: %w", t.name, err)
		}
		preps[i] = p
	}
	var runs []*report.Result
	var runErr error
rounds:
	for round := 1; round <= *rounds; round++ {
		for i, t := range targets {
			if ctx.Err() != nil {
				break rounds
			}
			if len(runs) > 0 && *pause > 0 {
				if !sleep(ctx, *pause) {
					break rounds
				}
			}
			res, err := a.runOnce(ctx, sc, &o, preps[i], fmt.Sprintf("[%s %d/%d] ", t.name, round, *rounds))
			for _, r := range res {
				r.Target, r.Round = t.name, round
				runs = append(runs, r)
			}
			if err != nil {
				runErr = err
				break rounds
			}
			if len(res) > 0 && res[0].StopReason == report.StopInterrupted {
				break rounds
			}
		}
	}
	var cmps []*report.Comparison
	for _, m := range sc.Mixes() {
		var mine []*report.Result
		for _, r := range runs {
			if r.Scenario == m.Name {
				mine = append(mine, r)
			}
		}
		cmp, err := report.Compare(m.Name, ref, mine)
		if err != nil {
			cmps = nil
			a.note(&o, "no comparison: %v", err)
			break
		}
		cmps = append(cmps, cmp)
	}
	if cmps == nil {
		// Interrupted before the reference ran: report the runs alone.
		if err := a.writeResults(&o, runs, func(w io.Writer) error { return report.Markdown(w, runs...) }); err != nil {
			return err
		}
	} else {
		var v any = cmps
		if len(cmps) == 1 {
			v = cmps[0]
		}
		md := func(w io.Writer) error {
			for i, c := range cmps {
				if i > 0 {
					if _, err := io.WriteString(w, "\n"); err != nil {
						return err
					}
				}
				if err := report.MarkdownComparison(w, c); err != nil {
					return err
				}
			}
			return nil
		}
		if err := a.writeResults(&o, v, md); err != nil {
			return err
		}
	}
	if runErr != nil {
		return runErr
	}
	return checkErrorRates(&o, runs)
}

// helpOK turns -h into success and passes other parse errors on.
func helpOK(err error) error {
	if errors.Is(err, errHelp) {
		return nil
	}
	return err
}

func checkTargetURL(s string) error {
	_, err := runner.NewClient(runner.ClientConfig{URL: s, Connections: 1, Timeout: time.Second, AllowRemote: true})
	return err
}

// apply applies the shared flags and a target and rate to sc.
func (a *app) apply(sc *scenario.Scenario, o *options, target string, rate float64) error {
	if rate < 0 {
		return fmt.Errorf("%w: --rate must not be negative", errUsage)
	}
	err := sc.Apply(scenario.Overrides{
		Target: target, Duration: o.duration, MaxRequests: o.maxRequests, Connections: o.connections,
		Rate: rate, Timeout: o.timeout, Insecure: o.insecure,
	})
	if err != nil {
		return err
	}
	if sc.Target == "" {
		return fmt.Errorf("%w: scenario %s has no target: pass --target URL", errUsage, sc.Name)
	}
	return nil
}

// prepared is a scenario prepared against one target: the Plan and the
// client of each mix.
type prepared struct {
	plan    *scenario.Plan
	clients []*runner.Client
}

// prepare builds the clients for target (one for logins, fetches and
// steps; one per mix) and prepares the plan (logins, parameter fetches),
// reusing the logged-in users of reuse when set.
func (a *app) prepare(ctx context.Context, sc *scenario.Scenario, o *options, target string, reuse *scenario.Plan) (*prepared, error) {
	var roots *x509.CertPool
	if o.cacert != "" {
		pem, err := os.ReadFile(o.cacert)
		if err != nil {
			return nil, fmt.Errorf("--cacert: %w", err)
		}
		roots = x509.NewCertPool()
		if !roots.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--cacert %s: no PEM certificate", o.cacert)
		}
	}
	newClient := func(s *scenario.Scenario) (*runner.Client, error) {
		cc := s.ClientConfig(o.allowRemote)
		cc.URL, cc.RootCAs = target, roots
		return runner.NewClient(cc)
	}
	main, err := newClient(sc)
	if err != nil {
		return nil, err
	}
	p := &prepared{}
	for _, m := range sc.Mixes() {
		c := main
		if m != sc {
			if c, err = newClient(m); err != nil {
				return nil, err
			}
		}
		p.clients = append(p.clients, c)
	}
	p.plan, err = sc.Prepare(ctx, main, scenario.PrepareOptions{
		Getenv: func(k string) string { return a.env[k] },
		Logf:   func(format string, args ...any) { a.note(o, format, args...) },
		Reuse:  reuse,
	})
	if err != nil {
		return nil, err
	}
	return p, nil
}

// runOnce runs sc (setup, every mix, teardown) against a prepared target,
// with a progress line per mix prefixed by label. It returns the results
// it has, with the error of a failed setup or teardown.
func (a *app) runOnce(ctx context.Context, sc *scenario.Scenario, o *options, pr *prepared, label string) ([]*report.Result, error) {
	seed := o.seed
	if seed == 0 {
		var err error
		if seed, err = randomSeed(); err != nil {
			return nil, err
		}
	}
	mixes := sc.Mixes()
	lines := make([]*progressLine, len(mixes))
	for i, m := range mixes {
		cfg := m.RunnerConfig(seed)
		shape := fmt.Sprintf("closed loop, %d connections", cfg.Connections)
		if cfg.Mode == runner.Open {
			shape = fmt.Sprintf("open loop, %s, %d connections", cfg.Schedule, cfg.Connections)
		}
		a.note(o, "%s%s -> %s: %s; bounds %v, %d requests", label, m.Name, pr.clients[i].BaseURL(), shape, cfg.MaxDuration, cfg.MaxRequests)
		if !o.quiet {
			l := label
			if m.Group != "" {
				l += m.Group + " "
			}
			lines[i] = &progressLine{w: a.stderr, tty: a.tty && len(mixes) == 1, label: l}
		}
	}
	ro := scenario.RunOptions{Clients: pr.clients, Seed: seed}
	if !o.quiet {
		ro.Progress, ro.ProgressInterval = func(i int, s runner.Snapshot) { lines[i].update(s) }, o.progressEvery
	}
	res, err := pr.plan.Run(ctx, ro)
	for _, l := range lines {
		if l != nil {
			l.finish()
		}
	}
	for _, r := range res {
		if r.StopReason == report.StopInterrupted {
			a.note(o, "%sinterrupted after %v; reporting what ran", label, r.Elapsed.Duration().Round(time.Millisecond))
			break
		}
	}
	return res, err
}

// randomSeed returns a non-zero seed from the system's randomness.
func randomSeed() (uint64, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return 0, fmt.Errorf("seed: %w", err)
	}
	return binary.LittleEndian.Uint64(b[:]) | 1, nil
}

// writeResults writes v as JSON and Markdown where the flags say, and the
// Markdown to stdout unless JSON goes there.
func (a *app) writeResults(o *options, v any, md func(io.Writer) error) error {
	toStdout := o.jsonOut != "-" && o.mdOut != "-"
	if toStdout {
		fmt.Fprintln(a.stdout)
		if err := md(a.stdout); err != nil {
			return err
		}
	}
	if o.jsonOut != "" {
		if err := a.writeTo(o.jsonOut, func(w io.Writer) error { return report.WriteJSON(w, v) }); err != nil {
			return err
		}
	}
	if o.mdOut != "" {
		if err := a.writeTo(o.mdOut, md); err != nil {
			return err
		}
	}
	return nil
}

// writeTo writes with write to the file at path, or to stdout for "-".
func (a *app) writeTo(path string, write func(io.Writer) error) error {
	if path == "-" {
		return write(a.stdout)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := write(f); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}

// note writes one line to stderr unless --quiet.
func (a *app) note(o *options, format string, args ...any) {
	if !o.quiet {
		fmt.Fprintf(a.stderr, "loadgen: "+format+"\n", args...)
	}
}

func checkErrorRates(o *options, rs []*report.Result) error {
	for _, r := range rs {
		if r.ErrorRate > o.maxErrorRate {
			return fmt.Errorf("%s on %s: error rate %s exceeds --max-error-rate %s", r.Scenario, r.Target, report.FormatPercent(r.ErrorRate), report.FormatPercent(o.maxErrorRate))
		}
	}
	return nil
}

// sleep waits d or until ctx ends; it reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	return runner.SystemClock().SleepUntil(ctx, time.Now().Add(d))
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// headerList collects repeated --header "Name: value" flags.
type headerList map[string]string

func (h *headerList) String() string {
	if h == nil {
		return ""
	}
	parts := make([]string, 0, len(*h))
	for k, v := range *h {
		parts = append(parts, k+": "+v)
	}
	return strings.Join(parts, ", ")
}

func (h *headerList) Set(s string) error {
	name, value, ok := strings.Cut(s, ":")
	if !ok || strings.TrimSpace(name) == "" {
		return fmt.Errorf("want NAME: VALUE, got %q", s)
	}
	if *h == nil {
		*h = headerList{}
	}
	(*h)[strings.TrimSpace(name)] = strings.TrimSpace(value)
	return nil
}

// target is one NAME=URL of compare.
type target struct{ name, url string }

// targetList collects repeated --target NAME=URL flags.
type targetList []target

func (t *targetList) String() string {
	parts := make([]string, len(*t))
	for i, x := range *t {
		parts[i] = x.name + "=" + x.url
	}
	return strings.Join(parts, " ")
}

func (t *targetList) Set(s string) error {
	name, u, ok := strings.Cut(s, "=")
	if !ok || name == "" || u == "" {
		return fmt.Errorf("want NAME=URL, got %q", s)
	}
	if t.has(name) {
		return fmt.Errorf("target name %q given twice", name)
	}
	*t = append(*t, target{name, u})
	return nil
}

func (t targetList) has(name string) bool {
	for _, x := range t {
		if x.name == name {
			return true
		}
	}
	return false
}

// progressLine renders runner snapshots on one line, redrawn on a terminal
// and one line per update elsewhere. Updates come from one goroutine.
type progressLine struct {
	w       io.Writer
	tty     bool
	label   string
	printed bool
}

func (p *progressLine) update(s runner.Snapshot) {
	var b strings.Builder
	if p.tty {
		b.WriteString("\r\033[K")
	}
	b.WriteString(p.label)
	fmt.Fprintf(&b, "%6.1fs  sent %d  rps %s", s.Elapsed.Seconds(), s.Sent, report.FormatRate(s.RPS))
	if s.TargetRPS > 0 {
		fmt.Fprintf(&b, " (target %s)", report.FormatRate(s.TargetRPS))
	}
	errRate := 0.0
	if s.Completed > 0 {
		errRate = float64(s.Errors) / float64(s.Completed)
	}
	fmt.Fprintf(&b, "  errors %d (%s)  p99 %s", s.Errors, report.FormatPercent(errRate), report.FormatDuration(s.P99))
	if s.Backlog > 0 {
		fmt.Fprintf(&b, "  backlog %d", s.Backlog)
	}
	if !p.tty {
		b.WriteString("\n")
	}
	_, _ = io.WriteString(p.w, b.String())
	p.printed = true
}

// finish ends a redrawn line.
func (p *progressLine) finish() {
	if p.tty && p.printed {
		_, _ = io.WriteString(p.w, "\n")
	}
}
