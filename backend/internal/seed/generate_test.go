package seed

import (
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"
	_ "time/tzdata"

	"github.com/google/uuid"

	"github.com/campshub360/edge/backend/internal/domain"
)

func kolkata(t testing.TB) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(DefaultTimeZone)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// fixedNow is a Wednesday, so the attendance window has whole weeks.
func fixedNow() time.Time { return time.Date(2026, time.November, 25, 6, 30, 0, 0, time.UTC) }

func generate(t testing.TB, o Options) *Campus {
	t.Helper()
	c, err := Generate(o)
	if err != nil {
		t.Fatalf("Generate(%+v): %v", o, err)
	}
	return c
}

func TestGenerateIsDeterministic(t *testing.T) {
	o := Options{Students: 300, Weeks: 2, Seed: 42, Now: fixedNow(), Location: kolkata(t)}
	a, b := generate(t, o), generate(t, o)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("two Generate calls with the same options differ")
	}
	o.Seed = 43
	c := generate(t, o)
	if a.Students[0].ID == c.Students[0].ID {
		t.Fatal("a different seed gave the same student ids")
	}
	// Reference rows come from their own streams: the number of students
	// does not renumber departments or courses.
	o.Seed, o.Students = 42, 500
	d := generate(t, o)
	if a.Departments[0].ID != d.Departments[0].ID || a.Courses[10].ID != d.Courses[10].ID {
		t.Fatal("changing the student count renumbered reference rows")
	}
}

func TestOptionsValidate(t *testing.T) {
	bad := []Options{
		{Students: 0, Weeks: 2, Now: fixedNow(), Location: time.UTC},
		{Students: MaxStudents + 1, Weeks: 2, Now: fixedNow(), Location: time.UTC},
		{Students: 10, Weeks: -1, Now: fixedNow(), Location: time.UTC},
		{Students: 10, Weeks: MaxWeeks + 1, Now: fixedNow(), Location: time.UTC},
		{Students: 10, Weeks: 1, Location: time.UTC},
		{Students: 10, Weeks: 1, Now: fixedNow()},
	}
	for _, o := range bad {
		if _, err := Generate(o); err == nil {
			t.Errorf("Generate(%+v) accepted invalid options", o)
		}
	}
}

func TestGenerateSizes(t *testing.T) {
	for _, n := range []int{1, 7, 59, 2000, 30000} {
		weeks := 1
		if n > 2000 {
			weeks = 0
		}
		c := generate(t, Options{Students: n, Weeks: weeks, Seed: 1, Now: fixedNow(), Location: kolkata(t)})
		if len(c.Students) != n {
			t.Errorf("Students=%d: generated %d", n, len(c.Students))
		}
		checkInvariants(t, c)
	}
}

func TestGenerateDemoCampus(t *testing.T) {
	loc := kolkata(t)
	c := generate(t, Options{Students: DefaultStudents, Weeks: DefaultWeeks, Seed: 1, Now: fixedNow(), Location: loc})
	checkInvariants(t, c)

	if n := len(c.Faculty); n < 60 || n > 100 {
		t.Errorf("%d faculty, want about 80", n)
	}
	if len(c.Departments) < 6 {
		t.Errorf("%d departments", len(c.Departments))
	}
	levels := map[domain.ProgramLevel]bool{}
	for _, p := range c.Programs {
		levels[p.Level] = true
	}
	if !levels[domain.LevelUG] || !levels[domain.LevelPG] {
		t.Errorf("program levels %v, want UG and PG", levels)
	}
	years := map[int]bool{}
	for _, s := range c.Students {
		years[s.YearOfStudy] = true
	}
	for y := 1; y <= 4; y++ {
		if !years[y] {
			t.Errorf("no students in year %d", y)
		}
	}
	rollRE := regexp.MustCompile(`^[A-Z]{2,3}20[0-9]{2}[A-Z][0-9]{3}$`)
	for _, s := range c.Students {
		if !rollRE.MatchString(s.RollNumber) {
			t.Fatalf("roll number %q does not look like CSE2024A001", s.RollNumber)
		}
	}

	// Mark mix: mostly present, some of every other mark; absent marks come
	// from the system, the rest are manual.
	marks := map[domain.Mark]int{}
	for _, r := range c.Records {
		marks[r.Mark]++
		if (r.Mark == domain.MarkAbsent) != (r.Source == domain.SourceSystem) {
			t.Fatalf("mark %s with source %s", r.Mark, r.Source)
		}
		if (r.Mark == domain.MarkExcused) != (r.Reason != "") {
			t.Fatalf("mark %s with reason %q", r.Mark, r.Reason)
		}
	}
	total := len(c.Records)
	if total == 0 || marks[domain.MarkPresent]*100/total < 60 {
		t.Errorf("mark mix %v of %d: want mostly present", marks, total)
	}
	for _, m := range []domain.Mark{domain.MarkAbsent, domain.MarkLate, domain.MarkExcused} {
		if marks[m] == 0 {
			t.Errorf("no %s marks", m)
		}
	}

	// The foundation day falls inside the window and has no sessions.
	found := false
	for _, h := range c.Holidays {
		if h.Name == "Institute Foundation Day" {
			found = !h.Date.Before(c.AttendanceFrom) && h.Date.Before(c.Today)
		}
	}
	if !found {
		t.Error("no foundation day inside the attendance window")
	}

	// Slots are local times: a 09:00 slot starts at 03:30 UTC in Kolkata.
	for _, s := range c.Sessions {
		local := s.StartsAt.In(loc)
		if local.Hour() < 9 || local.Hour() >= 16 {
			t.Fatalf("session starts at %s local", local)
		}
		if local.Format(time.DateOnly) != s.Date.Format(time.DateOnly) {
			t.Fatalf("session date %s but starts %s local", s.Date.Format(time.DateOnly), local)
		}
	}
}

