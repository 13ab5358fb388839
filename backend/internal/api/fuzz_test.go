package api_test

import (
	"math/rand/v2"
	"net/url"
	"strings"
	"testing"

	"github.com/google/uuid"
)

// fuzzBodies are mutations of plausible request bodies.
var fuzzBodies = []string{
	``, `{}`, `null`, `[]`, `{"records":[{"student_id":"%s","mark":"present"}]}`, `{"token":"AAAA"}`,
	`{"student_id":"%s"}`, `{"from":"2026-01-01","to":"2025-01-01"}`, `{"start_date":"0000-00-00"}`,
	`{"code":"X","name":"` + strings.Repeat("n", 300) + `"}`, `{"weekday":-1,"start_time":"25:61"}`,
	`{"records":[{"student_id":"%s","mark":"present"},{"student_id":"%s","mark":"absent"}]}`, `{"type":"medical"}`,
	`{"session_id":"%s","to_mark":"late","reason":"x"}`, `{"note":123}`, `{"students":[{}]}`, "\xff\xfe", `{"a":1e400}`,
}

// fuzzQueries are query strings, good and bad.
var fuzzQueries = []string{
	"", "limit=0", "limit=5&cursor=zzz", "date=today", "from=2026-13-01", "q=%00", "threshold=-1", "status=open",
	"department=cse", "year=x", "section_id=nope", "limit=1&limit=2", "from=2026-01-01&to=2025-01-01", "q=" + strings.Repeat("a", 100),
}

// request sends one fuzzed request and checks the server neither fails nor
// breaks the problem contract.
func fuzzRequest(t *testing.T, c *campus, route, role uint8, param, query string, body []byte) {
	routes := c.srv.api.Routes()
	rt := routes[int(route)%len(routes)]
	if !strings.HasPrefix(rt.Path, "/api/v1/") {
		return
	}
	clients := []*client{c.admin, c.registrar, c.faculty, c.student, c.auditor, c.anon, c.faculty2, c.student2}
	cl := clients[int(role)%len(clients)]
	if len(param) > 64 {
		param = param[:64]
	}
	p := url.PathEscape(param)
	if p == "" {
		p = "x"
	}
	path := strings.NewReplacer("{id}", p, "{student_id}", p, "{date}", p).Replace(rt.Path)
	// Only what an HTTP client can send: no control characters, no
	// fragment, spaces escaped.
	query = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == '#' {
			return -1
		}
		return r
	}, strings.ToValidUTF8(query, ""))
	query = strings.ReplaceAll(query, " ", "%20")
	if query != "" {
		path += "?" + query
	}
	var b any
	if body != nil {
		b = body
	}
	r := cl.send(t, rt.Method, path, b)
	if r.status >= 500 {
		t.Fatalf("%s %s (%q) as role %d: %d %s", rt.Method, path, body, role, r.status, r.body)
	}
	if r.status >= 400 && r.header.Get("Content-Type") != "application/problem+json" {
		t.Fatalf("%s %s: %d without a problem body: %s", rt.Method, path, r.status, r.body)
	}
}

// FuzzRequests sends arbitrary requests to every route as every role: no
// input yields a 5xx, every 4xx is a problem document.
func FuzzRequests(f *testing.F) {
	for i := range 96 {
		f.Add(uint8(i), uint8(i%8), "", "", []byte(nil))
	}
	f.Add(uint8(40), uint8(2), uuid.NewString(), "", []byte(`{"records":[{"student_id":"x","mark":"present"}]}`))
	c := newCampus(f, campusOpts{students: 30})
	f.Fuzz(func(t *testing.T, route, role uint8, param, query string, body []byte) {
		fuzzRequest(t, c, route, role, param, query, body)
	})
}

// TestRandomRequests is a bounded, deterministic request-level fuzz run
// over real ids (so requests get past the 404s into the handlers'
// validation): a few hundred requests mixing valid and broken parts.
func TestRandomRequests(t *testing.T) {
	t.Parallel()
	c := newCampus(t, campusOpts{students: 30})
	s := c.newSession(t)
	ids := []string{id(c.sec.ID), id(c.studentID), s.ID, id(c.facultyID), "not-a-uuid", uuid.NewString(), "2026-12-25", ""}
	rng := rand.New(rand.NewPCG(1, 2))
	routes := c.srv.api.Routes()
	for range 400 {
		body := fuzzBodies[rng.IntN(len(fuzzBodies))]
		if strings.Contains(body, "%s") {
			body = strings.ReplaceAll(body, "%s", ids[rng.IntN(len(ids))])
		}
		raw := []byte(body)
		if len(raw) > 0 && rng.IntN(4) == 0 {
			raw[rng.IntN(len(raw))] ^= byte(1 << rng.IntN(8))
		}
		if body == "" {
			raw = nil
		}
		fuzzRequest(t, c, uint8(rng.IntN(len(routes))), uint8(rng.IntN(8)), ids[rng.IntN(len(ids))],
			fuzzQueries[rng.IntN(len(fuzzQueries))], raw)
	}
}
