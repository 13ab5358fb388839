package api_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

type leaveView struct {
	ID        string  `json:"id"`
	StudentID string  `json:"student_id"`
	Status    string  `json:"status"`
	DecidedBy *string `json:"decided_by"`
	Note      *string `json:"note"`
}

func TestLeaveWorkflow(t *testing.T) {
	t.Parallel()
	c := newCampus(t, campusOpts{})
	// Two closed sessions with the student absent in one, present in the
	// other, and a third still scheduled.
	s1 := c.openSession(t)
	c.mark(t, s1.ID, [2]string{id(c.studentID), "absent"}, [2]string{id(c.roster[1]), "absent"})
	ok(t, c.faculty.send(t, "POST", "/api/v1/sessions/"+s1.ID+"/close", nil), 200, nil)
	s2 := c.openSession(t)
	c.mark(t, s2.ID, [2]string{id(c.studentID), "present"})
	ok(t, c.faculty.send(t, "POST", "/api/v1/sessions/"+s2.ID+"/close", nil), 200, nil)

	// The student files for themselves; a different student_id is refused.
	body := map[string]any{"type": "medical", "start_date": s1.Date, "end_date": s2.Date, "reason": "hospitalised"}
	var l leaveView
	ok(t, c.student.send(t, "POST", "/api/v1/leave", body), 201, &l)
	if l.StudentID != id(c.studentID) || l.Status != "pending" {
		t.Fatalf("filed: %+v", l)
	}
	body["student_id"] = id(c.roster[1])
	p := problemOf(t, c.student.send(t, "POST", "/api/v1/leave", body), 400)
	if !slices.Equal(fieldsOf(p), []string{"student_id"}) {
		t.Fatalf("filing for another student: %+v", p)
	}
	delete(body, "student_id")
	// Overlapping a pending application is a conflict.
	p = problemOf(t, c.student.send(t, "POST", "/api/v1/leave", body), 409)
	if !strings.HasSuffix(p.Type, "/overlap") {
		t.Fatalf("overlap: %+v", p)
	}
	for _, tc := range []struct {
		body  map[string]any
		field string
	}{
		{map[string]any{"type": "vacation", "start_date": "2030-01-01", "end_date": "2030-01-02", "reason": "x"}, "type"},
		{map[string]any{"type": "medical", "start_date": "2030-01-05", "end_date": "2030-01-02", "reason": "x"}, "start_date"},
		{map[string]any{"type": "medical", "start_date": "2030-02-30", "end_date": "2030-03-02", "reason": "x"}, "start_date"},
		{map[string]any{"type": "medical", "start_date": "2030-01-01", "end_date": "2030-01-02", "reason": "  "}, "reason"},
		{map[string]any{"type": "medical", "start_date": "2030-01-01", "end_date": "2030-01-02"}, "reason"},
	} {
		p := problemOf(t, c.student.send(t, "POST", "/api/v1/leave", tc.body), 400)
		if fieldsOf(p)[0] != tc.field {
			t.Errorf("%v: fields %v, want %s first", tc.body, fieldsOf(p), tc.field)
		}
	}

	// Visibility: the student and their teacher see it; others do not.
	ok(t, c.faculty.get(t, "/api/v1/leave/"+l.ID), 200, nil)
	problemOf(t, c.student2.get(t, "/api/v1/leave/"+l.ID), 404)
	var page struct{ Items []leaveView }
	ok(t, c.student2.get(t, "/api/v1/leave"), 200, &page)
	if len(page.Items) != 0 {
		t.Fatalf("another student lists %d applications", len(page.Items))
	}
	// Students cannot decide their own leave.
	problemOf(t, c.student.send(t, "POST", "/api/v1/leave/"+l.ID+"/approve", nil), 403)

	// Approval excuses absences within the dates; present stays.
	ok(t, c.faculty.send(t, "POST", "/api/v1/leave/"+l.ID+"/approve", map[string]string{"note": "get well"}), 200, &l)
	if l.Status != "approved" || l.DecidedBy == nil || str(l.Note) != "get well" {
		t.Fatalf("approved: %+v", l)
	}
	if c.markOf(t, s1.ID, id(c.studentID)) != "excused" || c.markOf(t, s2.ID, id(c.studentID)) != "present" ||
		c.markOf(t, s1.ID, id(c.roster[1])) != "absent" {
		t.Fatal("approval effects wrong")
	}
	problemOf(t, c.faculty.send(t, "POST", "/api/v1/leave/"+l.ID+"/approve", nil), 409)
	problemOf(t, c.faculty.send(t, "POST", "/api/v1/leave/"+l.ID+"/reject", nil), 409)
	if len(c.srv.audit.find("attendance.leave_approve")) != 1 {
		t.Fatal("the excused mark was not audited")
	}
	// A session after the leave's dates is not affected by it.
	s3 := c.openSession(t)
	ok(t, c.faculty.send(t, "POST", "/api/v1/sessions/"+s3.ID+"/close", nil), 200, nil)
	if c.markOf(t, s3.ID, id(c.studentID)) != "absent" {
		t.Fatalf("after the leave: %s", c.markOf(t, s3.ID, id(c.studentID)))
	}

	// Cancelling the approved leave reverts exactly its effects.
	ok(t, c.student.send(t, "POST", "/api/v1/leave/"+l.ID+"/cancel", nil), 200, &l)
	if l.Status != "cancelled" || c.markOf(t, s1.ID, id(c.studentID)) != "absent" || c.markOf(t, s2.ID, id(c.studentID)) != "present" {
		t.Fatalf("cancel: %+v, marks %s %s", l, c.markOf(t, s1.ID, id(c.studentID)), c.markOf(t, s2.ID, id(c.studentID)))
	}
	problemOf(t, c.student.send(t, "POST", "/api/v1/leave/"+l.ID+"/cancel", nil), 409)
	// After cancellation the dates are free again; rejection has no effect.
	ok(t, c.student.send(t, "POST", "/api/v1/leave", body), 201, &l)
	ok(t, c.faculty.send(t, "POST", "/api/v1/leave/"+l.ID+"/reject", nil), 200, &l)
	if l.Status != "rejected" || c.markOf(t, s1.ID, id(c.studentID)) != "absent" {
		t.Fatal("rejection changed marks")
	}
	problemOf(t, c.faculty2.send(t, "POST", "/api/v1/leave/"+uuid.NewString()+"/approve", nil), 404)
}

