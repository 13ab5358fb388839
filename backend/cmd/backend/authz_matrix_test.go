package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/campshub360/edge/shared/problem"
	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/valyala/fasthttp"

	"github.com/campshub360/edge/backend/internal/api"
	"github.com/campshub360/edge/backend/internal/audit"
	"github.com/campshub360/edge/backend/internal/auth"
	"github.com/campshub360/edge/backend/internal/authz"
	"github.com/campshub360/edge/backend/internal/config"
	"github.com/campshub360/edge/backend/internal/seed"
	"github.com/campshub360/edge/backend/internal/testdb"
)

// discardAudit drops audit events.
type discardAudit struct{}

func (discardAudit) Record(context.Context, audit.Event) error { return nil }

// campusAPI is the server's real API (buildAPI) over a seeded campus with
// demo accounts, driven in memory.
type campusAPI struct {
	db      *testdb.DB
	api     *api.API
	h       fasthttp.RequestHandler
	creds   map[string]string
	byRole  map[authz.Role][]string // e-mails
	tokens  map[string]string       // e-mail -> access token
	persons map[string]uuid.UUID    // e-mail -> student or faculty id
}

func newCampusAPI(t *testing.T) *campusAPI {
	t.Helper()
	db := testdb.New(t)
	loc, _ := time.LoadLocation(seed.DefaultTimeZone)
	c, err := seed.Generate(seed.Options{Students: 120, Weeks: 1, Seed: 5, Now: time.Now(), Location: loc})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := seed.Load(ctx, db.Pool, c, 1); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"DATABASE_URL": db.URL}
	out := filepath.Join(t.TempDir(), "demo-accounts.json")
	if _, err := runCmd(t, env, "accounts", "demo", "--dev", "--out", out); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.LoadServe([]string{"--listen", "127.0.0.1:0"}, envOf(env))
	if err != nil {
		t.Fatal(err)
	}
	opts, _ := redis.ParseURL(testdb.RedisURL(t))
	rdb := redis.NewClient(opts)
	t.Cleanup(func() { rdb.Close() })
	w, err := buildAPI(ctx, cfg, stores{primary: db.Pool, redis: rdb}, discardAudit{}, prometheus.NewRegistry(), slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	a := w.api
	ca := &campusAPI{db: db, api: a, h: a.Handler(), creds: readCredentials(t, out), byRole: map[authz.Role][]string{},
		tokens: map[string]string{}, persons: map[string]uuid.UUID{}}
	rows, err := db.Pool.Query(ctx, `SELECT u.email::text, u.role, coalesce(s.id, f.id, '00000000-0000-0000-0000-000000000000'::uuid)
		FROM users u LEFT JOIN students s ON s.user_id = u.id LEFT JOIN faculty f ON f.user_id = u.id ORDER BY u.email`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var email, role string
		var person uuid.UUID
		if err := rows.Scan(&email, &role, &person); err != nil {
			t.Fatal(err)
		}
		ca.byRole[authz.Role(role)] = append(ca.byRole[authz.Role(role)], email)
		ca.persons[email] = person
	}
	for email := range ca.creds {
		ca.login(t, email)
	}
	return ca
}

type answer struct {
	status int
	body   []byte
	ptype  string
}

// do serves one request in memory.
func (ca *campusAPI) do(method, path string, header map[string]string, body string) answer {
	var ctx fasthttp.RequestCtx
	var req fasthttp.Request
	req.Header.SetMethod(method)
	req.SetRequestURI(path)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	if body != "" {
		req.Header.SetContentType("application/json")
		req.SetBodyString(body)
	}
	ctx.Init(&req, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 50000}, nil)
	ca.h(&ctx)
	a := answer{status: ctx.Response.StatusCode(), body: append([]byte(nil), ctx.Response.Body()...)}
	var p problem.Problem
	if json.Unmarshal(a.body, &p) == nil {
		a.ptype = strings.TrimPrefix(p.Type, problem.TypeBase)
	}
	return a
}

