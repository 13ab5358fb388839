package api_test

import (
	"encoding/json"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/campshub360/edge/backend/internal/authz"
)

// concrete fills a route template's parameters with well-formed values.
func concrete(path string) string {
	r := strings.NewReplacer("{id}", uuid.NewString(), "{student_id}", uuid.NewString(), "{date}", "2031-01-01")
	return r.Replace(path)
}

// routerNotFound tells the router's 404 (no such route) from a handler's.
const routerNotFound = "No resource is served at this path."

func TestOpenAPIMatchesRoutes(t *testing.T) {
	t.Parallel()
	c := newCampus(t, campusOpts{students: 20})
	r := c.anon.get(t, "/api/v1/openapi.json")
	var doc struct {
		OpenAPI string `json:"openapi"`
		Paths   map[string]map[string]struct {
			Security   []map[string][]string `json:"security"`
			Roles      []string              `json:"x-roles"`
			Parameters []struct {
				Name string `json:"name"`
				In   string `json:"in"`
			} `json:"parameters"`
			Responses map[string]any `json:"responses"`
		} `json:"paths"`
		Components struct {
			Schemas map[string]any `json:"schemas"`
		} `json:"components"`
	}
	ok(t, r, 200, &doc)
	if doc.OpenAPI != "3.1.0" || len(doc.Components.Schemas) < 20 {
		t.Fatalf("document: openapi %q, %d schemas", doc.OpenAPI, len(doc.Components.Schemas))
	}
	// Every schema reference resolves.
	raw := string(r.body)
	for _, ref := range strings.Split(raw, `"$ref": "#/components/schemas/`)[1:] {
		name := ref[:strings.IndexByte(ref, '"')]
		if doc.Components.Schemas[name] == nil {
			t.Errorf("dangling $ref %s", name)
		}
	}

	// Every route served is documented, with its access.
	routes := c.srv.api.Routes()
	served := map[string]bool{}
	for _, rt := range routes {
		key := strings.ToLower(rt.Method) + " " + rt.Path
		served[key] = true
		op, found := doc.Paths[rt.Path][strings.ToLower(rt.Method)]
		if !found {
			t.Errorf("%s %s is served but not documented", rt.Method, rt.Path)
			continue
		}
		if rt.Access.IsPublic() != (len(op.Security) == 0) {
			t.Errorf("%s %s: public %v, documented security %v", rt.Method, rt.Path, rt.Access.IsPublic(), op.Security)
		}
		var roles []string
		for _, x := range rt.Access.AllowedRoles() {
			roles = append(roles, string(x))
		}
		if !rt.Access.IsPublic() && !slices.Equal(roles, op.Roles) {
			t.Errorf("%s %s: roles %v, documented %v", rt.Method, rt.Path, roles, op.Roles)
		}
	}
	// Every documented operation exists on the live server (not the
	// router's 404 or 405), and every GET also answers HEAD.
	for path, ops := range doc.Paths {
		for method, op := range ops {
			if !served[method+" "+path] {
				t.Errorf("%s %s is documented but not in the route table", method, path)
			}
			var pathParams []string
			for _, p := range op.Parameters {
				if p.In == "path" {
					pathParams = append(pathParams, "{"+p.Name+"}")
				}
			}
			for _, p := range pathParams {
				if !strings.Contains(path, p) {
					t.Errorf("%s %s documents path parameter %s", method, path, p)
				}
			}
			methods := []string{strings.ToUpper(method)}
			if method == "get" {
				methods = append(methods, "HEAD")
			}
			for _, m := range methods {
				res := c.admin.send(t, m, concrete(path), nil)
				if res.status == 405 || (res.status == 404 && strings.Contains(string(res.body), routerNotFound)) {
					t.Errorf("%s %s: documented but the router answers %d", m, path, res.status)
				}
				if m == "HEAD" && len(res.body) != 0 {
					t.Errorf("HEAD %s has a body", path)
				}
			}
		}
	}
	// The query parameters documented are exactly those the handler
	// accepts: an unknown one is refused with the accepted list.
	for path, ops := range doc.Paths {
		op, isGet := ops["get"]
		if !isGet || !strings.HasPrefix(path, "/api/v1/") || path == "/api/v1/openapi.json" {
			continue
		}
		var documented []string
		for _, p := range op.Parameters {
			if p.In == "query" {
				documented = append(documented, p.Name)
			}
		}
		caller := c.admin
		if strings.HasPrefix(path, "/api/v1/me/") {
			caller = c.student
			if path == "/api/v1/me/timetable" || path == "/api/v1/me/sessions" {
				caller = c.faculty
			}
		}
		res := caller.get(t, concrete(path)+"?zz_probe=1")
		if res.status != 400 {
			t.Errorf("GET %s?zz_probe=1: %d, want 400", path, res.status)
			continue
		}
		var p struct {
			Errors []struct{ Field, Message string }
		}
		_ = json.Unmarshal(res.body, &p)
		var accepted []string
		for _, e := range p.Errors {
			if e.Field == "zz_probe" {
				if _, list, found := strings.Cut(e.Message, "accepted: "); found {
					accepted = strings.Split(list, ", ")
				}
			}
		}
		sort.Strings(accepted)
		sort.Strings(documented)
		if !slices.Equal(accepted, documented) {
			t.Errorf("GET %s accepts %v, documents %v", path, accepted, documented)
		}
	}
}

