package scenario

import (
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/campshub360/edge/benchmarks/internal/runner"
	"github.com/campshub360/edge/benchmarks/internal/testsrv"
)

func campus(t *testing.T) (*testsrv.Campus, *runner.Client) {
	t.Helper()
	c := &testsrv.Campus{Password: "secret", Students: 20}
	srv := testsrv.Start(t, c.Handle, false)
	cl, err := runner.NewClient(runner.ClientConfig{URL: srv.URL, Connections: 4, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return c, cl
}

const authScenario = `name: campus
auth:
  users:
    - {username: fac1, password: "${PW}", section: A}
  users_file: users.yaml
  generate: {username: "student%02d", password: secret, count: 3, start: 1}
  concurrency: 2
params:
  student_id:
    url: /api/v1/students?limit=5&d={today}
    pluck: items[].id
  day:
    file: days.txt
    auth: false
    pick: sequence
requests:
  - name: get
    path: /api/v1/students/{student_id}
  - name: mark
    method: POST
    path: /api/v1/marks?day={day}
    headers: {X-Section: "{user.section}", X-Id: "{student_id}"}
    body: '{"student_id":"{student_id}","n":{seq}}'
  - name: health
    path: /health/
    auth: false
`

func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestPrepareLogsInAndLoadsParams(t *testing.T) {
	cp, cl := campus(t)
	dir := writeFiles(t, map[string]string{
		"scenario.yaml": authScenario,
		"users.yaml":    "- {username: fac2, password: secret, section: B}\n",
		"days.txt":      "# dates\n2026-03-02\n\n2026-03-03\n",
	})
	sc, err := Load(filepath.Join(dir, "scenario.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	// The generated students have no section; cap the pool to the two
	// faculty members who do.
	sc.Auth.Pools[0].MaxUsers = 2
	var logs []string
	plan, err := sc.Prepare(t.Context(), cl, PrepareOptions{
		Getenv: func(k string) string { return map[string]string{"PW": "secret"}[k] },
		Now:    func() time.Time { return time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC) },
		Logf:   func(f string, a ...any) { logs = append(logs, f) },
	})
	if err != nil {
		t.Fatal(err)
	}
	if plan.Users() != 2 || len(logs) != 3 {
		t.Fatalf("users %d logs %v", plan.Users(), logs)
	}
	seen := cp.Seen()
	var logins int
	for _, s := range seen {
		if strings.HasSuffix(s.URI, "/auth/login") {
			logins++
			if s.ContentType != "application/json" || !strings.Contains(s.Body, `"username":"fac`) || !strings.Contains(s.Body, `"password":"secret"`) {
				t.Fatalf("login request %+v", s)
			}
		}
	}
	fetch := seen[len(seen)-1]
	if logins != 2 || fetch.URI != "/api/v1/students?limit=5&d=2026-03-02" || fetch.Authorization != "Bearer tok-fac1" {
		t.Fatalf("logins %d, fetch %+v", logins, fetch)
	}

	kinds := plan.Kinds()
	if len(kinds) != 3 || kinds[0].Name != "get" || kinds[2].Name != "health" {
		t.Fatalf("kinds %+v", kinds)
	}
	f := plan.NewFiller(0, rand.New(rand.NewPCG(1, 2)))
	req := fasthttp.AcquireRequest()
	defer fasthttp.ReleaseRequest(req)
	counts := make([]int, 3)
	days := map[string]bool{}
	for seq := range int64(300) {
		req.Reset()
		k := f.Fill(req, seq)
		counts[k]++
		uri := string(req.URI().FullURI())
		auth := string(req.Header.Peek("Authorization"))
		switch k {
		case 0:
			if !strings.HasPrefix(uri, cl.BaseURL()+"/api/v1/students/s-000") || !strings.HasPrefix(auth, "Bearer tok-fac") || string(req.Header.Method()) != "GET" {
				t.Fatalf("get: %s %q", uri, auth)
			}
		case 1:
			body := string(req.Body())
			id := string(req.Header.Peek("X-Id"))
			sec := string(req.Header.Peek("X-Section"))
			if string(req.Header.Method()) != "POST" || string(req.Header.ContentType()) != "application/json" ||
				!strings.Contains(body, `"student_id":"`+id+`"`) || !strings.Contains(body, `"n":`) {
				t.Fatalf("mark: body %s id %s", body, id)
			}
			// The user's own field goes with the user's own token.
			if (sec == "A") != (auth == "Bearer tok-fac1") || (sec == "B") != (auth == "Bearer tok-fac2") {
				t.Fatalf("section %q with token %q", sec, auth)
			}
			days[string(req.URI().QueryArgs().Peek("day"))] = true
		case 2:
			if auth != "" || uri != cl.BaseURL()+"/health/" {
				t.Fatalf("health: %s %q", uri, auth)
			}
		}
	}
	for k, n := range counts {
		if n < 50 {
			t.Fatalf("kind %d drawn %d of 300 times (equal weights)", k, n)
		}
	}
	if !days["2026-03-02"] || !days["2026-03-03"] || len(days) != 2 {
		t.Fatalf("days %v", days)
	}
}

func TestPrepareFailures(t *testing.T) {
	_, cl := campus(t)
	cases := []struct {
		name, src, want string
		files           map[string]string
		env             map[string]string
	}{
		{"wrong password", "auth: {users: [{username: u, password: nope}]}\nrequests: [{path: /}]\n", `login of user "u": POST /api/v1/auth/login: status 401`, nil, nil},
		{"unset env", "auth: {users: [{username: u, password: '${NOPE}'}]}\nrequests: [{path: /}]\n", "environment variable NOPE is not set", nil, nil},
		{"missing user field", "auth: {users: [{username: u, password: secret}]}\nrequests: [{path: '/{user.sid}'}]\n", "has no field sid", nil, nil},
		{"bad token field", "auth: {token_field: jwt, users: [{username: u, password: secret}]}\nrequests: [{path: /}]\n", `no field "jwt"`, nil, nil},
		{"bad login path", "auth: {login: /nope, users: [{username: u, password: secret}]}\nrequests: [{path: /}]\n", "status 404", nil, nil},
		{"missing users file", "auth: {users_file: none.yaml}\nrequests: [{path: /}]\n", "users_file", nil, nil},
		{"bad users file", "auth: {users_file: u.yaml}\nrequests: [{path: /}]\n", "entry 0", map[string]string{"u.yaml": "- {username: x}\n"}, nil},
		{"missing params file", "params: {a: {file: none.txt}}\nrequests: [{path: '/{a}'}]\n", "params.a (line 1)", nil, nil},
		{"empty params file", "params: {a: {file: a.txt}}\nrequests: [{path: '/{a}'}]\n", "no values", map[string]string{"a.txt": "# none\n"}, nil},
		{"url needs auth", "params: {a: {url: /api/v1/students, pluck: 'items[].id'}}\nrequests: [{path: '/{a}'}]\n", "status 401", nil, nil},
		{"url pluck mismatch", "params: {a: {url: /health/, pluck: 'items[].id'}}\nrequests: [{path: '/{a}'}]\n", `no field "items"`, nil, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := writeFiles(t, c.files)
			sc, err := Parse(c.name, []byte(c.src))
			if err != nil {
				t.Fatal(err)
			}
			sc.Dir = dir
			_, err = sc.Prepare(t.Context(), cl, PrepareOptions{Getenv: func(k string) string { return c.env[k] }})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want %q", err, c.want)
			}
			if strings.Contains(err.Error(), "secret") || strings.Contains(err.Error(), "nope\"") {
				t.Fatalf("error leaks a password: %v", err)
			}
		})
	}
}

func TestPrepareCancelled(t *testing.T) {
	_, cl := campus(t)
	sc, err := Parse("x", []byte("auth: {generate: {username: 'u%d', password: secret, count: 50}}\nrequests: [{path: /}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := sc.Prepare(ctx, cl, PrepareOptions{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
}

func TestFillDoesNotAllocate(t *testing.T) {
	_, cl := campus(t)
	sc, err := Parse("x", []byte(`headers: {X-Id: "{uuid}"}
params: {id: {values: [a, b, c]}}
requests:
  - {path: "/s/{id}?n={seq}", weight: 2}
  - {method: POST, path: /m, body: '{"id":"{id}","at":"{now}"}', headers: {X-Day: "{today}"}}
`))
	if err != nil {
		t.Fatal(err)
	}
	plan, err := sc.Prepare(t.Context(), cl, PrepareOptions{})
	if err != nil {
		t.Fatal(err)
	}
	f := plan.NewFiller(0, rand.New(rand.NewPCG(1, 1)))
	req := fasthttp.AcquireRequest()
	defer fasthttp.ReleaseRequest(req)
	var seq int64
	fill := func() {
		req.Reset()
		f.Fill(req, seq)
		seq++
	}
	for range 100 { // warm the buffers up
		fill()
	}
	if n := testing.AllocsPerRun(1000, fill); n != 0 {
		t.Fatalf("Fill allocates %v times per request", n)
	}
}

func BenchmarkFill(b *testing.B) {
	c := &testsrv.Campus{}
	srv := testsrv.Start(b, c.Handle, false)
	cl, err := runner.NewClient(runner.ClientConfig{URL: srv.URL, Connections: 1, Timeout: time.Second})
	if err != nil {
		b.Fatal(err)
	}
	sc, err := Parse("x", []byte(`params: {id: {values: [a, b, c]}}
requests:
  - {path: "/s/{id}?n={seq}"}
  - {method: POST, path: /m, body: '{"id":"{id}","day":"{today}"}'}
`))
	if err != nil {
		b.Fatal(err)
	}
	plan, err := sc.Prepare(b.Context(), cl, PrepareOptions{})
	if err != nil {
		b.Fatal(err)
	}
	f := plan.NewFiller(0, rand.New(rand.NewPCG(1, 1)))
	req := fasthttp.AcquireRequest()
	defer fasthttp.ReleaseRequest(req)
	b.ReportAllocs()
	for i := int64(0); b.Loop(); i++ {
		req.Reset()
		f.Fill(req, i)
	}
}
