package api

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/campshub360/edge/backend/internal/domain"
)

func sampleStudents(n int) []domain.Student {
	now := time.Date(2026, 11, 29, 8, 2, 20, 123456000, time.UTC)
	out := make([]domain.Student, n)
	for i := range out {
		out[i] = domain.Student{ID: uuid.New(), RollNumber: "CSE2024A" + itoa(100+i), FirstName: "Aarav <\"x\">", LastName: "Sharma\u2028&\x01",
			Email: "aarav.sharma@students.campshub360.example", Department: "CSE", Program: "BTECH-CSE", YearOfStudy: 3, Section: "A",
			Status: domain.StudentActive, CreatedAt: now, UpdatedAt: now}
		if i%2 == 0 {
			out[i].Email, out[i].Gender = "", domain.GenderFemale
		}
	}
	return out
}

// TestFastJSONMatchesEncodingJSON: the appenders write the same documents
// encoding/json writes for the view types (byte for byte).
func TestFastJSONMatchesEncodingJSON(t *testing.T) {
	students := sampleStudents(5)
	next := "AQIDBAUG"
	want, _ := json.Marshal(pageJSON[studentJSON]{Items: mapItems(students, toStudent), NextCursor: &next})
	if got := appendStudentPage(nil, students, &next); string(got) != string(want) {
		t.Fatalf("student page:\n got %s\nwant %s", got, want)
	}
	want, _ = json.Marshal(pageJSON[studentJSON]{Items: []studentJSON{}})
	if got := appendStudentPage(nil, nil, nil); string(got) != string(want) {
		t.Fatalf("empty page: %s vs %s", got, want)
	}
	ses := domain.AttendanceSession{ID: uuid.New(), SectionID: uuid.New(), FacultyID: uuid.New(), CourseCode: "CSE301", CourseTitle: "Operating Systems",
		SectionCode: "A", Room: "CSE-101", Date: time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC), StartsAt: time.Date(2026, 11, 2, 3, 30, 0, 0, time.UTC),
		EndsAt: time.Date(2026, 11, 2, 4, 30, 0, 0, time.UTC), Status: domain.SessionOpen, UpdatedAt: time.Now()}
	want, _ = json.Marshal(toSession(ses))
	if got := appendSession(nil, ses); string(got) != string(want) {
		t.Fatalf("session:\n got %s\nwant %s", got, want)
	}
	sum := domain.StudentSummary{StudentID: uuid.New(), From: ses.Date, To: ses.Date, Sections: []domain.SectionTally{
		{SectionID: uuid.New(), CourseCode: "CSE301", CourseTitle: "OS", SectionCode: "A", Tally: domain.Tally{Present: 2, Late: 1, Absent: 1, Excused: 1}}}}
	var a, b any
	_ = json.Unmarshal(appendSummary(nil, sum, 7500), &a)
	ref := summaryJSON{StudentID: sum.StudentID.String(), From: day(sum.From), To: day(sum.To), Threshold: 7500,
		Overall: toTally(sum.Overall(), 7500), Sections: []sectionSummaryJSON{{SectionID: sum.Sections[0].SectionID.String(),
			CourseCode: "CSE301", CourseTitle: "OS", SectionCode: "A", tallyJSON: toTally(sum.Sections[0].Tally, 7500)}}}
	raw, _ := json.Marshal(ref)
	_ = json.Unmarshal(raw, &b)
	if !reflect.DeepEqual(a, b) {
		t.Fatalf("summary:\n got %v\nwant %v", a, b)
	}
	for _, s := range []string{"", "plain", "\x00\x1f", "é€𝄞", "\xff\xfe", "<&>", "\u2028\u2029", `"\`} {
		want, _ := json.Marshal(s)
		if got := appendString(nil, s); string(got) != string(want) {
			t.Errorf("appendString(%q) = %s, want %s", s, got, want)
		}
	}
}

// TestHotEncodersDoNotAllocate proves the appenders write into a reused
// buffer without allocating.
func TestHotEncodersDoNotAllocate(t *testing.T) {
	students := sampleStudents(50)
	next := "AQIDBAUG"
	buf := appendStudentPage(nil, students, &next)
	if n := testing.AllocsPerRun(100, func() { buf = appendStudentPage(buf[:0], students, &next) }); n != 0 {
		t.Fatalf("appendStudentPage: %v allocations per page", n)
	}
	sum := domain.StudentSummary{StudentID: uuid.New(), Sections: make([]domain.SectionTally, 5)}
	buf = appendSummary(buf[:0], sum, 7500)
	if n := testing.AllocsPerRun(100, func() { buf = appendSummary(buf[:0], sum, 7500) }); n != 0 {
		t.Fatalf("appendSummary: %v allocations", n)
	}
}

// BenchmarkStudentPageJSON compares encoding a 50-student page with the
// appenders (reused buffer) and with encoding/json (the views).
func BenchmarkStudentPageJSON(b *testing.B) {
	students := sampleStudents(50)
	next := "AQIDBAUG"
	b.Run("append", func(b *testing.B) {
		b.ReportAllocs()
		buf := make([]byte, 0, 16<<10)
		for b.Loop() {
			buf = appendStudentPage(buf[:0], students, &next)
		}
	})
	b.Run("encoding_json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, _ = json.Marshal(pageJSON[studentJSON]{Items: mapItems(students, toStudent), NextCursor: &next})
		}
	})
}