// TestEveryProtectedRouteRefusesAnonymousAndWrongRoles is a small
// route x role matrix over the live router: anonymous callers get 401 on
// every protected route, callers of a role not admitted 403.
func TestEveryProtectedRouteRefusesAnonymousAndWrongRoles(t *testing.T) {
	t.Parallel()
	c := newCampus(t, campusOpts{students: 20})
	byRole := map[authz.Role]*client{authz.RoleAdmin: c.admin, authz.RoleRegistrar: c.registrar, authz.RoleFaculty: c.faculty,
		authz.RoleStudent: c.student, authz.RoleAuditor: c.auditor}
	for _, rt := range c.srv.api.Routes() {
		if rt.Access.IsPublic() {
			continue
		}
		path := concrete(rt.Path)
		if r := c.anon.send(t, rt.Method, path, nil); r.status != 401 || r.header.Get("WWW-Authenticate") == "" {
			t.Errorf("%s %s anonymous: %d", rt.Method, rt.Path, r.status)
		}
		for role, cl := range byRole {
			r := cl.send(t, rt.Method, path, nil)
			allowed := rt.Access.Admits(&authz.Principal{Role: role})
			denied := r.status == 403 && strings.Contains(string(r.body), `problems/forbidden"`)
			switch {
			case !allowed && !denied:
				t.Errorf("%s %s as %s: %d, want the route's 403", rt.Method, rt.Path, role, r.status)
			case allowed && (denied || r.status == 401):
				t.Errorf("%s %s as %s: refused (%d) although admitted", rt.Method, rt.Path, role, r.status)
			case r.status >= 500:
				t.Errorf("%s %s as %s: %d %s", rt.Method, rt.Path, role, r.status, r.body)
			}
		}
	}
}

func TestAuditTrail(t *testing.T) {
	t.Parallel()
	c := newCampus(t, campusOpts{students: 20, auditWriter: true})
	r := c.registrar.send(t, "POST", "/api/v1/students", map[string]any{"roll_number": "AUD2026A001", "first_name": "Asha",
		"last_name": "Rao", "program": c.data.Programs[0].Code, "year_of_study": 1, "section": "A"})
	var s struct{ ID string }
	ok(t, r, 201, &s)
	reqID := r.header.Get("X-Request-ID")
	var page struct {
		Items []struct {
			ActorID   *string         `json:"actor_id"`
			Action    string          `json:"action"`
			EntityID  string          `json:"entity_id"`
			Before    json.RawMessage `json:"before"`
			After     json.RawMessage `json:"after"`
			IP        *string         `json:"ip"`
			RequestID *string         `json:"request_id"`
		}
	}
	poll(t, 10*time.Second, "the audit event to be written", func() bool {
		ok(t, c.auditor.get(t, "/api/v1/audit-events?entity=student&entity_id="+s.ID), 200, &page)
		return len(page.Items) == 1
	})
	e := page.Items[0]
	if e.Action != "student.create" || string(e.Before) != "null" || !strings.Contains(string(e.After), "AUD2026A001") ||
		e.ActorID == nil || str(e.RequestID) != reqID || str(e.IP) != "127.0.0.1" {
		t.Fatalf("audit event: %+v", e)
	}
	ok(t, c.admin.get(t, "/api/v1/audit-events?action=student.create&actor_id="+*e.ActorID+"&from=2000-01-01T00:00:00Z"), 200, &page)
	if len(page.Items) != 1 {
		t.Fatalf("filtered: %d", len(page.Items))
	}
	problemOf(t, c.faculty.get(t, "/api/v1/audit-events"), 403)
	for _, q := range []string{"entity=Student!", "from=yesterday", "actor_id=1", "from=2030-01-01T00:00:00Z&to=2020-01-01T00:00:00Z"} {
		problemOf(t, c.auditor.get(t, "/api/v1/audit-events?"+q), 400)
	}
}
