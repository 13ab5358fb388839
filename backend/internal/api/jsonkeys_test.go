package api

import (
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/campshub360/edge/backend/internal/domain"
)

func TestDuplicateKey(t *testing.T) {
	for _, tc := range []struct {
		body string
		path string // "" when no name repeats
	}{
		{`{}`, ""},
		{`{"a":1,"b":2}`, ""},
		{`{"a":1,"a":2}`, "a"},
		{`{"mark":"present","MARK":"absent"}`, "MARK"},
		{`{"a":1,"\u0061":2}`, "a"},
		{`{"a\"b":1,"a\"b":2}`, `a"b`},
		{`{"a":{"b":1},"c":{"b":2}}`, ""},
		{`{"a":{"b":1,"b":2}}`, "a.b"},
		{`{"records":[{"student_id":"x","mark":"p"},{"student_id":"y","mark":"a","mark":"p"}]}`, "records[1].mark"},
		{`{"records":[[{"x":1}],[{"x":1},{"x":1,"y":[1,{"z":1,"z":2}]}]]}`, "records[1][1].y[1].z"},
		{`{"a":"{\"a\":1,\"a\":2}","b":["a","a"]}`, ""},
		{`{"a":[1,2,{"b":1}],"c":{"a":1},"d":1}`, ""},
		{` { "a" : 1 , "b" : { "c" : 1 } , "a" : 2 } `, "a"},
		{`{"a\\":1,"a\\":2}`, `a\`},
		{`{"a":"x\\","b":"\\\"a\",\"a\":","c":1}`, ""},
		{`{"a":"x\\","A":1}`, "A"},
	} {
		if !json.Valid([]byte(tc.body)) {
			t.Fatalf("test body %s is not JSON", tc.body)
		}
		path, dup := duplicateKey([]byte(tc.body))
		if dup != (tc.path != "") || path != tc.path {
			t.Errorf("%s: %q %v, want %q", tc.body, path, dup, tc.path)
		}
	}
}

// duplicateReference is duplicateKey written plainly over
// encoding/json's tokenizer, for FuzzDuplicateKey.
func duplicateReference(body []byte) bool {
	dec := json.NewDecoder(strings.NewReader(string(body)))
	type frame struct {
		object    bool
		expectKey bool
		names     []string
	}
	var stack []*frame
	for {
		tok, err := dec.Token()
		if err != nil {
			return false
		}
		top := (*frame)(nil)
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if d, ok := tok.(json.Delim); ok {
			switch d {
			case '{', '[':
				if top != nil && top.object {
					top.expectKey = true
				}
				stack = append(stack, &frame{object: d == '{', expectKey: d == '{'})
			default:
				stack = stack[:len(stack)-1]
			}
			continue
		}
		if top == nil || !top.object {
			continue
		}
		if !top.expectKey {
			top.expectKey = true
			continue
		}
		name := tok.(string)
		for _, n := range top.names {
			if strings.EqualFold(n, name) {
				return true
			}
		}
		top.names = append(top.names, name)
		top.expectKey = false
	}
}

// FuzzDuplicateKey checks duplicateKey against duplicateReference on
// valid JSON.
func FuzzDuplicateKey(f *testing.F) {
	for _, s := range []string{`{"a":1,"a":2}`, `{"a":{"b":[1,{"c":1,"C":2}]}}`, `{"a\\":"\"","a\\":1}`,
		`{"records":[{"student_id":"x","mark":"p"}]}`, `[{"a":1},{"a":1}]`, `{"\u00e9":1,"\u00c9":2}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		if !json.Valid(body) {
			return
		}
		_, got := duplicateKey(body)
		if want := duplicateReference(body); got != want {
			t.Fatalf("%q: duplicate %v, reference %v", body, got, want)
		}
	})
}

func TestUnmarshalStrictRefusesDuplicateMembers(t *testing.T) {
	var req marksRequest
	err := unmarshalStrict([]byte(`{"records":[{"student_id":"a","mark":"present","Mark":"absent"}]}`), &req)
	var inv *domain.InvalidError
	if !errors.As(err, &inv) || len(inv.Violations) != 1 || inv.Violations[0].Field != "records[0].Mark" ||
		inv.Violations[0].Message != duplicateKeyMessage {
		t.Fatalf("got %v", err)
	}
	var login struct {
		Username string `json:"username"`
		Password string `json:"password"`
	}
	err = decodeAuthJSON([]byte(`{"username":"a","password":"x","password":"y"}`), &login)
	if !errors.As(err, &inv) || inv.Violations[0].Field != "password" {
		t.Fatalf("auth body: got %v", err)
	}
}

// markingBody is a marking request for n students.
func markingBody(n int) []byte {
	var b strings.Builder
	b.WriteString(`{"source":"manual","records":[`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`{"student_id":"0191d9a0-8b5e-7c3a-9f1e-` + strconv.Itoa(100000000000+i) + `","mark":"present","reason":"on time"}`)
	}
	b.WriteString(`]}`)
	return []byte(b.String())
}

func TestDuplicateKeyDoesNotAllocate(t *testing.T) {
	body := markingBody(200)
	if n := testing.AllocsPerRun(50, func() {
		if _, dup := duplicateKey(body); dup {
			t.Fatal("duplicate in a clean body")
		}
	}); n != 0 {
		t.Fatalf("%v allocations per scan", n)
	}
}

// BenchmarkDecodeMarking measures the duplicate-name scan against the
// decode it follows, on a 200-row marking body: compare the ns/op of
// the two sub-benchmarks.
func BenchmarkDecodeMarking(b *testing.B) {
	body := markingBody(200)
	b.Run("decode", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			var req marksRequest
			dec := json.NewDecoder(strings.NewReader(string(body)))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&req); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("scan", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			if _, dup := duplicateKey(body); dup {
				b.Fatal("duplicate")
			}
		}
	})
}
