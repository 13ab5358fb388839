package api_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/campshub360/edge/backend/internal/authz"
)

// studentClient returns a client for an enrolled student of c.sec (with a
// users row, so marked_by references hold).
func (c *campus) studentClient(t *testing.T, student uuid.UUID) *client {
	t.Helper()
	var uid uuid.UUID
	err := c.db.Pool.QueryRow(context.Background(), `INSERT INTO users (email, password_hash, role) VALUES ($1, $2, 'student') RETURNING id`,
		student.String()+"@test.campshub360.example", testPassHash).Scan(&uid)
	if err != nil {
		t.Fatal(err)
	}
	return c.srv.as(c.srv.tokens.Add("tok-"+student.String(), &authz.Principal{UserID: uid, Role: authz.RoleStudent, StudentID: student}))
}

func TestSessionLifecycleIsCompareAndSet(t *testing.T) {
	t.Parallel()
	c := newCampus(t, campusOpts{})
	s := c.newSession(t)
	if s.Status != "scheduled" || s.SlotID != nil {
		t.Fatalf("new session: %+v", s)
	}
	path := "/api/v1/sessions/" + s.ID
	for _, action := range []string{"close", "lock"} {
		p := problemOf(t, c.faculty.send(t, "POST", path+"/"+action, nil), 409)
		if !strings.HasSuffix(p.Type, "/illegal-transition") || !slices.Equal(fieldsOf(p), []string{"status"}) || !strings.Contains(p.Detail, "scheduled") {
			t.Fatalf("%s a scheduled session: %+v", action, p)
		}
	}
	problemOf(t, c.faculty2.send(t, "POST", path+"/open", nil), 404) // not their section
	problemOf(t, c.student.send(t, "POST", path+"/open", nil), 403)  // not their role
	problemOf(t, c.anon.send(t, "POST", path+"/open", nil), 401)
	for _, step := range []struct{ action, status string }{{"open", "open"}, {"close", "closed"}, {"lock", "locked"}} {
		var got sessionView
		ok(t, c.faculty.send(t, "POST", path+"/"+step.action, nil), 200, &got)
		if got.Status != step.status {
			t.Fatalf("%s: status %s", step.action, got.Status)
		}
		// Repeating it is not a transition.
		problemOf(t, c.faculty.send(t, "POST", path+"/"+step.action, nil), 409)
	}
	problemOf(t, c.admin.send(t, "POST", path+"/cancel", nil), 409) // locked
	// scheduled -> cancelled; open -> cancelled.
	s2 := c.newSession(t)
	var got sessionView
	ok(t, c.admin.send(t, "POST", "/api/v1/sessions/"+s2.ID+"/cancel", nil), 200, &got)
	if got.Status != "cancelled" {
		t.Fatal(got.Status)
	}
	problemOf(t, c.faculty.send(t, "POST", "/api/v1/sessions/"+s2.ID+"/open", nil), 409)
	s3 := c.openSession(t)
	ok(t, c.faculty.send(t, "POST", "/api/v1/sessions/"+s3.ID+"/cancel", nil), 200, &got)
	// Bodies are optional but must be JSON objects without fields.
	problemOf(t, c.faculty.send(t, "POST", "/api/v1/sessions/"+s3.ID+"/open", map[string]any{"force": true}), 400)
	if n := len(c.srv.audit.find("session.open")); n != 2 {
		t.Fatalf("%d session.open audit events, want 2", n)
	}
	// Concurrent opens of one session: exactly one wins.
	s4 := c.newSession(t)
	results := make(chan int, 8)
	for range 8 {
		go func() { results <- c.faculty.send(t, "POST", "/api/v1/sessions/"+s4.ID+"/open", nil).status }()
	}
	wins := 0
	for range 8 {
		switch st := <-results; st {
		case 200:
			wins++
		case 409:
		default:
			t.Errorf("concurrent open: status %d", st)
		}
	}
	if wins != 1 {
		t.Fatalf("%d concurrent opens succeeded, want 1", wins)
	}
}

