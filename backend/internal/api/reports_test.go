package api_test

import (
	"context"
	"encoding/csv"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/campshub360/edge/backend/internal/domain"
)

type tallyView struct {
	Present    int64   `json:"present"`
	Late       int64   `json:"late"`
	Absent     int64   `json:"absent"`
	Excused    int64   `json:"excused"`
	Total      int64   `json:"total"`
	Percentage float64 `json:"percentage"`
	Eligible   bool    `json:"eligible"`
}

type summaryView struct {
	StudentID string    `json:"student_id"`
	From      string    `json:"from"`
	To        string    `json:"to"`
	Threshold float64   `json:"threshold"`
	Overall   tallyView `json:"overall"`
	Sections  []struct {
		SectionID string `json:"section_id"`
		tallyView
	} `json:"sections"`
}

// TestPercentageVectorsThroughTheAPI drives DOMAIN.md's test vectors
// through marking, closing and the summary endpoint.
func TestPercentageVectorsThroughTheAPI(t *testing.T) {
	t.Parallel()
	c := newCampus(t, campusOpts{})
	var first, last string
	closed := func(marks ...string) {
		for i, m := range marks {
			s := c.openSession(t)
			if first == "" {
				first = s.Date
			}
			last = s.Date
			c.mark(t, s.ID, [2]string{id(c.studentID), m}, [2]string{id(c.roster[1]), []string{"present", "absent"}[i%2]})
			ok(t, c.faculty.send(t, "POST", "/api/v1/sessions/"+s.ID+"/close", nil), 200, nil)
		}
	}
	summary := func() summaryView {
		var s summaryView
		ok(t, c.student.get(t, "/api/v1/me/attendance?section_id="+id(c.sec.ID)+"&from="+first+"&to="+last), 200, &s)
		return s
	}
	// {present, absent, late} -> 66.67, not eligible.
	closed("present", "absent", "late")
	s := summary()
	if s.Overall.Percentage != 66.67 || s.Overall.Eligible || s.Overall.Total != 3 || len(s.Sections) != 1 || s.Threshold != 75 {
		t.Fatalf("{present, absent, late}: %+v", s)
	}
	// An open (not yet closed) session does not count.
	open := c.openSession(t)
	c.mark(t, open.ID, [2]string{id(c.studentID), "absent"})
	last = open.Date
	if s := summary(); s.Overall.Total != 3 {
		t.Fatalf("an open session counted: %+v", s.Overall)
	}
	// Excused is taken out of the denominator: P=2, E=1, T=4 -> 66.67;
	// then P=3, E=1, T=5 -> 75.00 and eligible.
	ok(t, c.faculty.send(t, "POST", "/api/v1/sessions/"+open.ID+"/cancel", nil), 200, nil)
	closed("excused")
	if s := summary(); s.Overall.Percentage != 66.67 || s.Overall.Excused != 1 {
		t.Fatalf("with one excused: %+v", s.Overall)
	}
	closed("present")
	if s := summary(); s.Overall.Percentage != 75 || !s.Overall.Eligible {
		t.Fatalf("3 of 4 counted: %+v", s.Overall)
	}
	// The same student through /students/{id}/attendance, as their
	// teacher and as an administrator with another threshold.
	var viaFaculty, viaAdmin summaryView
	q := "?section_id=" + id(c.sec.ID) + "&from=" + first + "&to=" + last
	ok(t, c.faculty.get(t, "/api/v1/students/"+id(c.studentID)+"/attendance"+q), 200, &viaFaculty)
	ok(t, c.admin.get(t, "/api/v1/students/"+id(c.studentID)+"/attendance"+q+"&threshold=80"), 200, &viaAdmin)
	if viaFaculty.Overall != summary().Overall || viaAdmin.Overall.Eligible || viaAdmin.Threshold != 80 {
		t.Fatalf("summaries differ: %+v %+v", viaFaculty.Overall, viaAdmin.Overall)
	}
	// A window with nothing in it: 0.00.
	var empty summaryView
	ok(t, c.student.get(t, "/api/v1/me/attendance?section_id="+id(c.sec.ID)+"&from=2001-01-01&to=2001-01-31"), 200, &empty)
	if empty.Overall.Percentage != 0 || empty.Overall.Total != 0 || empty.Overall.Eligible {
		t.Fatalf("empty window: %+v", empty.Overall)
	}
	// Scoping and bad input.
	problemOf(t, c.student.get(t, "/api/v1/students/"+id(c.roster[1])+"/attendance"), 404)
	problemOf(t, c.student2.get(t, "/api/v1/students/"+id(c.studentID)+"/attendance"+q), 404)
	problemOf(t, c.faculty2.get(t, "/api/v1/students/"+id(c.studentID)+"/attendance"+q), 404)
	problemOf(t, c.registrar.get(t, "/api/v1/students/"+id(c.studentID)+"/attendance"), 403)
	for _, tc := range []struct{ query, field string }{
		{"?from=" + last + "&to=" + first, "from"},
		{"?from=2026-02-30", "from"},
		{"?to=31-12-2026", "to"},
		{"?threshold=101", "threshold"},
		{"?threshold=7.555", "threshold"},
		{"?section_id=nope", "section_id"},
		{"?color=red", "color"},
	} {
		if first == last && tc.field == "from" && strings.Contains(tc.query, "to="+first) {
			continue
		}
		p := problemOf(t, c.student.get(t, "/api/v1/me/attendance"+tc.query), 400)
		if fieldsOf(p)[0] != tc.field {
			t.Errorf("%s: fields %v", tc.query, fieldsOf(p))
		}
	}
}

