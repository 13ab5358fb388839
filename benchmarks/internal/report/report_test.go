package report

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/campshub360/edge/benchmarks/internal/hist"
)

func us(n int64) hist.Micros { return hist.Micros(time.Duration(n) * time.Microsecond) }

func sample(target string, round int, rps float64, p99 int64) *Result {
	svc := hist.Summary{Count: 1000, P99: us(900)}
	lag := hist.Summary{Count: 1000, Max: us(512000)}
	return &Result{
		Scenario: "smoke", Target: target, URL: "http://127.0.0.1:8080", Round: round,
		Mode: "open", Schedule: "1000 rps for 1s", TargetRPS: 1000, Connections: 8,
		Started: time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC), Elapsed: Seconds(1500 * time.Millisecond),
		StopReason: StopSchedule, Requests: 1000, Responses: 990, OK: 980, Errors: 20, ErrorRate: 0.02,
		ErrorsByKind:  map[string]int64{"timeout": 10, KindStatus: 10},
		Status:        map[string]int64{"200": 980, "503": 10},
		StatusClasses: map[string]int64{"2xx": 980, "5xx": 10},
		AchievedRPS:   rps,
		Latency:       hist.Summary{Count: 990, Min: us(80), Mean: us(1200), P50: us(950), P90: us(2500), P99: us(p99), P999: us(512000), Max: us(1250000)},
		Service:       &svc, SendLag: &lag, Unsent: 3,
		BytesIn: 1536 * 1024, BytesOut: 900,
		ByRequest: []RequestResult{
			{Name: "health", Requests: 900, Errors: 10, Latency: hist.Summary{Count: 890, P50: us(900), Max: us(1250000)}},
			{Name: "root | main", Requests: 100, Errors: 10, Latency: hist.Summary{Count: 100, P50: us(1500), Max: us(3000)}},
		},
	}
}

func TestMarkdown(t *testing.T) {
	var b bytes.Buffer
	if err := Markdown(&b, sample("gateway", 0, 666.666, 12345)); err != nil {
		t.Fatal(err)
	}
	want := `| target | scenario | mode | requests | rps | p50 | p90 | p99 | p99.9 | max | errors | errors by kind | status | bytes in/out |
| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- | --- |
| gateway | smoke | open | 1000 | 667 | 950µs | 2.5ms | 12.3ms | 512ms | 1.25s | 2% | status: 10, timeout: 10 | 200: 980, 503: 10 | 1.5 MiB / 900 B |

| target | request | requests | p50 | p90 | p99 | p99.9 | max | errors |
| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |
| gateway | health | 900 | 900µs | 0 | 0 | 0 | 1.25s | 1.11% |
| gateway | root \| main | 100 | 1.5ms | 0 | 0 | 0 | 3ms | 10% |

- gateway: open loop, 1000 rps for 1s (mean 1000 rps), 8 connections, max send lag 512ms, service time p99 900µs, **3 requests never sent (backlog: connections saturated)**; 1.5s; stopped by schedule
`
	if b.String() != want {
		t.Fatalf("got:\n%s\nwant:\n%s", b.String(), want)
	}
}

func TestMarkdownClosedAndRounds(t *testing.T) {
	r := sample("a", 2, 50, 1000)
	r.Mode, r.Service, r.SendLag, r.Unsent, r.ByRequest = "closed", nil, nil, 0, nil
	r.Latency.Saturated = 2
	var b bytes.Buffer
	if err := Markdown(&b, r); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{"| target | round | scenario |", "| a | 2 | smoke | closed |", "- a (round 2): closed loop, 8 connections; 1.5s; stopped by schedule; 2 latencies above 60s clamped"} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in\n%s", want, out)
		}
	}
	if strings.Contains(out, "| request |") {
		t.Error("per-request table for a single kind")
	}
}

