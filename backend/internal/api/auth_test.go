package api_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/campshub360/edge/shared/problem"
	"github.com/google/uuid"

	"github.com/campshub360/edge/backend/internal/auth"
)

const goodPassword = "correct horse battery staple"

func problemType(t *testing.T, r response) string {
	t.Helper()
	var p problem.Problem
	if err := json.Unmarshal(r.body, &p); err != nil {
		t.Fatalf("not a problem (%d): %s", r.status, r.body)
	}
	return strings.TrimPrefix(p.Type, problem.TypeBase)
}

func TestLoginRefreshRotationAndReuse(t *testing.T) {
	t.Parallel()
	st := newStack(t, stackOptions{})
	st.user(t, "Reg.Istrar@staff.example", "registrar", goodPassword, false)

	tk := st.login(t, "reg.istrar@STAFF.example", goodPassword) // e-mail is case-insensitive
	if tk.TokenType != "Bearer" || tk.ExpiresIn != 900 || tk.AccessToken == "" || !strings.HasPrefix(tk.RefreshToken, "rt_") {
		t.Fatalf("tokens %+v", tk)
	}
	var me struct {
		Email string `json:"email"`
		Role  string `json:"role"`
	}
	if r := st.call(t, "GET", "/api/v1/me", tk.AccessToken, nil, &me); r.status != 200 || me.Role != "registrar" {
		t.Fatalf("me: %d %s", r.status, r.body)
	}
	if r := st.call(t, "GET", "/api/v1/students", tk.AccessToken, nil, nil); r.status != 200 {
		t.Fatalf("students: %d %s", r.status, r.body)
	}

	// Rotation: a new pair; the old refresh token is spent.
	var next tokens
	if r := st.call(t, "POST", "/api/v1/auth/refresh", "", map[string]string{"refresh_token": tk.RefreshToken}, &next); r.status != 200 {
		t.Fatalf("refresh: %d %s", r.status, r.body)
	}
	if next.RefreshToken == tk.RefreshToken || next.AccessToken == tk.AccessToken {
		t.Fatal("refresh did not rotate")
	}
	if r := st.call(t, "GET", "/api/v1/me", next.AccessToken, nil, nil); r.status != 200 {
		t.Fatalf("new access token: %d", r.status)
	}
	// Replay of the spent token: 401, and the whole family dies, including
	// the access token issued by the legitimate refresh.
	r := st.call(t, "POST", "/api/v1/auth/refresh", "", map[string]string{"refresh_token": tk.RefreshToken}, nil)
	if r.status != 401 || problemType(t, r) != "invalid-credentials" {
		t.Fatalf("replay: %d %s", r.status, r.body)
	}
	if r := st.call(t, "POST", "/api/v1/auth/refresh", "", map[string]string{"refresh_token": next.RefreshToken}, nil); r.status != 401 {
		t.Fatalf("successor after reuse: %d", r.status)
	}
	for _, tok := range []string{tk.AccessToken, next.AccessToken} {
		if r := st.call(t, "GET", "/api/v1/me", tok, nil, nil); r.status != 401 {
			t.Fatalf("access token of a revoked family: %d", r.status)
		}
	}
	if st.audit.count("auth.refresh_reuse") != 1 {
		t.Fatalf("audit: %v", st.audit.actions())
	}
	var denied int
	if err := st.db.Pool.QueryRow(context.Background(), `SELECT count(*) FROM revoked_tokens`).Scan(&denied); err != nil || denied != 2 {
		t.Fatalf("revoked_tokens rows %d (%v)", denied, err)
	}
	if metric := scrape(t, st.server); !strings.Contains(metric, `campshub_backend_security_events_total{event="refresh_reuse"} 1`) {
		t.Fatalf("metric missing:\n%s", grepLines(metric, "security_events"))
	}
}

func TestAccessTokenExpiresAndRefreshTokenExpires(t *testing.T) {
	t.Parallel()
	st := newStack(t, stackOptions{})
	st.user(t, "a@staff.example", "admin", goodPassword, false)
	tk := st.login(t, "a@staff.example", goodPassword)
	st.clock.Add(15*time.Minute + 6*time.Second) // past exp + leeway
	if r := st.call(t, "GET", "/api/v1/me", tk.AccessToken, nil, nil); r.status != 401 || r.header.Get("WWW-Authenticate") == "" {
		t.Fatalf("expired token: %d %v", r.status, r.header)
	}
	st.clock.Add(25 * time.Hour) // past the refresh TTL
	if r := st.call(t, "POST", "/api/v1/auth/refresh", "", map[string]string{"refresh_token": tk.RefreshToken}, nil); r.status != 401 {
		t.Fatalf("expired refresh: %d", r.status)
	}
}

