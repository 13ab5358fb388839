package report

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/campshub360/edge/benchmarks/internal/hist"
)

// ErrNoReference is wrapped by Compare's error when the reference target has
// no run.
var ErrNoReference = errors.New("report: reference target has no run")

// Comparison is the outcome of running several targets in turn (A B A B
// ...): every run, and per target the median of each metric over its runs
// with ratios to a reference target.
type Comparison struct {
	// Scenario is the scenario's name.
	Scenario string `json:"scenario"`
	// Reference names the target that ratios are relative to.
	Reference string `json:"reference"`
	// Targets summarises each target, in order of first run.
	Targets []TargetSummary `json:"targets"`
	// Runs holds every run in the order it ran.
	Runs []*Result `json:"runs"`
}

// TargetSummary is one target's medians over its runs and their ratios to
// the reference's medians.
type TargetSummary struct {
	// Name and URL identify the target.
	Name string `json:"name"`
	URL  string `json:"url"`
	// Runs is the number of runs of this target.
	Runs int `json:"runs"`
	// Median holds the per-metric medians over the runs (the mean of the
	// middle two for an even number of runs).
	Median Medians `json:"median"`
	// Ratio divides this target's medians by the reference's: above 1 is a
	// higher rate or a longer latency. A ratio is null in JSON when the
	// reference's median is 0.
	Ratio Ratios `json:"ratio_to_reference"`
}

// Medians are per-metric medians over several runs. Durations encode in
// JSON as integer microseconds.
type Medians struct {
	// AchievedRPS in requests per second.
	AchievedRPS float64 `json:"achieved_rps"`
	// P50 to Max are latency percentiles.
	P50  hist.Micros `json:"p50_us"`
	P90  hist.Micros `json:"p90_us"`
	P99  hist.Micros `json:"p99_us"`
	P999 hist.Micros `json:"p999_us"`
	Max  hist.Micros `json:"max_us"`
	// ErrorRate is a fraction of requests.
	ErrorRate float64 `json:"error_rate"`
}

// Ratios are a target's medians divided by the reference's; nil where the
// reference's median is 0.
type Ratios struct {
	// AchievedRPS: above 1 is faster than the reference.
	AchievedRPS *float64 `json:"achieved_rps"`
	// P50 to Max: below 1 is faster than the reference.
	P50  *float64 `json:"p50"`
	P90  *float64 `json:"p90"`
	P99  *float64 `json:"p99"`
	P999 *float64 `json:"p999"`
	Max  *float64 `json:"max"`
}

// Compare groups runs by Result.Target (in order of first appearance),
// takes per-target medians and divides them by the medians of the target
// named reference. It fails with an error wrapping ErrNoReference when no run
// has that target. runs are kept, not copied.
func Compare(scenario, reference string, runs []*Result) (*Comparison, error) {
	var order []string
	byTarget := map[string][]*Result{}
	for _, r := range runs {
		if _, ok := byTarget[r.Target]; !ok {
			order = append(order, r.Target)
		}
		byTarget[r.Target] = append(byTarget[r.Target], r)
	}
	if len(byTarget[reference]) == 0 {
		return nil, fmt.Errorf("%w: %q (targets: %s)", ErrNoReference, reference, strings.Join(order, ", "))
	}
	c := &Comparison{Scenario: scenario, Reference: reference, Runs: runs}
	medians := map[string]Medians{}
	for _, name := range order {
		medians[name] = medianOf(byTarget[name])
	}
	ref := medians[reference]
	for _, name := range order {
		m := medians[name]
		c.Targets = append(c.Targets, TargetSummary{
			Name:   name,
			URL:    byTarget[name][0].URL,
			Runs:   len(byTarget[name]),
			Median: m,
			Ratio: Ratios{
				AchievedRPS: ratio(m.AchievedRPS, ref.AchievedRPS),
				P50:         ratio(float64(m.P50), float64(ref.P50)),
				P90:         ratio(float64(m.P90), float64(ref.P90)),
				P99:         ratio(float64(m.P99), float64(ref.P99)),
				P999:        ratio(float64(m.P999), float64(ref.P999)),
				Max:         ratio(float64(m.Max), float64(ref.Max)),
			},
		})
	}
	return c, nil
}

func ratio(a, b float64) *float64 {
	if b == 0 {
		return nil
	}
	r := a / b
	return &r
}

func medianOf(runs []*Result) Medians {
	pick := func(f func(*Result) float64) float64 {
		vs := make([]float64, len(runs))
		for i, r := range runs {
			vs[i] = f(r)
		}
		return Median(vs)
	}
	dur := func(f func(*Result) hist.Micros) hist.Micros {
		return hist.Micros(time.Duration(pick(func(r *Result) float64 { return float64(f(r)) })))
	}
	return Medians{
		AchievedRPS: pick(func(r *Result) float64 { return r.AchievedRPS }),
		P50:         dur(func(r *Result) hist.Micros { return r.Latency.P50 }),
		P90:         dur(func(r *Result) hist.Micros { return r.Latency.P90 }),
		P99:         dur(func(r *Result) hist.Micros { return r.Latency.P99 }),
		P999:        dur(func(r *Result) hist.Micros { return r.Latency.P999 }),
		Max:         dur(func(r *Result) hist.Micros { return r.Latency.Max }),
		ErrorRate:   pick(func(r *Result) float64 { return r.ErrorRate }),
	}
}

// Median returns the median of vs (the mean of the middle two for an even
// count), 0 for none. vs is not modified.
func Median(vs []float64) float64 {
	if len(vs) == 0 {
		return 0
	}
	s := slices.Clone(vs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// MarkdownComparison writes the per-target medians with ratios to the
// reference, then the table of every run (see Markdown).
func MarkdownComparison(w io.Writer, c *Comparison) error {
	var b strings.Builder
	fmt.Fprintf(&b, "Scenario %s, reference %s, medians over runs; ×ref divides by the reference's median.\n\n", escapeCell(c.Scenario), escapeCell(c.Reference))
	header := []string{"target", "runs", "rps", "×ref", "p50", "×ref", "p90", "×ref", "p99", "×ref", "p99.9", "×ref", "max", "×ref", "errors"}
	writeRow(&b, header)
	writeAlign(&b, header)
	for _, t := range c.Targets {
		m, r := t.Median, t.Ratio
		writeRow(&b, []string{
			t.Name, strconv.Itoa(t.Runs),
			FormatRate(m.AchievedRPS), formatRatio(r.AchievedRPS),
			FormatDuration(m.P50.Duration()), formatRatio(r.P50),
			FormatDuration(m.P90.Duration()), formatRatio(r.P90),
			FormatDuration(m.P99.Duration()), formatRatio(r.P99),
			FormatDuration(m.P999.Duration()), formatRatio(r.P999),
			FormatDuration(m.Max.Duration()), formatRatio(r.Max),
			FormatPercent(m.ErrorRate),
		})
	}
	b.WriteString("\nRuns in order:\n\n")
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("report: write Markdown: %w", err)
	}
	return Markdown(w, c.Runs...)
}

// formatRatio renders a ratio with 2 decimals, "n/a" when undefined.
func formatRatio(r *float64) string {
	if r == nil {
		return "n/a"
	}
	return strconv.FormatFloat(*r, 'f', 2, 64)
}
