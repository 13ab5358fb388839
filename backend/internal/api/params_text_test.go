package api_test

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/campshub360/edge/backend/internal/api"
	"github.com/campshub360/edge/backend/internal/authz"
)

// notText are parameter values that are not text: NUL, the other C0
// controls (tab and newline included), DEL, a C1 control and bytes that
// are not UTF-8. Each is wrapped in ordinary characters.
var notText = []string{"\x00", "\t", "\n", "\x1f", "\x7f", "\u0085", "\xff", "\xc3"}

// textMessage is the violation message of a parameter that is not text.
const textMessage = "must be valid UTF-8 text without control characters"

// openAPIParams returns, per "METHOD path" of the OpenAPI document, the
// names of its query parameters (paging included) and path parameters.
func openAPIParams(t *testing.T, doc []byte) (query, path map[string][]string) {
	t.Helper()
	var d struct {
		Paths map[string]map[string]struct {
			Parameters []struct {
				Name string `json:"name"`
				In   string `json:"in"`
			} `json:"parameters"`
		} `json:"paths"`
	}
	if err := json.Unmarshal(doc, &d); err != nil {
		t.Fatal(err)
	}
	query, path = map[string][]string{}, map[string][]string{}
	for p, ops := range d.Paths {
		for method, op := range ops {
			key := strings.ToUpper(method) + " " + p
			for _, x := range op.Parameters {
				switch x.In {
				case "query":
					query[key] = append(query[key], x.Name)
				case "path":
					path[key] = append(path[key], x.Name)
				}
			}
		}
	}
	return query, path
}

// callerFor returns the Authorization header of a principal the route
// admits (none for a public route).
func callerFor(srv *server, rt api.RouteInfo) map[string]string {
	if rt.Access.IsPublic() {
		return map[string]string{"Authorization": ""}
	}
	role := authz.RoleAdmin
	if roles := rt.Access.AllowedRoles(); len(roles) > 0 {
		role = roles[0]
	}
	p := &authz.Principal{UserID: uuid.New(), Role: role}
	switch role {
	case authz.RoleStudent:
		p.StudentID = uuid.New()
	case authz.RoleFaculty:
		p.FacultyID = uuid.New()
	}
	return map[string]string{"Authorization": "Bearer " + srv.tokens.Add("tok-"+string(role), p)}
}

// wantTextViolation checks r is a 400 naming exactly param as not text,
// without echoing the value.
func wantTextViolation(t *testing.T, what string, r response, param string) {
	t.Helper()
	if r.status != 400 {
		t.Errorf("%s: status %d, want 400; body %s", what, r.status, r.body)
		return
	}
	var p struct {
		Errors []struct{ Field, Message string }
	}
	if err := json.Unmarshal(r.body, &p); err != nil {
		t.Errorf("%s: body %s: %v", what, r.body, err)
		return
	}
	if len(p.Errors) != 1 || p.Errors[0].Field != param || p.Errors[0].Message != textMessage {
		t.Errorf("%s: errors %+v, want one on %s: %s", what, p.Errors, param, textMessage)
	}
	if strings.Contains(string(r.body), `\u0000`) {
		t.Errorf("%s: the value is echoed: %s", what, r.body)
	}
}

// TestParametersMustBeText sends every query parameter and every path
// parameter of every operation, as the OpenAPI document lists them,
// holding characters that are not text. The store answers nothing (any
// call of it panics into a 500), so a 400 naming the parameter proves
// the check runs before any store call.
func TestParametersMustBeText(t *testing.T) {
	t.Parallel()
	srv := startFake(t, api.Deps{Store: fakeStore{}})
	query, path := openAPIParams(t, srv.api.OpenAPI())
	probed := 0
	for _, rt := range srv.api.Routes() {
		key := rt.Method + " " + rt.Path
		auth := callerFor(srv, rt)
		base := concrete(rt.Path)
		for _, name := range query[key] {
			values := notText[:1]
			if name == "q" || name == "cursor" || name == "from" {
				values = notText
			}
			for _, bad := range values {
				// A valid value first, so the bad one is the one reported.
				target := base + "?" + name + "=" + url.QueryEscape("ab"+bad+"cd")
				wantTextViolation(t, rt.Method+" "+target, srv.send(t, rt.Method, target, nil, auth), name)
				probed++
			}
		}
		for _, name := range path[key] {
			for _, bad := range []string{"\x00", "\x7f", "\xff"} {
				var target string
				if name == "date" {
					target = strings.Replace(rt.Path, "{date}", url.PathEscape("2031-01-0"+bad), 1)
				} else {
					id := uuid.NewString()
					target = strings.Replace(rt.Path, "{"+name+"}", url.PathEscape(id[:35]+bad), 1)
				}
				target = concrete(target)
				wantTextViolation(t, rt.Method+" "+target, srv.send(t, rt.Method, target, nil, auth), name)
				probed++
			}
		}
	}
	if probed < 100 {
		t.Fatalf("only %d parameters probed; the OpenAPI document lists too few", probed)
	}
	if logs := srv.logs.String(); strings.Contains(logs, "panic") {
		t.Fatalf("a store method was called:\n%s", logs)
	}
}

