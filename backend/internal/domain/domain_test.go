package domain

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

// TestPercentageVectors checks DOMAIN.md's test vectors and the rounding
// rule (half-up to 2 decimals, in integers).
func TestPercentageVectors(t *testing.T) {
	for _, tc := range []struct {
		name    string
		p, e, t int64
		want    string
	}{
		{"75 of 100", 75, 0, 100, "75.00"},
		{"75 of 100 with 10 excused", 75, 10, 100, "83.33"},
		{"nothing", 0, 0, 0, "0.00"},
		{"present, absent, late", 2, 0, 3, "66.67"},
		{"all excused", 0, 3, 3, "0.00"},
		{"all present", 5, 0, 5, "100.00"},
		{"half-up at .xx5", 1, 0, 8, "12.50"}, // 12.5 exactly
		{"1 of 3", 1, 0, 3, "33.33"},
		{"1 of 6", 1, 0, 6, "16.67"}, // 16.666.. -> up
		{"1 of 16", 1, 0, 16, "6.25"},
		{"1 of 32", 1, 0, 32, "3.13"}, // 3.125 -> half-up
		{"1 of 64", 1, 0, 64, "1.56"}, // 1.5625 -> 1.56
		{"2 of 3 with 1 excused of 4", 2, 1, 4, "66.67"},
	} {
		got := Percentage(tc.p, tc.e, tc.t)
		if got.String() != tc.want {
			t.Errorf("%s: Percentage(%d, %d, %d) = %s, want %s", tc.name, tc.p, tc.e, tc.t, got, tc.want)
		}
	}
	tally := Tally{Present: 1, Absent: 1, Late: 1}
	if tally.Percentage().String() != "66.67" || tally.Eligible(DefaultThreshold) {
		t.Errorf("{present, absent, late}: %s, eligible %v", tally.Percentage(), tally.Eligible(DefaultThreshold))
	}
	if !(Tally{Present: 75, Absent: 25}).Eligible(DefaultThreshold) {
		t.Error("75.00% is eligible at a 75% threshold")
	}
}

func TestPercentJSON(t *testing.T) {
	for _, p := range []Percent{0, 1, 7500, 8333, 10000, 6667} {
		b, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		var back Percent
		if err := json.Unmarshal(b, &back); err != nil || back != p {
			t.Errorf("%d -> %s -> %d, %v", p, b, back, err)
		}
	}
	var p Percent
	for _, bad := range []string{`"75"`, `7.555`, `1e2`, `abc`} {
		if json.Unmarshal([]byte(bad), &p) == nil {
			t.Errorf("Percent accepted %s", bad)
		}
	}
}

func TestSessionTransitions(t *testing.T) {
	all := []SessionStatus{SessionScheduled, SessionOpen, SessionClosed, SessionLocked, SessionCancelled}
	want := map[SessionAction]map[SessionStatus]SessionStatus{
		ActionOpen:   {SessionScheduled: SessionOpen},
		ActionClose:  {SessionOpen: SessionClosed},
		ActionLock:   {SessionClosed: SessionLocked},
		ActionCancel: {SessionScheduled: SessionCancelled, SessionOpen: SessionCancelled},
	}
	for action, moves := range want {
		from, to, ok := action.Transition()
		if !ok {
			t.Fatalf("%s unknown", action)
		}
		for _, st := range all {
			allowed := false
			for _, f := range from {
				allowed = allowed || f == st
			}
			if next, legal := moves[st]; legal != allowed || (legal && next != to) {
				t.Errorf("%s from %s: allowed %v -> %s", action, st, allowed, to)
			}
		}
	}
	if _, _, ok := SessionAction("reopen").Transition(); ok {
		t.Error("unknown action accepted")
	}
	if MarksWritable(SessionLocked) || MarksWritable(SessionScheduled) || !MarksWritable(SessionClosed) || !MarksWritable(SessionOpen) {
		t.Error("MarksWritable")
	}
	if CountsForPercentage(SessionOpen) || !CountsForPercentage(SessionLocked) {
		t.Error("CountsForPercentage")
	}
}

func TestRequestTransitions(t *testing.T) {
	if from, to, _ := LeaveTransition(DecisionCancel); len(from) != 2 || to != RequestCancelled {
		t.Error("leave cancel: pending|approved -> cancelled")
	}
	if from, _, _ := CorrectionTransition(DecisionCancel); len(from) != 1 || from[0] != RequestPending {
		t.Error("correction cancel: pending only")
	}
	if _, _, ok := LeaveTransition("escalate"); ok {
		t.Error("unknown decision accepted")
	}
}

func TestLateRule(t *testing.T) {
	start := time.Date(2026, 11, 2, 4, 30, 0, 0, time.UTC)
	grace := 5 * time.Minute
	if LateAdjusted(MarkPresent, start, start.Add(5*time.Minute), grace) != MarkPresent {
		t.Error("exactly at the grace period is still present")
	}
	if LateAdjusted(MarkPresent, start, start.Add(5*time.Minute+time.Second), grace) != MarkLate {
		t.Error("after the grace period is late")
	}
	if LateAdjusted(MarkAbsent, start, start.Add(time.Hour), grace) != MarkAbsent {
		t.Error("only present becomes late")
	}
}

