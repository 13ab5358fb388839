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
	a, _, err := buildAPI(ctx, cfg, db.Pool, rdb, discardAudit{}, prometheus.NewRegistry(), slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
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
		// The API key: account routes refuse it, the rest act as its owner.
		r = ca.do(rt.Method, path, map[string]string{"X-API-Key": key.Key}, body)
		cells++
		switch {
		case rt.Access.IsPublic():
		case auth.RouteScope(rt.Method, rt.Path) == "" && (r.status != 403 || r.ptype != "insufficient-scope"):
			t.Errorf("%s with an API key: %d %s, want 403 insufficient-scope", name, r.status, r.body)
		case auth.RouteScope(rt.Method, rt.Path) != "" && rt.Access.Admits(&authz.Principal{Role: authz.RoleAdmin}) && (r.status == 401 || r.status == 403):
			t.Errorf("%s with an admin API key: %d %s", name, r.status, r.body)
		}
	}
	t.Logf("%d routes, %d cells", len(routes), cells)
}

// findRoute returns the declared route whose method matches methods and
// whose path matches pattern, or skips the test: these cases are written
// against routes the campus API declares; they run once it does.
func findRoute(t *testing.T, routes []api.RouteInfo, methods, pattern string) api.RouteInfo {
	t.Helper()
	mre, pre := regexp.MustCompile(methods), regexp.MustCompile(pattern)
	for _, rt := range routes {
		if mre.MatchString(rt.Method) && pre.MatchString(rt.Path) {
			return rt
		}
	}
	t.Skipf("no route matching %s %s is declared yet", methods, pattern)
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
		body := fmt.Sprintf(`{"records":[{"student_id":%q,"mark":"present"}],"items":[{"student_id":%q,"mark":"present"}]}`, studentID, studentID)
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
	})

	t.Run("students read only their own profile", func(t *testing.T) {
		rt := findRoute(t, routes, "GET", `^/api/v1/students/\{[a-z_]+\}$`)
		r := ca.do("GET", withID(rt.Path, ca.persons[otherStudent]), ca.as(student), "")
		if r.status != 403 && r.status != 404 {
			t.Fatalf("a student reading another student: %d %s", r.status, r.body)
		}
	})
}
