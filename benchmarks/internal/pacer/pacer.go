// Package pacer computes open-loop request schedules.
//
// A Schedule gives the intended send time of the i-th request as a pure
// function of i, and the number of requests intended before a given elapsed
// time as a pure function of that time. A load generator that measures each
// request's latency from its intended send time, not from the moment a busy
// worker finally got round to sending it, cannot hide a server stall behind a
// slowed-down client ("coordinated omission", Gil Tene; wrk2 works the same
// way).
//
// The intended request rate r(t) of a schedule is piecewise linear: a list of
// segments, each moving linearly from one rate to another over a duration (a
// constant rate when both are equal). With N(t) = ∫₀ᵗ r(s) ds the cumulative
// intended count, request i (0-based) is due at the smallest t with
// N(t) = i, so request 0 is due at t = 0 and a constant rate r puts request i
// at exactly i/r seconds.
package pacer

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
)

// ErrInvalid is wrapped by every error returned for an invalid schedule.
var ErrInvalid = errors.New("pacer: invalid schedule")

// Segment is one stage of a schedule: the intended rate moves linearly from
// From to To requests per second over Duration. From == To is a constant
// rate; From == To == 0 is a pause.
type Segment struct {
	// From is the rate at the start of the segment, in requests per second;
	// finite and >= 0.
	From float64
	// To is the rate at the end of the segment, in requests per second;
	// finite and >= 0.
	To float64
	// Duration is the length of the segment; > 0.
	Duration time.Duration
}

// segment is a Segment with its position in the schedule precomputed.
type segment struct {
	Segment
	start time.Duration // offset of the segment's start from the schedule's start
	first float64       // N(start): intended requests before the segment
	count float64       // intended requests within the segment
	slope float64       // rate change per second, (To-From)/Duration
}

// Schedule is an immutable open-loop schedule made of one or more segments
// run back to back. Its methods are pure functions of their arguments and
// safe for concurrent use. The zero value is not usable; build one with New,
// Constant, Steps or Ramp.
type Schedule struct {
	segs  []segment
	total float64       // N(end): intended requests in the whole schedule
	dur   time.Duration // sum of segment durations
}

// Constant returns a schedule of rate requests per second for d.
func Constant(rate float64, d time.Duration) (*Schedule, error) {
	return New(Segment{From: rate, To: rate, Duration: d})
}

// Ramp returns a schedule whose rate moves linearly from `from` to `to`
// requests per second over d.
func Ramp(from, to float64, d time.Duration) (*Schedule, error) {
	return New(Segment{From: from, To: to, Duration: d})
}

// Step is one constant-rate stage of Steps.
type Step struct {
	// Rate in requests per second; finite and >= 0 (0 is a pause).
	Rate float64
	// Duration of the step; > 0.
	Duration time.Duration
}

// Steps returns a schedule of constant-rate steps run back to back.
func Steps(steps ...Step) (*Schedule, error) {
	segs := make([]Segment, len(steps))
	for i, s := range steps {
		segs[i] = Segment{From: s.Rate, To: s.Rate, Duration: s.Duration}
	}
	return New(segs...)
}

// New returns a schedule of the given segments run back to back. It fails
// with an error wrapping ErrInvalid when there is no segment, a rate is
// negative, NaN or infinite, a duration is not positive, the total duration
// overflows, or the schedule intends no request at all.
func New(segs ...Segment) (*Schedule, error) {
	if len(segs) == 0 {
		return nil, fmt.Errorf("%w: no segment", ErrInvalid)
	}
	s := &Schedule{segs: make([]segment, len(segs))}
	var start time.Duration
	var first float64
	for i, sg := range segs {
		if !validRate(sg.From) || !validRate(sg.To) {
			return nil, fmt.Errorf("%w: segment %d: rates must be finite and >= 0, got %v -> %v", ErrInvalid, i, sg.From, sg.To)
		}
		if sg.Duration <= 0 {
			return nil, fmt.Errorf("%w: segment %d: duration must be > 0, got %v", ErrInvalid, i, sg.Duration)
		}
		if start > math.MaxInt64-sg.Duration {
			return nil, fmt.Errorf("%w: total duration overflows", ErrInvalid)
		}
		secs := sg.Duration.Seconds()
		count := (sg.From + sg.To) / 2 * secs
		if math.IsInf(count, 0) || math.IsInf(first+count, 0) {
			return nil, fmt.Errorf("%w: segment %d: request count overflows", ErrInvalid, i)
		}
		s.segs[i] = segment{
			Segment: sg,
			start:   start,
			first:   first,
			count:   count,
			slope:   (sg.To - sg.From) / secs,
		}
		start += sg.Duration
		first += count
	}
	if first <= 0 {
		return nil, fmt.Errorf("%w: the schedule intends no request (every rate is 0)", ErrInvalid)
	}
	s.total = first
	s.dur = start
	return s, nil
}

func validRate(r float64) bool {
	return r >= 0 && !math.IsInf(r, 0) && !math.IsNaN(r)
}