func TestParseDate(t *testing.T) {
	for _, ok := range []string{"2026-11-29", "2000-01-01", "2099-12-31", "2028-02-29"} {
		if _, good := ParseDate(ok); !good {
			t.Errorf("ParseDate(%q) rejected", ok)
		}
	}
	for _, bad := range []string{"", "2026-11-31", "2027-02-29", "1999-12-31", "2100-01-01", "26-11-29", "2026/11/29", "2026-11-29T00:00:00Z", " 2026-11-29"} {
		if _, good := ParseDate(bad); good {
			t.Errorf("ParseDate(%q) accepted", bad)
		}
	}
	loc, _ := time.LoadLocation("Asia/Kolkata")
	// 20:00 UTC on 31 January is 1 February in Kolkata.
	if d := Today(time.Date(2031, 1, 31, 20, 0, 0, 0, time.UTC), loc); d.Format(time.DateOnly) != "2031-02-01" {
		t.Errorf("Today = %s", d)
	}
}

func TestInputValidation(t *testing.T) {
	in := StudentInput{RollNumber: " cse2026a001 ", FirstName: "Asha", LastName: "Rao", Program: "btech-cse", YearOfStudy: 1, Section: "a"}
	in.Normalize()
	if err := in.Validate(); err != nil || in.RollNumber != "CSE2026A001" || in.Status != "ACTIVE" {
		t.Fatalf("valid input: %+v %v", in, err)
	}
	bad := StudentInput{RollNumber: "x", FirstName: " ", LastName: "a\x00b", Email: "nope", Gender: "x", Program: "1", YearOfStudy: 7, Section: "AB", Status: "GONE"}
	var inv *InvalidError
	if err := bad.Validate(); !errors.As(err, &inv) {
		t.Fatal(err)
	}
	fields := map[string]bool{}
	for _, v := range inv.Violations {
		fields[v.Field] = true
	}
	for _, f := range []string{"roll_number", "first_name", "last_name", "email", "gender", "program", "year_of_study", "section", "status"} {
		if !fields[f] {
			t.Errorf("no violation for %s: %v", f, inv.Violations)
		}
	}
	if !strings.HasPrefix(inv.Error(), "invalid input: roll_number: ") {
		t.Errorf("Error() = %q", inv.Error())
	}
	if (StudentQuery{Page: PageQuery{Limit: 0}}).Validate() == nil {
		t.Error("limit 0 accepted")
	}
	c := CourseInput{Code: "cs101", Title: "x", Credits: 3.5, Department: "cse"}
	if err := c.Validate(); err != nil {
		t.Errorf("3.5 credits: %v", err)
	}
	c.Credits = 3.55
	if c.Validate() == nil {
		t.Error("3.55 credits accepted")
	}
	if err := (&CorrectionInput{SessionID: [16]byte{1}, StudentID: [16]byte{1}, FromMark: MarkAbsent, ToMark: MarkAbsent, Reason: "x"}).Validate(); err == nil {
		t.Error("from = to accepted")
	}
	if (Window{From: time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC), To: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}).Validate() == nil {
		t.Error("from > to accepted")
	}
	var conflict error = Conflict("duplicate", "code", "exists")
	if !errors.Is(conflict, ErrConflict) {
		t.Error("ConflictError does not match ErrConflict")
	}
}

func TestValidDepartmentCode(t *testing.T) {
	for _, ok := range []string{"CSE", "ME", "MATH", "A1", "ABCDEFGHIJ"} {
		if !ValidDepartmentCode(ok) {
			t.Errorf("ValidDepartmentCode(%q) = false", ok)
		}
	}
	for _, bad := range []string{"", "C", "cse", "1CS", "CS-E", "ABCDEFGHIJK", "ÇSE", "CS E"} {
		if ValidDepartmentCode(bad) {
			t.Errorf("ValidDepartmentCode(%q) = true", bad)
		}
	}
}

func TestPersonalDataShapes(t *testing.T) {
	for s, want := range map[string]bool{"+91 98450 12345": true, "080-2345-6789": true, "(080) 2345.6789": true,
		"12345": false, "+1234567890123456": false, "call me": false, "98450 12345 ext 4": false, "": false} {
		if got := ValidPhone(s); got != want {
			t.Errorf("ValidPhone(%q) = %v", s, got)
		}
	}
	today := time.Date(2026, 11, 29, 0, 0, 0, 0, time.UTC)
	for s, want := range map[string]bool{"2007-08-15": true, "2026-11-29": true, "2026-11-30": false, "1900-01-01": false,
		"1900-01-02": true, "2007-02-30": false, "15-08-2007": false} {
		if _, got := ParseDateOfBirth(s, today); got != want {
			t.Errorf("ParseDateOfBirth(%q) = %v", s, got)
		}
	}
}
