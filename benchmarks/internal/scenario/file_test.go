package scenario

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/campshub360/edge/benchmarks/internal/runner"
)

const full = `name: students-read
description: list and fetch students
target: https://localhost:8443
insecure: true
steps:
  - {from: 10, to: 100, duration: 2s}
  - {rate: 100, duration: 3s}
connections: 16
max_requests: 5000
timeout: 2s
timezone: Asia/Kolkata
seed: 42
headers:
  Accept: application/json
  X-Request-Day: "{today}"
auth:
  login: /api/v1/auth/login
  token_field: access_token
  users:
    - {username: faculty1@campus.test, password: "${LOADGEN_PASSWORD}", section: A}
  generate: {username: "student%04d@campus.test", password: secret, count: 3, start: 1}
params:
  student_id:
    url: /api/v1/students?limit=500
    pluck: items[].id
  term:
    values: [2026-27-ODD, 2026-27-EVEN]
    pick: sequence
requests:
  - name: list
    weight: 3
    path: /api/v1/students?limit=50
  - name: get
    path: /api/v1/students/{student_id}
    headers: {X-Term: "{term}"}
  - name: mark
    method: post
    path: /api/v1/attendance/{uuid}
    body: '{"student_id": "{student_id}", "section": "{user.section}", "mark": "present"}'
    expect: [200, 201]
  - name: health
    path: /health/
    auth: false
`

func TestParseFull(t *testing.T) {
	sc, err := Parse("students.yaml", []byte(full))
	if err != nil {
		t.Fatal(err)
	}
	if sc.Name != "students-read" || sc.Mode != runner.Open || sc.Connections != 16 || sc.MaxRequests != 5000 || sc.Timeout != 2*time.Second {
		t.Fatalf("scenario %+v", sc)
	}
	// No duration: the steps' total bounds the run.
	if sc.MaxDuration != 5*time.Second || sc.Schedule.Total() != 410 {
		t.Fatalf("duration %v total %d", sc.MaxDuration, sc.Schedule.Total())
	}
	if sc.Location.String() != "Asia/Kolkata" || *sc.Seed != 42 || !sc.Insecure {
		t.Fatalf("location %v seed %v", sc.Location, sc.Seed)
	}
	if len(sc.Params) != 2 || sc.Params[0].Name != "student_id" || sc.Params[1].Pick != PickSequence || !sc.Params[0].Auth {
		t.Fatalf("params %+v", sc.Params)
	}
	if len(sc.Requests) != 4 || sc.Requests[2].Method != "POST" || sc.Requests[3].Auth || !sc.Requests[0].Auth || sc.Requests[0].Weight != 3 {
		t.Fatalf("requests %+v", sc.Requests)
	}
	if a := sc.Auth; a.Header != "Authorization" || a.Scheme != "Bearer" || a.UsernameField != "username" || len(a.Pools) != 1 || len(a.Pools[0].UserFields) != 1 || a.Pools[0].UserFields[0] != "section" {
		t.Fatalf("auth %+v", a)
	}
	cfg := sc.RunnerConfig(7)
	if cfg.Seed != 42 || cfg.Mode != runner.Open || cfg.Validate() != nil {
		t.Fatalf("runner config %+v: %v", cfg, cfg.Validate())
	}
}

