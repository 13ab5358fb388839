package scenario

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Pluck is a path selecting scalar values in a JSON document: field names
// separated by ".", "[]" for every element of an array and "[N]" for one
// element. Examples: "access_token", "items[].id", "data.items[0].id",
// "[].id" (a top-level array). A Pluck is immutable and safe for concurrent
// use.
type Pluck struct {
	raw   string
	steps []pluckStep
}

type pluckStep struct {
	field string // when !array
	array bool
	all   bool // "[]"; else index
	index int
}

// String returns the path as written.
func (p *Pluck) String() string { return p.raw }

// ParsePluck parses a pluck path.
func ParsePluck(s string) (*Pluck, error) {
	p := &Pluck{raw: s}
	if s == "" {
		return nil, errors.New("empty path")
	}
	for i, seg := range strings.Split(s, ".") {
		name, rest, _ := strings.Cut(seg, "[")
		if name == "" && (i > 0 || rest == "" && !strings.HasPrefix(seg, "[")) {
			return nil, fmt.Errorf("empty field name in %q", s)
		}
		if strings.ContainsAny(name, "]") {
			return nil, fmt.Errorf("unexpected ] in %q", s)
		}
		if name != "" {
			p.steps = append(p.steps, pluckStep{field: name})
		}
		if !strings.HasPrefix(seg[len(name):], "[") {
			continue
		}
		brackets := seg[len(name):]
		for brackets != "" {
			if brackets[0] != '[' {
				return nil, fmt.Errorf("expected [ in %q", s)
			}
			end := strings.IndexByte(brackets, ']')
			if end < 0 {
				return nil, fmt.Errorf("missing ] in %q", s)
			}
			inner := brackets[1:end]
			if inner == "" {
				p.steps = append(p.steps, pluckStep{array: true, all: true})
			} else {
				n, err := strconv.Atoi(inner)
				if err != nil || n < 0 {
					return nil, fmt.Errorf("index %q in %q is not a non-negative integer", inner, s)
				}
				p.steps = append(p.steps, pluckStep{array: true, index: n})
			}
			brackets = brackets[end+1:]
		}
	}
	return p, nil
}

// Many reports whether the path can select more than one value (it has a
// "[]").
func (p *Pluck) Many() bool {
	for _, s := range p.steps {
		if s.all {
			return true
		}
	}
	return false
}

// Values decodes the JSON document doc and returns the scalars the path
// selects, as strings (numbers as written, booleans as true/false). It fails
// when the document is not JSON, a step does not match (missing field, not
// an array, index out of range), or a selected value is null, an object or
// an array.
func (p *Pluck) Values(doc []byte) ([]string, error) {
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("response is not JSON: %w", err)
	}
	var out []string
	if err := p.walk(v, 0, "", &out); err != nil {
		return nil, err
	}
	return out, nil
}

func (p *Pluck) walk(v any, i int, at string, out *[]string) error {
	if i == len(p.steps) {
		switch x := v.(type) {
		case string:
			*out = append(*out, x)
		case json.Number:
			*out = append(*out, x.String())
		case bool:
			*out = append(*out, strconv.FormatBool(x))
		default:
			return fmt.Errorf("%s: want a string, number or boolean, got %s", where(at), jsonType(v))
		}
		return nil
	}
	st := p.steps[i]
	if !st.array {
		m, ok := v.(map[string]any)
		if !ok {
			return fmt.Errorf("%s: want an object with field %q, got %s", where(at), st.field, jsonType(v))
		}
		f, ok := m[st.field]
		if !ok {
			return fmt.Errorf("%s: no field %q", where(at), st.field)
		}
		next := st.field
		if at != "" {
			next = at + "." + st.field
		}
		return p.walk(f, i+1, next, out)
	}
	a, ok := v.([]any)
	if !ok {
		return fmt.Errorf("%s: want an array, got %s", where(at), jsonType(v))
	}
	if !st.all {
		if st.index >= len(a) {
			return fmt.Errorf("%s: index %d out of range (length %d)", where(at), st.index, len(a))
		}
		return p.walk(a[st.index], i+1, fmt.Sprintf("%s[%d]", at, st.index), out)
	}
	for k, e := range a {
		if err := p.walk(e, i+1, fmt.Sprintf("%s[%d]", at, k), out); err != nil {
			return err
		}
	}
	return nil
}

func where(at string) string {
	if at == "" {
		return "document"
	}
	return at
}

func jsonType(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case map[string]any:
		return "an object"
	case []any:
		return "an array"
	case string:
		return "a string"
	case json.Number:
		return "a number"
	case bool:
		return "a boolean"
	}
	return fmt.Sprintf("%T", v)
}
