package api_test

import (
	"encoding/base64"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestChallengesFollowRFC6750 checks the WWW-Authenticate challenges of
// the real authenticator (RFC 6750 §3, §3.1): none but the realm without
// credentials of the Bearer scheme, invalid_request (400) for credentials
// sent ambiguously or without a token, invalid_token (401) for a bad or
// expired one.
func TestChallengesFollowRFC6750(t *testing.T) {
	t.Parallel()
	st := newStack(t, stackOptions{})
	st.user(t, "chal@staff.example", "registrar", goodPassword, false)
	tk := st.login(t, "chal@staff.example", goodPassword)
	var created struct {
		Key string `json:"key"`
	}
	if r := st.call(t, "POST", "/api/v1/api-keys", tk.AccessToken, map[string]any{"name": "challenge", "scopes": []string{"students:read"}}, &created); r.status != 201 {
		t.Fatalf("create key: %d %s", r.status, r.body)
	}
	// get sends GET /api/v1/students with each header line given, in
	// order (a name may repeat).
	get := func(lines ...[2]string) response {
		t.Helper()
		req, err := http.NewRequest("GET", st.base+"/api/v1/students?limit=1", nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range lines {
			req.Header.Add(l[0], l[1])
		}
		res, err := st.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		body, err := io.ReadAll(res.Body)
		if err != nil {
			t.Fatal(err)
		}
		return response{status: res.StatusCode, header: res.Header, body: body}
	}
	bearer := [2]string{"Authorization", "Bearer " + tk.AccessToken}
	// One character changed inside the signature (the last one may
	// carry only padding bits).
	at := strings.LastIndexByte(tk.AccessToken, '.') + 10
	swap := map[bool]string{true: "B", false: "A"}[tk.AccessToken[at] == 'A']
	tampered := tk.AccessToken[:at] + swap + tk.AccessToken[at+1:]
	const realm = `Bearer realm="campshub360"`
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte("chal@staff.example:"+goodPassword))

	for _, tc := range []struct {
		name      string
		lines     [][2]string
		status    int
		challenge string // exact, or a prefix when ending in ", "
		slug      string
	}{
		{"no credentials", nil, 401, realm, "unauthenticated"},
		{"basic", [][2]string{{"Authorization", basic}}, 401, realm, "unauthenticated"},
		{"another scheme", [][2]string{{"Authorization", "Negotiate abc"}}, 401, realm, "unauthenticated"},
		{"bearer without a token", [][2]string{{"Authorization", "Bearer"}}, 400, realm + `, error="invalid_request", `, "invalid-request"},
		{"bearer and spaces", [][2]string{{"Authorization", "Bearer    "}}, 400, realm + `, error="invalid_request", `, "invalid-request"},
		{"two authorization headers", [][2]string{bearer, {"Authorization", "Bearer other"}}, 400, realm + `, error="invalid_request", `, "invalid-request"},
		{"the same token twice", [][2]string{bearer, bearer}, 400, realm + `, error="invalid_request", `, "invalid-request"},
		{"basic then bearer", [][2]string{{"Authorization", basic}, bearer}, 400, realm + `, error="invalid_request", `, "invalid-request"},
		{"two api keys", [][2]string{{"X-API-Key", created.Key}, {"X-API-Key", created.Key}}, 400, realm + `, error="invalid_request", `, "invalid-request"},
		{"token and key", [][2]string{bearer, {"X-API-Key", created.Key}}, 400, realm + `, error="invalid_request", `, "invalid-request"},
		{"malformed token", [][2]string{{"Authorization", "Bearer not-a-jwt"}}, 401, realm + `, error="invalid_token", `, "unauthenticated"},
		{"tampered token", [][2]string{{"Authorization", "Bearer " + tampered}}, 401, realm + `, error="invalid_token", `, "unauthenticated"},
		{"bad api key", [][2]string{{"X-API-Key", "garbage"}}, 401, realm + `, error="invalid_token", `, "unauthenticated"},
		{"token", [][2]string{bearer}, 200, "", ""},
		{"token after extra spaces", [][2]string{{"Authorization", "Bearer   " + tk.AccessToken}}, 200, "", ""},
		{"api key", [][2]string{{"X-API-Key", created.Key}}, 200, "", ""},
	} {
		r := get(tc.lines...)
		if r.status != tc.status {
			t.Errorf("%s: status %d, want %d; %s", tc.name, r.status, tc.status, r.body)
			continue
		}
		got := r.header.Get("WWW-Authenticate")
		if tc.status == 200 {
			if got != "" {
				t.Errorf("%s: challenge on success: %q", tc.name, got)
			}
			continue
		}
		if strings.HasSuffix(tc.challenge, ", ") && !strings.HasPrefix(got, tc.challenge+`error_description="`) ||
			!strings.HasSuffix(tc.challenge, ", ") && got != tc.challenge {
			t.Errorf("%s: WWW-Authenticate %q, want %q", tc.name, got, tc.challenge)
		}
		if p := problemOf(t, r, tc.status); !strings.HasSuffix(p.Type, "/"+tc.slug) {
			t.Errorf("%s: problem type %s, want %s", tc.name, p.Type, tc.slug)
		}
	}

	// An expired token says so.
	st.clock.Add(16 * time.Minute)
	r := get(bearer)
	if got := r.header.Get("WWW-Authenticate"); r.status != 401 ||
		got != realm+`, error="invalid_token", error_description="The access token expired"` {
		t.Fatalf("expired token: %d %q", r.status, got)
	}
	// Public routes ignore credentials, ambiguous ones included.
	req, _ := http.NewRequest("GET", st.base+"/api/v1/departments", nil)
	req.Header.Add("Authorization", "Bearer a")
	req.Header.Add("Authorization", "Bearer b")
	res, err := st.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("public route with two Authorization headers: %d", res.StatusCode)
	}
}
