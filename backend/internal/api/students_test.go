package api_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	_ "time/tzdata"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/campshub360/edge/backend/internal/api"
	"github.com/campshub360/edge/backend/internal/testdb"
)

// item mirrors a student item of the API.
type item struct {
	ID          string  `json:"id"`
	RollNumber  string  `json:"roll_number"`
	FirstName   string  `json:"first_name"`
	LastName    string  `json:"last_name"`
	Email       *string `json:"email"`
	Department  string  `json:"department"`
	Program     string  `json:"program"`
	YearOfStudy int     `json:"year_of_study"`
	Section     string  `json:"section"`
	Status      string  `json:"status"`
	CreatedAt   string  `json:"created_at"`
	UpdatedAt   string  `json:"updated_at"`
}

type page struct {
	Items      []item  `json:"items"`
	NextCursor *string `json:"next_cursor"`
}

// studentsCampus serves a seeded campus with an administrator's token sent
// by default.
func studentsCampus(t *testing.T, students int) *campus {
	t.Helper()
	c := newCampus(t, campusOpts{students: students, weeks: 1})
	c.srv.token = c.admin.token
	return c
}

func (c *campus) count(t *testing.T, where string, args ...any) int {
	t.Helper()
	var n int
	q := `SELECT count(*) FROM students s JOIN departments d ON d.id = s.department_id ` + where
	if err := c.db.Pool.QueryRow(context.Background(), q, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func decodePage(t *testing.T, r response) page {
	t.Helper()
	if r.status != 200 {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type %q", ct)
	}
	if cc := r.header.Get("Cache-Control"); cc != "private, no-cache" {
		t.Fatalf("Cache-Control %q", cc)
	}
	var p page
	if err := json.Unmarshal(r.body, &p); err != nil {
		t.Fatalf("body %s: %v", r.body, err)
	}
	return p
}

// walk pages through the list with query q and returns every item.
func (c *campus) walk(t *testing.T, q url.Values, limit int) []item {
	t.Helper()
	var all []item
	q.Set("limit", strconv.Itoa(limit))
	for pages := 0; ; pages++ {
		if pages > 10000 {
			t.Fatal("pagination does not end")
		}
		p := decodePage(t, c.srv.get(t, "/api/v1/students?"+q.Encode()))
		all = append(all, p.Items...)
		if p.NextCursor == nil {
			if len(p.Items) > limit {
				t.Fatalf("last page of %d items over limit %d", len(p.Items), limit)
			}
			return all
		}
		if len(p.Items) != limit {
			t.Fatalf("page %d has %d items, want %d before the last page", pages, len(p.Items), limit)
		}
		q.Set("cursor", *p.NextCursor)
	}
}

// checkOrder asserts items are strictly ascending by roll number and each
// id appears once.
func checkOrder(t *testing.T, items []item) {
	t.Helper()
	seen := map[string]bool{}
	for i, it := range items {
		if seen[it.ID] {
			t.Fatalf("student %s listed twice", it.ID)
		}
		seen[it.ID] = true
		if i > 0 && items[i-1].RollNumber >= it.RollNumber {
			t.Fatalf("order broken at %d: %s then %s", i, items[i-1].RollNumber, it.RollNumber)
		}
	}
}

func TestStudentsAPI(t *testing.T) {
	t.Parallel()
	c := studentsCampus(t, 600)
	total := c.count(t, "")

	t.Run("full walk with limit 37 visits every student once, in order", func(t *testing.T) {
		items := c.walk(t, url.Values{}, 37)
		if len(items) != total {
			t.Fatalf("walk returned %d students, want %d", len(items), total)
		}
		checkOrder(t, items)
	})

	t.Run("item shape", func(t *testing.T) {
		r := c.srv.get(t, "/api/v1/students?limit=1")
		var raw struct {
			Items []map[string]any `json:"items"`
		}
		if err := json.Unmarshal(r.body, &raw); err != nil || len(raw.Items) != 1 {
			t.Fatalf("body %s: %v", r.body, err)
		}
		var keys []string
		for k := range raw.Items[0] {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		want := []string{"created_at", "department", "email", "first_name", "gender", "id", "last_name", "program",
			"roll_number", "section", "status", "updated_at", "year_of_study"}
		if !slices.Equal(keys, want) {
			t.Fatalf("item keys %v, want %v", keys, want)
		}
		it := decodePage(t, r).Items[0]
		for _, ts := range []string{it.CreatedAt, it.UpdatedAt} {
			parsed, err := time.Parse(time.RFC3339Nano, ts)
			if err != nil || !strings.HasSuffix(ts, "Z") || parsed.IsZero() {
				t.Fatalf("timestamp %q is not RFC 3339 UTC: %v", ts, err)
			}
		}
		if _, err := uuid.Parse(it.ID); err != nil {
			t.Fatalf("id %q: %v", it.ID, err)
		}
	})

	t.Run("default and maximum limits", func(t *testing.T) {
		if p := decodePage(t, c.srv.get(t, "/api/v1/students")); len(p.Items) != 50 || p.NextCursor == nil {
			t.Fatalf("default page: %d items, next %v", len(p.Items), p.NextCursor)
		}
		p := decodePage(t, c.srv.get(t, "/api/v1/students?limit=500"))
		if len(p.Items) != min(500, total) {
			t.Fatalf("limit=500: %d items", len(p.Items))
		}
	})

	t.Run("filters", func(t *testing.T) {
		for _, tc := range []struct {
			q     url.Values
			where string
			args  []any
		}{
			{url.Values{"department": {"CSE"}}, "WHERE d.code = $1", []any{"CSE"}},
			{url.Values{"department": {"ece"}}, "WHERE d.code = $1", []any{"ECE"}},
			{url.Values{"year": {"2"}}, "WHERE s.year_of_study = $1", []any{2}},
			{url.Values{"department": {"MATH"}, "year": {"1"}}, "WHERE d.code = $1 AND s.year_of_study = $2", []any{"MATH", 1}},
		} {
			want := c.count(t, tc.where, tc.args...)
			if want == 0 {
				t.Fatalf("%v matches no student; the fixture is too small", tc.q)
			}
			items := c.walk(t, tc.q, 37)
			if len(items) != want {
				t.Fatalf("%v: %d items, want %d", tc.q, len(items), want)
			}
			checkOrder(t, items)
			for _, it := range items {
				if d := tc.q.Get("department"); d != "" && it.Department != strings.ToUpper(d) {
					t.Fatalf("%v returned a student of %s", tc.q, it.Department)
				}
				if y := tc.q.Get("year"); y != "" && strconv.Itoa(it.YearOfStudy) != y {
					t.Fatalf("%v returned a student in year %d", tc.q, it.YearOfStudy)
				}
			}
		}
		// A known department with nobody in that year: an empty last page.
		p := decodePage(t, c.srv.get(t, "/api/v1/students?department=MATH&year=6"))
		if len(p.Items) != 0 || p.NextCursor != nil {
			t.Fatalf("empty result: %+v", p)
		}
	})

	t.Run("bad input is a 400 problem naming the field", func(t *testing.T) {
		first := decodePage(t, c.srv.get(t, "/api/v1/students?limit=5"))
		cur := *first.NextCursor
		raw, _ := base64.RawURLEncoding.DecodeString(cur)
		raw[len(raw)/2] ^= 0x01
		forged := base64.RawURLEncoding.EncodeToString(raw)
		cse := decodePage(t, c.srv.get(t, "/api/v1/students?limit=5&department=CSE"))

		for _, tc := range []struct {
			query  string
			fields []string
		}{
			{"limit=0", []string{"limit"}},
			{"limit=100000", []string{"limit"}},
			{"limit=abc", []string{"limit"}},
			{"limit=-1", []string{"limit"}},
			{"limit=", []string{"limit"}},
			{"limit=5&limit=6", []string{"limit"}},
			{"year=x", []string{"year"}},
			{"year=0", []string{"year"}},
			{"year=7", []string{"year"}},
			{"department=ZZZ", []string{"department"}},
			{"department=c%21", []string{"department"}},
			{"department=", []string{"department"}},
			{"cursor=garbage", []string{"cursor"}},
			{"cursor=", []string{"cursor"}},
			{"cursor=" + cur[:len(cur)-3], []string{"cursor"}},
			{"cursor=" + forged, []string{"cursor"}},
			{"cursor=" + url.QueryEscape(cur+"\n"), []string{"cursor"}},
			{"cursor=" + *cse.NextCursor, []string{"cursor"}},                       // issued for department=CSE
			{"department=ECE&cursor=" + *cse.NextCursor, []string{"cursor"}},        // other filters
			{"department=CSE&year=1&cursor=" + *cse.NextCursor, []string{"cursor"}}, // added filter
			{"sort=name", []string{"sort"}},
			{"limit=0&year=9&cursor=zz", []string{"limit", "year", "cursor"}},
		} {
			p := problemOf(t, c.srv.get(t, "/api/v1/students?"+tc.query), 400)
			got := fieldsOf(p)
			if !slices.Equal(got, tc.fields) {
				t.Errorf("%s: fields %v, want %v (%+v)", tc.query, got, tc.fields, p.Errors)
			}
			if !strings.HasSuffix(p.Type, "/validation") {
				t.Errorf("%s: type %s", tc.query, p.Type)
			}
		}
		// The same cursor with its own filters, in any case, works.
		if p := decodePage(t, c.srv.get(t, "/api/v1/students?limit=5&department=cse&cursor="+*cse.NextCursor)); len(p.Items) == 0 {
			t.Fatal("cursor rejected with its own filters")
		}
	})

	t.Run("get by id", func(t *testing.T) {
		want := decodePage(t, c.srv.get(t, "/api/v1/students?limit=3")).Items[2]
		r := c.srv.get(t, "/api/v1/students/"+want.ID)
		if r.status != 200 {
			t.Fatalf("status %d: %s", r.status, r.body)
		}
		var got item
		if err := json.Unmarshal(r.body, &got); err != nil {
			t.Fatal(err)
		}
		if got.ID != want.ID || got.RollNumber != want.RollNumber || got.Email == nil || *got.Email != *want.Email {
			t.Fatalf("got %+v, want %+v", got, want)
		}
		if r := c.srv.get(t, "/api/v1/students/"+strings.ToUpper(want.ID)); r.status != 200 {
			t.Fatalf("upper-case UUID: status %d", r.status)
		}
		for _, bad := range []string{"not-a-uuid", "123", "{" + want.ID + "}", strings.ReplaceAll(want.ID, "-", ""), "urn:uuid:" + want.ID} {
			p := problemOf(t, c.srv.get(t, "/api/v1/students/"+url.PathEscape(bad)), 400)
			if !slices.Equal(fieldsOf(p), []string{"id"}) {
				t.Fatalf("%s: fields %v", bad, fieldsOf(p))
			}
		}
		p := problemOf(t, c.srv.get(t, "/api/v1/students/"+uuid.NewString()), 404)
		if !strings.HasSuffix(p.Type, "/not-found") {
			t.Fatalf("404 type %s", p.Type)
		}
	})

	t.Run("health, readiness and metrics", func(t *testing.T) {
		r := c.srv.get(t, "/health/")
		if r.status != 200 || string(r.body) != `{"status":"ok"}` || r.header.Get("Cache-Control") != "no-store" {
			t.Fatalf("/health/: %d %s", r.status, r.body)
		}
		r = c.srv.get(t, "/ready")
		if r.status != 200 || !strings.Contains(string(r.body), `"postgres":"ok"`) {
			t.Fatalf("/ready: %d %s", r.status, r.body)
		}
		for _, path := range []string{"/health/", "/ready"} {
			if r := c.srv.do(t, "HEAD", path, nil); r.status != 200 || len(r.body) != 0 {
				t.Fatalf("HEAD %s: %d, %d body bytes", path, r.status, len(r.body))
			}
		}
		r = c.srv.get(t, "/metrics")
		if r.status != 200 || !strings.Contains(string(r.body), `campshub_backend_http_requests_total{code="200",method="GET",route="/api/v1/students"}`) {
			t.Fatalf("/metrics: %d, missing the students route counter:\n%s", r.status, r.body)
		}
		if strings.Contains(string(r.body), `route="/api/v1/students/0`) {
			t.Fatal("a raw path leaked into a metric label")
		}
	})

	t.Run("X-Request-ID", func(t *testing.T) {
		r := c.srv.do(t, "GET", "/api/v1/students?limit=1", map[string]string{"X-Request-ID": "client-abc_123:4.5"})
		if got := r.header.Get("X-Request-ID"); got != "client-abc_123:4.5" {
			t.Fatalf("valid inbound id not echoed: %q", got)
		}
		r = c.srv.do(t, "GET", "/api/v1/students?limit=1", map[string]string{"X-Request-ID": "bad id \"quoted\""})
		got := r.header.Get("X-Request-ID")
		if _, err := uuid.Parse(got); err != nil || len(got) != 36 {
			t.Fatalf("invalid inbound id not replaced by a minted one: %q", got)
		}
		for _, path := range []string{"/nope", "/health/", "/ready", "/api/v1/students?limit=0"} {
			if c.srv.get(t, path).header.Get("X-Request-ID") == "" {
				t.Fatalf("%s: no X-Request-ID", path)
			}
		}
		if !strings.Contains(c.srv.logs.String(), `"request_id":"client-abc_123:4.5"`) {
			t.Fatal("access log does not carry the request id")
		}
	})

	t.Run("unknown routes and methods", func(t *testing.T) {
		for _, path := range []string{"/nope", "/api/v1/student", "/api/v1/students/x/y", "/health", "/API/V1/STUDENTS"} {
			p := problemOf(t, c.srv.get(t, path), 404)
			if !strings.HasSuffix(p.Type, "/not-found") {
				t.Fatalf("%s: %s", path, p.Type)
			}
		}
		r := c.srv.do(t, "PUT", "/api/v1/students", nil)
		problemOf(t, r, 405)
		if allow := r.header.Get("Allow"); allow != "GET, HEAD, OPTIONS, POST" {
			t.Fatalf("Allow %q", allow)
		}
		r = c.srv.do(t, "PUT", "/api/v1/students/"+uuid.NewString(), nil)
		problemOf(t, r, 405)
		r = c.srv.do(t, "OPTIONS", "/api/v1/students", nil)
		if r.status != 204 || r.header.Get("Allow") != "GET, HEAD, OPTIONS, POST" || r.header.Get("X-Request-ID") == "" {
			t.Fatalf("OPTIONS: %d, Allow %q", r.status, r.header.Get("Allow"))
		}
		// Every GET answers HEAD, without a body.
		r = c.srv.do(t, "HEAD", "/api/v1/students?limit=2", nil)
		if r.status != 200 || len(r.body) != 0 || r.header.Get("ETag") == "" {
			t.Fatalf("HEAD students: %d %q", r.status, r.header)
		}
	})
}

func TestReadinessFailsWhenPostgresIsGone(t *testing.T) {
	t.Parallel()
	c := studentsCampus(t, 20)
	if r := c.srv.get(t, "/ready"); r.status != 200 {
		t.Fatalf("/ready before: %d %s", r.status, r.body)
	}
	c.db.Pool.Close()
	p := problemOf(t, c.srv.get(t, "/ready"), 503)
	if !strings.Contains(p.Detail, "postgres") {
		t.Fatalf("detail %q does not name postgres", p.Detail)
	}
	r := c.srv.get(t, "/api/v1/students")
	p = problemOf(t, r, 503)
	if r.header.Get("Retry-After") == "" || strings.Contains(p.Detail, "pool") {
		t.Fatalf("503 without Retry-After or with internal detail: %+v", p)
	}
	if !strings.Contains(c.srv.logs.String(), "readiness check failing") {
		t.Fatal("readiness failure not logged")
	}
	if r := c.srv.get(t, "/health/"); r.status != 200 {
		t.Fatalf("liveness must not depend on PostgreSQL: %d", r.status)
	}
}

func TestReadinessWithRedis(t *testing.T) {
	t.Parallel()
	opts, err := redis.ParseURL(testdb.RedisURL(t))
	if err != nil {
		t.Fatal(err)
	}
	up := redis.NewClient(opts)
	t.Cleanup(func() { _ = up.Close() })
	down := redis.NewClient(&redis.Options{Addr: closedAddr(t), DialTimeout: time.Second, MaxRetries: -1})
	t.Cleanup(func() { _ = down.Close() })

	ok := func(ctx context.Context) error { return nil }
	srv := start(t, api.Deps{
		Store: fakeStore{},
		Checks: []api.Check{
			{Name: "postgres", Ping: ok},
			{Name: "redis", Ping: func(ctx context.Context) error { return up.Ping(ctx).Err() }},
		},
	})
	r := srv.get(t, "/ready")
	if r.status != 200 || !strings.Contains(string(r.body), `"redis":"ok"`) {
		t.Fatalf("/ready with Redis up: %d %s", r.status, r.body)
	}

	// Redis is optional (the backend serves from PostgreSQL without it):
	// down, it is reported degraded and the instance stays ready.
	srvDown := start(t, api.Deps{
		Store: fakeStore{},
		Checks: []api.Check{
			{Name: "postgres", Ping: ok},
			api.Optional(api.Check{Name: "redis", Ping: func(ctx context.Context) error { return down.Ping(ctx).Err() }}),
		},
	})
	r = srvDown.get(t, "/ready")
	if r.status != 200 || !strings.Contains(string(r.body), `"status":"degraded"`) || !strings.Contains(string(r.body), `"redis":"degraded"`) {
		t.Fatalf("/ready with Redis down: %d %s", r.status, r.body)
	}
}
