package ratelimit

import "time"

// Clock is a monotonic clock. Now returns the time elapsed since an
// arbitrary fixed origin; it never goes backwards and is not affected by
// wall-clock steps (NTP corrections, an operator setting the date), so a
// step can neither mint tokens nor lock clients out. Implementations must
// be safe for concurrent use.
type Clock interface {
	Now() time.Duration
}

// SystemClock returns the process's monotonic clock (Go's runtime
// monotonic reading, see the "Monotonic Clocks" section of package time).
func SystemClock() Clock { return monotonic{start: time.Now()} }

type monotonic struct{ start time.Time }

// Now returns the monotonic time since the clock was made.
func (m monotonic) Now() time.Duration { return time.Since(m.start) }

// epochSeconds places clock readings on a fixed, arbitrary time line for
// x/time/rate, which takes time.Time values. Only differences between
// readings matter; the wall clock never enters.
const epochSeconds = 1 << 30

// at converts a clock reading to the time.Time x/time/rate expects.
func at(d time.Duration) time.Time { return time.Unix(epochSeconds, int64(d)) }