func TestUnknownAndWrongAnswerAlikeAndLockOut(t *testing.T) {
	t.Parallel()
	st := newStack(t, stackOptions{lockout: auth.Lockout{Threshold: 3, Window: 15 * time.Minute, Base: time.Minute, Max: time.Hour}})
	st.user(t, "known@staff.example", "admin", goodPassword, false)

	wrong := st.call(t, "POST", "/api/v1/auth/login", "", map[string]string{"username": "known@staff.example", "password": "nope nope nope"}, nil)
	unknown := st.call(t, "POST", "/api/v1/auth/login", "", map[string]string{"username": "ghost@staff.example", "password": "nope nope nope"}, nil)
	strip := func(b []byte) string {
		var p problem.Problem
		_ = json.Unmarshal(b, &p)
		p.RequestID = ""
		out, _ := json.Marshal(p)
		return string(out)
	}
	if wrong.status != 401 || unknown.status != 401 || strip(wrong.body) != strip(unknown.body) {
		t.Fatalf("wrong %d %s / unknown %d %s", wrong.status, wrong.body, unknown.status, unknown.body)
	}
	// Both names lock after the third failure, the same way.
	for _, name := range []string{"known@staff.example", "ghost@staff.example"} {
		for i := 0; i < 2; i++ {
			st.call(t, "POST", "/api/v1/auth/login", "", map[string]string{"username": name, "password": "nope nope nope"}, nil)
		}
		r := st.call(t, "POST", "/api/v1/auth/login", "", map[string]string{"username": name, "password": goodPassword}, nil)
		if r.status != 429 || r.header.Get("Retry-After") == "" || problemType(t, r) != "too-many-attempts" {
			t.Fatalf("%s after 3 failures: %d %s", name, r.status, r.body)
		}
	}
	// The lock lifts after its duration; success clears the count.
	st.clock.Add(61 * time.Second)
	st.login(t, "known@staff.example", goodPassword)
	var n int
	if err := st.db.Pool.QueryRow(context.Background(), `SELECT failed_login_count FROM users WHERE email = 'known@staff.example'`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("failures after success: %d %v", n, err)
	}
	if st.audit.count("auth.lockout") != 2 || st.audit.count("auth.login_failed") != 6 {
		t.Fatalf("audit: %v", st.audit.actions())
	}
}

func TestClientAddressLockout(t *testing.T) {
	t.Parallel()
	st := newStack(t, stackOptions{ipLock: auth.Lockout{Threshold: 4, Window: 15 * time.Minute, Base: time.Minute, Max: time.Hour}})
	st.user(t, "ip@staff.example", "admin", goodPassword, false)
	// Different names from one address: the address locks.
	for i := 0; i < 4; i++ {
		st.call(t, "POST", "/api/v1/auth/login", "", map[string]string{"username": uuid.NewString() + "@x.example", "password": "whatever it is"}, nil)
	}
	r := st.call(t, "POST", "/api/v1/auth/login", "", map[string]string{"username": "ip@staff.example", "password": goodPassword}, nil)
	if r.status != 429 {
		t.Fatalf("locked address: %d %s", r.status, r.body)
	}
	// Another client behind the trusted gateway (X-Forwarded-For from
	// loopback) is a different address and is not locked.
	body := `{"username":"ip@staff.example","password":"` + goodPassword + `"}`
	if r := st.postRaw(t, "/api/v1/auth/login", body, map[string]string{"Content-Type": "application/json", "X-Forwarded-For": "198.51.100.23"}); r.status != 200 {
		t.Fatalf("other address: %d %s", r.status, r.body)
	}
}

