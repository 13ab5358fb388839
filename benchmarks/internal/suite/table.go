package suite

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/campshub360/edge/benchmarks/internal/report"
)

// Row is one line of the table: a scenario (or one group of it) on one
// target, each figure the median over the target's runs.
type Row struct {
	// Scenario is the entry's name, with "/GROUP" for a group.
	Scenario string `json:"scenario"`
	Target   string `json:"target"`
	// Runs counts the runs with results; Failed those that reported an
	// error (setup, teardown).
	Runs   int `json:"runs"`
	Failed int `json:"failed,omitempty"`
	// RPS is the achieved rate; P50 and P99 latency (open loop: from the
	// intended send time).
	RPS       float64       `json:"rps"`
	P50       time.Duration `json:"p50_ns"`
	P99       time.Duration `json:"p99_ns"`
	ErrorRate float64       `json:"error_rate"`
	// CacheHit is the edge cache's hit ratio; nil without a cache or
	// without lookups.
	CacheHit *float64 `json:"cache_hit_ratio,omitempty"`
	// CPUSeconds and PeakRSS are the edge process's.
	CPUSeconds float64 `json:"cpu_seconds"`
	PeakRSS    int64   `json:"peak_rss_bytes"`
}

// Rows reduces the runs to the table: entries in suite order, groups in
// scenario order, targets in out.Targets order.
func Rows(out *Outcome) []Row {
	var rows []Row
	for _, e := range out.Entries {
		var labels []string
		type key struct{ label, target string }
		byKey := map[key][]struct {
			r   *report.Result
			run *Run
		}{}
		for _, run := range out.Runs {
			if run.Entry != e.Name {
				continue
			}
			for _, r := range run.Results {
				label := e.Name
				if r.Group != "" {
					label += "/" + r.Group
				}
				if !slices.Contains(labels, label) {
					labels = append(labels, label)
				}
				k := key{label, run.Target}
				byKey[k] = append(byKey[k], struct {
					r   *report.Result
					run *Run
				}{r, run})
			}
		}
		for _, label := range labels {
			for _, t := range out.Targets {
				rs := byKey[key{label, t}]
				if len(rs) == 0 {
					continue
				}
				row := Row{Scenario: label, Target: t, Runs: len(rs)}
				var rps, p50, p99, errs, cpu, rss, hits []float64
				for _, x := range rs {
					if x.run.Error != "" {
						row.Failed++
					}
					rps = append(rps, x.r.AchievedRPS)
					p50 = append(p50, float64(x.r.Latency.P50.Duration()))
					p99 = append(p99, float64(x.r.Latency.P99.Duration()))
					errs = append(errs, x.r.ErrorRate)
					cpu = append(cpu, x.run.CPUSeconds)
					rss = append(rss, float64(x.run.PeakRSS))
					if x.run.Cache != nil {
						if h, ok := x.run.Cache.Ratio(); ok {
							hits = append(hits, h)
						}
					}
				}
				row.RPS, row.ErrorRate = report.Median(rps), report.Median(errs)
				row.P50, row.P99 = time.Duration(report.Median(p50)), time.Duration(report.Median(p99))
				row.CPUSeconds, row.PeakRSS = report.Median(cpu), int64(report.Median(rss))
				if len(hits) > 0 {
					h := report.Median(hits)
					row.CacheHit = &h
				}
				rows = append(rows, row)
			}
		}
	}
	return rows
}

// find returns the row of scenario on target.
func find(rows []Row, scenario, target string) *Row {
	for i := range rows {
		if rows[i].Scenario == scenario && rows[i].Target == target {
			return &rows[i]
		}
	}
	return nil
}

// ratio formats a/b with two decimals; "" when b is 0 or a row is
// missing.
func ratio(a, b float64) string {
	if b == 0 {
		return ""
	}
	return strconv.FormatFloat(a/b, 'f', 2, 64)
}