// checkInvariants asserts the rules the schema enforces and those it
// cannot (rosters, records only for enrolled students).
func checkInvariants(t *testing.T, c *Campus) {
	t.Helper()
	// Unique keys.
	uniq := func(what string, keys []string) {
		seen := map[string]bool{}
		for _, k := range keys {
			if seen[k] {
				t.Fatalf("duplicate %s %q", what, k)
			}
			seen[k] = true
		}
	}
	var rolls, emails, ids, fEmails, empIDs []string
	for _, s := range c.Students {
		rolls = append(rolls, s.RollNumber)
		emails = append(emails, strings.ToLower(s.Email))
		ids = append(ids, s.ID.String())
	}
	for _, f := range c.Faculty {
		fEmails = append(fEmails, strings.ToLower(f.Email))
		empIDs = append(empIDs, f.EmployeeID)
	}
	uniq("roll number", rolls)
	uniq("student email", emails)
	uniq("student id", ids)
	uniq("faculty email", fEmails)
	uniq("employee id", empIDs)

	// Exactly one current term, containing today.
	current := 0
	for _, term := range c.Terms {
		if !term.StartDate.Before(term.EndDate) {
			t.Fatalf("term %s does not start before it ends", term.Name)
		}
		if term.IsCurrent {
			current++
			if c.Today.Before(term.StartDate) || c.Today.After(term.EndDate) {
				t.Fatalf("current term %s does not contain %s", term.Name, c.Today)
			}
		}
	}
	if current != 1 {
		t.Fatalf("%d current terms", current)
	}

	// No double booking of a section, faculty member or room.
	type key struct {
		who string
		day int
	}
	booked := map[key][]domain.TimetableSlot{}
	for _, s := range c.Slots {
		if s.Weekday < 1 || s.Weekday > 6 || s.Start >= s.End {
			t.Fatalf("bad slot %+v", s)
		}
		for _, k := range []key{{"s" + s.SectionID.String(), s.Weekday}, {"f" + s.FacultyID.String(), s.Weekday}, {"r" + s.Room, s.Weekday}} {
			for _, o := range booked[k] {
				if s.Start < o.End && o.Start < s.End {
					t.Fatalf("double booking of %s on day %d: %v-%v and %v-%v", k.who, k.day, o.Start, o.End, s.Start, s.End)
				}
			}
			booked[k] = append(booked[k], s)
		}
	}

	// Enrollments match department, year and section letter.
	students := map[uuid.UUID]Student{}
	for _, s := range c.Students {
		students[s.ID] = s
	}
	courses := map[uuid.UUID]domain.Course{}
	for _, cr := range c.Courses {
		courses[cr.ID] = cr
	}
	sections := map[uuid.UUID]domain.Section{}
	for _, s := range c.Sections {
		sections[s.ID] = s
	}
	enrolled := map[[2]uuid.UUID]bool{}
	yearOf := map[uuid.UUID]int{}
	perSection := map[uuid.UUID]int{}
	for _, e := range c.Enrollments {
		st, sec := students[e.StudentID], sections[e.SectionID]
		if st.DepartmentID != courses[sec.CourseID].DepartmentID || st.Section != sec.Code {
			t.Fatalf("student %s enrolled in a section of another department or letter", st.RollNumber)
		}
		if y, ok := yearOf[sec.ID]; ok && y != st.YearOfStudy {
			t.Fatalf("section %s mixes years %d and %d", sec.ID, y, st.YearOfStudy)
		}
		yearOf[sec.ID] = st.YearOfStudy
		if (e.Status == domain.EnrollmentEnrolled) != (st.Status == domain.StudentActive) {
			t.Fatalf("student %s (%s) has enrollment %s", st.RollNumber, st.Status, e.Status)
		}
		if e.Status == domain.EnrollmentEnrolled {
			enrolled[[2]uuid.UUID{e.StudentID, e.SectionID}] = true
			perSection[e.SectionID]++
		}
	}
	for id, n := range perSection {
		if n > sections[id].Capacity {
			t.Fatalf("section %s has %d enrolled over capacity %d", id, n, sections[id].Capacity)
		}
	}

	// Sessions: none on holidays or Sundays, past ones closed, today's
	// scheduled; one per slot per day.
	holidays := map[time.Time]bool{}
	for _, h := range c.Holidays {
		holidays[h.Date] = true
	}
	sessions := map[uuid.UUID]domain.AttendanceSession{}
	slotDay := map[string]bool{}
	for _, s := range c.Sessions {
		if holidays[s.Date] || s.Date.Weekday() == time.Sunday {
			t.Fatalf("session on %s (holiday or Sunday)", s.Date.Format(time.DateOnly))
		}
		wantStatus := domain.SessionClosed
		if !s.Date.Before(c.Today) {
			wantStatus = domain.SessionScheduled
		}
		if s.Status != wantStatus || !s.StartsAt.Before(s.EndsAt) {
			t.Fatalf("session %+v", s)
		}
		k := s.SlotID.String() + s.Date.String()
		if slotDay[k] {
			t.Fatalf("two sessions of slot %s on %s", s.SlotID, s.Date)
		}
		slotDay[k] = true
		sessions[s.ID] = s
	}

	// Records: one per enrolled student of each closed session, nobody else.
	perSession := map[uuid.UUID]int{}
	seen := map[[2]uuid.UUID]bool{}
	for _, r := range c.Records {
		s, ok := sessions[r.SessionID]
		if !ok || s.Status != domain.SessionClosed || !r.SessionDate.Equal(s.Date) {
			t.Fatalf("record for unknown, open or misdated session %s", r.SessionID)
		}
		if !enrolled[[2]uuid.UUID{r.StudentID, s.SectionID}] {
			t.Fatalf("record for student %s not enrolled in section %s", r.StudentID, s.SectionID)
		}
		k := [2]uuid.UUID{r.SessionID, r.StudentID}
		if seen[k] {
			t.Fatalf("two records for one student in one session")
		}
		seen[k] = true
		perSession[r.SessionID]++
	}
	for id, s := range sessions {
		if s.Status == domain.SessionClosed && perSession[id] != perSection[s.SectionID] {
			t.Fatalf("session %s has %d records for %d enrolled", id, perSession[id], perSection[s.SectionID])
		}
	}
}

