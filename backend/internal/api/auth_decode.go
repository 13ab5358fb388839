package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/valyala/fasthttp"

	"github.com/campshub360/edge/backend/internal/domain"
)

// decodeAuthJSON decodes the request body into dst strictly: one JSON
// object, no unknown fields, no member given twice, no trailing data,
// valid UTF-8. An empty body decodes as {}. Errors are
// *domain.InvalidError naming the field (or "body") in words safe to
// show.
func decodeAuthJSON(body []byte, dst any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		body = []byte("{}")
	}
	if !utf8.Valid(body) {
		return domain.Invalid("body", "must be UTF-8 encoded JSON")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return decodeError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return domain.Invalid("body", "must hold a single JSON object")
	}
	if path, dup := duplicateKey(body); dup {
		return domain.Invalid(path, duplicateKeyMessage)
	}
	return nil
}

// decodeError turns an encoding/json error into a client-safe violation.
func decodeError(err error) error {
	var (
		syn *json.SyntaxError
		typ *json.UnmarshalTypeError
	)
	switch {
	case errors.As(err, &syn), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return domain.Invalid("body", "is not valid JSON")
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			return domain.Invalid("body", "must be a JSON object")
		}
		return domain.Invalid(field, "must be a JSON "+authJSONKind(typ.Type.Kind().String()))
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return domain.Invalid(clip([]byte(name), 64), "is not a field of this request")
	default:
		return domain.Invalid("body", "is not valid JSON")
	}
}

// authJSONKind names a Go kind as a JSON type.
func authJSONKind(goKind string) string {
	switch goKind {
	case "string":
		return "string"
	case "bool":
		return "boolean"
	case "slice", "array":
		return "array"
	case "struct", "map", "ptr":
		return "object"
	default:
		return "number"
	}
}

// required collects "is required" violations for empty string fields, in
// the order given (name, value pairs).
func required(pairs ...string) error {
	var v []domain.Violation
	for i := 0; i+1 < len(pairs); i += 2 {
		if strings.TrimSpace(pairs[i+1]) == "" {
			v = append(v, domain.Violation{Field: pairs[i], Message: "is required"})
		}
	}
	if len(v) > 0 {
		return &domain.InvalidError{Violations: v}
	}
	return nil
}

// maxLen reports a violation when s is longer than n bytes.
func maxLen(field, s string, n int) error {
	if len(s) > n {
		return domain.Invalid(field, "is too long")
	}
	return nil
}

// noStoreCredentials marks a response that carries credentials (RFC 6749
// §5.1).
func noStoreCredentials(ctx *fasthttp.RequestCtx) {
	ctx.Response.Header.Set(fasthttp.HeaderCacheControl, "no-store")
	ctx.Response.Header.Set(fasthttp.HeaderPragma, "no-cache")
}