func TestBulkMarking(t *testing.T) {
	t.Parallel()
	c := newCampus(t, campusOpts{})
	s := c.openSession(t)
	r0, r1, r2 := id(c.roster[0]), id(c.roster[1]), id(c.roster[2])
	outsider := id(c.student2ID)

	c.clock.Add(2 * time.Minute)
	res := c.mark(t, s.ID, [2]string{r0, "present"}, [2]string{r1, "absent"}, [2]string{outsider, "present"})
	if res.Counts.Created != 2 || res.Counts.Errors != 1 || res.Status != "open" {
		t.Fatalf("first marking: %+v", res)
	}
	if res.Results[0].Result != "created" || str(res.Results[0].Mark) != "present" || res.Results[0].Previous != nil ||
		res.Results[2].Previous != nil || res.Results[2].Result != "error" || str(res.Results[2].Error) != "not_enrolled" || res.Results[2].StudentID != outsider {
		t.Fatalf("per-row results: %+v", res.Results)
	}
	// The same marks again change nothing; a new mark is an update.
	res = c.mark(t, s.ID, [2]string{r0, "present"}, [2]string{r1, "excused"})
	if res.Results[0].Result != "unchanged" || str(res.Results[0].Mark) != "present" || str(res.Results[0].Previous) != "present" ||
		res.Results[1].Result != "updated" || str(res.Results[1].Previous) != "absent" || str(res.Results[1].Mark) != "excused" {
		t.Fatalf("second marking: %+v", res.Results)
	}
	if c.markOf(t, s.ID, outsider) != "" {
		t.Fatal("a student not enrolled got a record")
	}
	// The grace-period rule: present more than 5 minutes after the start,
	// while the session is open, is late; within it, present.
	c.clock.Set(s.starts().Add(6 * time.Minute))
	res = c.mark(t, s.ID, [2]string{r2, "present"})
	if str(res.Results[0].Mark) != "late" || c.markOf(t, s.ID, r2) != "late" {
		t.Fatalf("present after the grace period: %+v", res.Results)
	}
	c.clock.Set(s.starts().Add(5 * time.Minute))
	res = c.mark(t, s.ID, [2]string{r2, "present"})
	if str(res.Results[0].Mark) != "present" {
		t.Fatalf("present at the end of the grace period: %+v", res.Results)
	}
	// Audit: one event per record written, with before and after.
	events := c.srv.audit.find("attendance.mark")
	if len(events) != 5 {
		t.Fatalf("%d attendance.mark events, want 5", len(events))
	}
	var upd map[string]string
	for _, e := range events {
		if e.EntityID == s.ID+":"+r1 && e.Before != nil {
			_ = json.Unmarshal(e.After, &upd)
			if string(e.Before) != `{"mark":"absent"}` || upd["mark"] != "excused" {
				t.Fatalf("update event %s -> %s", e.Before, e.After)
			}
		}
	}
	if upd == nil {
		t.Fatal("no audit event for the update")
	}

	// Bad input: a 400 naming the field, and nothing written.
	before := c.markOf(t, s.ID, r0)
	for _, tc := range []struct {
		body   any
		fields []string
	}{
		{map[string]any{"records": []map[string]any{{"student_id": r0, "mark": "absent", "color": "red"}}}, []string{"color"}},
		{map[string]any{"records": []map[string]any{{"student_id": r0, "mark": 5}}}, []string{"records[0].mark"}},
		{map[string]any{"records": []map[string]any{{"student_id": "not-a-uuid", "mark": "absent"}}}, []string{"records[0].student_id"}},
		{map[string]any{"records": []map[string]any{{"student_id": r0, "mark": "asleep"}}}, []string{"records[0].mark"}},
		{map[string]any{"records": []map[string]any{{"student_id": r0, "mark": "absent"}, {"student_id": r1, "mark": "absent"}, {"student_id": r0, "mark": "late"}}}, []string{"records[2].student_id"}},
		{map[string]any{"records": []map[string]any{}}, []string{"records"}},
		{map[string]any{"records": "everyone"}, []string{"records"}},
		{map[string]any{"source": "qr", "records": []map[string]any{{"student_id": r0, "mark": "absent"}}}, []string{"source"}},
		{`{"records": [`, []string{"body"}},
		{`[]`, []string{"body"}},
		{`{"records": []} {"records": []}`, []string{"body"}},
	} {
		p := problemOf(t, c.faculty.send(t, "PUT", "/api/v1/sessions/"+s.ID+"/records", tc.body), 400)
		if !slices.Equal(fieldsOf(p), tc.fields) {
			t.Errorf("%v: fields %v, want %v", tc.body, fieldsOf(p), tc.fields)
		}
	}
	if c.markOf(t, s.ID, r0) != before {
		t.Fatal("a rejected request changed a mark")
	}
	r := c.faculty.s.send(t, "PUT", "/api/v1/sessions/"+s.ID+"/records", `{"records":[]}`, map[string]string{"Content-Type": "text/plain", "Authorization": "Bearer " + c.faculty.token})
	problemOf(t, r, 415)
	huge := `{"records":[` + strings.Repeat(`{"student_id":"`+r0+`","mark":"present"},`, 40000) + `{}]}`
	problemOf(t, c.faculty.send(t, "PUT", "/api/v1/sessions/"+s.ID+"/records", huge), 413)
	problemOf(t, c.faculty.send(t, "PUT", "/api/v1/sessions/not-a-uuid/records", map[string]any{"records": []any{}}), 400)
	problemOf(t, c.faculty.send(t, "PUT", "/api/v1/sessions/"+uuid.NewString()+"/records",
		map[string]any{"records": []map[string]any{{"student_id": r0, "mark": "present"}}}), 404)
	// Another faculty member's session is not theirs to mark; students
	// cannot mark at all.
	problemOf(t, c.faculty2.send(t, "PUT", "/api/v1/sessions/"+s.ID+"/records",
		map[string]any{"records": []map[string]any{{"student_id": r0, "mark": "absent"}}}), 404)
	problemOf(t, c.student.send(t, "PUT", "/api/v1/sessions/"+s.ID+"/records",
		map[string]any{"records": []map[string]any{{"student_id": r0, "mark": "present"}}}), 403)

	// Closing fills in the unmarked: absent (source system), or excused
	// for an approved leave covering the date.
	onLeave := c.roster[len(c.roster)-1]
	var leave struct{ ID string }
	ok(t, c.admin.send(t, "POST", "/api/v1/leave", map[string]any{"student_id": id(onLeave), "type": "medical",
		"start_date": s.Date, "end_date": s.Date, "reason": "fever"}), 201, &leave)
	ok(t, c.faculty.send(t, "POST", "/api/v1/leave/"+leave.ID+"/approve", nil), 200, nil)
	c.clock.Set(s.starts().Add(time.Hour))
	ok(t, c.faculty.send(t, "POST", "/api/v1/sessions/"+s.ID+"/close", nil), 200, nil)
	var absent, excused, marked int
	err := c.db.Pool.QueryRow(context.Background(), `SELECT count(*) FILTER (WHERE mark = 'absent' AND source = 'system'),
		count(*) FILTER (WHERE mark = 'excused' AND source = 'system' AND leave_id IS NOT NULL), count(*)
		FROM attendance_records WHERE session_id = $1`, s.ID).Scan(&absent, &excused, &marked)
	if err != nil {
		t.Fatal(err)
	}
	if excused != 1 || absent != len(c.roster)-4 || marked != len(c.roster) {
		t.Fatalf("after close: %d absent, %d excused, %d records; roster %d", absent, excused, marked, len(c.roster))
	}
	// Marks may still change while closed (no late rule: not live)...
	c.clock.Set(s.starts().Add(3 * time.Hour))
	res = c.mark(t, s.ID, [2]string{id(c.roster[3]), "present"})
	if str(res.Results[0].Mark) != "present" || res.Status != "closed" {
		t.Fatalf("marking a closed session: %+v", res)
	}
	// ... but not once locked.
	ok(t, c.faculty.send(t, "POST", "/api/v1/sessions/"+s.ID+"/lock", nil), 200, nil)
	p := problemOf(t, c.faculty.send(t, "PUT", "/api/v1/sessions/"+s.ID+"/records",
		map[string]any{"records": []map[string]any{{"student_id": r0, "mark": "absent"}}}), 409)
	if !strings.HasSuffix(p.Type, "/session-locked") {
		t.Fatalf("locked: %+v", p)
	}
	if c.markOf(t, s.ID, r0) != "present" {
		t.Fatal("a locked session's mark changed")
	}
	// A scheduled session takes no marks either.
	s2 := c.newSession(t)
	p = problemOf(t, c.faculty.send(t, "PUT", "/api/v1/sessions/"+s2.ID+"/records",
		map[string]any{"records": []map[string]any{{"student_id": r0, "mark": "present"}}}), 409)
	if !strings.HasSuffix(p.Type, "/session-not-open") {
		t.Fatalf("scheduled: %+v", p)
	}

	// The detail shows the roster with its marks.
	var detail struct {
		sessionView
		Counts struct{ Present, Late, Absent, Excused, Unmarked int }
		Roster []struct {
			StudentID string  `json:"student_id"`
			Mark      *string `json:"mark"`
			Source    *string `json:"source"`
		}
	}
	ok(t, c.faculty.get(t, "/api/v1/sessions/"+s.ID), 200, &detail)
	if len(detail.Roster) != len(c.roster) || detail.Counts.Unmarked != 0 || detail.Counts.Excused != 2 || detail.Status != "locked" {
		t.Fatalf("detail: %+v", detail)
	}
	problemOf(t, c.faculty2.get(t, "/api/v1/sessions/"+s.ID), 404)
}

