package domain

import (
	"errors"
	"strconv"
	"strings"
	"time"
)

// Percent is a percentage in hundredths of a percent: 7500 is 75.00%. It is
// an integer so that percentages are exact and compare exactly against a
// threshold.
type Percent int64

// DefaultThreshold is the exam eligibility threshold unless configured
// (75.00%).
const DefaultThreshold Percent = 7500

// Percentage is DOMAIN.md's attendance percentage, exactly: with
// p = present + late, e = excused and t = all records (of closed or locked
// sessions), it is 0 when t = 0, otherwise 100 * p / max(t - e, 1) rounded
// half-up to 2 decimals. The SQL function attendance_pct_hundredths
// computes the same integers (a test checks they agree).
func Percentage(p, e, t int64) Percent {
	if t <= 0 {
		return 0
	}
	d := max(t-e, 1)
	return Percent((20000*p + d) / (2 * d))
}

// String renders p with exactly two decimals: "83.33", "0.00", "100.00".
func (p Percent) String() string { return string(p.Append(nil)) }

// Append appends p's String form to b (no allocation beyond b's growth):
// it is also p's JSON number form.
func (p Percent) Append(b []byte) []byte {
	v := int64(p)
	if v < 0 {
		b = append(b, '-')
		v = -v
	}
	b = strconv.AppendInt(b, v/100, 10)
	frac := v % 100
	return append(b, '.', byte('0'+frac/10), byte('0'+frac%10))
}

// Tally counts a student's marks over a set of sessions.
type Tally struct {
	Present, Late, Absent, Excused int64
}

// Total is every record counted.
func (t Tally) Total() int64 { return t.Present + t.Late + t.Absent + t.Excused }

// Attended is present + late (the P of the formula).
func (t Tally) Attended() int64 { return t.Present + t.Late }

// Percentage applies the formula to t.
func (t Tally) Percentage() Percent { return Percentage(t.Attended(), t.Excused, t.Total()) }

// Eligible reports whether t's percentage reaches threshold.
func (t Tally) Eligible(threshold Percent) bool { return t.Percentage() >= threshold }

// Add returns the sum of t and u.
func (t Tally) Add(u Tally) Tally {
	return Tally{Present: t.Present + u.Present, Late: t.Late + u.Late, Absent: t.Absent + u.Absent, Excused: t.Excused + u.Excused}
}

// Count counts one mark.
func (t *Tally) Count(m Mark) {
	switch m {
	case MarkPresent:
		t.Present++
	case MarkLate:
		t.Late++
	case MarkAbsent:
		t.Absent++
	case MarkExcused:
		t.Excused++
	}
}

// CountsForPercentage reports whether a session in status s counts towards
// percentages: only closed and locked sessions do.
func CountsForPercentage(s SessionStatus) bool { return s == SessionClosed || s == SessionLocked }

// MarksWritable reports whether marks of a session in status s may be
// written by marking (open or closed); a locked session changes only
// through an approved correction.
func MarksWritable(s SessionStatus) bool { return s == SessionOpen || s == SessionClosed }

// SessionAction is a lifecycle transition of an attendance session.
type SessionAction string

// Session actions.
const (
	ActionOpen   SessionAction = "open"
	ActionClose  SessionAction = "close"
	ActionLock   SessionAction = "lock"
	ActionCancel SessionAction = "cancel"
)

// Transition returns the statuses action may start from and the status it
// leads to (DOMAIN.md: scheduled -> open -> closed -> locked, and
// scheduled|open -> cancelled). ok is false for an unknown action.
func (a SessionAction) Transition() (from []SessionStatus, to SessionStatus, ok bool) {
	switch a {
	case ActionOpen:
		return []SessionStatus{SessionScheduled}, SessionOpen, true
	case ActionClose:
		return []SessionStatus{SessionOpen}, SessionClosed, true
	case ActionLock:
		return []SessionStatus{SessionClosed}, SessionLocked, true
	case ActionCancel:
		return []SessionStatus{SessionScheduled, SessionOpen}, SessionCancelled, true
	}
	return nil, "", false
}

