// Package suite runs the campus benchmark: every shipped scenario against
// every target of a stack (the gateway, nginx, the backend directly and a
// constant-response ceiling), in rounds that interleave the targets (A B C
// D A B C D ...), measuring per run the load generator's figures, the edge
// cache's hit ratio and the edge process's CPU time and peak RSS, and
// reducing them to one table of medians with ratios to nginx and to the
// ceiling.
package suite

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/campshub360/edge/benchmarks/internal/procstat"
	"github.com/campshub360/edge/benchmarks/internal/report"
	"github.com/campshub360/edge/benchmarks/internal/runner"
	"github.com/campshub360/edge/benchmarks/internal/scenario"
	"github.com/campshub360/edge/benchmarks/internal/stack"
)

// Entry is one scenario of the suite.
type Entry struct {
	// Name labels the scenario in the table.
	Name string
	// File is the scenario, relative to the scenarios directory.
	File string
	// About says in one sentence what it measures (RESULTS.md).
	About string
	// Full and Quick are the length of one run in each mode.
	Full, Quick time.Duration
	// Targets restricts the targets by name; nil for all.
	Targets []string
	// Fault, when set, kills and restarts a backend instance during every
	// run.
	Fault *Fault
}

// Fault kills backend instance Backend (0-based) with SIGKILL at KillAt
// and starts it again at RestartAt, both fractions of the run's length
// counted from the start of the load.
type Fault struct {
	Backend           int
	KillAt, RestartAt float64
}

// Entries are the shipped scenarios in the order they run.
var Entries = []Entry{
	{Name: "catalog-hit", File: "catalog-hit.yaml", Full: 8 * time.Second, Quick: 4 * time.Second,
		About: "public catalogue reads answered from the edge cache, closed loop: peak throughput of the cache-hit path"},
	{Name: "students-list", File: "students-list.yaml", Full: 8 * time.Second, Quick: 4 * time.Second,
		About: "faculty and registrars list and search students (private, revalidated) beside the public filters (cached)"},
	{Name: "class-start", File: "class-start.yaml", Full: 10 * time.Second, Quick: 5 * time.Second,
		About: "the flash crowd at class start: faculty open sessions and show QR codes, students check in, faculty bulk-mark, students read their summaries"},
	{Name: "login-storm", File: "login-storm.yaml", Full: 8 * time.Second, Quick: 4 * time.Second,
		About: "sign-ins and token refreshes at the start of the day, each on a new TLS connection"},
	{Name: "abuse", File: "abuse.yaml", Full: 8 * time.Second, Quick: 4 * time.Second,
		About: "one client far above its rate limit while normal clients go on; the normal clients' rows must hold"},
	{Name: "failover", File: "class-start.yaml", Full: 12 * time.Second, Quick: 8 * time.Second,
		Targets: []string{"gateway", "nginx"}, Fault: &Fault{Backend: 1, KillAt: 0.25, RestartAt: 0.6},
		About: "class-start while backend instance 2 of 3 is killed (SIGKILL, by PID) at 25% of the run and restarted on its address at 60%; the gateway and nginx both balance over the three instances"},
}

// Env is what the suite runs against: a stack.
type Env interface {
	Targets() []stack.Target
	KillBackend(i int) error
	RestartBackend(ctx context.Context, i int) error
}

// Options configure a suite run.
type Options struct {
	// Scenarios is the directory of the scenario files.
	Scenarios string
	// Only runs these entries (by name); nil for all.
	Only []string
	// Targets runs these targets (by name); nil for all of the stack's.
	Targets []string
	// Rounds is the number of runs per scenario and target; >= 1.
	Rounds int
	// Quick uses the entries' Quick lengths.
	Quick bool
	// Scale multiplies every run's length (after Quick); 0 means 1.
	Scale float64
	// Duration, when positive, is the length of every run instead of the
	// entries' own (Quick and Scale then do not apply).
	Duration time.Duration
	// MaxRequests, when positive, bounds each mix of every run to this
	// many requests (smoke runs); 0 keeps the scenarios' own bounds.
	MaxRequests int64
	// Warmup is an unmeasured run of this length per scenario and target
	// before the measured rounds (connections, TLS sessions, token and
	// cache state of the edge, the backends' statement caches); 0 for
	// none.
	Warmup time.Duration
	// Pause separates runs (connections drain, caches of the edge settle);
	// nginx's access log is complete after its flush interval, 1s.
	Pause time.Duration
	// Getenv resolves ${NAME} in scenario files (BENCH_FIXTURE,
	// BENCH_PASSWORD).
	Getenv func(string) string
	// Logf receives one line per run; nil for none.
	Logf func(format string, args ...any)
	// Seed seeds the random choices; 0 picks one per run.
	Seed uint64
}