func TestQRCheckIn(t *testing.T) {
	t.Parallel()
	c := newCampus(t, campusOpts{})
	s := c.openSession(t)
	var tok struct {
		Token      string `json:"token"`
		ExpiresAt  string `json:"expires_at"`
		TTLSeconds int    `json:"ttl_seconds"`
	}
	ok(t, c.faculty.send(t, "POST", "/api/v1/sessions/"+s.ID+"/qr", nil), 200, &tok)
	if tok.TTLSeconds != 60 || tok.Token == "" {
		t.Fatalf("token: %+v", tok)
	}
	problemOf(t, c.faculty2.send(t, "POST", "/api/v1/sessions/"+s.ID+"/qr", nil), 404)
	problemOf(t, c.student.send(t, "POST", "/api/v1/sessions/"+s.ID+"/qr", nil), 403)

	checkIn := func(cl *client, body any) response {
		return cl.send(t, "POST", "/api/v1/attendance/check-in", body)
	}
	type reply struct {
		SessionID string `json:"session_id"`
		StudentID string `json:"student_id"`
		Result    string `json:"result"`
		Mark      string `json:"mark"`
	}
	var got reply
	c.clock.Add(time.Minute)
	ok(t, checkIn(c.student, map[string]string{"token": tok.Token}), 201, &got)
	if got.Result != "created" || got.Mark != "present" || got.StudentID != id(c.studentID) || got.SessionID != s.ID {
		t.Fatalf("check-in: %+v", got)
	}
	ok(t, checkIn(c.student, map[string]string{"token": tok.Token}), 200, &got)
	if got.Result != "unchanged" || got.Mark != "present" {
		t.Fatalf("repeated check-in: %+v", got)
	}
	// The student is the caller, never a body field.
	p := problemOf(t, checkIn(c.student, map[string]string{"token": tok.Token, "student_id": id(c.roster[1])}), 400)
	if !slices.Equal(fieldsOf(p), []string{"student_id"}) {
		t.Fatalf("student_id in the body: %+v", p)
	}
	p = problemOf(t, checkIn(c.student2, map[string]string{"token": tok.Token}), 403)
	if !strings.HasSuffix(p.Type, "/not-enrolled") {
		t.Fatalf("not enrolled: %+v", p)
	}
	problemOf(t, checkIn(c.faculty, map[string]string{"token": tok.Token}), 403)
	for _, bad := range []string{"", "x", strings.Repeat("A", 55), tok.Token[:54] + "B", strings.ToLower(tok.Token)} {
		if bad == tok.Token {
			continue
		}
		p = problemOf(t, checkIn(c.student, map[string]string{"token": bad}), 400)
		if !slices.Equal(fieldsOf(p), []string{"token"}) {
			t.Fatalf("token %q: %+v", bad, p)
		}
	}
	// A late arrival with a fresh token is late.
	late := c.studentClient(t, c.roster[1])
	c.clock.Set(s.starts().Add(7 * time.Minute))
	ok(t, c.faculty.send(t, "POST", "/api/v1/sessions/"+s.ID+"/qr", nil), 200, &tok)
	ok(t, checkIn(late, map[string]string{"token": tok.Token}), 201, &got)
	if got.Mark != "late" || c.markOf(t, s.ID, id(c.roster[1])) != "late" {
		t.Fatalf("late check-in: %+v", got)
	}
	// Tokens expire.
	c.clock.Add(2 * time.Minute)
	p = problemOf(t, checkIn(c.studentClient(t, c.roster[2]), map[string]string{"token": tok.Token}), 400)
	if !strings.Contains(p.Errors[0].Message, "expired") {
		t.Fatalf("expired token: %+v", p)
	}
	// A closed session takes no check-ins and issues no tokens.
	ok(t, c.faculty.send(t, "POST", "/api/v1/sessions/"+s.ID+"/qr", nil), 200, &tok)
	ok(t, c.faculty.send(t, "POST", "/api/v1/sessions/"+s.ID+"/close", nil), 200, nil)
	p = problemOf(t, checkIn(c.studentClient(t, c.roster[3]), map[string]string{"token": tok.Token}), 409)
	if !strings.HasSuffix(p.Type, "/session-not-open") {
		t.Fatalf("closed session: %+v", p)
	}
	problemOf(t, c.faculty.send(t, "POST", "/api/v1/sessions/"+s.ID+"/qr", nil), 409)
	// A check-in upgrades an absent mark (the student is there after all).
	s2 := c.openSession(t)
	c.mark(t, s2.ID, [2]string{id(c.studentID), "absent"})
	ok(t, c.faculty.send(t, "POST", "/api/v1/sessions/"+s2.ID+"/qr", nil), 200, &tok)
	ok(t, checkIn(c.student, map[string]string{"token": tok.Token}), 200, &got)
	if got.Result != "updated" || got.Mark != "present" {
		t.Fatalf("check-in over absent: %+v", got)
	}
	if n := len(c.srv.audit.find("attendance.check_in")); n != 3 {
		t.Fatalf("%d check-in audit events, want 3 (repeats are not writes)", n)
	}
}

