package suite

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/campshub360/edge/benchmarks/internal/report"
)

// Meta describes a suite run for its RESULTS.md section.
type Meta struct {
	// Command is the exact command that produced it.
	Command string
	// Machine lines describe the hardware and software (Machine()).
	Machine []string
	// Stack lines describe what ran (instances, configurations, data).
	Stack []string
}

// Machine describes this machine: CPU model and count, memory, kernel,
// Go, and the load average now (the machine may be shared).
func Machine() []string {
	var lines []string
	model, cpus := "", 0
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for l := range strings.SplitSeq(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok {
				switch strings.TrimSpace(k) {
				case "model name":
					model = strings.TrimSpace(v)
				case "processor":
					cpus++
				}
			}
		}
	}
	if cpus == 0 {
		cpus = runtime.NumCPU()
	}
	cpu := fmt.Sprintf("%d CPUs", cpus)
	if model != "" {
		cpu += " (" + model + ")"
	}
	lines = append(lines, "CPU: "+cpu)
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for l := range strings.SplitSeq(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "MemTotal:"); ok {
				var kb int64
				if _, err := fmt.Sscan(strings.TrimSpace(v), &kb); err == nil {
					lines = append(lines, "memory: "+report.FormatBytes(kb<<10))
				}
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		lines = append(lines, "kernel: Linux "+strings.TrimSpace(string(b)))
	}
	lines = append(lines, "Go: "+runtime.Version())
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		f := strings.Fields(string(b))
		if len(f) >= 3 {
			lines = append(lines, "load average at the start: "+strings.Join(f[:3], " "))
		}
	}
	return lines
}

// Section writes the RESULTS.md section of a suite run.
func Section(w io.Writer, out *Outcome, m Meta) error {
	rows := Rows(out)
	var b strings.Builder
	mode := "full"
	if out.Quick {
		mode = "quick"
	}
	fmt.Fprintf(&b, "## Campus scenarios: gateway, nginx, the backend directly, the ceiling\n\n")
	warm := "no warm-up"
	if out.Warmup > 0 {
		warm = fmt.Sprintf("after an unmeasured %v warm-up per scenario and target", out.Warmup)
	}
	fmt.Fprintf(&b, "Generated %s by `%s` (%s mode, %d measured runs per scenario and target %s, %s in all). Regenerate instead of editing.\n\n",
		out.Started.UTC().Format("2006-01-02 15:04 MST"), m.Command, mode, out.Rounds, warm, out.Elapsed.Round(time.Second))
	b.WriteString("Machine:\n\n")
	for _, l := range m.Machine {
		b.WriteString("- " + l + "\n")
	}
	b.WriteString("\nStack:\n\n")
	for _, l := range m.Stack {
		b.WriteString("- " + l + "\n")
	}
	b.WriteString("\n### The original targets\n\n")
	b.WriteString("The system CampsHub360 Edge replaces claimed these figures without a recorded run. The gateway's figures on this machine,\n")
	b.WriteString("which also runs the load generator, three backend instances, PostgreSQL and Redis, beside nginx's and the ceiling's in the\n")
	b.WriteString("same run: a target the ceiling itself misses is out of reach of any server on this machine, not of the gateway alone.\n\n")
	if err := GoalsTable(&b, rows); err != nil {
		return err
	}
	b.WriteString("\n### Results\n\n")
	b.WriteString("Each figure is the median of the target's runs; targets ran interleaved (gateway, nginx, direct, ceiling, gateway, ...).\n")
	b.WriteString("`rps ×nginx` above 1 and `p99 ×nginx` below 1 favour the row's target. Open-loop scenarios send a fixed schedule,\n")
	b.WriteString("so their rps match across targets and latency tells them apart (measured from each request's intended send time).\n")
	b.WriteString("`direct` is backend instance 1 over plain HTTP, without an edge; `ceiling` is a constant-response fasthttp server over TLS\n")
	b.WriteString("given the scenario's load shape (connections, client addresses, rate) with one GET: what the machine's network stack and TLS\n")
	b.WriteString("alone allow. Edge CPU s and peak RSS are the edge process's during the run (nginx: master and workers; direct: the backend).\n\n")
	if err := Table(&b, rows); err != nil {
		return err
	}
	b.WriteString("\n### Scenarios\n\n")
	for _, e := range out.Entries {
		fmt.Fprintf(&b, "- `%s` (benchmarks/scenarios/campus/%s, runs of %v): %s.\n", e.Name, e.File, out.Length(e), e.About)
	}
	var events []string
	for _, r := range out.Runs {
		for _, ev := range r.Events {
			events = append(events, fmt.Sprintf("%s on %s, round %d: %s", r.Entry, r.Target, r.Round, ev))
		}
	}
	if len(events) > 0 {
		b.WriteString("\nFault schedule as it ran:\n\n")
		for _, ev := range events {
			b.WriteString("- " + ev + "\n")
		}
	}
	if len(out.Failures) > 0 {
		b.WriteString("\nFailures:\n\n")
		for _, f := range out.Failures {
			b.WriteString("- " + strings.ReplaceAll(f, "\n", " ") + "\n")
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}