// Run is one run of one scenario against one target.
type Run struct {
	// Entry and Target name what ran; Round counts from 1.
	Entry  string `json:"entry"`
	Target string `json:"target"`
	Round  int    `json:"round"`
	// Results are the load generator's, one per group of the scenario.
	Results []*report.Result `json:"results"`
	// CPUSeconds and PeakRSS are the edge process's (nginx: master and
	// workers) CPU time during the run and resident high-water mark.
	CPUSeconds float64 `json:"cpu_seconds"`
	PeakRSS    int64   `json:"peak_rss_bytes"`
	// Cache is the edge cache's lookups during the run; nil without a
	// cache.
	Cache *stack.CacheCounts `json:"cache,omitempty"`
	// Events lists what the fault schedule did, with offsets from the
	// start of the load.
	Events []string `json:"events,omitempty"`
	// Error is the run's failure (setup, teardown); its results may be
	// partial or absent.
	Error string `json:"error,omitempty"`
}

// Outcome is everything a suite run measured.
type Outcome struct {
	Started time.Time     `json:"started"`
	Elapsed time.Duration `json:"elapsed_ns"`
	Quick   bool          `json:"quick"`
	Rounds  int           `json:"rounds"`
	// Scale and Duration are the Options that set each run's length
	// (Length); Warmup the unmeasured run before them.
	Scale    float64       `json:"scale"`
	Duration time.Duration `json:"duration_ns,omitempty"`
	Warmup   time.Duration `json:"warmup_ns,omitempty"`
	Entries  []Entry       `json:"-"`
	Targets  []string      `json:"targets"`
	Runs     []*Run        `json:"runs"`
	Failures []string      `json:"failures,omitempty"`
}

// ceilingPath is what the ceiling's transport-only runs fetch.
const ceilingPath = "/api/v1/courses?limit=50"

// Execute runs the selected entries against env and returns what was
// measured. A scenario that cannot be prepared, or a run whose setup
// fails, is recorded in Failures and the suite goes on; cancelling ctx
// stops after the current run.
func Execute(ctx context.Context, env Env, o Options) (*Outcome, error) {
	if o.Rounds < 1 {
		return nil, errors.New("suite: rounds must be >= 1")
	}
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
	if o.Scale == 0 {
		o.Scale = 1
	}
	ps, err := procstat.New("")
	if err != nil {
		return nil, err
	}
	out := &Outcome{Started: time.Now(), Quick: o.Quick, Rounds: o.Rounds, Scale: o.Scale, Duration: o.Duration, Warmup: o.Warmup}
	all := env.Targets()
	for _, t := range all {
		if o.Targets == nil || slices.Contains(o.Targets, t.Name) {
			out.Targets = append(out.Targets, t.Name)
		}
	}
	for _, e := range Entries {
		if o.Only != nil && !slices.Contains(o.Only, e.Name) {
			continue
		}
		out.Entries = append(out.Entries, e)
		if err := runEntry(ctx, env, ps, e, all, o, out); err != nil {
			out.Failures = append(out.Failures, fmt.Sprintf("%s: %v", e.Name, err))
			o.Logf("%s: %v", e.Name, err)
		}
		if ctx.Err() != nil {
			break
		}
	}
	out.Elapsed = time.Since(out.Started)
	return out, ctx.Err()
}

// prepared is a scenario prepared against one target.
type prepared struct {
	target  stack.Target
	sc      *scenario.Scenario
	plan    *scenario.Plan
	clients []*runner.Client
}