func (ca *campusAPI) as(email string) map[string]string {
	return map[string]string{"Authorization": "Bearer " + ca.tokens[email]}
}

func (ca *campusAPI) login(t *testing.T, email string) {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"username": email, "password": ca.creds[email]})
	r := ca.do("POST", "/api/v1/auth/login", nil, string(body))
	var tk struct {
		AccessToken string `json:"access_token"`
	}
	if r.status != 200 || json.Unmarshal(r.body, &tk) != nil {
		t.Fatalf("login %s: %d %s", email, r.status, r.body)
	}
	ca.tokens[email] = tk.AccessToken
}

var paramRE = regexp.MustCompile(`\{[^}]+\}`)

// fill replaces every path parameter with a fresh UUID.
func fill(path string) string {
	return paramRE.ReplaceAllStringFunc(path, func(string) string { return uuid.NewString() })
}

func bodyFor(method string) string {
	switch method {
	case "POST", "PUT", "PATCH":
		return "{}"
	}
	return ""
}

// TestAuthorizationMatrix checks every declared route against every role
// and an API key: 401 anonymous (unless public), 403 for roles the route
// does not admit, neither for roles it admits. The route table comes from
// the API itself, so routes added later are covered without editing this
// test.
func TestAuthorizationMatrix(t *testing.T) {
	t.Parallel()
	ca := newCampusAPI(t)
	routes := ca.api.Routes()
	if len(routes) < 20 {
		t.Fatalf("only %d routes declared", len(routes))
	}
	roles := []authz.Role{authz.RoleAdmin, authz.RoleRegistrar, authz.RoleFaculty, authz.RoleStudent, authz.RoleAuditor}
	// An administrator's API key with every scope.
	admin := ca.byRole[authz.RoleAdmin][0]
	kr := ca.do("POST", "/api/v1/api-keys", ca.as(admin), `{"name":"matrix","scopes":["*:read","*:write"]}`)
	var key struct {
		Key string `json:"key"`
	}
	if kr.status != 201 || json.Unmarshal(kr.body, &key) != nil {
		t.Fatalf("api key: %d %s", kr.status, kr.body)
	}
	cells := 0
	for _, rt := range routes {
		name := rt.Method + " " + rt.Path
		path, body := fill(rt.Path), bodyFor(rt.Method)
		// Anonymous.
		r := ca.do(rt.Method, path, nil, body)
		cells++
		switch {
		case rt.Access.IsPublic() && (r.status == 401 || r.status == 403):
			t.Errorf("%s anonymous: %d on a public route", name, r.status)
		case !rt.Access.IsPublic() && r.status != 401:
			t.Errorf("%s anonymous: %d, want 401", name, r.status)
		}
		for _, role := range roles {
			for _, email := range ca.byRole[role][:1] {
				r := ca.do(rt.Method, path, ca.as(email), body)
				cells++
				admitted := rt.Access.Admits(&authz.Principal{Role: role})
				switch {
				case r.status == 401:
					t.Errorf("%s as %s: 401 with a valid token", name, role)
				case admitted && r.status == 403:
					t.Errorf("%s as %s: 403 (%s), but the route admits %s", name, role, r.ptype, role)
				case !admitted && (r.status != 403 || r.ptype != "forbidden"):
					t.Errorf("%s as %s: %d %s, want 403 forbidden", name, role, r.status, r.body)
				}
				if r.status >= 500 {
					t.Errorf("%s as %s: %d %s", name, role, r.status, r.body)
				}
				if strings.HasSuffix(rt.Path, "/logout") || strings.HasSuffix(rt.Path, "/logout-all") {
					ca.login(t, email) // that request ended the session
				}
			}
		}
		// The API key acts as its owner (an administrator): routes that do
		// not admit the owner's role refuse it as they refuse the owner;
		// account and personal (/me) routes refuse every key; the rest
		// serve it.
		r = ca.do(rt.Method, path, map[string]string{"X-API-Key": key.Key}, body)
		cells++
		ownerAdmitted := rt.Access.Admits(&authz.Principal{Role: authz.RoleAdmin})
		switch {
		case rt.Access.IsPublic():
		case !ownerAdmitted && (r.status != 403 || r.ptype != "forbidden"):
			t.Errorf("%s with an admin API key: %d %s, want 403 forbidden", name, r.status, r.body)
		case ownerAdmitted && auth.RouteScope(rt.Method, rt.Path) == "" && (r.status != 403 || r.ptype != "insufficient-scope"):
			t.Errorf("%s with an API key: %d %s, want 403 insufficient-scope", name, r.status, r.body)
		case ownerAdmitted && auth.RouteScope(rt.Method, rt.Path) != "" && (r.status == 401 || r.status == 403):
			t.Errorf("%s with an admin API key: %d %s", name, r.status, r.body)
		}
		if r.status >= 500 {
			t.Errorf("%s with an API key: %d %s", name, r.status, r.body)
		}
	}
	t.Logf("%d routes, %d cells", len(routes), cells)
}