func TestStreamedRecordsEqualMaterialized(t *testing.T) {
	o := Options{Students: 300, Weeks: 2, Seed: 42, Now: fixedNow(), Location: kolkata(t)}
	a := generate(t, o)
	o.StreamRecords = true
	b := generate(t, o)
	if b.Records != nil || b.NumRecords != len(a.Records) || len(a.Records) == 0 {
		t.Fatalf("streamed campus: %d materialized, NumRecords %d, want %d", len(b.Records), b.NumRecords, len(a.Records))
	}
	i := 0
	for r := range b.EachRecord {
		if r != a.Records[i] {
			t.Fatalf("record %d: streamed %+v, materialized %+v", i, r, a.Records[i])
		}
		i++
	}
	if i != len(a.Records) {
		t.Fatalf("streamed %d records, want %d", i, len(a.Records))
	}
}

func TestSectionSizeAndPresets(t *testing.T) {
	o := Options{Students: 4000, Weeks: 0, Seed: 1, Now: fixedNow(), Location: kolkata(t)}
	small := generate(t, o)
	o.SectionSize = 175
	large := generate(t, o)
	if len(large.Sections) >= len(small.Sections) {
		t.Fatalf("sections of up to 175 (%d) are not fewer than of up to 60 (%d)", len(large.Sections), len(small.Sections))
	}
	o.SectionSize = MaxSectionSize + 1
	if o.Validate() == nil {
		t.Fatal("section size above the maximum accepted")
	}
	p, err := PresetNamed("scale")
	if err != nil || p.Students != 50000 || !p.Stream {
		t.Fatalf("scale preset: %+v, %v", p, err)
	}
	if _, err := PresetNamed("huge"); err == nil {
		t.Fatal("unknown preset accepted")
	}
}
