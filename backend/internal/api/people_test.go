package api_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"
)

type studentView struct {
	ID          string  `json:"id"`
	RollNumber  string  `json:"roll_number"`
	FirstName   string  `json:"first_name"`
	Email       *string `json:"email"`
	Department  string  `json:"department"`
	Program     string  `json:"program"`
	YearOfStudy int     `json:"year_of_study"`
	Status      string  `json:"status"`
}

func TestStudentWritesAndImport(t *testing.T) {
	t.Parallel()
	c := newCampus(t, campusOpts{students: 60})
	program := c.data.Programs[0].Code
	body := map[string]any{"roll_number": "zz2026a001", "first_name": "Meera", "last_name": "Iyer", "email": "meera.iyer@x.example",
		"program": program, "year_of_study": 1, "section": "a"}
	var s studentView
	r := c.registrar.send(t, "POST", "/api/v1/students", body)
	ok(t, r, 201, &s)
	if s.RollNumber != "ZZ2026A001" || s.Status != "ACTIVE" || r.header.Get("Location") != "/api/v1/students/"+s.ID || r.header.Get("Cache-Control") != "no-store" {
		t.Fatalf("created: %+v %v", s, r.header)
	}
	// Duplicate roll number (any case) and e-mail: 409 naming the field.
	body["email"] = "someone.else@x.example"
	p := problemOf(t, c.registrar.send(t, "POST", "/api/v1/students", body), 409)
	if !slices.Equal(fieldsOf(p), []string{"roll_number"}) {
		t.Fatalf("duplicate roll number: %+v", p)
	}
	body["roll_number"] = "ZZ2026A002"
	body["email"] = "MEERA.IYER@x.example"
	p = problemOf(t, c.registrar.send(t, "POST", "/api/v1/students", body), 409)
	if !slices.Equal(fieldsOf(p), []string{"email"}) {
		t.Fatalf("duplicate e-mail: %+v", p)
	}
	for _, tc := range []struct {
		change map[string]any
		fields []string
	}{
		{map[string]any{"program": "NOPE-PROG"}, []string{"program"}},
		{map[string]any{"department": "MATH", "program": c.data.Programs[0].Code}, []string{"department"}},
		{map[string]any{"year_of_study": 9, "section": "AB", "status": "ALUMNUS"}, []string{"year_of_study", "section", "status"}},
		{map[string]any{"year_of_study": "two"}, []string{"year_of_study"}},
		{map[string]any{"first_name": "", "gender": "robot"}, []string{"first_name", "gender"}},
		{map[string]any{"phone": "+91 98765 43210"}, []string{"phone"}},
		{map[string]any{"email": "no-at-sign"}, []string{"email"}},
	} {
		b := map[string]any{}
		for k, v := range body {
			b[k] = v
		}
		b["email"] = nil
		for k, v := range tc.change {
			b[k] = v
		}
		p := problemOf(t, c.registrar.send(t, "POST", "/api/v1/students", b), 400)
		if !slices.Equal(fieldsOf(p), tc.fields) {
			t.Errorf("%v: fields %v, want %v", tc.change, fieldsOf(p), tc.fields)
		}
	}
	// PATCH: partial, validated against the whole; null e-mail removes it.
	var u studentView
	ok(t, c.registrar.send(t, "PATCH", "/api/v1/students/"+s.ID, map[string]any{"year_of_study": 2, "email": nil}), 200, &u)
	if u.YearOfStudy != 2 || u.Email != nil || u.RollNumber != s.RollNumber {
		t.Fatalf("patched: %+v", u)
	}
	problemOf(t, c.registrar.send(t, "PATCH", "/api/v1/students/"+s.ID, map[string]any{"year_of_study": nil}), 400)
	problemOf(t, c.registrar.send(t, "PATCH", "/api/v1/students/"+s.ID, map[string]any{"roll_number": c.data.Students[0].RollNumber}), 409)
	problemOf(t, c.registrar.send(t, "PATCH", "/api/v1/students/"+uuid.NewString(), map[string]any{"year_of_study": 2}), 404)
	problemOf(t, c.faculty.send(t, "PATCH", "/api/v1/students/"+s.ID, map[string]any{"year_of_study": 3}), 403)
	ev := c.srv.audit.find("student.update")
	if len(ev) != 1 || !strings.Contains(string(ev[0].Before), `"year_of_study":1`) || !strings.Contains(string(ev[0].After), `"year_of_study":2`) {
		t.Fatalf("update audit: %+v", ev)
	}
	// A student with history cannot be deleted; a new one can.
	p = problemOf(t, c.registrar.send(t, "DELETE", "/api/v1/students/"+id(c.studentID), nil), 409)
	if !strings.HasSuffix(p.Type, "/in-use") {
		t.Fatalf("delete with history: %+v", p)
	}
	if r := c.registrar.send(t, "DELETE", "/api/v1/students/"+s.ID, nil); r.status != 204 {
		t.Fatalf("delete: %d %s", r.status, r.body)
	}
	problemOf(t, c.registrar.get(t, "/api/v1/students/"+s.ID), 404)

	// Bulk import: every bad row reported, nothing written; then all in.
	var rows []map[string]any
	for i := range 40 {
		rows = append(rows, map[string]any{"roll_number": fmt.Sprintf("IMP2026A%03d", i), "first_name": "Row", "last_name": fmt.Sprint(i),
			"email": fmt.Sprintf("row%d@import.example", i), "program": program, "year_of_study": 1, "section": "B"})
	}
	bad := slices.Clone(rows)
	bad[3] = map[string]any{"roll_number": "IMP2026A000", "first_name": "Dup", "last_name": "Roll", "program": program, "year_of_study": 1, "section": "B"}
	bad[7] = map[string]any{"roll_number": c.data.Students[0].RollNumber, "first_name": "Taken", "last_name": "Roll", "program": program, "year_of_study": 1, "section": "B"}
	bad[9] = map[string]any{"roll_number": "IMP2026A009", "first_name": "", "last_name": "X", "program": "NOPE-PROG", "year_of_study": 0, "section": "B"}
	p = problemOf(t, c.registrar.send(t, "POST", "/api/v1/students/import", map[string]any{"students": bad}), 400)
	for _, f := range []string{"students[3].roll_number", "students[7].roll_number", "students[9].first_name", "students[9].program", "students[9].year_of_study"} {
		if !slices.Contains(fieldsOf(p), f) {
			t.Errorf("import problem lacks %s: %v", f, fieldsOf(p))
		}
	}
	var n int
	count := func() int {
		if err := c.db.Pool.QueryRow(context.Background(), `SELECT count(*) FROM students WHERE roll_number LIKE 'IMP%'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if count() != 0 {
		t.Fatal("a failed import wrote rows")
	}
	var res struct{ Created int }
	ok(t, c.registrar.send(t, "POST", "/api/v1/students/import", map[string]any{"students": rows}), 201, &res)
	if res.Created != 40 || count() != 40 {
		t.Fatalf("import: %+v, %d rows", res, n)
	}
	// The same again: every row a duplicate.
	p = problemOf(t, c.registrar.send(t, "POST", "/api/v1/students/import", map[string]any{"students": rows}), 400)
	if len(p.Errors) != 80 {
		t.Fatalf("re-import: %d errors, want 80 (roll number and e-mail of each row)", len(p.Errors))
	}
	// CSV works the same way.
	csv := "roll_number,first_name,last_name,program,year_of_study,section\nCSV2026A001,Ana,One," + program + ",1,C\nCSV2026A002,Ben,Two," + program + ",2,C\n"
	r = c.registrar.s.send(t, "POST", "/api/v1/students/import", csv, map[string]string{"Content-Type": "text/csv", "Authorization": "Bearer " + c.registrar.token})
	ok(t, r, 201, &res)
	if res.Created != 2 {
		t.Fatalf("csv import: %+v", res)
	}
	r = c.registrar.s.send(t, "POST", "/api/v1/students/import", "roll,name\nx,y\n", map[string]string{"Content-Type": "text/csv", "Authorization": "Bearer " + c.registrar.token})
	p = problemOf(t, r, 400)
	if !slices.Contains(fieldsOf(p), "roll") || !slices.Contains(fieldsOf(p), "roll_number") {
		t.Fatalf("csv with unknown columns: %v", fieldsOf(p))
	}
	many := make([]map[string]any, 5001)
	for i := range many {
		many[i] = rows[0]
	}
	p = problemOf(t, c.registrar.send(t, "POST", "/api/v1/students/import", map[string]any{"students": many}), 400)
	if !slices.Equal(fieldsOf(p), []string{"students"}) {
		t.Fatalf("5,001 rows: %v", fieldsOf(p))
	}
	problemOf(t, c.faculty.send(t, "POST", "/api/v1/students/import", map[string]any{"students": rows}), 403)

	// Search by name, e-mail or roll number, with filters, scoped for faculty.
	var page struct{ Items []studentView }
	ok(t, c.registrar.get(t, "/api/v1/students?q=import.example&limit=500"), 200, &page)
	if len(page.Items) != 40 {
		t.Fatalf("q by e-mail domain: %d", len(page.Items))
	}
	ok(t, c.registrar.get(t, "/api/v1/students?q=csv2026a00&year=2"), 200, &page)
	if len(page.Items) != 1 || page.Items[0].RollNumber != "CSV2026A002" {
		t.Fatalf("q with year: %+v", page.Items)
	}
	ok(t, c.registrar.get(t, "/api/v1/students?q=100%25_"), 200, &page) // wildcards are literal
	if len(page.Items) != 0 {
		t.Fatalf("wildcards matched: %+v", page.Items)
	}
	problemOf(t, c.registrar.get(t, "/api/v1/students?q=a"), 400)
	ok(t, c.faculty.get(t, "/api/v1/students?limit=500"), 200, &page)
	if len(page.Items) == 0 {
		t.Fatal("faculty sees no students")
	}
	for _, it := range page.Items {
		if strings.HasPrefix(it.RollNumber, "IMP") {
			t.Fatal("faculty sees students outside their sections")
		}
	}
	ok(t, c.faculty.get(t, "/api/v1/students?section_id="+id(c.sec.ID)+"&limit=500"), 200, &page)
	if len(page.Items) != len(c.roster) {
		t.Fatalf("section filter: %d, roster %d", len(page.Items), len(c.roster))
	}
	problemOf(t, c.student.get(t, "/api/v1/students"), 403)
	ok(t, c.student.get(t, "/api/v1/students/"+id(c.studentID)), 200, nil)
	problemOf(t, c.student.get(t, "/api/v1/students/"+id(c.roster[1])), 404)
}

func TestFacultyCatalogueAndTeachingWrites(t *testing.T) {
	t.Parallel()
	c := newCampus(t, campusOpts{students: 60})
	var dept struct{ ID, Code string }
	ok(t, c.registrar.send(t, "POST", "/api/v1/departments", map[string]string{"code": "bio", "name": "Biology"}), 201, &dept)
	if dept.Code != "BIO" {
		t.Fatal(dept)
	}
	problemOf(t, c.registrar.send(t, "POST", "/api/v1/departments", map[string]string{"code": "BIO", "name": "Again"}), 409)
	problemOf(t, c.faculty.send(t, "POST", "/api/v1/departments", map[string]string{"code": "CHM", "name": "x"}), 403)
	problemOf(t, c.anon.send(t, "POST", "/api/v1/departments", map[string]string{"code": "CHM", "name": "x"}), 401)
	var course struct {
		ID      string
		Credits float64
	}
	ok(t, c.registrar.send(t, "POST", "/api/v1/courses", map[string]any{"code": "BIO101", "title": "Cell Biology", "credits": 3.5, "department": "BIO"}), 201, &course)
	problemOf(t, c.registrar.send(t, "POST", "/api/v1/courses", map[string]any{"code": "BIO102", "title": "x", "credits": 3.55, "department": "BIO"}), 400)
	problemOf(t, c.registrar.send(t, "POST", "/api/v1/courses", map[string]any{"code": "BIO102", "title": "x", "credits": 3, "department": "ZZZ"}), 400)
	// A department with courses cannot be deleted.
	problemOf(t, c.registrar.send(t, "DELETE", "/api/v1/departments/"+dept.ID, nil), 409)
	var fac struct{ ID string }
	ok(t, c.registrar.send(t, "POST", "/api/v1/faculty", map[string]any{"employee_id": "emp99999", "first_name": "Ravi", "last_name": "Nair",
		"email": "ravi@faculty.example", "designation": "Professor", "department": "BIO"}), 201, &fac)
	var term struct{ ID string }
	ok(t, c.anon.get(t, "/api/v1/terms/current"), 200, &term)
	var sec struct{ ID string }
	ok(t, c.registrar.send(t, "POST", "/api/v1/sections", map[string]any{"course_id": course.ID, "term_id": term.ID,
		"faculty_id": fac.ID, "section_code": "a", "capacity": 2}), 201, &sec)
	problemOf(t, c.registrar.send(t, "POST", "/api/v1/sections", map[string]any{"course_id": course.ID, "term_id": term.ID,
		"faculty_id": fac.ID, "section_code": "A", "capacity": 2}), 409)
	p := problemOf(t, c.registrar.send(t, "POST", "/api/v1/sections", map[string]any{"course_id": uuid.NewString(), "term_id": term.ID,
		"faculty_id": fac.ID, "section_code": "B", "capacity": 2}), 400)
	if !slices.Equal(fieldsOf(p), []string{"course_id"}) {
		t.Fatalf("unknown course: %+v", p)
	}
	// Timetable: no double booking of the section, the faculty member or the room.
	slot := map[string]any{"weekday": 1, "start_time": "09:00", "end_time": "10:00", "room": "BIO-101"}
	ok(t, c.registrar.send(t, "POST", "/api/v1/sections/"+sec.ID+"/slots", slot), 201, nil)
	slot["start_time"], slot["end_time"], slot["room"] = "09:30", "10:30", "BIO-102"
	p = problemOf(t, c.registrar.send(t, "POST", "/api/v1/sections/"+sec.ID+"/slots", slot), 409)
	if !strings.HasSuffix(p.Type, "/double-booked") {
		t.Fatalf("section overlap: %+v", p)
	}
	slot["start_time"], slot["end_time"] = "10:00", "11:00" // adjacent: fine
	ok(t, c.registrar.send(t, "POST", "/api/v1/sections/"+sec.ID+"/slots", slot), 201, nil)
	var sec2 struct{ ID string }
	ok(t, c.registrar.send(t, "POST", "/api/v1/sections", map[string]any{"course_id": course.ID, "term_id": term.ID,
		"faculty_id": fac.ID, "section_code": "B", "capacity": 5}), 201, &sec2)
	slot["start_time"], slot["end_time"], slot["room"] = "09:45", "10:15", "BIO-201"
	p = problemOf(t, c.registrar.send(t, "POST", "/api/v1/sections/"+sec2.ID+"/slots", slot), 409) // same teacher
	if !strings.Contains(p.Detail, "faculty") {
		t.Fatalf("faculty overlap: %+v", p)
	}
	for _, bad := range []map[string]any{
		{"weekday": 8, "start_time": "09:00", "end_time": "10:00", "room": "R"},
		{"weekday": 2, "start_time": "10:00", "end_time": "09:00", "room": "R"},
		{"weekday": 2, "start_time": "9am", "end_time": "10:00", "room": "R"},
		{"weekday": 2, "start_time": "09:00", "end_time": "10:00", "room": ""},
	} {
		problemOf(t, c.registrar.send(t, "POST", "/api/v1/sections/"+sec2.ID+"/slots", bad), 400)
	}
	// Enrollment: capacity, active students, idempotence, drop.
	enroll := func(student uuid.UUID) response {
		return c.registrar.send(t, "POST", "/api/v1/sections/"+sec.ID+"/enrollments", map[string]string{"student_id": id(student)})
	}
	ok(t, enroll(c.roster[0]), 201, nil)
	ok(t, enroll(c.roster[0]), 200, nil)
	ok(t, enroll(c.roster[1]), 201, nil)
	p = problemOf(t, enroll(c.student2ID), 409)
	if !strings.HasSuffix(p.Type, "/section-full") {
		t.Fatalf("full: %+v", p)
	}
	ok(t, c.registrar.send(t, "DELETE", "/api/v1/sections/"+sec.ID+"/enrollments/"+id(c.roster[1]), nil), 200, nil)
	ok(t, enroll(c.student2ID), 201, nil)
	problemOf(t, c.registrar.send(t, "POST", "/api/v1/sections/"+sec.ID+"/enrollments", map[string]string{"student_id": uuid.NewString()}), 400)
	var roster struct{ Items []struct{ ID string } }
	ok(t, c.registrar.get(t, "/api/v1/sections/"+sec.ID+"/roster"), 200, &roster)
	if len(roster.Items) != 2 {
		t.Fatalf("roster: %+v", roster.Items)
	}
	problemOf(t, c.faculty.get(t, "/api/v1/sections/"+sec.ID+"/roster"), 404) // not their section
	// Terms: one current at a time.
	var t2 struct {
		ID        string
		IsCurrent bool `json:"is_current"`
	}
	ok(t, c.registrar.send(t, "POST", "/api/v1/terms", map[string]any{"name": "2030-31 ODD", "start_date": "2030-07-01", "end_date": "2030-12-31", "is_current": true}), 201, &t2)
	var cur struct{ ID string }
	ok(t, c.anon.get(t, "/api/v1/terms/current"), 200, &cur)
	if cur.ID != t2.ID {
		t.Fatal("current term did not move")
	}
	problemOf(t, c.registrar.send(t, "POST", "/api/v1/terms", map[string]any{"name": "bad", "start_date": "2030-07-01", "end_date": "2030-06-30"}), 400)
}