// findRoute returns the declared route whose method matches methods and
// whose path matches pattern; a missing one fails the test (a case that
// cannot find its route would otherwise prove nothing).
func findRoute(t *testing.T, routes []api.RouteInfo, methods, pattern string) api.RouteInfo {
	t.Helper()
	mre, pre := regexp.MustCompile(methods), regexp.MustCompile(pattern)
	for _, rt := range routes {
		if mre.MatchString(rt.Method) && pre.MatchString(rt.Path) {
			return rt
		}
	}
	t.Fatalf("no route matching %s %s is declared", methods, pattern)
	return api.RouteInfo{}
}

// withID fills the first path parameter with id and the rest with fresh
// UUIDs.
func withID(path string, id uuid.UUID) string {
	first := true
	return paramRE.ReplaceAllStringFunc(path, func(string) string {
		if first {
			first = false
			return id.String()
		}
		return uuid.NewString()
	})
}

// TestOwnershipCasesTheOldSystemGotWrong covers, against the campus
// routes, what any logged-in user could do in the system this replaces.
func TestOwnershipCasesTheOldSystemGotWrong(t *testing.T) {
	t.Parallel()
	ca := newCampusAPI(t)
	routes := ca.api.Routes()
	ctx := context.Background()
	student := ca.byRole[authz.RoleStudent][0]
	otherStudent := ca.byRole[authz.RoleStudent][1]
	facultyA := ca.byRole[authz.RoleFaculty][0]

	t.Run("student approving own leave", func(t *testing.T) {
		rt := findRoute(t, routes, "POST|PUT|PATCH", `^/api/v1/leave[a-z-]*/\{[a-z_]+\}(/approve|/decision|/decide|/transitions/approve)?$`)
		var id uuid.UUID
		if err := ca.db.Pool.QueryRow(ctx, `INSERT INTO leave_applications (student_id, type, start_date, end_date, reason)
			VALUES ($1, 'medical', current_date + 30, current_date + 31, 'fever') RETURNING id`, ca.persons[student]).Scan(&id); err != nil {
			t.Fatal(err)
		}
		r := ca.do(rt.Method, withID(rt.Path, id), ca.as(student), `{"status":"approved","decision":"approve","note":"self"}`)
		if r.status != 403 && r.status != 404 {
			t.Fatalf("%s %s as the student: %d %s", rt.Method, rt.Path, r.status, r.body)
		}
		var status string
		if err := ca.db.Pool.QueryRow(ctx, `SELECT status FROM leave_applications WHERE id = $1`, id).Scan(&status); err != nil || status != "pending" {
			t.Fatalf("leave is %q after the student's attempt (%v)", status, err)
		}
	})

	t.Run("faculty marking another faculty's session", func(t *testing.T) {
		rt := findRoute(t, routes, "PUT|POST|PATCH", `^/api/v1/(attendance/)?sessions/\{[a-z_]+\}/(records|marks|attendance)$`)
		var session, studentID uuid.UUID
		err := ca.db.Pool.QueryRow(ctx, `SELECT s.id, e.student_id FROM attendance_sessions s
			JOIN enrollments e ON e.section_id = s.section_id AND e.status = 'ENROLLED'
			WHERE s.faculty_id <> $1 ORDER BY s.starts_at DESC LIMIT 1`, ca.persons[facultyA]).Scan(&session, &studentID)
		if err != nil {
			t.Fatal(err)
		}
		var before string
		_ = ca.db.Pool.QueryRow(ctx, `SELECT coalesce(string_agg(student_id::text || mark, ',' ORDER BY student_id), '') FROM attendance_records WHERE session_id = $1`, session).Scan(&before)
		body := fmt.Sprintf(`{"records":[{"student_id":%q,"mark":"present"}]}`, studentID)
		r := ca.do(rt.Method, withID(rt.Path, session), ca.as(facultyA), body)
		if r.status != 403 && r.status != 404 {
			t.Fatalf("%s as another faculty member: %d %s", rt.Path, r.status, r.body)
		}
		var after string
		_ = ca.db.Pool.QueryRow(ctx, `SELECT coalesce(string_agg(student_id::text || mark, ',' ORDER BY student_id), '') FROM attendance_records WHERE session_id = $1`, session).Scan(&after)
		if before != after {
			t.Fatal("another faculty member's marks were written")
		}
	})

	t.Run("only admin and auditor read audit events", func(t *testing.T) {
		rt := findRoute(t, routes, "GET", `^/api/v1/audit`)
		path := fill(rt.Path)
		for role, want := range map[authz.Role]bool{authz.RoleAdmin: true, authz.RoleAuditor: true,
			authz.RoleRegistrar: false, authz.RoleFaculty: false, authz.RoleStudent: false} {
			r := ca.do("GET", path, ca.as(ca.byRole[role][0]), "")
			if want && (r.status == 401 || r.status == 403) || !want && r.status != 403 {
				t.Errorf("%s as %s: %d", rt.Path, role, r.status)
			}
		}
	})

	t.Run("QR check-in only for the caller", func(t *testing.T) {
		rt := findRoute(t, routes, "POST", `check-in`)
		other := ca.persons[otherStudent]
		var before int
		_ = ca.db.Pool.QueryRow(ctx, `SELECT count(*) FROM attendance_records WHERE student_id = $1 AND source = 'qr'`, other).Scan(&before)
		body := fmt.Sprintf(`{"token":"forged","student_id":%q}`, other)
		r := ca.do("POST", fill(rt.Path), ca.as(student), body)
		if r.status < 400 || r.status >= 500 {
			t.Fatalf("check-in for someone else: %d %s", r.status, r.body)
		}
		var after int
		_ = ca.db.Pool.QueryRow(ctx, `SELECT count(*) FROM attendance_records WHERE student_id = $1 AND source = 'qr'`, other).Scan(&after)
		if after != before {
			t.Fatal("a record was written for another student")
		}
		for _, role := range []authz.Role{authz.RoleFaculty, authz.RoleRegistrar, authz.RoleAuditor} {
			if r := ca.do("POST", fill(rt.Path), ca.as(ca.byRole[role][0]), body); r.status != 403 {
				t.Errorf("check-in as %s: %d", role, r.status)
			}
		}

		// With a genuine token of a session only one of the two students is
		// enrolled in: the other cannot check in with it, for themselves
		// (403) or naming the enrolled one (400); the enrolled one checks
		// in as themselves.
		in, out := student, otherStudent
		var section uuid.UUID
		err := ca.db.Pool.QueryRow(ctx, `SELECT sec.id FROM sections sec JOIN terms t ON t.id = sec.term_id AND t.is_current
			JOIN enrollments e ON e.section_id = sec.id AND e.student_id = $1 AND e.status = 'ENROLLED'
			ORDER BY sec.id LIMIT 1`, ca.persons[in]).Scan(&section)
		if err != nil {
			t.Fatalf("a section of the student: %v", err)
		}
		// The other student is not (or no longer) on its roster.
		if _, err := ca.db.Pool.Exec(ctx, `UPDATE enrollments SET status = 'DROPPED' WHERE section_id = $1 AND student_id = $2`,
			section, ca.persons[out]); err != nil {
			t.Fatal(err)
		}
		admin := ca.byRole[authz.RoleAdmin][0]
		now := time.Now().UTC()
		cr := ca.do("POST", "/api/v1/sessions", ca.as(admin), fmt.Sprintf(`{"section_id":%q,"starts_at":%q,"ends_at":%q}`,
			section, now.Add(-time.Minute).Format(time.RFC3339), now.Add(50*time.Minute).Format(time.RFC3339)))
		var created struct {
			ID uuid.UUID `json:"id"`
		}
		if cr.status != 201 || json.Unmarshal(cr.body, &created) != nil {
			t.Fatalf("create a session: %d %s", cr.status, cr.body)
		}
		session := created.ID
		if r := ca.do("POST", "/api/v1/sessions/"+session.String()+"/open", ca.as(admin), ""); r.status != 200 {
			t.Fatalf("open the session: %d %s", r.status, r.body)
		}
		qr := ca.do("POST", "/api/v1/sessions/"+session.String()+"/qr", ca.as(admin), "")
		var tok struct {
			Token string `json:"token"`
		}
		if qr.status != 200 || json.Unmarshal(qr.body, &tok) != nil {
			t.Fatalf("QR token: %d %s", qr.status, qr.body)
		}
		records := func(email string) int {
			var n int
			_ = ca.db.Pool.QueryRow(ctx, `SELECT count(*) FROM attendance_records WHERE session_id = $1 AND student_id = $2`,
				session, ca.persons[email]).Scan(&n)
			return n
		}
		if r := ca.do("POST", fill(rt.Path), ca.as(out), fmt.Sprintf(`{"token":%q}`, tok.Token)); r.status != 403 || records(out) != 0 {
			t.Errorf("check-in into a section not theirs: %d %s", r.status, r.body)
		}
		inBefore := records(in)
		if r := ca.do("POST", fill(rt.Path), ca.as(out), fmt.Sprintf(`{"token":%q,"student_id":%q}`, tok.Token, ca.persons[in])); r.status != 400 || records(in) != inBefore {
			t.Errorf("check-in naming another student: %d %s", r.status, r.body)
		}
		r = ca.do("POST", fill(rt.Path), ca.as(in), fmt.Sprintf(`{"token":%q}`, tok.Token))
		var res struct {
			StudentID string `json:"student_id"`
		}
		if r.status != 201 && r.status != 200 || json.Unmarshal(r.body, &res) != nil || res.StudentID != ca.persons[in].String() || records(in) != 1 {
			t.Errorf("check-in of the enrolled student: %d %s", r.status, r.body)
		}
	})

	t.Run("students read only their own profile", func(t *testing.T) {
		rt := findRoute(t, routes, "GET", `^/api/v1/students/\{[a-z_]+\}$`)
		r := ca.do("GET", withID(rt.Path, ca.persons[otherStudent]), ca.as(student), "")
		if r.status != 403 && r.status != 404 {
			t.Fatalf("a student reading another student: %d %s", r.status, r.body)
		}
	})
}

