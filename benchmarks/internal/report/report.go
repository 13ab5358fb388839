// Package report holds the results of load runs and renders them as JSON and
// as Markdown tables, alone or as a comparison of several targets run in
// turn.
package report

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/campshub360/edge/benchmarks/internal/hist"
)

// Stop reasons of Result.StopReason.
const (
	// StopSchedule: the open-loop schedule ran to its end.
	StopSchedule = "schedule"
	// StopDuration: the max-duration bound was reached.
	StopDuration = "duration"
	// StopMaxRequests: the max-requests bound was reached.
	StopMaxRequests = "max_requests"
	// StopInterrupted: the caller cancelled the run (Ctrl-C).
	StopInterrupted = "interrupted"
)

// KindStatus is the ErrorsByKind key counting responses whose status the
// scenario did not expect (by default: any status >= 400). The other keys
// are transport error kinds named by the runner.
const KindStatus = "status"

// Result is the outcome of one load run against one target. Counts are
// numbers of requests; durations encode in JSON as integer microseconds
// (fields ending in _us) or float seconds (elapsed_s). A Result is a plain
// value: safe to read concurrently, not to write.
type Result struct {
	// Scenario is the scenario's name; "SCENARIO/GROUP" for a group of a
	// scenario with concurrent groups.
	Scenario string `json:"scenario"`
	// Group is the group's name within its scenario; "" without groups.
	Group string `json:"group,omitempty"`
	// Target names the target: its name in a comparison, else its URL.
	Target string `json:"target"`
	// URL is the target's base URL.
	URL string `json:"url"`
	// Round is the 1-based comparison round, 0 outside a comparison.
	Round int `json:"round,omitempty"`
	// Mode is "open" (fixed schedule) or "closed" (as fast as possible).
	Mode string `json:"mode"`
	// Schedule describes the open-loop schedule, e.g. "200 rps for 10s".
	Schedule string `json:"schedule,omitempty"`
	// TargetRPS is the open-loop schedule's mean intended rate.
	TargetRPS float64 `json:"target_rps,omitempty"`
	// Connections is the size of the connection pool (closed loop: the
	// number of concurrent workers).
	Connections int `json:"connections"`
	// Seed seeded the run's random choices; rerun with it to repeat them.
	Seed uint64 `json:"seed"`
	// Started is when the run started sending.
	Started time.Time `json:"started"`
	// Elapsed is from the start until the last response (or error).
	Elapsed Seconds `json:"elapsed_s"`
	// StopReason is one of the Stop* constants.
	StopReason string `json:"stop_reason"`

	// Requests is the number of requests sent; every one ends as a response
	// or a transport error: Requests == Responses + transport errors.
	Requests int64 `json:"requests"`
	// Responses is the number of HTTP responses received, any status.
	Responses int64 `json:"responses"`
	// OK is the number of responses with an expected status.
	OK int64 `json:"ok"`
	// Errors is transport errors plus responses with an unexpected status.
	Errors int64 `json:"errors"`
	// ErrorRate is Errors / Requests, 0 when no request was sent.
	ErrorRate float64 `json:"error_rate"`
	// ErrorsByKind counts errors by kind: the runner's transport kinds
	// (connect_refused, timeout, reset, tls, other) and KindStatus.
	ErrorsByKind map[string]int64 `json:"errors_by_kind,omitempty"`
	// Status counts responses by exact status code ("200": n).
	Status map[string]int64 `json:"status,omitempty"`
	// StatusClasses counts responses by class ("2xx": n).
	StatusClasses map[string]int64 `json:"status_classes,omitempty"`
	// AchievedRPS is Requests / Elapsed.
	AchievedRPS float64 `json:"achieved_rps"`

	// Latency summarises response latencies (transport errors excluded).
	// Open loop: from each request's intended send time to its response, so
	// queueing in the generator counts. Closed loop: from the actual send.
	Latency hist.Summary `json:"latency"`
	// LatencyHDR is the latency histogram in HdrHistogram V2 compressed
	// form, base64 (see hist.Decode), for merging results offline.
	LatencyHDR string `json:"latency_hdr,omitempty"`
	// Service summarises, in open loop, the time from the actual send to the
	// response (what a closed-loop tool would report).
	Service *hist.Summary `json:"service_time,omitempty"`
	// SendLag summarises, in open loop, how late requests were sent after
	// their intended time because every connection was busy.
	SendLag *hist.Summary `json:"send_lag,omitempty"`
	// Unsent counts, in open loop, requests due before the run stopped that
	// were never sent because every connection was busy: the backlog.
	Unsent int64 `json:"unsent,omitempty"`

	// BytesIn and BytesOut count bytes read from and written to the
	// connections, TLS records and handshakes included.
	BytesIn  int64 `json:"bytes_in"`
	BytesOut int64 `json:"bytes_out"`

	// ByRequest breaks the counts down by request kind of the scenario's
	// mix, in scenario order.
	ByRequest []RequestResult `json:"by_request,omitempty"`
}