func TestJSONRoundTrip(t *testing.T) {
	r := sample("gateway", 1, 1000, 5000)
	var b bytes.Buffer
	if err := WriteJSON(&b, r); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"elapsed_s": 1.5`, `"p99_us": 5000`, `"errors_by_kind": {`, `"status": {`, `"unsent": 3`, `"round": 1`} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("JSON lacks %s:\n%s", want, b.String())
		}
	}
	var back Result
	if err := json.Unmarshal(b.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if back.Latency != r.Latency || back.Elapsed != r.Elapsed || back.Errors != r.Errors || *back.SendLag != *r.SendLag || back.Status["503"] != 10 {
		t.Fatalf("round trip: %+v", back)
	}
	if err := json.Unmarshal([]byte(`{"elapsed_s":"x"}`), &back); err == nil {
		t.Fatal("string seconds accepted")
	}
}

func TestCompare(t *testing.T) {
	runs := []*Result{
		sample("nginx", 1, 1000, 4000), sample("gateway", 1, 1200, 3000),
		sample("nginx", 2, 900, 6000), sample("gateway", 2, 1300, 2000),
		sample("nginx", 3, 1100, 5000), sample("gateway", 3, 1250, 2500),
	}
	c, err := Compare("smoke", "nginx", runs)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Targets) != 2 || c.Targets[0].Name != "nginx" || c.Targets[1].Name != "gateway" || c.Targets[1].Runs != 3 {
		t.Fatalf("targets %+v", c.Targets)
	}
	g := c.Targets[1]
	if g.Median.AchievedRPS != 1250 || g.Median.P99 != us(2500) {
		t.Fatalf("gateway medians %+v", g.Median)
	}
	if *g.Ratio.AchievedRPS != 1250.0/1000 || *g.Ratio.P99 != 0.5 || *c.Targets[0].Ratio.P99 != 1 {
		t.Fatalf("ratios %v %v", *g.Ratio.AchievedRPS, *g.Ratio.P99)
	}
	var b bytes.Buffer
	if err := MarkdownComparison(&b, c); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"| nginx | 3 | 1000 | 1.00 | 950µs | 1.00 |",
		"| gateway | 3 | 1250 | 1.25 | 950µs | 1.00 | 2.5ms | 1.00 | 2.5ms | 0.50 |",
		"Runs in order:",
		"| gateway | 3 | smoke | open |",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("comparison lacks %q:\n%s", want, b.String())
		}
	}
	if _, err := Compare("smoke", "caddy", runs); !errors.Is(err, ErrNoReference) {
		t.Fatalf("err = %v", err)
	}
	// A zero reference median gives an undefined ratio, null in JSON.
	zero := sample("z", 1, 0, 0)
	c, err = Compare("smoke", "z", []*Result{zero, sample("y", 1, 10, 10)})
	if err != nil {
		t.Fatal(err)
	}
	if c.Targets[1].Ratio.AchievedRPS != nil || c.Targets[1].Ratio.P99 != nil {
		t.Fatal("ratio to zero defined")
	}
	b.Reset()
	if err := WriteJSON(&b, c); err != nil || !strings.Contains(b.String(), `"achieved_rps": null`) {
		t.Fatalf("JSON %v:\n%s", err, b.String())
	}
	if err := MarkdownComparison(&b, c); err != nil || !strings.Contains(b.String(), "n/a") {
		t.Fatalf("markdown %v", err)
	}
}

func TestMedian(t *testing.T) {
	cases := []struct {
		in   []float64
		want float64
	}{{nil, 0}, {[]float64{3}, 3}, {[]float64{3, 1}, 2}, {[]float64{5, 1, 3}, 3}, {[]float64{4, 1, 3, 2}, 2.5}}
	for _, c := range cases {
		in := append([]float64(nil), c.in...)
		if got := Median(c.in); got != c.want {
			t.Errorf("Median(%v) = %v", c.in, got)
		}
		for i := range in {
			if in[i] != c.in[i] {
				t.Fatal("Median modified its input")
			}
		}
	}
}

func TestFormatters(t *testing.T) {
	durs := map[time.Duration]string{0: "0", 999 * time.Nanosecond: "1µs", 850 * time.Microsecond: "850µs", 12345 * time.Microsecond: "12.3ms", time.Millisecond: "1ms", 123456 * time.Microsecond: "123ms", 1250 * time.Millisecond: "1.25s", 75 * time.Second: "75s"}
	for d, want := range durs {
		if got := FormatDuration(d); got != want {
			t.Errorf("FormatDuration(%v) = %q, want %q", d, got, want)
		}
	}
	rates := map[float64]string{0: "0", 0.5: "0.5", 12.345: "12.3", 99.99: "100", 1234.5: "1235"}
	for r, want := range rates {
		if got := FormatRate(r); got != want {
			t.Errorf("FormatRate(%v) = %q, want %q", r, got, want)
		}
	}
	bytesCases := map[int64]string{0: "0 B", 1023: "1023 B", 1536: "1.5 KiB", 5 << 20: "5 MiB", 3 << 40: "3 TiB"}
	for n, want := range bytesCases {
		if got := FormatBytes(n); got != want {
			t.Errorf("FormatBytes(%d) = %q, want %q", n, got, want)
		}
	}
	if FormatPercent(0) != "0%" || FormatPercent(0.0123) != "1.23%" || FormatPercent(1) != "100%" {
		t.Error("FormatPercent")
	}
}