// ownership is a resource a caller owns and one it does not, for the
// ownership dimension of the matrix.
type ownership struct {
	owned, foreign uuid.UUID
	// body returns the body of a write to the resource id (nil: "{}" for
	// POST, PUT and PATCH, none otherwise).
	body func(id uuid.UUID) string
}

// queryID runs a query returning one id.
func (ca *campusAPI) queryID(t *testing.T, what, q string, args ...any) uuid.UUID {
	t.Helper()
	var id uuid.UUID
	if err := ca.db.Pool.QueryRow(context.Background(), q, args...).Scan(&id); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return id
}

// ownershipFixtures returns, per resource (the first path segment after
// /api/v1/) and per role (faculty, student), a resource of that kind the
// caller owns (DOMAIN.md: a faculty member's sections, their sessions and
// their students' requests; a student's own records) and one they do not.
func (ca *campusAPI) ownershipFixtures(t *testing.T, faculty, student, otherStudent string) map[string]map[authz.Role]ownership {
	t.Helper()
	ctx := context.Background()
	F, S, S2 := ca.persons[faculty], ca.persons[student], ca.persons[otherStudent]
	taughtBy := `EXISTS (SELECT 1 FROM enrollments e JOIN sections sec ON sec.id = e.section_id
		WHERE e.student_id = %s AND e.status = 'ENROLLED' AND sec.faculty_id = $1)`
	studentOfF := ca.queryID(t, "a student of the faculty member", `SELECT s.id FROM students s WHERE `+
		fmt.Sprintf(taughtBy, "s.id")+` ORDER BY s.roll_number LIMIT 1`, F)
	studentNotOfF := ca.queryID(t, "a student the faculty member does not teach", `SELECT s.id FROM students s WHERE NOT `+
		fmt.Sprintf(taughtBy, "s.id")+` ORDER BY s.roll_number LIMIT 1`, F)

	// Leave: one pending application per student involved.
	day := 40
	leave := func(st uuid.UUID) uuid.UUID {
		day += 3
		return ca.queryID(t, "leave fixture", `INSERT INTO leave_applications (student_id, type, start_date, end_date, reason)
			VALUES ($1, 'medical', current_date + $2::int, current_date + $2::int + 1, 'fixture') RETURNING id`, st, day)
	}
	// Corrections: one pending request on an existing mark chosen by
	// where (over r, the record, and sec, its session's section; $1 is the
	// faculty member).
	correction := func(where string) uuid.UUID {
		return ca.queryID(t, "correction fixture ("+where+")", `INSERT INTO correction_requests (session_id, student_id, session_date, from_mark, to_mark, reason)
			SELECT r.session_id, r.student_id, r.session_date, r.mark, CASE WHEN r.mark = 'present' THEN 'absent' ELSE 'present' END, 'fixture'
			FROM attendance_records r JOIN attendance_sessions ses ON ses.id = r.session_id AND ses.session_date = r.session_date
			JOIN sections sec ON sec.id = ses.section_id
			WHERE `+where+` AND $1::uuid IS NOT NULL AND NOT EXISTS (SELECT 1 FROM correction_requests c
				WHERE c.session_id = r.session_id AND c.student_id = r.student_id AND c.status = 'pending')
			ORDER BY r.session_date DESC, r.student_id LIMIT 1 RETURNING id`, F)
	}
	// A record body naming a student enrolled in the session's section.
	marks := func(session uuid.UUID) string {
		var st uuid.UUID
		_ = ca.db.Pool.QueryRow(ctx, `SELECT e.student_id FROM attendance_sessions ses
			JOIN enrollments e ON e.section_id = ses.section_id AND e.status = 'ENROLLED'
			WHERE ses.id = $1 ORDER BY e.student_id LIMIT 1`, session).Scan(&st)
		return fmt.Sprintf(`{"records":[{"student_id":%q,"mark":"present"}]}`, st)
	}
	// API keys: one the faculty member created, one an administrator did.
	apiKey := func(email string) uuid.UUID {
		r := ca.do("POST", "/api/v1/api-keys", ca.as(email), `{"name":"ownership","scopes":["sessions:read"]}`)
		var k struct {
			ID uuid.UUID `json:"id"`
		}
		if r.status != 201 || json.Unmarshal(r.body, &k) != nil {
			t.Fatalf("api key as %s: %d %s", email, r.status, r.body)
		}
		return k.ID
	}
	admin := ca.byRole[authz.RoleAdmin][0]
	return map[string]map[authz.Role]ownership{
		"students": {
			authz.RoleFaculty: {owned: studentOfF, foreign: studentNotOfF},
			authz.RoleStudent: {owned: S, foreign: S2},
		},
		"sections": {
			authz.RoleFaculty: {owned: ca.queryID(t, "own section", `SELECT id FROM sections WHERE faculty_id = $1 ORDER BY id LIMIT 1`, F),
				foreign: ca.queryID(t, "another's section", `SELECT id FROM sections WHERE faculty_id <> $1 ORDER BY id LIMIT 1`, F)},
			authz.RoleStudent: {owned: ca.queryID(t, "enrolled section", `SELECT section_id FROM enrollments WHERE student_id = $1 AND status = 'ENROLLED' ORDER BY section_id LIMIT 1`, S),
				foreign: ca.queryID(t, "section not enrolled in", `SELECT id FROM sections sec WHERE NOT EXISTS (SELECT 1 FROM enrollments e
					WHERE e.section_id = sec.id AND e.student_id = $1) ORDER BY id LIMIT 1`, S)},
		},
		"sessions": {
			authz.RoleFaculty: {owned: ca.queryID(t, "own session", `SELECT ses.id FROM attendance_sessions ses JOIN sections sec ON sec.id = ses.section_id
					WHERE ses.faculty_id = $1 AND sec.faculty_id = $1 ORDER BY ses.starts_at DESC LIMIT 1`, F),
				foreign: ca.queryID(t, "another's session", `SELECT ses.id FROM attendance_sessions ses JOIN sections sec ON sec.id = ses.section_id
					WHERE ses.faculty_id <> $1 AND sec.faculty_id <> $1 ORDER BY ses.starts_at DESC LIMIT 1`, F),
				body: marks},
		},
		"leave": {
			authz.RoleFaculty: {owned: leave(studentOfF), foreign: leave(studentNotOfF)},
			authz.RoleStudent: {owned: leave(S), foreign: leave(S2)},
		},
		"corrections": {
			authz.RoleFaculty: {owned: correction("sec.faculty_id = $1"),
				foreign: correction("sec.faculty_id <> $1 AND NOT " + fmt.Sprintf(taughtBy, "r.student_id"))},
			authz.RoleStudent: {owned: correction("r.student_id = '" + S.String() + "'"),
				foreign: correction("r.student_id = '" + S2.String() + "'")},
		},
		"api-keys": {
			authz.RoleFaculty: {owned: apiKey(faculty), foreign: apiKey(admin)},
		},
	}
}