// Length returns the length of each run of e in this outcome: the
// entry's Full or Quick length times Scale, or Duration when set.
func (out *Outcome) Length(e Entry) time.Duration {
	if out.Duration > 0 {
		return out.Duration
	}
	length := e.Full
	if out.Quick {
		length = e.Quick
	}
	scale := out.Scale
	if scale == 0 {
		scale = 1
	}
	return time.Duration(float64(length) * scale).Round(time.Second / 10)
}

func runEntry(ctx context.Context, env Env, ps *procstat.Reader, e Entry, all []stack.Target, o Options, out *Outcome) error {
	length := out.Length(e)
	var targets []stack.Target
	for _, t := range all {
		if slices.Contains(out.Targets, t.Name) && (e.Targets == nil || slices.Contains(e.Targets, t.Name)) {
			targets = append(targets, t)
		}
	}
	base, err := scenario.Load(filepath.Join(o.Scenarios, e.File))
	if err != nil {
		return err
	}
	if err := base.Apply(scenario.Overrides{Duration: length, MaxRequests: o.MaxRequests, Insecure: true}); err != nil {
		return err
	}
	var preps []*prepared
	var reuse *scenario.Plan
	for _, t := range targets {
		sc := base
		if t.Transport {
			sc = base.Transport(ceilingPath)
		}
		p := &prepared{target: t, sc: sc}
		newClient := func(m *scenario.Scenario) (*runner.Client, error) {
			cc := m.ClientConfig(false)
			cc.URL = t.URL
			return runner.NewClient(cc)
		}
		main, err := newClient(sc)
		if err != nil {
			return err
		}
		for _, m := range sc.Mixes() {
			c := main
			if m != sc {
				if c, err = newClient(m); err != nil {
					return err
				}
			}
			p.clients = append(p.clients, c)
		}
		// Every target fronts the same backends: sign the users in once.
		r := reuse
		if t.Transport {
			r = nil
		}
		p.plan, err = sc.Prepare(ctx, main, scenario.PrepareOptions{Getenv: o.Getenv, Reuse: r,
			Logf: func(f string, a ...any) { o.Logf("%s %s: "+f, append([]any{e.Name, t.Name}, a...)...) }})
		if err != nil {
			return fmt.Errorf("target %s: %w", t.Name, err)
		}
		if reuse == nil && !t.Transport {
			reuse = p.plan
		}
		preps = append(preps, p)
	}
	if o.Warmup > 0 {
		for _, p := range preps {
			warm(ctx, e, p, o)
		}
	}
	for round := 1; round <= o.Rounds; round++ {
		for _, p := range preps {
			if ctx.Err() != nil {
				return nil
			}
			run := runOnce(ctx, env, ps, e, p, round, length, o)
			out.Runs = append(out.Runs, run)
			if run.Error != "" {
				out.Failures = append(out.Failures, fmt.Sprintf("%s on %s, round %d: %s", e.Name, p.target.Name, round, run.Error))
			}
			time.Sleep(o.Pause)
		}
	}
	return nil
}

// warm runs p's load for o.Warmup (after its setup, however long that
// takes), discarding the results: the first run of a target would
// otherwise pay for its cold state (new connections and TLS sessions, the
// edge's first token verifications and cache fills, the backends' first
// statements).
func warm(ctx context.Context, e Entry, p *prepared, o Options) {
	if ctx.Err() != nil {
		return
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var stop *time.Timer
	seed := o.Seed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano()) | 1
	}
	_, err := p.plan.Run(wctx, scenario.RunOptions{Clients: p.clients, Seed: seed,
		Started: func() { stop = time.AfterFunc(o.Warmup, cancel) }})
	if stop != nil {
		stop.Stop()
	}
	if err != nil && ctx.Err() == nil {
		o.Logf("[%s %s warm-up] %v (not measured)", e.Name, p.target.Name, err)
	}
	time.Sleep(o.Pause)
}

