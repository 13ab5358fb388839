package auth

import (
	"testing"
	"time"
)

func TestLockoutBackoff(t *testing.T) {
	l := Lockout{Threshold: 3, Window: 10 * time.Minute, Base: time.Minute, Max: 8 * time.Minute}
	t0 := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	var c Counter
	now := t0
	for i := 1; i <= 2; i++ {
		c = l.Fail(c, now)
		if locked, _ := l.Locked(c, now); locked {
			t.Fatalf("locked after %d failures", i)
		}
		now = now.Add(time.Second)
	}
	// Third failure: locked for Base; then 2x, 4x, 8x, capped at Max.
	want := []time.Duration{time.Minute, 2 * time.Minute, 4 * time.Minute, 8 * time.Minute, 8 * time.Minute}
	for i, w := range want {
		c = l.Fail(c, now)
		locked, retry := l.Locked(c, now)
		if !locked || retry != w {
			t.Fatalf("failure %d: locked=%v retry=%v, want %v", i+3, locked, retry, w)
		}
		now = c.LockedUntil // the next failure comes right after the lock ends
		if locked, _ := l.Locked(c, now); locked {
			t.Fatal("still locked at LockedUntil")
		}
	}
	// A quiet window after the lock resets the count.
	now = now.Add(11 * time.Minute)
	c = l.Fail(c, now)
	if c.Failures != 1 {
		t.Fatalf("count after a quiet window: %d", c.Failures)
	}
}

func TestLockoutWindowResetsCount(t *testing.T) {
	l := Lockout{Threshold: 3, Window: time.Minute, Base: time.Minute, Max: time.Hour}
	t0 := time.Unix(1_800_000_000, 0)
	c := l.Fail(Counter{}, t0)
	c = l.Fail(c, t0.Add(30*time.Second))
	c = l.Fail(c, t0.Add(2*time.Minute)) // outside the window: a new window
	if locked, _ := l.Locked(c, t0.Add(2*time.Minute)); locked || c.Failures != 1 {
		t.Fatalf("locked=%v failures=%d", locked, c.Failures)
	}
	if got := (Lockout{}).Fail(Counter{}, t0); got.Failures != 0 {
		t.Fatal("zero policy counted")
	}
}

func TestLockedRetryAfterRoundsUp(t *testing.T) {
	l := Lockout{}
	now := time.Unix(100, 0)
	_, d := l.Locked(Counter{LockedUntil: now.Add(1500 * time.Millisecond)}, now)
	if d != 2*time.Second {
		t.Fatalf("retry %v", d)
	}
}