// TestOwnershipMatrix is the ownership dimension of the matrix: every
// route with a path parameter that admits faculty or students is called,
// as each of those roles, on a resource the caller does not own (403 or
// 404, and, for a write, the resource unchanged as an administrator reads
// it) and on one it owns (neither). The routes come from the API itself: a
// new route of a resource without fixtures fails here until it has some.
func TestOwnershipMatrix(t *testing.T) {
	t.Parallel()
	ca := newCampusAPI(t)
	faculty := ca.byRole[authz.RoleFaculty][0]
	student, otherStudent := ca.byRole[authz.RoleStudent][0], ca.byRole[authz.RoleStudent][1]
	fixtures := ca.ownershipFixtures(t, faculty, student, otherStudent)
	admin := ca.byRole[authz.RoleAdmin][0]
	byRole := map[authz.Role]string{authz.RoleFaculty: faculty, authz.RoleStudent: student}
	getRoutes := map[string]bool{}
	for _, rt := range ca.api.Routes() {
		if rt.Method == "GET" {
			getRoutes[rt.Path] = true
		}
	}
	// snapshot is what an administrator reads of the resource.
	snapshot := func(kind string, id uuid.UUID) string {
		if !getRoutes["/api/v1/"+kind+"/{id}"] {
			return ""
		}
		r := ca.do("GET", "/api/v1/"+kind+"/"+id.String(), ca.as(admin), "")
		return fmt.Sprint(r.status, string(r.body))
	}
	cells := 0
	for _, rt := range ca.api.Routes() {
		if rt.Access.IsPublic() || !strings.Contains(rt.Path, "{") {
			continue
		}
		kind, _, _ := strings.Cut(strings.TrimPrefix(rt.Path, "/api/v1/"), "/")
		for _, role := range []authz.Role{authz.RoleFaculty, authz.RoleStudent} {
			if !rt.Access.Admits(&authz.Principal{Role: role}) {
				continue
			}
			name := rt.Method + " " + rt.Path + " as " + string(role)
			fx, ok := fixtures[kind][role]
			if !ok {
				t.Errorf("%s: no ownership fixture for %q resources", name, kind)
				continue
			}
			body := func(id uuid.UUID) string {
				switch {
				case fx.body != nil && rt.Method != "GET" && strings.HasSuffix(rt.Path, "/records"):
					return fx.body(id)
				case rt.Method == "POST" || rt.Method == "PUT" || rt.Method == "PATCH":
					return "{}"
				}
				return ""
			}
			email := byRole[role]
			before := snapshot(kind, fx.foreign)
			r := ca.do(rt.Method, withID(rt.Path, fx.foreign), ca.as(email), body(fx.foreign))
			cells++
			if r.status != 403 && r.status != 404 {
				t.Errorf("%s on a resource not theirs: %d %s", name, r.status, r.body)
			}
			if rt.Method != "GET" {
				if after := snapshot(kind, fx.foreign); after != before {
					t.Errorf("%s on a resource not theirs changed it:\n%s\n%s", name, before, after)
				}
			}
			r = ca.do(rt.Method, withID(rt.Path, fx.owned), ca.as(email), body(fx.owned))
			cells++
			if r.status == 401 || r.status == 403 || r.status == 404 || r.status >= 500 {
				t.Errorf("%s on their own resource: %d %s", name, r.status, r.body)
			}
		}
	}
	if cells < 30 {
		t.Fatalf("only %d ownership cells", cells)
	}
	t.Logf("%d ownership cells", cells)
}