// Table writes the Markdown table of rows: medians, and ratios of rps and
// p99 to the nginx and ceiling rows of the same scenario.
func Table(w io.Writer, rows []Row) error {
	var b strings.Builder
	b.WriteString("| scenario | target | rps | p50 | p99 | error rate | cache hit ratio | edge CPU s | edge peak RSS | rps ×nginx | p99 ×nginx | rps ×ceiling | p99 ×ceiling |\n")
	b.WriteString("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
	for _, r := range rows {
		hit := ""
		if r.CacheHit != nil {
			hit = report.FormatPercent(*r.CacheHit)
		}
		var vsN, vsC [2]string
		if n := find(rows, r.Scenario, "nginx"); n != nil {
			vsN = [2]string{ratio(r.RPS, n.RPS), ratio(float64(r.P99), float64(n.P99))}
		}
		if c := find(rows, r.Scenario, "ceiling"); c != nil {
			vsC = [2]string{ratio(r.RPS, c.RPS), ratio(float64(r.P99), float64(c.P99))}
		}
		target := r.Target
		if r.Failed > 0 {
			target += fmt.Sprintf(" (%d of %d runs failed)", r.Failed, r.Runs)
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %.2f | %s | %s | %s | %s | %s |\n",
			r.Scenario, target, report.FormatRate(r.RPS), report.FormatDuration(r.P50), report.FormatDuration(r.P99),
			report.FormatPercent(r.ErrorRate), hit, r.CPUSeconds, report.FormatBytes(r.PeakRSS), vsN[0], vsN[1], vsC[0], vsC[1])
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// Goals are the figures the system CampsHub360 Edge replaces claimed, and
// the rows they are checked against here.
var Goals = []struct {
	Claim, Scenario string
	Check           func(r Row) (measured string, met bool)
}{
	{"20,000 requests/s", "catalog-hit", func(r Row) (string, bool) {
		return report.FormatRate(r.RPS) + " req/s", r.RPS >= 20000
	}},
	{"p99 under 200 ms", "class-start", func(r Row) (string, bool) {
		return "p99 " + report.FormatDuration(r.P99), r.P99 < 200*time.Millisecond
	}},
	{"cache hit ratio over 85%", "catalog-hit", func(r Row) (string, bool) {
		if r.CacheHit == nil {
			return "no lookups", false
		}
		return report.FormatPercent(*r.CacheHit), *r.CacheHit > 0.85
	}},
	{"error rate under 0.1%", "class-start", func(r Row) (string, bool) {
		return report.FormatPercent(r.ErrorRate), r.ErrorRate < 0.001
	}},
	{"error rate under 0.1%", "failover", func(r Row) (string, bool) {
		return report.FormatPercent(r.ErrorRate), r.ErrorRate < 0.001
	}},
}

// GoalsTable writes the original targets against the gateway's rows,
// with nginx's and the ceiling's figures of the same scenario for scale.
func GoalsTable(w io.Writer, rows []Row) error {
	var b strings.Builder
	b.WriteString("| original target | scenario | gateway measured here | met | nginx | ceiling |\n| --- | --- | ---: | --- | ---: | ---: |\n")
	measured := func(g int, target string) string {
		r := find(rows, Goals[g].Scenario, target)
		if r == nil {
			return "not run"
		}
		m, _ := Goals[g].Check(*r)
		return m
	}
	for i, g := range Goals {
		met := ""
		if r := find(rows, g.Scenario, "gateway"); r != nil {
			met = "no"
			if _, ok := g.Check(*r); ok {
				met = "yes"
			}
		}
		ceiling := measured(i, "ceiling")
		if g.Claim == "cache hit ratio over 85%" && ceiling != "not run" {
			ceiling = "no cache"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n", g.Claim, g.Scenario, measured(i, "gateway"), met, measured(i, "nginx"), ceiling)
	}
	_, err := io.WriteString(w, b.String())
	return err
}