func TestParseDefaults(t *testing.T) {
	sc, err := Parse("dir/smoke.yml", []byte("requests:\n  - path: /health/\n"))
	if err != nil {
		t.Fatal(err)
	}
	if sc.Name != "smoke" || sc.Mode != runner.Closed || sc.MaxDuration != runner.DefaultMaxDuration ||
		sc.MaxRequests != runner.DefaultMaxRequests || sc.Connections != runner.DefaultConnections ||
		sc.Timeout != runner.DefaultTimeout || sc.Location != time.UTC || sc.Requests[0].Name != "GET /health/" {
		t.Fatalf("defaults: %+v", sc)
	}
	sc, err = Parse("x", []byte("rate: 50\nduration: 2s\nrequests: [{path: /}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if sc.Mode != runner.Open || sc.Schedule.Total() != 100 || sc.MaxDuration != 2*time.Second {
		t.Fatalf("rate: %+v", sc)
	}
	sc, err = Parse("x", []byte("mode: closed\nthink_time: 10ms..20ms\nrequests: [{path: /}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if sc.ThinkMin != 10*time.Millisecond || sc.ThinkMax != 20*time.Millisecond {
		t.Fatalf("think %v..%v", sc.ThinkMin, sc.ThinkMax)
	}
}

// asError returns err as *Error, failing the test otherwise.
func asError(t *testing.T, err error) *Error {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("err = %v (%T), want *Error", err, err)
	}
	if len(e.Problems) == 0 {
		t.Fatal("*Error without problems")
	}
	return e
}

func TestBadYAMLCarriesTheLine(t *testing.T) {
	cases := []struct {
		name, src string
		line      int
		want      string
	}{
		{"syntax", "name: x\nrequests: [\n", 2, ""},
		{"unknown key", "name: x\nrequests:\n  - path: /\n    wieght: 2\n", 4, `unknown field "wieght"`},
		{"wrong type", "name: x\nconnections: many\nrequests: [{path: /}]\n", 2, "cannot unmarshal"},
		{"duplicate key", "name: x\nname: y\n", 2, "already defined"},
		{"alias", "a: &x 1\nname: *x\n", 2, "aliases"},
		{"not a mapping", "- a\n- b\n", 1, ""},
		{"two documents", "name: a\n---\nname: b\n", 3, "more than one"},
		{"tab indent", "name: x\nrequests:\n\t- path: /\n", 3, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse("bad.yaml", []byte(c.src))
			e := asError(t, err)
			p := e.Problems[0]
			if p.Line != c.line {
				t.Fatalf("line %d, want %d: %v", p.Line, c.line, err)
			}
			if !strings.Contains(err.Error(), "bad.yaml:"+strconv.Itoa(c.line)+":") || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %q lacks bad.yaml:%d: or %q", err, c.line, c.want)
			}
		})
	}
	for _, empty := range []string{"", "# nothing\n", "---\n"} {
		e := asError(t, func() error { _, err := Parse("e.yaml", []byte(empty)); return err }())
		if e.Problems[0].Message != "empty scenario" {
			t.Errorf("%q: %v", empty, e)
		}
	}
}

func TestValidationReportsEveryProblemWithPathAndLine(t *testing.T) {
	src := `name: broken
target: ftp://example.com
mode: open
rate: 100
ramp: {from: 1, to: 2, duration: 1s}
connections: 0
max_requests: -1
timeout: soon
think_time: 5ms
timezone: Mars/Olympus
headers:
  Content-Length: "12"
  "Bad Header": x
params:
  today: {values: [a]}
  ids: {values: [a], file: ids.txt}
  remote: {url: students, pick: shuffled}
requests:
  - path: students
    weight: 0
    method: "GE T"
    expect: [200, 42]
  - path: /x/{nope}
    body: '{"a": "{user.id}"}'
    auth: true
  - name: GET /x/{nope}
    path: /y
`
	_, err := Parse("broken.yaml", []byte(src))
	e := asError(t, err)
	want := map[string]int{ // path -> line
		"target":                 2,
		"ramp":                   5,
		"connections":            6,
		"max_requests":           7,
		"timeout":                8,
		"think_time":             9,
		"timezone":               10,
		"headers.Content-Length": 12,
		"headers.Bad Header":     13,
		"params.today":           15,
		"params.ids":             16,
		"params.remote.url":      17,
		"params.remote.pluck":    17,
		"params.remote.pick":     17,
		"requests[0].path":       19,
		"requests[0].weight":     20,
		"requests[0].method":     21,
		"requests[0].expect[1]":  22,
		"requests[1].path":       23,
		"requests[1].body":       24,
		"requests[1].auth":       25,
		"requests[2].name":       26,
	}
	got := map[string]int{}
	for _, p := range e.Problems {
		if _, dup := got[p.Path]; !dup {
			got[p.Path] = p.Line
		}
	}
	for path, line := range want {
		l, ok := got[path]
		if !ok {
			t.Errorf("no problem reported at %s", path)
		} else if l != line {
			t.Errorf("%s: line %d, want %d", path, l, line)
		}
	}
	if t.Failed() {
		t.Log(err)
	}
	// Problems come in file order, each on its own line.
	if strings.Count(err.Error(), "\n") != len(e.Problems) {
		t.Errorf("one line per problem expected:\n%v", err)
	}
}

