package runner

import (
	"context"
	"time"
)

// Clock is the runner's source of time. Tests may drive the runner with
// their own; SystemClock is the real one. Implementations must be safe for
// concurrent use.
type Clock interface {
	// Now returns the current time; monotonic readings are expected.
	Now() time.Time
	// SleepUntil blocks until t or until ctx is done, and reports whether t
	// was reached (false: ctx ended first). A t in the past returns true at
	// once.
	SleepUntil(ctx context.Context, t time.Time) bool
}

// SystemClock returns the Clock of the time package.
func SystemClock() Clock { return systemClock{} }

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

func (systemClock) SleepUntil(ctx context.Context, t time.Time) bool {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err() == nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-ctx.Done():
		return false
	}
}