// TestOpenAPIDocumentsTheServedAPI checks, on the API serve builds (with
// the authentication and account routes), that the OpenAPI document lists
// exactly the routes served, each with its access.
func TestOpenAPIDocumentsTheServedAPI(t *testing.T) {
	t.Parallel()
	ca := newCampusAPI(t)
	r := ca.do("GET", "/api/v1/openapi.json", nil, "")
	var doc struct {
		Paths map[string]map[string]struct {
			Summary  string                `json:"summary"`
			Security []map[string][]string `json:"security"`
			Roles    []string              `json:"x-roles"`
		} `json:"paths"`
	}
	if r.status != 200 || json.Unmarshal(r.body, &doc) != nil {
		t.Fatalf("openapi.json: %d", r.status)
	}
	served := map[string]bool{}
	for _, rt := range ca.api.Routes() {
		served[strings.ToLower(rt.Method)+" "+rt.Path] = true
		op, ok := doc.Paths[rt.Path][strings.ToLower(rt.Method)]
		switch {
		case !ok:
			t.Errorf("%s %s is served but not documented", rt.Method, rt.Path)
		case op.Summary == "":
			t.Errorf("%s %s has no summary", rt.Method, rt.Path)
		case rt.Access.IsPublic() != (len(op.Security) == 0):
			t.Errorf("%s %s: public %v, documented security %v", rt.Method, rt.Path, rt.Access.IsPublic(), op.Security)
		}
	}
	for path, ops := range doc.Paths {
		for method := range ops {
			if !served[method+" "+path] {
				t.Errorf("%s %s is documented but not served", method, path)
			}
		}
	}
	for _, want := range []string{"post /api/v1/auth/login", "get /api/v1/me", "post /api/v1/api-keys", "put /api/v1/sessions/{id}/records"} {
		if !served[want] {
			t.Errorf("%s is not served", want)
		}
	}
}