// RequestResult is one request kind's share of a Result.
type RequestResult struct {
	// Name is the request kind's name in the scenario.
	Name string `json:"name"`
	// Requests and Errors count as in Result.
	Requests int64 `json:"requests"`
	Errors   int64 `json:"errors"`
	// Latency summarises the kind's response latencies.
	Latency hist.Summary `json:"latency"`
}

// Seconds is a duration that JSON encodes as float seconds.
type Seconds time.Duration

// Duration returns s as a time.Duration.
func (s Seconds) Duration() time.Duration { return time.Duration(s) }

// MarshalJSON encodes s as float seconds, to the microsecond.
func (s Seconds) MarshalJSON() ([]byte, error) {
	return strconv.AppendFloat(nil, math.Round(time.Duration(s).Seconds()*1e6)/1e6, 'f', -1, 64), nil
}

// UnmarshalJSON decodes float seconds.
func (s *Seconds) UnmarshalJSON(b []byte) error {
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		return fmt.Errorf("report: seconds must be a number: %w", err)
	}
	*s = Seconds(time.Duration(math.Round(f * 1e9)))
	return nil
}

// WriteJSON writes v (a *Result, []*Result or *Comparison) as indented JSON
// followed by a newline.
func WriteJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("report: write JSON: %w", err)
	}
	return nil
}

// Markdown writes one table row per result (target, scenario, requests,
// achieved rps, latency percentiles, error rate, errors by kind and status,
// bytes), then a per-request table when a result has more than one request
// kind, then notes on open-loop backlog and early stops.
func Markdown(w io.Writer, results ...*Result) error {
	var b strings.Builder
	rounds := slices.ContainsFunc(results, func(r *Result) bool { return r.Round > 0 })
	header := []string{"target", "scenario", "mode", "requests", "rps", "p50", "p90", "p99", "p99.9", "max", "errors", "errors by kind", "status", "bytes in/out"}
	if rounds {
		header = slices.Insert(header, 1, "round")
	}
	writeRow(&b, header)
	writeAlign(&b, header)
	for _, r := range results {
		row := []string{
			r.Target, r.Scenario, r.Mode,
			strconv.FormatInt(r.Requests, 10),
			FormatRate(r.AchievedRPS),
			FormatDuration(r.Latency.P50.Duration()),
			FormatDuration(r.Latency.P90.Duration()),
			FormatDuration(r.Latency.P99.Duration()),
			FormatDuration(r.Latency.P999.Duration()),
			FormatDuration(r.Latency.Max.Duration()),
			FormatPercent(r.ErrorRate),
			formatCounts(r.ErrorsByKind, nil),
			formatCounts(r.Status, statusLess),
			FormatBytes(r.BytesIn) + " / " + FormatBytes(r.BytesOut),
		}
		if rounds {
			row = slices.Insert(row, 1, strconv.Itoa(r.Round))
		}
		writeRow(&b, row)
	}
	if slices.ContainsFunc(results, func(r *Result) bool { return len(r.ByRequest) > 1 }) {
		b.WriteString("\n")
		h := []string{"target", "request", "requests", "p50", "p90", "p99", "p99.9", "max", "errors"}
		writeRow(&b, h)
		writeAlign(&b, h)
		for _, r := range results {
			for _, k := range r.ByRequest {
				rate := 0.0
				if k.Requests > 0 {
					rate = float64(k.Errors) / float64(k.Requests)
				}
				writeRow(&b, []string{
					r.Target, k.Name, strconv.FormatInt(k.Requests, 10),
					FormatDuration(k.Latency.P50.Duration()),
					FormatDuration(k.Latency.P90.Duration()),
					FormatDuration(k.Latency.P99.Duration()),
					FormatDuration(k.Latency.P999.Duration()),
					FormatDuration(k.Latency.Max.Duration()),
					FormatPercent(rate),
				})
			}
		}
	}
	var notes []string
	for _, r := range results {
		name := r.Target
		if r.Round > 0 {
			name = fmt.Sprintf("%s (round %d)", r.Target, r.Round)
		}
		if r.Mode == "open" {
			n := fmt.Sprintf("%s: open loop, %s (mean %s rps), %d connections", name, r.Schedule, FormatRate(r.TargetRPS), r.Connections)
			if r.SendLag != nil {
				n += ", max send lag " + FormatDuration(r.SendLag.Max.Duration())
			}
			if r.Service != nil {
				n += ", service time p99 " + FormatDuration(r.Service.P99.Duration())
			}
			if r.Unsent > 0 {
				n += fmt.Sprintf(", **%d requests never sent (backlog: connections saturated)**", r.Unsent)
			}
			notes = append(notes, n)
		} else {
			notes = append(notes, fmt.Sprintf("%s: closed loop, %d connections", name, r.Connections))
		}
		notes[len(notes)-1] += fmt.Sprintf("; %s; stopped by %s", FormatDuration(r.Elapsed.Duration()), r.StopReason)
		if r.Latency.Saturated > 0 {
			notes[len(notes)-1] += fmt.Sprintf("; %d latencies above 60s clamped", r.Latency.Saturated)
		}
	}
	if len(notes) > 0 {
		b.WriteString("\n")
		for _, n := range notes {
			b.WriteString("- " + n + "\n")
		}
	}
	_, err := io.WriteString(w, b.String())
	if err != nil {
		return fmt.Errorf("report: write Markdown: %w", err)
	}
	return nil
}

