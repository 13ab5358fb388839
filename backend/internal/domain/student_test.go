package domain

import (
	"errors"
	"strings"
	"testing"
)

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

func TestStudentQueryValidate(t *testing.T) {
	ok := StudentQuery{Limit: DefaultPageLimit, Filter: StudentFilter{Department: "CSE", Year: 4}}
	if err := ok.Validate(); err != nil {
		t.Fatalf("valid query rejected: %v", err)
	}
	bad := StudentQuery{Limit: MaxPageLimit + 1, Filter: StudentFilter{Department: "c", Year: 7}}
	var inv *InvalidError
	if err := bad.Validate(); !errors.As(err, &inv) {
		t.Fatalf("got %v, want *InvalidError", err)
	}
	fields := map[string]bool{}
	for _, v := range inv.Violations {
		fields[v.Field] = true
	}
	for _, f := range []string{"limit", "department", "year"} {
		if !fields[f] {
			t.Errorf("violation for %s missing: %v", f, inv.Violations)
		}
	}
	if !strings.HasPrefix(inv.Error(), "invalid input: limit: ") {
		t.Errorf("Error() = %q", inv.Error())
	}
	if (StudentQuery{Limit: MinPageLimit - 1}).Validate() == nil {
		t.Error("limit 0 accepted")
	}
}

func TestLimitMessageMatchesBounds(t *testing.T) {
	if !strings.Contains(LimitMessage, "1 to 500") || MinPageLimit != 1 || MaxPageLimit != 500 {
		t.Fatalf("LimitMessage %q out of step with the bounds %d..%d", LimitMessage, MinPageLimit, MaxPageLimit)
	}
	if !strings.Contains(YearMessage, "1 to 6") || MinYearOfStudy != 1 || MaxYearOfStudy != 6 {
		t.Fatalf("YearMessage %q out of step with the bounds", YearMessage)
	}
}