func TestValidationOfLoadShapes(t *testing.T) {
	cases := map[string]string{
		"open without shape":      "mode: open\nrequests: [{path: /}]\n",
		"closed with rate":        "mode: closed\nrate: 5\nrequests: [{path: /}]\n",
		"bad mode":                "mode: sideways\nrequests: [{path: /}]\n",
		"zero rate":               "rate: 0\nrequests: [{path: /}]\n",
		"negative step":           "steps: [{rate: -1, duration: 1s}]\nrequests: [{path: /}]\n",
		"step without duration":   "steps: [{rate: 1}]\nrequests: [{path: /}]\n",
		"step with rate and ramp": "steps: [{rate: 1, from: 1, to: 2, duration: 1s}]\nrequests: [{path: /}]\n",
		"all pauses":              "steps: [{rate: 0, duration: 1s}]\nrequests: [{path: /}]\n",
		"ramp without to":         "ramp: {from: 1, duration: 1s}\nrequests: [{path: /}]\n",
		"think in open":           "rate: 5\nthink_time: 1s\nrequests: [{path: /}]\n",
		"think range reversed":    "think_time: 2s..1s\nrequests: [{path: /}]\n",
		"no requests":             "name: x\n",
		"duplicate names":         "requests: [{path: /}, {path: /}]\n",
		"auth without users":      "auth: {login: /l}\nrequests: [{path: /}]\n",
		"auth bad generate":       "auth: {generate: {username: plain, password: p, count: 0}}\nrequests: [{path: /}]\n",
		"auth token many":         "auth: {token_field: 'a[].b', users: [{username: u, password: p}]}\nrequests: [{path: /}]\n",
		"user field without auth": "requests: [{path: '/{user.id}'}]\n",
		"url with param":          "params: {a: {values: [x]}, b: {url: '/x/{a}', pluck: id}}\nrequests: [{path: '/{b}'}]\n",
		"bad pluck":               "params: {b: {url: /x, pluck: 'a[x]'}}\nrequests: [{path: '/{b}'}]\n",
		"empty values":            "params: {b: {values: []}}\nrequests: [{path: '/{b}'}]\n",
		"negative connections":    "connections: -3\nrequests: [{path: /}]\n",
	}
	for name, src := range cases {
		if _, err := Parse(name, []byte(src)); err == nil {
			t.Errorf("%s: accepted", name)
		} else {
			asError(t, err)
		}
	}
}

func TestApplyOverrides(t *testing.T) {
	sc, err := Parse("x", []byte("rate: 50\nduration: 2s\nrequests: [{path: /}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if err := sc.Apply(Overrides{Target: "http://127.0.0.1:1", Duration: 4 * time.Second, MaxRequests: 10, Connections: 2, Timeout: time.Second, Insecure: true}); err != nil {
		t.Fatal(err)
	}
	// The constant rate stretches to the new duration.
	if sc.Schedule.Total() != 200 || sc.MaxDuration != 4*time.Second || sc.MaxRequests != 10 || sc.Connections != 2 || sc.Target != "http://127.0.0.1:1" || !sc.Insecure {
		t.Fatalf("%+v", sc)
	}
	cc := sc.ClientConfig(false)
	if cc.URL != sc.Target || cc.Connections != 2 || cc.Timeout != time.Second || !cc.Insecure {
		t.Fatalf("client config %+v", cc)
	}
	closed, err := Parse("y", []byte("think_time: 1ms\nrequests: [{path: /}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if err := closed.Apply(Overrides{Rate: 10}); err == nil {
		t.Fatal("rate accepted over think time")
	}
	if err := closed.Apply(Overrides{Target: "gopher://x"}); err == nil {
		t.Fatal("bad target accepted")
	}
	closed.ThinkMin, closed.ThinkMax = 0, 0
	if err := closed.Apply(Overrides{Rate: 10, Duration: time.Second}); err != nil {
		t.Fatal(err)
	}
	if closed.Mode != runner.Open || closed.Schedule.Total() != 10 {
		t.Fatalf("mode %v schedule %v", closed.Mode, closed.Schedule)
	}
}

// TestBundledScenariosParse keeps benchmarks/scenarios/ valid.
func TestBundledScenariosParse(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "..", "scenarios", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no scenario in benchmarks/scenarios")
	}
	for _, f := range files {
		sc, err := Load(f)
		if err != nil {
			t.Errorf("%v", err)
			continue
		}
		if sc.Target == "" {
			t.Errorf("%s: no target", f)
		} else if u := sc.ClientConfig(false); u.URL == "" {
			t.Errorf("%s: no URL", f)
		}
		if sc.Description == "" {
			t.Errorf("%s: describe the scenario", f)
		}
		if _, err := runner.NewClient(sc.ClientConfig(false)); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}

func TestLoadMissingFile(t *testing.T) {
	if _, err := Load(filepath.Join(t.TempDir(), "nope.yaml")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("err = %v", err)
	}
}

// TestReadmeExampleParses keeps the annotated example in
// benchmarks/README.md valid.
func TestReadmeExampleParses(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), "```yaml\n")
	if !ok {
		t.Fatal("no yaml block in README.md")
	}
	example, _, ok := strings.Cut(rest, "```")
	if !ok {
		t.Fatal("unterminated yaml block in README.md")
	}
	sc, err := Parse("README.md", []byte(example))
	if err != nil {
		t.Fatal(err)
	}
	if sc.Auth == nil || len(sc.Params) != 4 || len(sc.Requests) != 4 || sc.Schedule == nil || sc.MaxDuration != 90*time.Second {
		t.Fatalf("README example: %+v", sc)
	}
}