func writeRow(b *strings.Builder, cells []string) {
	b.WriteString("|")
	for _, c := range cells {
		b.WriteString(" ")
		b.WriteString(escapeCell(c))
		b.WriteString(" |")
	}
	b.WriteString("\n")
}

// isText reports whether a column holds text (aligned left) rather than
// numbers (aligned right).
func isText(column string) bool {
	switch column {
	case "target", "scenario", "mode", "request", "errors by kind", "status", "bytes in/out":
		return true
	}
	return false
}

// writeAlign writes the delimiter row for header.
func writeAlign(b *strings.Builder, header []string) {
	b.WriteString("|")
	for _, h := range header {
		if isText(h) {
			b.WriteString(" --- |")
		} else {
			b.WriteString(" ---: |")
		}
	}
	b.WriteString("\n")
}

// escapeCell makes s safe inside a Markdown table cell.
func escapeCell(s string) string {
	if s == "" {
		return "-"
	}
	s = strings.ReplaceAll(s, "|", `\|`)
	return strings.NewReplacer("\r", " ", "\n", " ").Replace(s)
}

func statusLess(a, b string) int {
	x, errA := strconv.Atoi(a)
	y, errB := strconv.Atoi(b)
	if errA == nil && errB == nil {
		return x - y
	}
	return strings.Compare(a, b)
}

// formatCounts renders a count map as "k1: n1, k2: n2" sorted by key (with
// cmp, or lexically), skipping zero counts.
func formatCounts(m map[string]int64, cmp func(a, b string) int) string {
	keys := slices.Collect(maps.Keys(m))
	if cmp == nil {
		cmp = strings.Compare
	}
	slices.SortFunc(keys, cmp)
	var parts []string
	for _, k := range keys {
		if m[k] != 0 {
			parts = append(parts, fmt.Sprintf("%s: %d", k, m[k]))
		}
	}
	return strings.Join(parts, ", ")
}

// FormatDuration renders d with 3 significant digits in the largest unit
// below it: "850µs", "12.3ms", "1.25s"; 0 is "0".
func FormatDuration(d time.Duration) string {
	switch {
	case d <= 0:
		return "0"
	case d < time.Millisecond:
		return sig3(float64(d)/float64(time.Microsecond)) + "µs"
	case d < time.Second:
		return sig3(float64(d)/float64(time.Millisecond)) + "ms"
	default:
		return sig3(d.Seconds()) + "s"
	}
}

// sig3 formats f (> 0) with 3 significant digits, no trailing zeros.
func sig3(f float64) string {
	digits := 2
	switch {
	case f >= 100:
		digits = 0
	case f >= 10:
		digits = 1
	}
	s := strconv.FormatFloat(f, 'f', digits, 64)
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return s
}

// FormatRate renders a rate in requests per second: whole numbers from 100
// up, 3 significant digits below.
func FormatRate(r float64) string {
	if r <= 0 || math.IsNaN(r) || math.IsInf(r, 0) {
		return "0"
	}
	if r >= 100 {
		return strconv.FormatFloat(math.Round(r), 'f', 0, 64)
	}
	return sig3(r)
}

// FormatPercent renders a fraction as a percentage with up to 2 decimals:
// 0.0123 is "1.23%".
func FormatPercent(f float64) string {
	s := strconv.FormatFloat(f*100, 'f', 2, 64)
	s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	return s + "%"
}

// FormatBytes renders n bytes in binary units: "512 B", "1.5 KiB", "3.2 MiB".
func FormatBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return strconv.FormatInt(n, 10) + " B"
	}
	f := float64(n)
	for _, u := range []string{"KiB", "MiB", "GiB", "TiB"} {
		f /= unit
		if f < unit || u == "TiB" {
			return sig3(f) + " " + u
		}
	}
	return strconv.FormatInt(n, 10) + " B"
}