type correctionView struct {
	ID       string `json:"id"`
	FromMark string `json:"from_mark"`
	ToMark   string `json:"to_mark"`
	Status   string `json:"status"`
}

func TestCorrections(t *testing.T) {
	t.Parallel()
	c := newCampus(t, campusOpts{})
	s := c.openSession(t)
	c.mark(t, s.ID, [2]string{id(c.studentID), "absent"}, [2]string{id(c.roster[1]), "present"})
	ok(t, c.faculty.send(t, "POST", "/api/v1/sessions/"+s.ID+"/close", nil), 200, nil)
	ok(t, c.faculty.send(t, "POST", "/api/v1/sessions/"+s.ID+"/lock", nil), 200, nil)

	var cr correctionView
	body := map[string]any{"session_id": s.ID, "to_mark": "present", "reason": "I was there; the scanner failed"}
	ok(t, c.student.send(t, "POST", "/api/v1/corrections", body), 201, &cr)
	if cr.FromMark != "absent" || cr.ToMark != "present" || cr.Status != "pending" {
		t.Fatalf("filed: %+v", cr)
	}
	// One pending request per record.
	p := problemOf(t, c.student.send(t, "POST", "/api/v1/corrections", body), 409)
	if !strings.HasSuffix(p.Type, "/pending-exists") {
		t.Fatalf("second pending: %+v", p)
	}
	// from must be the current mark; to must differ from it.
	p = problemOf(t, c.faculty.send(t, "POST", "/api/v1/corrections", map[string]any{"session_id": s.ID,
		"student_id": id(c.roster[1]), "from_mark": "late", "to_mark": "absent", "reason": "x"}), 409)
	if !slices.Equal(fieldsOf(p), []string{"from_mark"}) {
		t.Fatalf("stale from_mark: %+v", p)
	}
	problemOf(t, c.faculty.send(t, "POST", "/api/v1/corrections", map[string]any{"session_id": s.ID,
		"student_id": id(c.roster[1]), "to_mark": "present", "reason": "x"}), 409)
	p = problemOf(t, c.student.send(t, "POST", "/api/v1/corrections", map[string]any{"session_id": s.ID,
		"from_mark": "absent", "to_mark": "absent", "reason": "x"}), 400)
	if !slices.Equal(fieldsOf(p), []string{"to_mark"}) {
		t.Fatalf("from = to: %+v", p)
	}
	problemOf(t, c.student2.send(t, "POST", "/api/v1/corrections", body), 409) // no record of theirs
	problemOf(t, c.student.get(t, "/api/v1/corrections/"+uuid.NewString()), 404)
	problemOf(t, c.student2.get(t, "/api/v1/corrections/"+cr.ID), 404)
	problemOf(t, c.faculty2.send(t, "POST", "/api/v1/corrections/"+cr.ID+"/approve", nil), 404)
	problemOf(t, c.student.send(t, "POST", "/api/v1/corrections/"+cr.ID+"/approve", nil), 403)

	// Approval rewrites the mark even though the session is locked, and
	// the audit trail has the mark before and after.
	ok(t, c.faculty.send(t, "POST", "/api/v1/corrections/"+cr.ID+"/approve", nil), 200, &cr)
	if cr.Status != "approved" || c.markOf(t, s.ID, id(c.studentID)) != "present" {
		t.Fatalf("approve: %+v mark %s", cr, c.markOf(t, s.ID, id(c.studentID)))
	}
	ev := c.srv.audit.find("attendance.correct")
	if len(ev) != 1 || string(ev[0].Before) != `{"mark":"absent"}` || string(ev[0].After) != `{"mark":"present"}` ||
		ev[0].EntityID != s.ID+":"+id(c.studentID) {
		t.Fatalf("correction audit: %+v", ev)
	}
	problemOf(t, c.faculty.send(t, "POST", "/api/v1/corrections/"+cr.ID+"/reject", nil), 409)

	// Approval after the mark changed meanwhile is refused.
	ok(t, c.student.send(t, "POST", "/api/v1/corrections", map[string]any{"session_id": s.ID, "to_mark": "late", "reason": "x"}), 201, &cr)
	c.exec(t, `UPDATE attendance_records SET mark = 'excused' WHERE session_id = $1 AND student_id = $2`, s.ID, c.studentID)
	p = problemOf(t, c.faculty.send(t, "POST", "/api/v1/corrections/"+cr.ID+"/approve", nil), 409)
	if !strings.HasSuffix(p.Type, "/stale-mark") {
		t.Fatalf("stale approval: %+v", p)
	}
	ok(t, c.student.send(t, "POST", "/api/v1/corrections/"+cr.ID+"/cancel", nil), 200, &cr)
	if cr.Status != "cancelled" {
		t.Fatal(cr.Status)
	}

	// The correction window: 7 days after the session.
	c.clock.Set(s.starts().Add(8 * 24 * time.Hour))
	p = problemOf(t, c.student.send(t, "POST", "/api/v1/corrections", map[string]any{"session_id": s.ID, "to_mark": "late", "reason": "x"}), 409)
	if !strings.HasSuffix(p.Type, "/window-closed") {
		t.Fatalf("outside the window: %+v", p)
	}
	var page struct{ Items []correctionView }
	ok(t, c.faculty.get(t, "/api/v1/corrections?session_id="+s.ID+"&status=cancelled"), 200, &page)
	if len(page.Items) != 1 {
		t.Fatalf("filtered corrections: %+v", page.Items)
	}
	problemOf(t, c.faculty.get(t, "/api/v1/corrections?status=done"), 400)
}
