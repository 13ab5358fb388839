package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"strconv"
	"strings"

	"github.com/valyala/fasthttp"

	"github.com/campshub360/edge/backend/internal/domain"
)

// Request body limits, in bytes.
const (
	// smallBody bounds ordinary JSON bodies.
	smallBody = 64 << 10
	// marksBody bounds a marking request (a whole roster).
	marksBody = 2 << 20
	// importBody bounds a bulk import of up to domain.MaxImportRows rows.
	importBody = 8 << 20
)

// httpError is a failure of the HTTP exchange itself (media type, size),
// answered with its own status and problem type.
type httpError struct {
	status      int
	slug, title string
	detail      string
}

// Error returns "<title>: <detail>".
func (e *httpError) Error() string { return e.title + ": " + e.detail }

func errTooLarge(limit int) error {
	return &httpError{status: fasthttp.StatusRequestEntityTooLarge, slug: slugTooLarge, title: "Content Too Large",
		detail: "The request body is larger than this operation accepts (" + strconv.Itoa(limit) + " bytes)."}
}

var errMediaType = &httpError{status: fasthttp.StatusUnsupportedMediaType, slug: slugUnsupportedMedia,
	title: "Unsupported Media Type", detail: "The request body must be application/json."}

// bodyWithin returns the request body after checking the limit and JSON
// media type (the chain checks both first; this guards direct callers).
func bodyWithin(ctx *fasthttp.RequestCtx, limit int) ([]byte, error) {
	body := ctx.PostBody()
	if len(body) > limit {
		return nil, errTooLarge(limit)
	}
	if ct := ctx.Request.Header.ContentType(); len(ct) > 0 {
		mt, _, err := mime.ParseMediaType(string(ct))
		if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
			return nil, errMediaType
		}
	}
	return body, nil
}

// emptyBody accepts an action without a body or with an empty JSON object
// ({}); anything else is refused as decodeJSON refuses it.
func emptyBody(ctx *fasthttp.RequestCtx) error {
	if len(ctx.PostBody()) == 0 {
		return nil
	}
	var empty struct{}
	return decodeJSON(ctx, &empty, smallBody)
}

// decodeJSON decodes the request body into v strictly: the media type is
// JSON, the body is at most limit bytes and holds exactly one JSON object,
// every member is a known field of the right type, given once per object.
// Violations are an *domain.InvalidError naming the field
// ("records[3].mark") or "body".
func decodeJSON(ctx *fasthttp.RequestCtx, v any, limit int) error {
	body, err := bodyWithin(ctx, limit)
	if err != nil {
		return err
	}
	return unmarshalStrict(body, v)
}

// unmarshalStrict is decodeJSON's parser, without the HTTP checks.
func unmarshalStrict(body []byte, v any) error {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return domain.Invalid("body", "must be a JSON object")
	}
	if trimmed[0] != '{' {
		return domain.Invalid("body", "must be a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonProblem(err, body)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return domain.Invalid("body", "must hold a single JSON object and nothing after it")
	}
	if path, dup := duplicateKey(body); dup {
		return domain.Invalid(path, duplicateKeyMessage)
	}
	return nil
}

// jsonProblem turns an encoding/json error into a client-safe violation;
// body locates a wrongly typed value exactly (array indices included).
func jsonProblem(err error, body []byte) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return domain.Invalid("body", "is not valid JSON (near byte "+strconv.FormatInt(syn.Offset, 10)+")")
	case errors.As(err, &typ):
		field := pathAt(body, typ.Offset)
		if field == "" {
			field = jsonPath(typ.Field)
		}
		if field == "" {
			field = "body"
		}
		return domain.Invalid(field, "must be "+jsonKind(typ.Type.Kind().String(), typ.Type.String()))
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return domain.Invalid("body", "is truncated JSON")
	}
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		if n, err := strconv.Unquote(name); err == nil {
			name = n
		}
		if len(name) > 64 {
			name = name[:64]
		}
		name = strings.ToValidUTF8(name, "?")
		if name == "" {
			return domain.Invalid("body", "has a member with an empty name, which is not a known field")
		}
		return domain.Invalid(name, "is not a known field")
	}
	return domain.Invalid("body", "is not a valid request body")
}

// pathAt returns the JSON path ("records[3].mark") of the value of body
// that ends at byte offset, or "" when it cannot tell.
func pathAt(body []byte, offset int64) string {
	type frame struct {
		array     bool
		index     int
		key       string
		expectKey bool
	}
	var stack []frame
	path := func() string {
		var b strings.Builder
		for _, f := range stack {
			if f.array {
				b.WriteString("[" + strconv.Itoa(f.index) + "]")
			} else {
				if b.Len() > 0 {
					b.WriteByte('.')
				}
				b.WriteString(f.key)
			}
		}
		return b.String()
	}
	// valueDone advances the enclosing container past a finished value.
	valueDone := func() {
		if n := len(stack); n > 0 {
			if stack[n-1].array {
				stack[n-1].index++
			} else {
				stack[n-1].expectKey = true
			}
		}
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	last := ""
	for dec.InputOffset() < offset {
		tok, err := dec.Token()
		if err != nil {
			return last
		}
		if n := len(stack); n > 0 && !stack[n-1].array && stack[n-1].expectKey {
			if d, ok := tok.(json.Delim); ok && d == '}' {
				stack = stack[:n-1]
				valueDone()
				continue
			}
			k, _ := tok.(string)
			stack[n-1].key, stack[n-1].expectKey = k, false
			continue
		}
		switch d, _ := tok.(json.Delim); d {
		case '{':
			last = path()
			stack = append(stack, frame{expectKey: true})
		case '[':
			last = path()
			stack = append(stack, frame{array: true})
		case '}', ']':
			if len(stack) > 0 {
				stack = stack[:len(stack)-1]
			}
			valueDone()
		default:
			last = path()
			valueDone()
		}
	}
	return last
}

// jsonPath turns encoding/json's dotted field path ("records.3.mark") into
// "records[3].mark".
func jsonPath(p string) string {
	if p == "" {
		return ""
	}
	parts := strings.Split(p, ".")
	var b strings.Builder
	for i, s := range parts {
		if _, err := strconv.Atoi(s); err == nil && i > 0 {
			b.WriteString("[" + s + "]")
			continue
		}
		if i > 0 {
			b.WriteByte('.')
		}
		b.WriteString(s)
	}
	return b.String()
}

// jsonKind names a Go type the way a JSON client thinks of it.
func jsonKind(kind, name string) string {
	switch kind {
	case "string":
		return "a string"
	case "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64":
		return "an integer within range"
	case "float32", "float64":
		return "a number"
	case "bool":
		return "true or false"
	case "slice", "array":
		return "an array"
	case "struct", "map":
		return "an object"
	case "ptr":
		return jsonKind(strings.TrimPrefix(name, "*"), name)
	}
	return "of another type"
}

// nullable is a JSON member that distinguishes absent, null and a value,
// for PATCH bodies.
type nullable[T any] struct {
	Set   bool // present in the body
	Null  bool // present as null
	Value T
}

// UnmarshalJSON implements json.Unmarshaler.
func (n *nullable[T]) UnmarshalJSON(b []byte) error {
	n.Set = true
	if string(b) == "null" {
		n.Null = true
		return nil
	}
	return json.Unmarshal(b, &n.Value)
}

// ptr returns the value when set and not null.
func (n nullable[T]) ptr() *T {
	if !n.Set || n.Null {
		return nil
	}
	v := n.Value
	return &v
}