// Duration returns the schedule's total length: the sum of its segments.
func (s *Schedule) Duration() time.Duration { return s.dur }

// Segments returns a copy of the schedule's segments.
func (s *Schedule) Segments() []Segment {
	out := make([]Segment, len(s.segs))
	for i, sg := range s.segs {
		out[i] = sg.Segment
	}
	return out
}

// Total returns the number of requests the schedule intends: the number of
// indices i for which At(i) reports true.
func (s *Schedule) Total() int64 { return s.Count(s.dur) }

// At returns the intended send time of request i (0-based), as an offset from
// the start of the schedule. It reports false when i is negative or falls
// beyond the end of the schedule. Offsets are rounded to the nanosecond and
// non-decreasing in i.
func (s *Schedule) At(i int64) (time.Duration, bool) {
	if i < 0 {
		return 0, false
	}
	n := float64(i)
	if n >= s.total {
		return 0, false
	}
	// The segment holding request i is the last one starting at or before it.
	k := sort.Search(len(s.segs), func(k int) bool { return s.segs[k].first > n }) - 1
	// Skip empty segments (pauses) that start exactly at n.
	for k < len(s.segs)-1 && s.segs[k].count <= n-s.segs[k].first {
		k++
	}
	sg := &s.segs[k]
	off := sg.offset(n - sg.first)
	if off > sg.Duration {
		// Float rounding at the very end of a segment; clamp into it.
		off = sg.Duration
	}
	return sg.start + off, true
}

// offset returns the time into the segment at which n requests of it have
// become due: the root of From*t + slope*t²/2 = n.
func (sg *segment) offset(n float64) time.Duration {
	if n <= 0 {
		return 0
	}
	if sg.From == sg.To {
		// Constant rate: exact division, no square root.
		return time.Duration(math.Round(n * 1e9 / sg.From))
	}
	// t = 2n / (From + sqrt(From² + 2·slope·n)) is the stable form of the
	// quadratic root for rising and falling ramps alike (no cancellation).
	d := sg.From*sg.From + 2*sg.slope*n
	if d < 0 {
		d = 0
	}
	den := sg.From + math.Sqrt(d)
	if den <= 0 {
		return sg.Duration
	}
	return time.Duration(math.Round(2 * n / den * 1e9))
}

// cumulative returns N(elapsed), the intended (fractional) request count
// before elapsed, clamped to the schedule.
func (s *Schedule) cumulative(elapsed time.Duration) float64 {
	if elapsed <= 0 {
		return 0
	}
	if elapsed >= s.dur {
		return s.total
	}
	k := sort.Search(len(s.segs), func(k int) bool { return s.segs[k].start > elapsed }) - 1
	sg := &s.segs[k]
	t := (elapsed - sg.start).Seconds()
	return sg.first + sg.From*t + sg.slope*t*t/2
}

// Count returns the number of requests intended strictly before elapsed (an
// offset from the start of the schedule): the number of indices i with
// At(i) reporting true and an offset < elapsed. It is consistent with At to
// the nanosecond.
func (s *Schedule) Count(elapsed time.Duration) int64 {
	if elapsed <= 0 {
		return 0
	}
	c := int64(math.Ceil(s.cumulative(elapsed)))
	// Correct float rounding against At, the definition.
	for c > 0 {
		if t, ok := s.At(c - 1); ok && t < elapsed {
			break
		}
		c--
	}
	for {
		t, ok := s.At(c)
		if !ok || t >= elapsed {
			return c
		}
		c++
	}
}

// Rate returns the intended rate at elapsed in requests per second: the rate
// of the segment covering elapsed, 0 before the start and after the end.
func (s *Schedule) Rate(elapsed time.Duration) float64 {
	if elapsed < 0 || elapsed >= s.dur {
		return 0
	}
	k := sort.Search(len(s.segs), func(k int) bool { return s.segs[k].start > elapsed }) - 1
	sg := &s.segs[k]
	return sg.From + sg.slope*(elapsed-sg.start).Seconds()
}

// MeanRate returns the schedule's average intended rate in requests per
// second: its intended request count over its duration.
func (s *Schedule) MeanRate() float64 { return s.total / s.dur.Seconds() }

// String describes the schedule, e.g. "200 rps for 10s" or
// "ramp 10->100 rps over 5s, 100 rps for 5s".
func (s *Schedule) String() string {
	var b strings.Builder
	for i, sg := range s.segs {
		if i > 0 {
			b.WriteString(", ")
		}
		if sg.From == sg.To {
			fmt.Fprintf(&b, "%s rps for %v", fmtRate(sg.From), sg.Duration)
		} else {
			fmt.Fprintf(&b, "ramp %s->%s rps over %v", fmtRate(sg.From), fmtRate(sg.To), sg.Duration)
		}
	}
	return b.String()
}

func fmtRate(r float64) string { return strconv.FormatFloat(r, 'f', -1, 64) }