// LateAdjusted applies the grace-period rule: a present mark written at
// `at`, more than grace after startsAt, becomes late. Other marks are
// returned unchanged.
func LateAdjusted(m Mark, startsAt, at time.Time, grace time.Duration) Mark {
	if m == MarkPresent && at.After(startsAt.Add(grace)) {
		return MarkLate
	}
	return m
}

// ParseMark returns the Mark named s.
func ParseMark(s string) (Mark, bool) {
	switch m := Mark(s); m {
	case MarkPresent, MarkAbsent, MarkLate, MarkExcused:
		return m, true
	}
	return "", false
}

// ParseSessionStatus returns the SessionStatus named s.
func ParseSessionStatus(s string) (SessionStatus, bool) {
	switch st := SessionStatus(s); st {
	case SessionScheduled, SessionOpen, SessionClosed, SessionLocked, SessionCancelled:
		return st, true
	}
	return "", false
}

// MarkValues lists the marks, for messages and documentation.
func MarkValues() []string { return []string{"present", "absent", "late", "excused"} }

// SessionStatusValues lists the session statuses.
func SessionStatusValues() []string {
	return []string{"scheduled", "open", "closed", "locked", "cancelled"}
}

// Rules are the institution's attendance rules (configuration).
type Rules struct {
	// TimeZone is the institution's time zone.
	TimeZone *time.Location
	// Grace is the late rule's grace period.
	Grace time.Duration
	// Threshold is the default eligibility threshold.
	Threshold Percent
	// CorrectionWindowDays is how many days after a session a correction
	// may be filed.
	CorrectionWindowDays int
}

// Today returns now's calendar date in loc, at midnight UTC (the
// package's date convention).
func Today(now time.Time, loc *time.Location) time.Time {
	l := now.In(loc)
	return time.Date(l.Year(), l.Month(), l.Day(), 0, 0, 0, 0, time.UTC)
}

// Date bounds accepted for calendar dates of the academic domain (terms,
// holidays, sessions, leave, report windows), inclusive.
var (
	MinDate = time.Date(2000, time.January, 1, 0, 0, 0, 0, time.UTC)
	MaxDate = time.Date(2099, time.December, 31, 0, 0, 0, 0, time.UTC)
)

// DateRangeMessage explains a date outside MinDate..MaxDate.
const DateRangeMessage = "must be a date from 2000-01-01 to 2099-12-31 (YYYY-MM-DD)"

// ParseDate parses YYYY-MM-DD strictly (no time, no zone) and checks it is
// within MinDate..MaxDate. The result is at midnight UTC.
func ParseDate(s string) (time.Time, bool) {
	if len(s) != 10 || s[4] != '-' || s[7] != '-' {
		return time.Time{}, false
	}
	d, err := time.Parse(time.DateOnly, s)
	if err != nil || d.Before(MinDate) || d.After(MaxDate) {
		return time.Time{}, false
	}
	return d, true
}

// ISOWeekday returns 1 (Monday) .. 7 (Sunday) for d.
func ISOWeekday(d time.Time) int {
	w := int(d.Weekday())
	if w == 0 {
		return 7
	}
	return w
}

// MarshalJSON renders p as a JSON number with two decimals (83.33).
func (p Percent) MarshalJSON() ([]byte, error) { return p.Append(nil), nil }

// UnmarshalJSON parses a JSON number with at most two decimals.
func (p *Percent) UnmarshalJSON(b []byte) error {
	s := string(b)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	intPart, frac, _ := strings.Cut(s, ".")
	if len(frac) > 2 || intPart == "" {
		return errors.New("percent: want a number with at most 2 decimals")
	}
	frac += strings.Repeat("0", 2-len(frac))
	n, err := strconv.ParseInt(intPart+frac, 10, 64)
	if err != nil {
		return errors.New("percent: want a number with at most 2 decimals")
	}
	if neg {
		n = -n
	}
	*p = Percent(n)
	return nil
}