func TestGenerateSessionsFromTimetable(t *testing.T) {
	t.Parallel()
	c := newCampus(t, campusOpts{})
	slots := 0
	for _, sl := range c.data.Slots {
		if sl.SectionID == c.sec.ID {
			slots++
		}
	}
	// Two weeks starting next Monday (inside the current term unless the
	// term ends sooner; the test then uses the days that remain).
	today := c.at(0, 0, 0)
	monday := today.AddDate(0, 0, (8-int(today.Weekday()))%7+1)
	from, to := monday, monday.AddDate(0, 0, 13)
	var term struct {
		EndDate string `json:"end_date"`
	}
	ok(t, c.anon.get(t, "/api/v1/terms/current"), 200, &term)
	if end, _ := time.ParseInLocation(time.DateOnly, term.EndDate, c.loc); end.Before(to) {
		t.Skipf("the current term ends %s, before the test window", term.EndDate)
	}
	// A holiday on the Wednesday of the first week.
	holiday := monday.AddDate(0, 0, 2).Format(time.DateOnly)
	ok(t, c.registrar.send(t, "POST", "/api/v1/holidays", map[string]string{"date": holiday, "name": "Test Day"}), 201, nil)
	problemOf(t, c.registrar.send(t, "POST", "/api/v1/holidays", map[string]string{"date": holiday, "name": "Again"}), 409)

	body := map[string]string{"from": from.Format(time.DateOnly), "to": to.Format(time.DateOnly), "section_id": id(c.sec.ID)}
	var res struct{ Created, Existing, Excused int }
	ok(t, c.registrar.send(t, "POST", "/api/v1/sessions/generate", body), 200, &res)
	var wantDays int
	for _, sl := range c.data.Slots {
		if sl.SectionID != c.sec.ID {
			continue
		}
		for d := from; !d.After(to); d = d.AddDate(0, 0, 1) {
			wd := int(d.Weekday())
			if wd == 0 {
				wd = 7
			}
			if wd == sl.Weekday && d.Format(time.DateOnly) != holiday {
				wantDays++
			}
		}
	}
	if res.Created != wantDays || res.Existing != 0 || wantDays == 0 {
		t.Fatalf("generate: %+v, want %d created (%d slots)", res, wantDays, slots)
	}
	ok(t, c.registrar.send(t, "POST", "/api/v1/sessions/generate", body), 200, &res)
	if res.Created != 0 || res.Existing != wantDays {
		t.Fatalf("rerun: %+v, want 0 created and %d existing", res, wantDays)
	}
	// Instants are the slots' local times in Asia/Kolkata.
	var page struct{ Items []sessionView }
	ok(t, c.faculty.get(t, "/api/v1/sessions?section_id="+id(c.sec.ID)+"&from="+body["from"]+"&to="+body["to"]+"&limit=500"), 200, &page)
	if len(page.Items) != wantDays {
		t.Fatalf("listed %d generated sessions, want %d", len(page.Items), wantDays)
	}
	for _, s := range page.Items {
		local := s.starts().In(c.loc)
		if local.Format(time.DateOnly) != s.Date || s.Date == holiday || s.SlotID == nil || s.Status != "scheduled" {
			t.Fatalf("generated session %+v (local start %s)", s, local)
		}
		found := false
		for _, sl := range c.data.Slots {
			if id(sl.ID) == *s.SlotID && time.Duration(local.Hour())*time.Hour+time.Duration(local.Minute())*time.Minute == sl.Start {
				found = true
			}
		}
		if !found {
			t.Fatalf("session %s starts at %s local, not at its slot's time", s.ID, local)
		}
	}
	// Leave approved before generation: new sessions in it start excused.
	var leave struct{ ID string }
	next := to.AddDate(0, 0, 1)
	ok(t, c.admin.send(t, "POST", "/api/v1/leave", map[string]any{"student_id": id(c.studentID), "type": "sport",
		"start_date": next.Format(time.DateOnly), "end_date": next.AddDate(0, 0, 6).Format(time.DateOnly), "reason": "tournament"}), 201, &leave)
	ok(t, c.faculty.send(t, "POST", "/api/v1/leave/"+leave.ID+"/approve", nil), 200, nil)
	body = map[string]string{"from": next.Format(time.DateOnly), "to": next.AddDate(0, 0, 6).Format(time.DateOnly), "section_id": id(c.sec.ID)}
	ok(t, c.registrar.send(t, "POST", "/api/v1/sessions/generate", body), 200, &res)
	if res.Created == 0 || res.Excused != res.Created {
		t.Fatalf("generation inside approved leave: %+v", res)
	}
	// Bad windows.
	for _, tc := range []struct {
		body  map[string]string
		field string
	}{
		{map[string]string{"from": "2026-12-10", "to": "2026-12-01"}, "from"},
		{map[string]string{"from": "2026-01-01", "to": "2027-06-01"}, "to"},
		{map[string]string{"from": "2026-13-01", "to": "2026-12-01"}, "from"},
		{map[string]string{"from": "1999-12-31", "to": "2000-01-02"}, "from"},
		{map[string]string{"from": "2026-12-01"}, "to"},
	} {
		p := problemOf(t, c.registrar.send(t, "POST", "/api/v1/sessions/generate", tc.body), 400)
		if fieldsOf(p)[0] != tc.field {
			t.Errorf("%v: fields %v", tc.body, fieldsOf(p))
		}
	}
	problemOf(t, c.faculty.send(t, "POST", "/api/v1/sessions/generate", body), 403)
}

