package api_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/campshub360/edge/backend/internal/domain"
)

// payloads are hostile strings put in every string field.
var payloads = []string{
	"' OR '1'='1",
	"admin@staff.example'; DROP TABLE users; --",
	`"; SELECT pg_sleep(5); --`,
	"<script>alert(1)</script>",
	"\x00\x01\x02",
	"a\x00b@staff.example",
	"${jndi:ldap://x}",
	"../../../../etc/passwd",
	strings.Repeat("A", 2000),
	"\u202e\ufeffadmin",
}

// rowCounts snapshots the tables a bad request must not write.
func rowCounts(t *testing.T, st *stack) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, table := range []string{"users", "auth_sessions", "refresh_tokens", "api_keys", "mfa_challenges", "revoked_tokens"} {
		var n int
		if err := st.db.Pool.QueryRow(context.Background(), `SELECT count(*) FROM `+table).Scan(&n); err != nil {
			t.Fatal(err)
		}
		out[table] = n
	}
	var hash string
	if err := st.db.Pool.QueryRow(context.Background(), `SELECT string_agg(password_hash, ',' ORDER BY id) FROM users`).Scan(&hash); err != nil {
		t.Fatal(err)
	}
	out["hashes:"+hash] = 1
	return out
}

func TestBadInputIsRefusedAndWritesNothing(t *testing.T) {
	t.Parallel()
	st := newStack(t, stackOptions{})
	st.user(t, "admin@staff.example", "admin", goodPassword, false)
	admin := st.login(t, "admin@staff.example", goodPassword)

	// Each route with its string fields.
	type target struct {
		path, token string
		fields      []string
		authOK      int // status when the token is required and the body valid-shaped but hostile
	}
	targets := []target{
		{"/api/v1/auth/login", "", []string{"username", "password"}, 0},
		{"/api/v1/auth/login/mfa", "", []string{"mfa_token", "code"}, 0},
		{"/api/v1/auth/refresh", "", []string{"refresh_token"}, 0},
		{"/api/v1/auth/password", admin.AccessToken, []string{"current_password", "new_password"}, 0},
		{"/api/v1/auth/mfa/verify", admin.AccessToken, []string{"code"}, 0},
		{"/api/v1/auth/mfa/disable", admin.AccessToken, []string{"password"}, 0},
		{"/api/v1/users", admin.AccessToken, []string{"email", "role"}, 0},
		{"/api/v1/api-keys", admin.AccessToken, []string{"name"}, 0},
	}
	before := rowCounts(t, st)
	for _, tg := range targets {
		for _, p := range payloads {
			body := map[string]any{}
			for _, f := range tg.fields {
				body[f] = p
			}
			if tg.path == "/api/v1/api-keys" {
				body["scopes"] = []string{p}
				// And with valid scopes, so the name itself is checked.
				r := st.call(t, "POST", tg.path, tg.token, map[string]any{"name": p + "\x00", "scopes": []string{"students:read"}}, nil)
				if r.status != 400 {
					t.Errorf("api key name %q: %d %s", clipTo(p, 20), r.status, r.body)
				}
			}
			r := st.call(t, "POST", tg.path, tg.token, body, nil)
			if r.status < 400 || r.status >= 500 {
				t.Errorf("%s with %q: %d %s", tg.path, clipTo(p, 20), r.status, r.body)
				continue
			}
			if strings.Contains(string(r.body), "<script>") || strings.Contains(string(r.body), "pg_sleep") ||
				strings.Contains(strings.ToLower(string(r.body)), "sqlstate") || strings.Contains(string(r.body), "goroutine") {
				t.Errorf("%s echoed or leaked: %s", tg.path, r.body)
			}
		}
		// Malformed and mis-shaped bodies.
		for name, raw := range map[string]string{
			"not json":      `{"username": `,
			"array":         `[1,2,3]`,
			"wrong type":    `{"` + tg.fields[0] + `": 12}`,
			"unknown field": `{"` + tg.fields[0] + `": "x", "is_admin": true}`,
			"two objects":   `{} {}`,
			"bad utf-8":     "{\"" + tg.fields[0] + "\": \"\xff\xfe\"}",
			"missing":       `{}`,
		} {
			r := st.call(t, "POST", tg.path, tg.token, raw, nil)
			if r.status != 400 && !(name == "missing" && r.status == 409) {
				t.Errorf("%s %s: %d %s", tg.path, name, r.status, r.body)
			}
		}
		// Wrong media type and oversized bodies.
		r := st.postRaw(t, tg.path, `{"a":"b"}`, map[string]string{"Content-Type": "text/plain", "Authorization": "Bearer " + tg.token})
		if r.status != 415 {
			t.Errorf("%s text/plain: %d", tg.path, r.status)
		}
		r = st.postRaw(t, tg.path, `{"a":"`+strings.Repeat("x", 20<<10)+`"}`, map[string]string{"Content-Type": "application/json", "Authorization": "Bearer " + tg.token})
		if r.status != 413 {
			t.Errorf("%s oversized: %d", tg.path, r.status)
		}
	}
	// Missing fields are named.
	r := st.call(t, "POST", "/api/v1/auth/login", "", `{}`, nil)
	var p struct {
		Errors []struct{ Field string } `json:"errors"`
	}
	_ = json.Unmarshal(r.body, &p)
	if len(p.Errors) != 2 || p.Errors[0].Field != "username" || p.Errors[1].Field != "password" {
		t.Errorf("missing fields: %s", r.body)
	}
	// Path ids.
	for _, id := range []string{"1", "' OR 1=1", "00000000-0000-0000-0000-00000000000g"} {
		if r := st.call(t, "PATCH", "/api/v1/users/"+id, admin.AccessToken, map[string]bool{"active": false}, nil); r.status != 400 && r.status != 404 {
			t.Errorf("PATCH users/%q: %d", id, r.status)
		}
	}
	after := rowCounts(t, st)
	for k, v := range before {
		if after[k] != v {
			t.Errorf("bad input wrote to %s: %d -> %d", clipTo(k, 30), v, after[k])
		}
	}
	_ = domain.ErrNotFound
}

func clipTo(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