// expectedTallies counts, independently of the report code, every roster
// student's marks in the section's closed and locked sessions.
func expectedTallies(t *testing.T, c *campus) map[string]domain.Tally {
	t.Helper()
	rows, err := c.db.Pool.Query(context.Background(), `SELECT r.student_id::text, r.mark FROM attendance_records r
		JOIN attendance_sessions s ON s.id = r.session_id WHERE s.section_id = $1 AND s.status IN ('closed', 'locked')`, c.sec.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]domain.Tally{}
	for _, st := range c.roster {
		out[id(st)] = domain.Tally{}
	}
	for rows.Next() {
		var st, m string
		if err := rows.Scan(&st, &m); err != nil {
			t.Fatal(err)
		}
		if _, ok := out[st]; !ok {
			continue
		}
		tl := out[st]
		tl.Count(domain.Mark(m))
		out[st] = tl
	}
	return out
}

func TestSectionReportShortagesAndExport(t *testing.T) {
	t.Parallel()
	c := newCampus(t, campusOpts{weeks: 2})
	want := expectedTallies(t, c)
	// A threshold that puts about half the roster below it.
	var pcts []int64
	for _, w := range want {
		pcts = append(pcts, int64(w.Percentage()))
	}
	slices.Sort(pcts)
	threshold := domain.Percent(pcts[len(pcts)/2])
	if int64(threshold) == pcts[0] {
		i := slices.IndexFunc(pcts, func(p int64) bool { return p > pcts[0] })
		if i < 0 {
			t.Fatalf("every roster student has the same percentage %v", pcts)
		}
		threshold = domain.Percent(pcts[i])
	}
	thr := "threshold=" + threshold.String()
	var rep struct {
		Section struct {
			ID string `json:"id"`
		} `json:"section"`
		Threshold float64 `json:"threshold"`
		Sessions  int     `json:"sessions"`
		Eligible  int     `json:"eligible"`
		Students  []struct {
			StudentID string `json:"student_id"`
			tallyView
		} `json:"students"`
	}
	r := c.faculty.get(t, "/api/v1/sections/"+id(c.sec.ID)+"/attendance?"+thr)
	ok(t, r, 200, &rep)
	if r.header.Get("Cache-Control") != "private, no-cache" || !strings.Contains(r.header.Get("Surrogate-Key"), "section:"+id(c.sec.ID)) {
		t.Fatalf("report headers: %v", r.header)
	}
	if len(rep.Students) != len(c.roster) || rep.Sessions == 0 || rep.Threshold != float64(threshold)/100 {
		t.Fatalf("report: %d students (roster %d), %d sessions, threshold %v", len(rep.Students), len(c.roster), rep.Sessions, rep.Threshold)
	}
	eligible := 0
	var below []string
	for _, s := range rep.Students {
		w := want[s.StudentID]
		pct := float64(w.Percentage()) / 100
		if s.Present != w.Present || s.Late != w.Late || s.Absent != w.Absent || s.Excused != w.Excused || s.Percentage != pct ||
			s.Eligible != w.Eligible(threshold) {
			t.Fatalf("student %s: got %+v, want %+v (%.2f)", s.StudentID, s.tallyView, w, pct)
		}
		if s.Eligible {
			eligible++
		} else {
			below = append(below, s.StudentID)
		}
	}
	if rep.Eligible != eligible {
		t.Fatalf("eligible %d, want %d", rep.Eligible, eligible)
	}
	if len(below) == 0 {
		t.Fatal("nobody below the threshold; shortages untested")
	}
	problemOf(t, c.faculty2.get(t, "/api/v1/sections/"+id(c.sec.ID)+"/attendance"), 404)
	problemOf(t, c.student.get(t, "/api/v1/sections/"+id(c.sec.ID)+"/attendance"), 403)
	ok(t, c.auditor.get(t, "/api/v1/sections/"+id(c.sec.ID)+"/attendance"), 200, nil)

	// Shortages of the section: exactly the students below, lowest first,
	// across pages.
	var got []string
	var lastPct float64 = -1
	cursor := ""
	for range 50 {
		var page struct {
			Items []struct {
				StudentID string `json:"student_id"`
				tallyView
			}
			NextCursor *string `json:"next_cursor"`
		}
		ok(t, c.faculty.get(t, "/api/v1/attendance/shortages?limit=3&"+thr+"&section_id="+id(c.sec.ID)+cursor), 200, &page)
		for _, it := range page.Items {
			if it.Percentage < lastPct || it.Eligible {
				t.Fatalf("shortage order or eligibility: %+v after %.2f", it, lastPct)
			}
			lastPct = it.Percentage
			got = append(got, it.StudentID)
		}
		if page.NextCursor == nil {
			break
		}
		cursor = "&cursor=" + *page.NextCursor
	}
	slices.Sort(got)
	slices.Sort(below)
	if !slices.Equal(got, below) {
		t.Fatalf("shortages %v, want %v", got, below)
	}
	// Everyone is below a 100.01% threshold... which is out of range.
	problemOf(t, c.faculty.get(t, "/api/v1/attendance/shortages?threshold=100.01"), 400)

	// The overview counts the term; a faculty member's covers their sections.
	var ov struct {
		Sections         int            `json:"sections"`
		SessionsByStatus map[string]int `json:"sessions_by_status"`
		Overall          tallyView      `json:"overall"`
		BelowThreshold   int            `json:"below_threshold"`
		Departments      []struct{ Code string }
	}
	ok(t, c.admin.get(t, "/api/v1/attendance/overview"), 200, &ov)
	var closedSessions, records int
	if err := c.db.Pool.QueryRow(context.Background(), `SELECT (SELECT count(*) FROM attendance_sessions WHERE status = 'closed'),
		(SELECT count(*) FROM attendance_records)`).Scan(&closedSessions, &records); err != nil {
		t.Fatal(err)
	}
	if ov.SessionsByStatus["closed"] != closedSessions || ov.Overall.Total != int64(records) || ov.Sections != len(c.data.Sections) || len(ov.Departments) == 0 {
		t.Fatalf("overview: %+v (closed %d, records %d)", ov, closedSessions, records)
	}
	ok(t, c.faculty.get(t, "/api/v1/attendance/overview"), 200, &ov)
	if ov.Overall.Total >= int64(records) {
		t.Fatal("a faculty member's overview covers the whole term")
	}
	problemOf(t, c.student.get(t, "/api/v1/attendance/overview"), 403)
	problemOf(t, c.admin.get(t, "/api/v1/attendance/overview?term_id="+uuid.NewString()), 400)

	// The CSV export holds every record of the section.
	r = c.faculty.get(t, "/api/v1/sections/"+id(c.sec.ID)+"/attendance.csv")
	if r.status != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), "text/csv") {
		t.Fatalf("export: %d %v", r.status, r.header)
	}
	recs, err := csv.NewReader(strings.NewReader(string(r.body))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := c.db.Pool.QueryRow(context.Background(), `SELECT count(*) FROM attendance_records r JOIN attendance_sessions s ON s.id = r.session_id
		WHERE s.section_id = $1`, c.sec.ID).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if len(recs) != n+1 || recs[0][0] != "session_id" || len(recs[1]) != 12 {
		t.Fatalf("export: %d rows, want %d + header", len(recs), n)
	}
	problemOf(t, c.faculty2.get(t, "/api/v1/sections/"+id(c.sec.ID)+"/attendance.csv"), 404)
	problemOf(t, c.faculty.get(t, "/api/v1/sections/"+id(c.sec.ID)+"/attendance.csv?from=2026-05-01&to=2026-04-01"), 400)
}
