// Package procstat reads the CPU time and memory high-water mark of
// processes from Linux's /proc (proc(5)): the cost side of a benchmark,
// measured on the server processes themselves rather than inferred from the
// load generator.
//
//   - CPU time is utime + stime of /proc/PID/stat (fields 14 and 15), in
//     clock ticks converted with the kernel's AT_CLKTCK (from
//     /proc/self/auxv; 100 on every mainstream Linux build).
//   - Peak RSS is VmHWM of /proc/PID/status. Writing "5" to
//     /proc/PID/clear_refs resets it to the current RSS (Linux >= 4.0), so
//     a peak can be taken per run; the caller must own the process.
//
// A Reader is immutable and safe for concurrent use.
package procstat

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// atClkTck is the auxiliary vector entry of the clock tick rate
// (getauxval(3)).
const atClkTck = 17

// Reader reads /proc under Root.
type Reader struct {
	root string
	tick time.Duration
}

// New returns a Reader of the proc file system mounted at root ("" for
// /proc). It fails when root holds no process information.
func New(root string) (*Reader, error) {
	if root == "" {
		root = "/proc"
	}
	if _, err := os.Stat(filepath.Join(root, "self", "stat")); err != nil {
		return nil, fmt.Errorf("procstat: %s is not a proc file system: %w", root, err)
	}
	hz := clockTicks(filepath.Join(root, "self", "auxv"))
	return &Reader{root: root, tick: time.Second / time.Duration(hz)}, nil
}

// clockTicks returns AT_CLKTCK from an auxv file of 64-bit pairs, 100
// when it cannot be read.
func clockTicks(path string) int64 {
	b, err := os.ReadFile(path)
	if err != nil {
		return 100
	}
	for i := 0; i+16 <= len(b); i += 16 {
		k, v := binary.NativeEndian.Uint64(b[i:]), binary.NativeEndian.Uint64(b[i+8:])
		if k == atClkTck && v > 0 && v <= 10000 {
			return int64(v)
		}
		if k == 0 {
			break
		}
	}
	return 100
}

// CPU returns the user plus system CPU time the processes have used so
// far (their own, not their waited-for children's).
func (r *Reader) CPU(pids ...int) (time.Duration, error) {
	var total time.Duration
	for _, pid := range pids {
		b, err := os.ReadFile(filepath.Join(r.root, strconv.Itoa(pid), "stat"))
		if err != nil {
			return 0, fmt.Errorf("procstat: %w", err)
		}
		// The command name (field 2) may hold spaces and parentheses: the
		// fields after it start past the last ')'.
		end := bytes.LastIndexByte(b, ')')
		if end < 0 {
			return 0, fmt.Errorf("procstat: /proc/%d/stat: no command field", pid)
		}
		f := strings.Fields(string(b[end+1:]))
		// f[0] is field 3 (state): utime is field 14, stime field 15.
		if len(f) < 13 {
			return 0, fmt.Errorf("procstat: /proc/%d/stat: %d fields", pid, len(f)+2)
		}
		for _, s := range f[11:13] {
			n, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				return 0, fmt.Errorf("procstat: /proc/%d/stat: %w", pid, err)
			}
			total += time.Duration(n) * r.tick
		}
	}
	return total, nil
}

// PeakRSS returns the sum of the processes' resident set high-water marks
// (VmHWM), in bytes.
func (r *Reader) PeakRSS(pids ...int) (int64, error) {
	var total int64
	for _, pid := range pids {
		kb, err := r.statusKB(pid, "VmHWM:")
		if err != nil {
			return 0, err
		}
		total += kb << 10
	}
	return total, nil
}

// ResetPeak resets the processes' VmHWM to their current RSS.
func (r *Reader) ResetPeak(pids ...int) error {
	var errs []error
	for _, pid := range pids {
		if err := os.WriteFile(filepath.Join(r.root, strconv.Itoa(pid), "clear_refs"), []byte("5"), 0); err != nil {
			errs = append(errs, fmt.Errorf("procstat: reset peak of %d: %w", pid, err))
		}
	}
	return errors.Join(errs...)
}

func (r *Reader) statusKB(pid int, key string) (int64, error) {
	b, err := os.ReadFile(filepath.Join(r.root, strconv.Itoa(pid), "status"))
	if err != nil {
		return 0, fmt.Errorf("procstat: %w", err)
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, key); ok {
			f := strings.Fields(rest)
			if len(f) == 0 {
				break
			}
			return strconv.ParseInt(f[0], 10, 64)
		}
	}
	return 0, fmt.Errorf("procstat: /proc/%d/status has no %s", pid, strings.TrimSuffix(key, ":"))
}

// Children returns the PIDs of the processes whose parent is pid (nginx's
// workers), from /proc/PID/task/*/children, or by scanning /proc when the
// kernel lacks that file.
func (r *Reader) Children(pid int) ([]int, error) {
	tasks, err := filepath.Glob(filepath.Join(r.root, strconv.Itoa(pid), "task", "*", "children"))
	if err == nil && len(tasks) > 0 {
		var out []int
		for _, t := range tasks {
			b, err := os.ReadFile(t)
			if err != nil {
				continue
			}
			for _, f := range strings.Fields(string(b)) {
				if n, err := strconv.Atoi(f); err == nil {
					out = append(out, n)
				}
			}
		}
		return out, nil
	}
	entries, err := os.ReadDir(r.root)
	if err != nil {
		return nil, fmt.Errorf("procstat: %w", err)
	}
	var out []int
	for _, e := range entries {
		n, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join(r.root, e.Name(), "stat"))
		if err != nil {
			continue
		}
		end := bytes.LastIndexByte(b, ')')
		if end < 0 {
			continue
		}
		f := strings.Fields(string(b[end+1:]))
		if len(f) > 1 && f[1] == strconv.Itoa(pid) {
			out = append(out, n)
		}
	}
	return out, nil
}