func TestMySessionsAndTimetable(t *testing.T) {
	t.Parallel()
	c := newCampus(t, campusOpts{})
	s := c.newSession(t)
	var page struct{ Items []sessionView }
	ok(t, c.faculty.get(t, "/api/v1/me/sessions?date="+s.Date), 200, &page)
	if len(page.Items) != 1 || page.Items[0].ID != s.ID {
		t.Fatalf("faculty's sessions on %s: %+v", s.Date, page.Items)
	}
	ok(t, c.student.get(t, "/api/v1/me/sessions?date="+s.Date), 200, &page)
	if len(page.Items) != 1 || page.Items[0].ID != s.ID {
		t.Fatalf("student's sessions on %s: %+v", s.Date, page.Items)
	}
	ok(t, c.faculty2.get(t, "/api/v1/me/sessions?date="+s.Date), 200, &page)
	ok(t, c.student2.get(t, "/api/v1/me/sessions?date="+s.Date), 200, &page)
	for _, it := range page.Items {
		if it.ID == s.ID {
			t.Fatal("another student sees the session")
		}
	}
	// Today by default, and "today" explicitly.
	r1 := c.faculty.get(t, "/api/v1/me/sessions")
	r2 := c.faculty.get(t, "/api/v1/me/sessions?date=today")
	if r1.status != 200 || string(r1.body) != string(r2.body) {
		t.Fatalf("default date: %d %s vs %s", r1.status, r1.body, r2.body)
	}
	problemOf(t, c.faculty.get(t, "/api/v1/me/sessions?date=tomorrow"), 400)
	problemOf(t, c.faculty.get(t, "/api/v1/me/sessions?date=today&from=2026-01-01"), 400)
	problemOf(t, c.admin.get(t, "/api/v1/me/sessions"), 403)

	var tt struct {
		Items []struct {
			SectionID string `json:"section_id"`
		}
	}
	ok(t, c.faculty.get(t, "/api/v1/me/timetable"), 200, &tt)
	for _, sl := range tt.Items {
		var sec struct {
			FacultyID string `json:"faculty_id"`
		}
		ok(t, c.admin.get(t, "/api/v1/sections/"+sl.SectionID), 200, &sec)
		if sec.FacultyID != id(c.facultyID) {
			t.Fatalf("faculty timetable holds another's section %s", sl.SectionID)
		}
	}
	ok(t, c.student.get(t, "/api/v1/me/timetable"), 200, &tt)
	if len(tt.Items) == 0 {
		t.Fatal("student timetable empty")
	}
	// The faculty list of sessions is scoped: only sessions they hold.
	ok(t, c.faculty2.get(t, "/api/v1/sessions?section_id="+id(c.sec.ID)+"&limit=500"), 200, &page)
	if len(page.Items) != 0 {
		t.Fatalf("faculty2 lists %d sessions of another's section", len(page.Items))
	}
}