// TestParametersMustBeTextOverPostgres repeats the reported cases against
// the real store: search strings, filters, cursors and dates with NUL are
// 400s naming the parameter, never a 500 from PostgreSQL.
func TestParametersMustBeTextOverPostgres(t *testing.T) {
	t.Parallel()
	c := newCampus(t, campusOpts{students: 20})
	for _, tc := range []struct {
		client *client
		path   string
		param  string
	}{
		{c.admin, "/api/v1/students?q=a%00b&limit=2", "q"},
		{c.admin, "/api/v1/faculty?q=ab%00", "q"},
		{c.admin, "/api/v1/students?q=ab%ff", "q"},
		{c.admin, "/api/v1/students?department=CS%00", "department"},
		{c.admin, "/api/v1/students?limit=2&cursor=abc%00def", "cursor"},
		{c.admin, "/api/v1/audit-events?action=student.create%00", "action"},
		{c.admin, "/api/v1/audit-events?entity=student%01", "entity"},
		{c.admin, "/api/v1/sessions?date=2031-01-01%00", "date"},
		{c.auditor, "/api/v1/attendance/overview?threshold=75%7f", "threshold"},
		{c.admin, "/api/v1/students/" + uuid.NewString()[:35] + "%00", "id"},
	} {
		wantTextViolation(t, tc.path, tc.client.get(t, tc.path), tc.param)
	}
	if r := c.admin.send(t, "DELETE", "/api/v1/holidays/2031-01-0%00", nil); r.status != 400 {
		t.Errorf("DELETE holiday with NUL: %d %s", r.status, r.body)
	}
	// The same search, well-formed, still works, and a path parameter
	// percent-encoded where it need not be means the same.
	ok(t, c.admin.get(t, "/api/v1/students?q=ab&limit=2"), 200, nil)
	sid := id(c.studentID)
	ok(t, c.admin.get(t, "/api/v1/students/"+sid[:8]+"%2D"+sid[9:]), 200, nil)
	if logs := c.srv.logs.String(); strings.Contains(logs, "internal error") || strings.Contains(logs, "22021") {
		t.Fatalf("a parameter reached PostgreSQL:\n%s", logs)
	}
}

// TestCSVImportRefusesControlCharacters checks that a CSV import with NUL
// in a text column, or a column twice, is a 400 naming the row and
// column, and writes nothing.
func TestCSVImportRefusesControlCharacters(t *testing.T) {
	t.Parallel()
	c := newCampus(t, campusOpts{students: 20})
	program := c.data.Programs[0].Code
	send := func(body string) response {
		return c.srv.send(t, "POST", "/api/v1/students/import", body, map[string]string{
			"Authorization": "Bearer " + c.admin.token, "Content-Type": "text/csv"})
	}
	r := send("roll_number,first_name,last_name,program,year_of_study,section\nZZ26X0001,Ad\x00a,Lovelace," + program + ",1,A\n")
	p := problemOf(t, r, 400)
	if len(p.Errors) != 1 || p.Errors[0].Field != "students[0].first_name" {
		t.Fatalf("NUL in a CSV name: %+v", p.Errors)
	}
	r = send("roll_number,first_name,last_name,program,first_name\nZZ26X0001,Ada,Lovelace," + program + ",Grace\n")
	p = problemOf(t, r, 400)
	if len(p.Errors) != 1 || p.Errors[0].Field != "first_name" {
		t.Fatalf("a CSV column twice: %+v", p.Errors)
	}
	var n int
	if err := c.db.Pool.QueryRow(t.Context(), `SELECT count(*) FROM students WHERE roll_number = 'ZZ26X0001'`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("rows written: %d, %v", n, err)
	}
}

// TestDuplicateMembersRefused checks that a body naming a member twice
// (which encoding/json would resolve silently, the last one winning) is
// a 400 naming it, and writes nothing.
func TestDuplicateMembersRefused(t *testing.T) {
	t.Parallel()
	c := newCampus(t, campusOpts{students: 20})
	s := c.openSession(t)
	student := id(c.roster[0])
	body := `{"records":[{"student_id":"` + student + `","mark":"present","mark":"absent"}]}`
	p := problemOf(t, c.faculty.send(t, "PUT", "/api/v1/sessions/"+s.ID+"/records", body), 400)
	if len(p.Errors) != 1 || p.Errors[0].Field != "records[0].mark" {
		t.Fatalf("duplicate mark: %+v", p.Errors)
	}
	if m := c.markOf(t, s.ID, student); m != "" {
		t.Fatalf("a record was written: %s", m)
	}
	body = `{"records":[{"student_id":"` + student + `","mark":"present"}],"Records":[]}`
	p = problemOf(t, c.faculty.send(t, "PUT", "/api/v1/sessions/"+s.ID+"/records", body), 400)
	if len(p.Errors) != 1 || p.Errors[0].Field != "Records" {
		t.Fatalf("records in two cases: %+v", p.Errors)
	}
}
