// Package hist records latencies in HDR histograms (HdrHistogram,
// github.com/HdrHistogram/hdrhistogram-go): microsecond resolution from 1 µs
// to 60 s with 3 significant digits, so any reported percentile is within
// 0.1% of the true value. Histograms merge losslessly, which lets each
// worker record into its own and a report combine them afterwards.
package hist

import (
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

const (
	// Lowest is the smallest distinguishable latency.
	Lowest = time.Microsecond
	// Highest is the largest latency recorded as itself; larger ones are
	// clamped to it and counted by Histogram.Saturated.
	Highest = 60 * time.Second
	// SignificantDigits is the precision of recorded values.
	SignificantDigits = 3
)

// ErrDecode is wrapped by every error of Decode.
var ErrDecode = errors.New("hist: cannot decode histogram")

// Histogram is a latency histogram in microseconds from 1 µs to 60 s with 3
// significant digits. It keeps the exact minimum and maximum beside the
// buckets. A Histogram is not safe for concurrent use; give each goroutine its
// own and Merge them, or guard one with a mutex. The zero value is not
// usable; call New.
type Histogram struct {
	h         *hdrhistogram.Histogram
	min, max  int64 // exact extremes in µs; min is MaxInt64 when empty
	saturated int64 // values above Highest, recorded as Highest
}

// New returns an empty histogram.
func New() *Histogram {
	return &Histogram{
		h:   hdrhistogram.New(1, Highest.Microseconds(), SignificantDigits),
		min: math.MaxInt64,
	}
}

// Record adds one latency. Negative values are recorded as 0; values above
// Highest are recorded as Highest and counted by Saturated. Record does not
// allocate.
func (h *Histogram) Record(d time.Duration) {
	us := d.Microseconds()
	if us < 0 {
		us = 0
	}
	if us > Highest.Microseconds() {
		us = Highest.Microseconds()
		h.saturated++
	}
	// The value is within the histogram's range, so RecordValue cannot fail.
	_ = h.h.RecordValue(us)
	if us < h.min {
		h.min = us
	}
	if us > h.max {
		h.max = us
	}
}

// Merge adds every value recorded in o to h. o is not modified. Both
// histograms share one range, so nothing is dropped.
func (h *Histogram) Merge(o *Histogram) {
	if o.Count() == 0 {
		return
	}
	h.h.Merge(o.h)
	h.min = min(h.min, o.min)
	h.max = max(h.max, o.max)
	h.saturated += o.saturated
}

// Reset empties h, keeping its memory.
func (h *Histogram) Reset() {
	h.h.Reset()
	h.min = math.MaxInt64
	h.max = 0
	h.saturated = 0
}

// Count returns the number of recorded values.
func (h *Histogram) Count() int64 { return h.h.TotalCount() }

// Saturated returns how many recorded values exceeded Highest and were
// clamped to it.
func (h *Histogram) Saturated() int64 { return h.saturated }

// Min returns the exact smallest recorded value (to the microsecond), 0 when
// empty.
func (h *Histogram) Min() time.Duration {
	if h.Count() == 0 {
		return 0
	}
	return time.Duration(h.min) * time.Microsecond
}

// Max returns the exact largest recorded value (to the microsecond), 0 when
// empty.
func (h *Histogram) Max() time.Duration { return time.Duration(h.max) * time.Microsecond }

// Mean returns the mean of the recorded values, 0 when empty.
func (h *Histogram) Mean() time.Duration {
	return time.Duration(math.Round(h.h.Mean() * float64(time.Microsecond)))
}

// Percentile returns the value below or at which p percent of the recorded
// values fall, p in [0, 100] (clamped), within the histogram's precision and
// never above Max. It returns 0 when empty.
func (h *Histogram) Percentile(p float64) time.Duration {
	if h.Count() == 0 {
		return 0
	}
	v := h.h.ValueAtPercentile(p)
	// Bucket upper bounds can exceed the exact maximum; never report more.
	v = min(max(v, h.min), h.max)
	return time.Duration(v) * time.Microsecond
}

// Summary is the digest of a histogram that reports print. JSON encodes
// every duration as an integer number of microseconds.
type Summary struct {
	// Count is the number of recorded values.
	Count int64 `json:"count"`
	// Min, Mean and Max are the exact minimum, mean and maximum.
	Min  Micros `json:"min_us"`
	Mean Micros `json:"mean_us"`
	// P50 to P999 are the 50th, 90th, 99th and 99.9th percentiles.
	P50  Micros `json:"p50_us"`
	P90  Micros `json:"p90_us"`
	P99  Micros `json:"p99_us"`
	P999 Micros `json:"p999_us"`
	Max  Micros `json:"max_us"`
	// Saturated counts values above 60 s, recorded as 60 s.
	Saturated int64 `json:"saturated,omitempty"`
}

// Micros is a duration that JSON encodes as an integer number of
// microseconds (truncated).
type Micros time.Duration

// Duration returns m as a time.Duration.
func (m Micros) Duration() time.Duration { return time.Duration(m) }

// MarshalJSON encodes m as integer microseconds.
func (m Micros) MarshalJSON() ([]byte, error) {
	return fmt.Appendf(nil, "%d", time.Duration(m).Microseconds()), nil
}

// UnmarshalJSON decodes integer microseconds.
func (m *Micros) UnmarshalJSON(b []byte) error {
	us, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil {
		return fmt.Errorf("hist: microseconds must be an integer: %w", err)
	}
	*m = Micros(time.Duration(us) * time.Microsecond)
	return nil
}

// Summarize returns h's summary.
func (h *Histogram) Summarize() Summary {
	return Summary{
		Count:     h.Count(),
		Min:       Micros(h.Min()),
		Mean:      Micros(h.Mean()),
		P50:       Micros(h.Percentile(50)),
		P90:       Micros(h.Percentile(90)),
		P99:       Micros(h.Percentile(99)),
		P999:      Micros(h.Percentile(99.9)),
		Max:       Micros(h.Max()),
		Saturated: h.saturated,
	}
}

// Encode returns h in the HdrHistogram V2 compressed format, base64
// encoded: the form HdrHistogram tools in other languages read (exact min
// and max and the saturated count are not part of it).
func (h *Histogram) Encode() (string, error) {
	b, err := h.h.Encode(hdrhistogram.V2CompressedEncodingCookieBase)
	if err != nil {
		return "", fmt.Errorf("hist: encode: %w", err)
	}
	return base64.StdEncoding.EncodeToString(b), nil
}

// Decode parses the output of Encode (or of any HdrHistogram V2 compressed
// encoder using microseconds up to 60 s). The exact extremes are taken from
// the buckets, so they are precise to 3 significant digits. Errors wrap
// ErrDecode.
func Decode(s string) (*Histogram, error) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrDecode, err)
	}
	d, err := hdrhistogram.Decode(b)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrDecode, err)
	}
	h := New()
	if dropped := h.h.Merge(d); dropped != 0 {
		return nil, fmt.Errorf("%w: %d values outside 1 µs..60 s", ErrDecode, dropped)
	}
	if h.Count() > 0 {
		h.min = d.Min()
		h.max = min(d.Max(), Highest.Microseconds())
	}
	return h, nil
}