func TestForcedPasswordChange(t *testing.T) {
	t.Parallel()
	st := newStack(t, stackOptions{})
	st.user(t, "admin@staff.example", "admin", goodPassword, false)
	admin := st.login(t, "admin@staff.example", goodPassword)

	// Provision a staff account: a random one-time password, never a default.
	var p1, p2 struct {
		UserID          string `json:"user_id"`
		OneTimePassword string `json:"one_time_password"`
	}
	if r := st.call(t, "POST", "/api/v1/users", admin.AccessToken, map[string]string{"email": "new.registrar@staff.example", "role": "registrar"}, &p1); r.status != 201 {
		t.Fatalf("provision: %d %s", r.status, r.body)
	}
	if r := st.call(t, "POST", "/api/v1/users", admin.AccessToken, map[string]string{"email": "other.registrar@staff.example", "role": "registrar"}, &p2); r.status != 201 {
		t.Fatalf("provision 2: %d %s", r.status, r.body)
	}
	if len(p1.OneTimePassword) < 20 || p1.OneTimePassword == p2.OneTimePassword {
		t.Fatalf("one-time passwords %q %q", p1.OneTimePassword, p2.OneTimePassword)
	}
	if r := st.call(t, "POST", "/api/v1/users", admin.AccessToken, map[string]string{"email": "new.registrar@staff.example", "role": "registrar"}, nil); r.status != 409 {
		t.Fatalf("duplicate e-mail: %d", r.status)
	}

	tk := st.login(t, "new.registrar@staff.example", p1.OneTimePassword)
	if !tk.PasswordChangeRequired {
		t.Fatal("password_change_required not set")
	}
	r := st.call(t, "GET", "/api/v1/students", tk.AccessToken, nil, nil)
	if r.status != 403 || problemType(t, r) != "password-change-required" {
		t.Fatalf("students before the change: %d %s", r.status, r.body)
	}
	if r := st.call(t, "GET", "/api/v1/me", tk.AccessToken, nil, nil); r.status != 200 {
		t.Fatalf("me before the change: %d", r.status)
	}
	// Weak passwords are refused with every reason.
	r = st.call(t, "POST", "/api/v1/auth/password", tk.AccessToken, map[string]string{"current_password": p1.OneTimePassword, "new_password": "Password123!"}, nil)
	if r.status != 400 || !strings.Contains(string(r.body), "too common") {
		t.Fatalf("common password: %d %s", r.status, r.body)
	}
	r = st.call(t, "POST", "/api/v1/auth/password", tk.AccessToken, map[string]string{"current_password": p1.OneTimePassword, "new_password": "short"}, nil)
	if r.status != 400 || !strings.Contains(string(r.body), "at least 12 characters") {
		t.Fatalf("short password: %d %s", r.status, r.body)
	}
	r = st.call(t, "POST", "/api/v1/auth/password", tk.AccessToken, map[string]string{"current_password": "not it at all", "new_password": "a much better passphrase"}, nil)
	if r.status != 403 || problemType(t, r) != "wrong-password" {
		t.Fatalf("wrong current: %d %s", r.status, r.body)
	}
	if r := st.call(t, "POST", "/api/v1/auth/password", tk.AccessToken, map[string]string{"current_password": p1.OneTimePassword, "new_password": "a much better passphrase"}, nil); r.status != 204 {
		t.Fatalf("change: %d %s", r.status, r.body)
	}
	if r := st.call(t, "GET", "/api/v1/students", tk.AccessToken, nil, nil); r.status != 200 {
		t.Fatalf("students after the change: %d %s", r.status, r.body)
	}
	if r := st.call(t, "POST", "/api/v1/auth/login", "", map[string]string{"username": "new.registrar@staff.example", "password": p1.OneTimePassword}, nil); r.status != 401 {
		t.Fatalf("one-time password after the change: %d", r.status)
	}
	st.login(t, "new.registrar@staff.example", "a much better passphrase")

	// Reset by the admin: a new one-time password, sessions end.
	var reset struct {
		OneTimePassword string `json:"one_time_password"`
	}
	if r := st.call(t, "POST", "/api/v1/users/"+p1.UserID+"/password-reset", admin.AccessToken, nil, &reset); r.status != 200 {
		t.Fatalf("reset: %d %s", r.status, r.body)
	}
	if r := st.call(t, "GET", "/api/v1/me", tk.AccessToken, nil, nil); r.status != 401 {
		t.Fatalf("session after reset: %d", r.status)
	}
	if tk := st.login(t, "new.registrar@staff.example", reset.OneTimePassword); !tk.PasswordChangeRequired {
		t.Fatal("reset password must be changed")
	}
}

