package api

import (
	"encoding/json"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"github.com/campshub360/edge/shared/problem"

	"github.com/campshub360/edge/backend/internal/domain"
)

// The OpenAPI 3.1 document (https://spec.openapis.org/oas/v3.1.0) is
// generated once, at New, from the route table: paths and methods, access
// (bearer security and the x-roles extension), query and path parameters,
// and JSON Schemas (2020-12, as OAS 3.1 uses) reflected from the request
// and response types' json tags, with the `format`, `enum`, `doc` and
// `required` tags. TestOpenAPIMatchesRoutes checks it against the served
// routes and the parameters the handlers accept.

var pathParamRE = regexp.MustCompile(`\{([a-z_]+)\}`)

// schemaGen reflects Go types into JSON Schemas, collecting named struct
// types as components.
type schemaGen struct {
	components map[string]any
}

// componentName names a struct type's schema: courseJSON -> Course,
// courseRequest -> CourseRequest.
func componentName(t reflect.Type) string {
	n := strings.TrimSuffix(t.Name(), "JSON")
	if n == "" {
		return ""
	}
	return strings.ToUpper(n[:1]) + n[1:]
}

var (
	percentType = reflect.TypeFor[domain.Percent]()
	rawJSONType = reflect.TypeFor[json.RawMessage]()
)

func (g *schemaGen) schema(t reflect.Type) map[string]any {
	switch {
	case t == percentType:
		return map[string]any{"type": "number", "multipleOf": 0.01}
	case t == rawJSONType:
		return map[string]any{}
	}
	switch t.Kind() {
	case reflect.Pointer:
		s := g.schema(t.Elem())
		return nullableSchema(s)
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return map[string]any{"type": "integer"}
	case reflect.Float32, reflect.Float64:
		return map[string]any{"type": "number"}
	case reflect.Slice:
		return map[string]any{"type": "array", "items": g.schema(t.Elem())}
	case reflect.Map:
		return map[string]any{"type": "object", "additionalProperties": g.schema(t.Elem())}
	case reflect.Struct:
		if strings.HasPrefix(t.Name(), "nullable[") {
			return nullableSchema(g.schema(t.Field(2).Type))
		}
		name := componentName(t)
		if name == "" || strings.Contains(name, "[") {
			return g.object(t)
		}
		if _, ok := g.components[name]; !ok {
			g.components[name] = map[string]any{} // placeholder against recursion
			g.components[name] = g.object(t)
		}
		return map[string]any{"$ref": "#/components/schemas/" + name}
	}
	return map[string]any{}
}

func nullableSchema(s map[string]any) map[string]any {
	if typ, ok := s["type"].(string); ok {
		out := map[string]any{}
		for k, v := range s {
			out[k] = v
		}
		out["type"] = []string{typ, "null"}
		return out
	}
	return map[string]any{"oneOf": []any{s, map[string]any{"type": "null"}}}
}

