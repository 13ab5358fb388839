package suite

import (
	"strings"
	"testing"
	"time"

	"github.com/campshub360/edge/benchmarks/internal/hist"
	"github.com/campshub360/edge/benchmarks/internal/report"
	"github.com/campshub360/edge/benchmarks/internal/stack"
)

func result(group string, rps float64, p99 time.Duration, errRate float64) *report.Result {
	return &report.Result{Group: group, Requests: 1000, AchievedRPS: rps, ErrorRate: errRate,
		Latency: hist.Summary{Count: 1000, P50: hist.Micros(p99 / 4), P99: hist.Micros(p99)}}
}

// outcome has three runs per target of catalog-hit (gateway, nginx,
// ceiling) and one run of abuse with two groups.
func outcome() *Outcome {
	entries := []Entry{Entries[0], Entries[4]}
	o := &Outcome{Entries: entries, Rounds: 3, Targets: []string{"gateway", "nginx", "direct", "ceiling"}}
	add := func(entry, target string, round int, cpu float64, rss int64, cache *stack.CacheCounts, rs ...*report.Result) {
		o.Runs = append(o.Runs, &Run{Entry: entry, Target: target, Round: round, Results: rs, CPUSeconds: cpu, PeakRSS: rss, Cache: cache})
	}
	// Medians: gateway 12000 rps, p99 10ms; nginx 10000, 20ms; ceiling 24000, 5ms.
	for i, rps := range []float64{9000, 12000, 13000} {
		add("catalog-hit", "gateway", i+1, float64(i+1), int64(i+1)<<20, &stack.CacheCounts{Hits: int64(90 + i), Misses: 10}, result("", rps, time.Duration(8+2*i)*time.Millisecond, 0))
	}
	for i, rps := range []float64{10000, 8000, 11000} {
		add("catalog-hit", "nginx", i+1, 2, 4<<20, &stack.CacheCounts{Hits: 80, Misses: 20}, result("", rps, time.Duration(20+i)*time.Millisecond, 0.001))
	}
	for i := range 3 {
		add("catalog-hit", "ceiling", i+1, 1, 1<<20, nil, result("", 24000, 5*time.Millisecond, 0))
	}
	add("abuse", "gateway", 1, 1, 1<<20, nil, result("normal", 100, 30*time.Millisecond, 0), result("flood", 1000, time.Millisecond, 0.9))
	o.Runs[len(o.Runs)-1].Error = "teardown: boom"
	return o
}

func TestRowsAreMediansPerScenarioGroupAndTarget(t *testing.T) {
	rows := Rows(outcome())
	var got []string
	for _, r := range rows {
		got = append(got, r.Scenario+"@"+r.Target)
	}
	want := "catalog-hit@gateway catalog-hit@nginx catalog-hit@ceiling abuse/normal@gateway abuse/flood@gateway"
	if strings.Join(got, " ") != want {
		t.Fatalf("rows %v, want %s", got, want)
	}
	g := rows[0]
	if g.Runs != 3 || g.RPS != 12000 || g.P99 != 10*time.Millisecond || g.CPUSeconds != 2 || g.PeakRSS != 2<<20 {
		t.Errorf("gateway row %+v", g)
	}
	if g.CacheHit == nil || *g.CacheHit != 91.0/101 {
		t.Errorf("gateway cache hit ratio %v, want the median run's 91/101", g.CacheHit)
	}
	if rows[2].CacheHit != nil {
		t.Errorf("the ceiling has no cache, got %v", *rows[2].CacheHit)
	}
	if rows[3].Failed != 1 || rows[4].ErrorRate != 0.9 {
		t.Errorf("abuse rows %+v %+v", rows[3], rows[4])
	}
}

func TestTableRatiosToNginxAndCeiling(t *testing.T) {
	var b strings.Builder
	if err := Table(&b, Rows(outcome())); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 2+5 {
		t.Fatalf("%d lines:\n%s", len(lines), b.String())
	}
	for _, want := range []string{
		// rps 12000/10000, p99 10/21 ms; against the ceiling 12000/24000, 10/5 ms.
		"| catalog-hit | gateway | 12000 | 2.5ms | 10ms | 0% | 90.1% | 2.00 | 2 MiB | 1.20 | 0.48 | 0.50 | 2.00 |",
		"| catalog-hit | nginx | 10000 |",
		"| 1.00 | 1.00 | 0.42 | 4.20 |",
		"| abuse/normal | gateway (1 of 1 runs failed) | 100 |",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, b.String())
		}
	}
	// No nginx or ceiling row for abuse: its ratio cells stay empty.
	if !strings.HasSuffix(lines[len(lines)-1], "|  |  |  |  |") {
		t.Errorf("abuse/flood ratios: %s", lines[len(lines)-1])
	}
}

func TestSectionStatesCommandMachineGoalsAndFailures(t *testing.T) {
	o := outcome()
	o.Started = time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	o.Elapsed = 90 * time.Second
	o.Warmup = 2 * time.Second
	o.Failures = []string{"abuse on gateway, round 1: teardown: boom"}
	var b strings.Builder
	err := Section(&b, o, Meta{Command: "make bench", Machine: []string{"CPU: 2 CPUs (Test CPU)", "memory: 4 GiB"}, Stack: []string{"3 backend instances"}})
	if err != nil {
		t.Fatal(err)
	}
	s := b.String()
	for _, want := range []string{
		"Generated 2026-11-29 12:00 UTC by `make bench` (full mode, 3 measured runs per scenario and target after an unmeasured 2s warm-up",
		"- CPU: 2 CPUs (Test CPU)\n- memory: 4 GiB\n",
		"- 3 backend instances\n",
		"| 20,000 requests/s | catalog-hit | 12000 req/s | no | 10000 req/s | 24000 req/s |",
		"| cache hit ratio over 85% | catalog-hit | 90.1% | yes | 80% | no cache |",
		"| p99 under 200 ms | class-start | not run |  | not run | not run |",
		"- `catalog-hit` (benchmarks/scenarios/campus/catalog-hit.yaml, runs of 8s)",
		"Failures:\n\n- abuse on gateway, round 1: teardown: boom\n",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("section lacks %q:\n%s", want, s)
		}
	}
}

func TestLength(t *testing.T) {
	e := Entry{Full: 10 * time.Second, Quick: 4 * time.Second}
	for _, c := range []struct {
		o    Outcome
		want time.Duration
	}{
		{Outcome{}, 10 * time.Second},
		{Outcome{Quick: true}, 4 * time.Second},
		{Outcome{Scale: 0.25}, 2500 * time.Millisecond},
		{Outcome{Quick: true, Scale: 2, Duration: 3 * time.Second}, 3 * time.Second},
	} {
		if got := c.o.Length(e); got != c.want {
			t.Errorf("%+v: %v, want %v", c.o, got, c.want)
		}
	}
}