func TestLogoutLogoutAllSessionsAndDeactivation(t *testing.T) {
	t.Parallel()
	st := newStack(t, stackOptions{})
	uid := st.user(t, "f@staff.example", "auditor", goodPassword, false)
	st.user(t, "root@staff.example", "admin", goodPassword, false)
	a := st.login(t, "f@staff.example", goodPassword)
	b := st.login(t, "f@staff.example", goodPassword)
	c := st.login(t, "f@staff.example", goodPassword)

	var list struct {
		Items []struct {
			ID      string `json:"id"`
			Current bool   `json:"current"`
			IP      string `json:"ip"`
		} `json:"items"`
	}
	if r := st.call(t, "GET", "/api/v1/auth/sessions", a.AccessToken, nil, &list); r.status != 200 || len(list.Items) != 3 {
		t.Fatalf("sessions: %d %s", r.status, r.body)
	}
	current := 0
	for _, it := range list.Items {
		if it.Current {
			current++
		}
		if it.IP != "127.0.0.1" {
			t.Fatalf("session ip %q", it.IP)
		}
	}
	if current != 1 {
		t.Fatalf("current sessions: %d", current)
	}
	if r := st.call(t, "POST", "/api/v1/auth/logout", a.AccessToken, nil, nil); r.status != 204 {
		t.Fatalf("logout: %d %s", r.status, r.body)
	}
	if r := st.call(t, "GET", "/api/v1/me", a.AccessToken, nil, nil); r.status != 401 {
		t.Fatalf("token after logout: %d", r.status)
	}
	if r := st.call(t, "POST", "/api/v1/auth/refresh", "", map[string]string{"refresh_token": a.RefreshToken}, nil); r.status != 401 {
		t.Fatalf("refresh after logout: %d", r.status)
	}
	if r := st.call(t, "GET", "/api/v1/me", b.AccessToken, nil, nil); r.status != 200 {
		t.Fatalf("other session after logout: %d", r.status)
	}
	if r := st.call(t, "POST", "/api/v1/auth/logout-all", b.AccessToken, nil, nil); r.status != 200 {
		t.Fatalf("logout-all: %d %s", r.status, r.body)
	}
	for _, tok := range []string{b.AccessToken, c.AccessToken} {
		if r := st.call(t, "GET", "/api/v1/me", tok, nil, nil); r.status != 401 {
			t.Fatalf("token after logout-all: %d", r.status)
		}
	}
	// Deactivation ends access at once.
	d := st.login(t, "f@staff.example", goodPassword)
	root := st.login(t, "root@staff.example", goodPassword)
	if r := st.call(t, "PATCH", "/api/v1/users/"+uid.String(), root.AccessToken, map[string]bool{"active": false}, nil); r.status != 204 {
		t.Fatalf("deactivate: %d %s", r.status, r.body)
	}
	if r := st.call(t, "GET", "/api/v1/me", d.AccessToken, nil, nil); r.status != 401 {
		t.Fatalf("token of a deactivated user: %d", r.status)
	}
	if r := st.call(t, "POST", "/api/v1/auth/login", "", map[string]string{"username": "f@staff.example", "password": goodPassword}, nil); r.status != 401 {
		t.Fatalf("login of a deactivated user: %d", r.status)
	}
}

func TestRevocationHoldsWithoutRedis(t *testing.T) {
	t.Parallel()
	withRedis := newStack(t, stackOptions{})
	withRedis.user(t, "r@staff.example", "admin", goodPassword, false)
	tk := withRedis.login(t, "r@staff.example", goodPassword)
	other := withRedis.login(t, "r@staff.example", goodPassword)

	// A second instance whose Redis is down shares the database.
	down := newStackOn(t, withRedis.db, stackOptions{redisURL: "redis://" + closedPort(t) + "/0"})
	if r := down.call(t, "GET", "/api/v1/me", tk.AccessToken, nil, nil); r.status != 200 {
		t.Fatalf("token on the Redis-less instance: %d %s", r.status, r.body)
	}
	if r := withRedis.call(t, "POST", "/api/v1/auth/logout", tk.AccessToken, nil, nil); r.status != 204 {
		t.Fatalf("logout: %d", r.status)
	}
	if r := down.call(t, "GET", "/api/v1/me", tk.AccessToken, nil, nil); r.status != 401 {
		t.Fatalf("revoked token accepted while Redis is down: %d", r.status)
	}
	// A revocation made while Redis is down is copied to Redis by Sync.
	if r := down.call(t, "POST", "/api/v1/auth/logout", other.AccessToken, nil, nil); r.status != 204 {
		t.Fatalf("logout without Redis: %d %s", r.status, r.body)
	}
	if err := withRedis.deny.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	var jti string
	if err := withRedis.db.Pool.QueryRow(context.Background(), `SELECT jti FROM revoked_tokens ORDER BY revoked_at DESC LIMIT 1`).Scan(&jti); err != nil {
		t.Fatal(err)
	}
	if n, err := withRedis.rdb.Exists(context.Background(), "campshub:auth:revoked:"+jti).Result(); err != nil || n != 1 {
		t.Fatalf("revocation not copied to Redis: %d %v", n, err)
	}
	if r := withRedis.call(t, "GET", "/api/v1/me", other.AccessToken, nil, nil); r.status != 401 {
		t.Fatalf("revoked token on the Redis instance: %d", r.status)
	}
}