func toAny(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

// object reflects a struct's exported json fields, flattening embedded
// structs like encoding/json.
func (g *schemaGen) object(t reflect.Type) map[string]any {
	props := map[string]any{}
	var required []string
	var walk func(t reflect.Type)
	walk = func(t reflect.Type) {
		for i := range t.NumField() {
			f := t.Field(i)
			if f.Anonymous && f.Type.Kind() == reflect.Struct {
				walk(f.Type)
				continue
			}
			if !f.IsExported() {
				continue
			}
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "-" || name == "" {
				continue
			}
			s := g.schema(f.Type)
			if fmt := f.Tag.Get("format"); fmt != "" {
				s = withKey(s, "format", fmt)
			}
			if enum := f.Tag.Get("enum"); enum != "" {
				values := toAny(strings.Split(enum, ","))
				if _, isPtr := s["type"].([]string); isPtr {
					values = append(values, nil)
				}
				s = withKey(s, "enum", values)
			}
			if doc := f.Tag.Get("doc"); doc != "" {
				s = withKey(s, "description", doc)
			}
			props[name] = s
			if f.Tag.Get("required") == "true" {
				required = append(required, name)
			}
		}
	}
	walk(t)
	out := map[string]any{"type": "object", "properties": props, "additionalProperties": false}
	if len(required) > 0 {
		out["required"] = required
	}
	return out
}

// withKey returns s with k set; $ref schemas are wrapped in allOf.
func withKey(s map[string]any, k string, v any) map[string]any {
	if _, ref := s["$ref"]; ref {
		return map[string]any{"allOf": []any{s}, k: v}
	}
	out := map[string]any{k: v}
	for kk, vv := range s {
		if kk != k {
			out[kk] = vv
		}
	}
	return out
}

func problemResponse(desc string) map[string]any {
	return map[string]any{"description": desc, "content": map[string]any{
		problem.ContentType: map[string]any{"schema": map[string]any{"$ref": "#/components/schemas/Problem"}}}}
}

// buildOpenAPI renders the document for table.
func buildOpenAPI(table []routeSpec) ([]byte, error) {
	g := &schemaGen{components: map[string]any{}}
	g.components["Problem"] = map[string]any{
		"type": "object", "description": "RFC 9457 problem details",
		"required": []string{"type", "title", "status"},
		"properties": map[string]any{
			"type":       map[string]any{"type": "string", "format": "uri"},
			"title":      map[string]any{"type": "string"},
			"status":     map[string]any{"type": "integer"},
			"detail":     map[string]any{"type": "string"},
			"request_id": map[string]any{"type": "string"},
			"errors": map[string]any{"type": "array", "items": map[string]any{"type": "object",
				"required":   []string{"field", "message"},
				"properties": map[string]any{"field": map[string]any{"type": "string"}, "message": map[string]any{"type": "string"}}}},
		},
	}
	paths := map[string]map[string]any{}
	for _, r := range table {
		op := map[string]any{
			"summary":     r.doc.summary,
			"operationId": operationID(r.method, r.path),
			"tags":        []string{r.doc.tag},
		}
		var params []any
		for _, m := range pathParamRE.FindAllStringSubmatch(r.path, -1) {
			s := map[string]any{"type": "string", "format": "uuid"}
			if m[1] == "date" {
				s["format"] = "date"
			}
			params = append(params, map[string]any{"name": m[1], "in": "path", "required": true, "schema": s})
		}
		query := r.doc.query
		if r.doc.paged {
			query = append([]paramDoc{
				{name: "limit", typ: "integer", desc: "page size, 1 to 500 (default 50)"},
				{name: "cursor", typ: "string", desc: "next_cursor of the previous page, with the same filters"},
			}, query...)
		}
		for _, q := range query {
			s := map[string]any{"type": q.typ}
			if q.format != "" {
				s["format"] = q.format
			}
			if q.enum != nil {
				s["enum"] = q.enum
			}
			params = append(params, map[string]any{"name": q.name, "in": "query", "required": false, "description": q.desc, "schema": s})
		}
		if params != nil {
			op["parameters"] = params
		}
		if r.doc.body != nil {
			op["requestBody"] = map[string]any{"required": true, "content": map[string]any{
				"application/json": map[string]any{"schema": g.schema(reflect.TypeOf(r.doc.body))}}}
		}
		status := r.doc.status
		if status == 0 {
			status = 200
		}
		ok := map[string]any{"description": r.doc.summary}
		switch {
		case r.doc.media == "text/csv" || r.doc.media == "text/plain":
			ok["content"] = map[string]any{r.doc.media: map[string]any{"schema": map[string]any{"type": "string"}}}
		case r.doc.media == "application/json" && r.doc.resp == nil:
			ok["content"] = map[string]any{"application/json": map[string]any{"schema": map[string]any{"type": "object"}}}
		case r.doc.resp != nil:
			ok["content"] = map[string]any{"application/json": map[string]any{"schema": g.schema(reflect.TypeOf(r.doc.resp))}}
		case r.doc.media != "":
			ok["content"] = map[string]any{r.doc.media: map[string]any{"schema": map[string]any{"type": "object"}}}
		}
		responses := map[string]any{strconv.Itoa(status): ok,
			"400": problemResponse("invalid parameters or body, each error naming its field"),
			"503": problemResponse("a backing service did not answer in time")}
		if r.method == "GET" {
			responses["304"] = map[string]any{"description": "not modified (If-None-Match matched the ETag)"}
		}
		if strings.Contains(r.path, "{") {
			responses["404"] = problemResponse("no such resource, or not visible to the caller")
		}
		if r.doc.body != nil {
			responses["413"] = problemResponse("request body too large")
			responses["415"] = problemResponse("request body is not JSON")
		}
		if r.method != "GET" {
			responses["409"] = problemResponse("conflicts with the current state (illegal transition, duplicate, locked session...)")
		}
		if r.access.IsPublic() {
			op["security"] = []any{}
		} else {
			op["security"] = []any{map[string]any{"bearerAuth": []string{}}}
			responses["400"] = problemResponse("invalid parameters or body, each error naming its field; or credentials sent twice, both a token and a key, or the Bearer scheme without a token (WWW-Authenticate error=\"invalid_request\")")
			responses["401"] = problemResponse("missing or invalid credentials (WWW-Authenticate: Bearer, error=\"invalid_token\" when a token or key was given)")
			responses["403"] = problemResponse("the caller's role may not do this")
			roles := r.access.AllowedRoles()
			names := make([]string, len(roles))
			for i, x := range roles {
				names[i] = string(x)
			}
			if len(names) == 0 {
				names = []string{"any authenticated caller"}
			}
			op["x-roles"] = names
		}
		op["responses"] = responses
		if paths[r.path] == nil {
			paths[r.path] = map[string]any{}
		}
		paths[r.path][strings.ToLower(r.method)] = op
	}
	doc := map[string]any{
		"openapi": "3.1.0",
		"info": map[string]any{
			"title":       "CampsHub360 campus API",
			"version":     "1",
			"description": "Students, academic structure, timetables, attendance, leave and corrections. Lists use keyset pagination (limit, cursor -> next_cursor); errors are RFC 9457 problem details.",
		},
		"jsonSchemaDialect": "https://spec.openapis.org/oas/3.1/dialect/base",
		"paths":             paths,
		"components": map[string]any{
			"schemas":         g.components,
			"securitySchemes": map[string]any{"bearerAuth": map[string]any{"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
		},
	}
	return json.MarshalIndent(doc, "", "  ")
}

// operationID derives a stable id: "GET /api/v1/sections/{id}/roster" ->
// "get_sections_id_roster".
func operationID(method, path string) string {
	p := strings.TrimPrefix(path, "/api/v1")
	p = strings.NewReplacer("{", "", "}", "", "/", "_", "-", "_", ".", "_").Replace(p)
	return strings.ToLower(method) + strings.TrimRight(p, "_")
}