// runOnce runs one scenario once against one target, with the cost
// counters around it and the fault schedule during it.
func runOnce(ctx context.Context, env Env, ps *procstat.Reader, e Entry, p *prepared, round int, length time.Duration, o Options) *Run {
	run := &Run{Entry: e.Name, Target: p.target.Name, Round: round}
	pids := p.target.PIDs()
	_ = ps.ResetPeak(pids...) // best effort: a peak since start is still a peak
	cpu0, cpuErr := ps.CPU(pids...)
	var cache0 stack.CacheCounts
	var cacheErr error
	if p.target.CacheCounts != nil {
		cache0, cacheErr = p.target.CacheCounts()
	}
	var faults sync.WaitGroup
	var mu sync.Mutex
	event := func(start time.Time, format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		run.Events = append(run.Events, fmt.Sprintf("%5.1fs ", time.Since(start).Seconds())+fmt.Sprintf(format, args...))
	}
	ro := scenario.RunOptions{Clients: p.clients, Seed: o.Seed}
	if o.Seed == 0 {
		ro.Seed = uint64(time.Now().UnixNano()) | 1
	}
	if f := e.Fault; f != nil {
		ro.Started = func() {
			start := time.Now()
			faults.Go(func() {
				if !sleepCtx(ctx, time.Until(start.Add(time.Duration(f.KillAt*float64(length))))) {
					return
				}
				if err := env.KillBackend(f.Backend); err != nil {
					event(start, "kill backend %d: %v", f.Backend+1, err)
					return
				}
				event(start, "backend %d killed", f.Backend+1)
				sleepCtx(ctx, time.Until(start.Add(time.Duration(f.RestartAt*float64(length)))))
				event(start, "backend %d restarting", f.Backend+1)
				if err := env.RestartBackend(context.WithoutCancel(ctx), f.Backend); err != nil {
					event(start, "restart backend %d: %v", f.Backend+1, err)
					return
				}
				event(start, "backend %d serving", f.Backend+1)
			})
		}
	}
	res, err := p.plan.Run(ctx, ro)
	faults.Wait()
	run.Results = res
	for _, r := range res {
		r.Target, r.Round = p.target.Name, round
	}
	if err != nil {
		run.Error = err.Error()
	}
	if cpuErr == nil {
		if cpu1, err := ps.CPU(pids...); err == nil {
			run.CPUSeconds = (cpu1 - cpu0).Seconds()
		}
	}
	if rss, err := ps.PeakRSS(pids...); err == nil {
		run.PeakRSS = rss
	}
	if p.target.CacheCounts != nil && cacheErr == nil {
		if p.target.Name == "nginx" {
			// Its access log is flushed every second.
			time.Sleep(1200 * time.Millisecond)
		}
		if c1, err := p.target.CacheCounts(); err == nil {
			d := c1.Sub(cache0)
			run.Cache = &d
		}
	}
	for _, r := range res {
		o.Logf("[%s %s %d/%d] %s: %d requests, %s rps, p50 %s, p99 %s, errors %s%s", e.Name, p.target.Name, round, o.Rounds,
			r.Scenario, r.Requests, report.FormatRate(r.AchievedRPS), report.FormatDuration(r.Latency.P50.Duration()),
			report.FormatDuration(r.Latency.P99.Duration()), report.FormatPercent(r.ErrorRate), statusNote(r))
	}
	if run.Error != "" {
		o.Logf("[%s %s %d/%d] %s", e.Name, p.target.Name, round, o.Rounds, run.Error)
	}
	for _, ev := range run.Events {
		o.Logf("[%s %s %d/%d] %s", e.Name, p.target.Name, round, o.Rounds, ev)
	}
	return run
}

// statusNote lists the unexpected statuses and transport errors of r.
func statusNote(r *report.Result) string {
	if r.Errors == 0 {
		return ""
	}
	s := " ("
	first := true
	for _, k := range slices.Sorted(maps.Keys(r.ErrorsByKind)) {
		if !first {
			s += ", "
		}
		first = false
		s += fmt.Sprintf("%s %d", k, r.ErrorsByKind[k])
	}
	for _, code := range slices.Sorted(maps.Keys(r.Status)) {
		if code >= "400" && code != "other" {
			s += fmt.Sprintf(", %s: %d", code, r.Status[code])
		}
	}
	return s + ")"
}

// sleepCtx waits d or until ctx ends; it reports whether d passed.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
