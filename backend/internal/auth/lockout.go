package auth

import "time"

// Lockout is the failed sign-in policy for one kind of key (an account, a
// client address): after Threshold failures, each within Window of the
// window's start, sign-in is locked for Base, doubling with every further
// failure (exponential back-off) up to Max. A lock restarts the window at
// its end, so the count (and the back-off) carries over to the failures
// that follow a lock; a quiet Window after a lock resets it. The zero value
// never locks. Pure and safe for concurrent use.
type Lockout struct {
	Threshold int
	Window    time.Duration
	Base      time.Duration
	Max       time.Duration
}

// Counter is the failure state of one key, as stored.
type Counter struct {
	// Failures counts failures since WindowStart.
	Failures int
	// WindowStart is when the current window began (zero: none yet).
	WindowStart time.Time
	// LockedUntil is when the current lock ends (zero: not locked).
	LockedUntil time.Time
}

// Locked reports whether c is locked at now and for how long still
// (rounded up to whole seconds, for Retry-After).
func (l Lockout) Locked(c Counter, now time.Time) (bool, time.Duration) {
	if c.LockedUntil.IsZero() || !now.Before(c.LockedUntil) {
		return false, 0
	}
	d := c.LockedUntil.Sub(now)
	return true, (d + time.Second - 1).Truncate(time.Second)
}

// Fail returns c after one more failure at now.
func (l Lockout) Fail(c Counter, now time.Time) Counter {
	if l.Threshold <= 0 {
		return c
	}
	if c.WindowStart.IsZero() || now.Sub(c.WindowStart) > l.Window {
		if locked, _ := l.Locked(c, now); !locked {
			c = Counter{WindowStart: now}
		}
	}
	c.Failures++
	if c.Failures >= l.Threshold {
		d := l.Base
		for i := l.Threshold; i < c.Failures && d < l.Max; i++ {
			d *= 2
		}
		d = min(d, l.Max)
		c.LockedUntil = now.Add(d)
		c.WindowStart = c.LockedUntil
	}
	return c
}
