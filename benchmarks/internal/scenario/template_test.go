package scenario

import (
	"math/rand/v2"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestTemplateParsing(t *testing.T) {
	cases := []struct {
		src  string
		refs []string // placeholder names in order
	}{
		{"/plain/path", nil},
		{"/students/{student_id}", []string{"student_id"}},
		{`{"a": "{x}", "b": {"c": 1}}`, []string{"x"}},
		{"{}{ x}{1a}{a b}{", nil},
		{"{today}/{user.section}{seq}", []string{"today", "section", "seq"}},
		{"{a-b}{a.b}", []string{"a-b", "a.b"}},
	}
	for _, c := range cases {
		tp := parseTemplate(c.src)
		var refs []string
		var rebuilt strings.Builder
		for _, p := range tp.parts {
			if p.isRef {
				refs = append(refs, p.name)
				if p.kind == refUser {
					rebuilt.WriteString("{user." + p.name + "}")
				} else {
					rebuilt.WriteString("{" + p.name + "}")
				}
			} else {
				rebuilt.WriteString(p.lit)
			}
		}
		if strings.Join(refs, ",") != strings.Join(c.refs, ",") {
			t.Errorf("%q: refs %v, want %v", c.src, refs, c.refs)
		}
		if rebuilt.String() != c.src || tp.String() != c.src {
			t.Errorf("%q: parts rebuild %q", c.src, rebuilt.String())
		}
	}
}

func TestTemplateBind(t *testing.T) {
	params := map[string]int{"id": 0}
	if msgs := parseTemplate("/{id}/{today}/{user.x}").bind(params, true, false); len(msgs) != 0 {
		t.Fatalf("valid template: %v", msgs)
	}
	if msgs := parseTemplate("/{nope}/{user.x}").bind(params, false, false); len(msgs) != 2 {
		t.Fatalf("want 2 problems, got %v", msgs)
	}
	if msgs := parseTemplate("/{id}?d={today}").bind(params, false, true); len(msgs) != 1 {
		t.Fatalf("built-ins only: %v", msgs)
	}
}

func TestExpansion(t *testing.T) {
	kolkata, err := time.LoadLocation("Asia/Kolkata")
	if err != nil {
		t.Skipf("no tz database: %v", err)
	}
	now := time.Date(2026, 3, 1, 20, 0, 0, 0, time.UTC) // already 2 March in Kolkata
	sc := &Scenario{Location: kolkata, Params: []*Param{{Name: "id"}, {Name: "term", Pick: PickSequence}}}
	st := &state{sc: sc, values: [][]string{{"a", "b", "c"}, {"t1", "t2"}}, cursors: make([]atomic.Uint64, 2), captured: make([]*variable, 2), now: func() time.Time { return now }}
	e := expander{st: st, rng: rand.New(rand.NewPCG(1, 1)), chosen: make([]int, 2)}
	tp := parseTemplate("/{id}/{id}/{term}?d={today}&t={now}&u={unix}&s={seq}&k={user.k}&r={uuid}&r2={uuid}&in={now+90m}&ago={now-1h30m}")
	idx := map[string]int{"id": 0, "term": 1}
	if msgs := tp.bind(idx, true, false); len(msgs) > 0 {
		t.Fatal(msgs)
	}
	u := &user{}
	u.fields.Store(&map[string]string{"k": "v"})
	e.reset(7, u)
	got := string(e.appendTo(nil, tp))
	re := regexp.MustCompile(`^/([abc])/([abc])/t1\?d=2026-03-02&t=2026-03-01T20:00:00Z&u=1772395200&s=7&k=v&r=([0-9a-f-]{36})&r2=([0-9a-f-]{36})&in=2026-03-01T21:30:00Z&ago=2026-03-01T18:30:00Z$`)
	m := re.FindStringSubmatch(got)
	if m == nil {
		t.Fatalf("expansion %q", got)
	}
	if m[1] != m[2] || m[3] != m[4] {
		t.Fatalf("one request must see one value per placeholder: %q", got)
	}
	if !regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`).MatchString(m[3]) {
		t.Fatalf("not a v4 UUID: %s", m[3])
	}
	// The next request draws again; sequence parameters advance.
	e.reset(8, nil)
	tp = parseTemplate("{term}{term}|{user.k}")
	tp.bind(idx, true, false)
	got = string(e.appendTo(nil, tp))
	if got != "t2t2|" {
		t.Fatalf("second request: %q", got)
	}
	e.reset(9, nil)
	tp = parseTemplate("{term}")
	tp.bind(idx, true, false)
	if got := string(e.appendTo(nil, tp)); got != "t1" {
		t.Fatalf("sequence wraps: %q", got)
	}
}

func TestExpansionDoesNotAllocate(t *testing.T) {
	sc := &Scenario{Location: time.UTC, Params: []*Param{{Name: "id"}}}
	st := &state{sc: sc, values: [][]string{{"abc"}}, cursors: make([]atomic.Uint64, 1), captured: make([]*variable, 1), now: time.Now}
	e := expander{st: st, rng: rand.New(rand.NewPCG(1, 1)), chosen: make([]int, 1)}
	tp := parseTemplate(`{"id":"{id}","at":"{now}","end":"{now+50m}","day":"{today}","n":{seq},"k":"{uuid}"}`)
	buf := make([]byte, 0, 256)
	allocs := testing.AllocsPerRun(200, func() {
		e.reset(1, nil)
		buf = e.appendTo(buf[:0], tp)
	})
	if allocs != 0 {
		t.Fatalf("expansion allocates %v times", allocs)
	}
}
