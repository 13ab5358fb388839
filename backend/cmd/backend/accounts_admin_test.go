package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/campshub360/edge/backend/internal/config"
	"github.com/campshub360/edge/backend/internal/testdb"
)

// runCmdIO runs a command line and returns its standard output and error.
func runCmdIO(t *testing.T, env map[string]string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out, errOut bytes.Buffer
	err = run(ctx, args, envOf(env), &out, &errOut)
	return out.String(), errOut.String(), err
}

// oneTimePasswordOf returns the one-time password printed by create-admin
// (the line after the announcement), failing t when there is none.
func oneTimePasswordOf(t *testing.T, stdout string) string {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, "one-time password (shown once") && i+1 < len(lines) {
			return lines[i+1]
		}
	}
	t.Fatalf("no one-time password in:\n%s", stdout)
	return ""
}

// newAccountsAPI is the server's real API (buildAPI) over db, driven in
// memory, with no accounts of its own (--dev: env may set a low bcrypt
// cost).
func newAccountsAPI(t *testing.T, db *testdb.DB, env map[string]string) *campusAPI {
	t.Helper()
	cfg, err := config.LoadServe([]string{"--listen", "127.0.0.1:0", "--dev"}, envOf(env))
	if err != nil {
		t.Fatal(err)
	}
	opts, _ := redis.ParseURL(env["REDIS_URL"])
	rdb := redis.NewClient(opts)
	t.Cleanup(func() { rdb.Close() })
	w, err := buildAPI(context.Background(), cfg, stores{primary: db.Pool, redis: rdb}, discardAudit{},
		prometheus.NewRegistry(), slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	return &campusAPI{db: db, api: w.api, h: w.api.Handler()}
}

// signIn posts credentials and returns the answer's status and tokens.
func (ca *campusAPI) signIn(username, password string) (int, tokenAnswer) {
	body, _ := json.Marshal(map[string]string{"username": username, "password": password})
	r := ca.do("POST", "/api/v1/auth/login", nil, string(body))
	var tk tokenAnswer
	_ = json.Unmarshal(r.body, &tk)
	return r.status, tk
}

type tokenAnswer struct {
	AccessToken            string `json:"access_token"`
	RefreshToken           string `json:"refresh_token"`
	PasswordChangeRequired bool   `json:"password_change_required"`
}

func bearer(tok string) map[string]string { return map[string]string{"Authorization": "Bearer " + tok} }

func TestAccountsCreateAdmin(t *testing.T) {
	t.Parallel()
	db := testdb.New(t)
	// The production bcrypt floor (10) for the first creation; after it,
	// --dev and cost 4 keep the test fast (bcrypt under the race detector
	// takes seconds at cost 10).
	prodEnv := map[string]string{"DATABASE_URL": db.URL, "REDIS_URL": testdb.RedisURL(t), "AUTH_BCRYPT_COST": "10"}
	env := map[string]string{"DATABASE_URL": db.URL, "REDIS_URL": testdb.RedisURL(t), "AUTH_BCRYPT_COST": "4"}
	ctx := context.Background()
	var passwords []string // every password handed out, never to be seen on stderr
	var stderrs []string
	runAccounts := func(env map[string]string, args ...string) (string, error) {
		t.Helper()
		out, errOut, err := runCmdIO(t, env, append([]string{"accounts"}, args...)...)
		stderrs = append(stderrs, errOut)
		return out, err
	}
	cli := func(args ...string) (string, error) {
		t.Helper()
		if len(args) > 0 && args[0] == "create-admin" {
			args = append(args, "--dev")
		}
		return runAccounts(env, args...)
	}
	if _, err := runAccounts(env, "create-admin", "--email", "ops@uni.example"); err == nil || !strings.Contains(err.Error(), "AUTH_BCRYPT_COST") {
		t.Fatalf("cost 4 outside --dev: %v", err)
	}

	// Creation: one-time password printed once, account active, admin,
	// must change its password; the audit event has no actor (the system).
	out, err := runAccounts(prodEnv, "create-admin", "--email", "  Ops@Uni.Example ")
	if err != nil {
		t.Fatalf("create-admin: %v\n%s", err, out)
	}
	otp := oneTimePasswordOf(t, out)
	passwords = append(passwords, otp)
	if strings.Count(out, otp) != 1 || len(otp) != 24 {
		t.Fatalf("one-time password %q shown %d times:\n%s", otp, strings.Count(out, otp), out)
	}
	var (
		role       string
		active     bool
		mustChange bool
		hash       string
	)
	if err := db.Pool.QueryRow(ctx, `SELECT role, active, must_change_password, password_hash FROM users WHERE email = 'ops@uni.example'`).
		Scan(&role, &active, &mustChange, &hash); err != nil {
		t.Fatal(err)
	}
	if role != "admin" || !active || !mustChange || !strings.HasPrefix(hash, "$2a$10$") {
		t.Fatalf("stored account: role %s active %v must change %v hash %.7s", role, active, mustChange, hash)
	}
	var auditRows int
	if err := db.Pool.QueryRow(ctx, `SELECT count(*) FROM audit_events WHERE action = 'user.provision' AND actor_id IS NULL
		AND request_id = $1 AND after->>'role' = 'admin' AND (after->>'must_change_password')::boolean`, cliRequestID).Scan(&auditRows); err != nil || auditRows != 1 {
		t.Fatalf("user.provision audit events by the system: %d, %v", auditRows, err)
	}

	// The account signs in through the API, must change its password
	// first, then administers.
	ca := newAccountsAPI(t, db, env)
	status, tk := ca.signIn("ops@uni.example", otp)
	if status != 200 || !tk.PasswordChangeRequired {
		t.Fatalf("sign-in with the one-time password: %d %+v", status, tk)
	}
	if r := ca.do("POST", "/api/v1/users", bearer(tk.AccessToken), `{"email":"x@uni.example","role":"auditor"}`); r.status != 403 || r.ptype != "password-change-required" {
		t.Fatalf("provisioning before changing the password: %d %s", r.status, r.body)
	}
	own := "violet tram 42 under quartz"
	passwords = append(passwords, own)
	body, _ := json.Marshal(map[string]string{"current_password": otp, "new_password": own})
	if r := ca.do("POST", "/api/v1/auth/password", bearer(tk.AccessToken), string(body)); r.status != 204 {
		t.Fatalf("password change: %d %s", r.status, r.body)
	}
	status, tk = ca.signIn("ops@uni.example", own)
	if status != 200 || tk.PasswordChangeRequired {
		t.Fatalf("sign-in with the new password: %d %+v", status, tk)
	}
	r := ca.do("POST", "/api/v1/users", bearer(tk.AccessToken), `{"email":"registrar@uni.example","role":"registrar"}`)
	var registrar struct {
		OneTimePassword string `json:"one_time_password"`
	}
	if r.status != 201 || json.Unmarshal(r.body, &registrar) != nil || registrar.OneTimePassword == "" {
		t.Fatalf("the new admin provisions a registrar: %d %s", r.status, r.body)
	}
	passwords = append(passwords, registrar.OneTimePassword)

	// An existing e-mail (in any case) is refused and nothing changes.
	for _, email := range []string{"ops@uni.example", "OPS@UNI.EXAMPLE", "registrar@uni.example"} {
		out, err := cli("create-admin", "--email", email)
		var ue *usageError
		if err == nil || errors.As(err, &ue) || !strings.Contains(err.Error(), "already exists") || strings.Contains(out, "password") {
			t.Fatalf("create-admin over existing %s: %v\n%s", email, err, out)
		}
	}
	if status, _ := ca.signIn("ops@uni.example", own); status != 200 {
		t.Fatalf("the existing admin's password changed: %d", status)
	}

	// Bad command lines are usage errors and touch nothing.
	weak := filepath.Join(t.TempDir(), "weak")
	if err := os.WriteFile(weak, []byte("password123\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	passwords = append(passwords, "password123")
	for _, args := range [][]string{
		{"create-admin"},
		{"create-admin", "--email", "not-an-email"},
		{"create-admin", "--email", "a@b@c"},
		{"create-admin", "--email", "new@uni.example", "extra"},
		{"create-admin", "--email", "new@uni.example", "--password-file", filepath.Join(t.TempDir(), "missing")},
		{"create-admin", "--email", "new@uni.example", "--password-file", weak},
		{"create-admin", "--email", "new@uni.example", "--role", "admin"},
		{"frobnicate"},
		{},
	} {
		out, err := cli(args...)
		var ue *usageError
		if !errors.As(err, &ue) {
			t.Errorf("%v: got %v (%q), want a usage error", args, err, out)
		}
	}
	if _, err := cli("create-admin", "--email", "new@uni.example", "--password-file", weak); err == nil || !strings.Contains(err.Error(), "too common") {
		t.Errorf("weak password file: %v", err)
	}
	var n int
	if err := db.Pool.QueryRow(ctx, `SELECT count(*) FROM users WHERE email = 'new@uni.example'`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("a refused command created an account: %d %v", n, err)
	}

	// --reset-password refuses anything but an existing admin.
	if _, err := cli("create-admin", "--email", "registrar@uni.example", "--reset-password"); err == nil || !strings.Contains(err.Error(), "not an admin") {
		t.Fatalf("reset of a registrar: %v", err)
	}
	if status, tk := ca.signIn("registrar@uni.example", registrar.OneTimePassword); status != 200 || !tk.PasswordChangeRequired {
		t.Fatalf("the registrar's password changed: %d", status)
	}
	if _, err := cli("create-admin", "--email", "nobody@uni.example", "--reset-password"); err == nil || !strings.Contains(err.Error(), "no account") {
		t.Fatalf("reset of an unknown e-mail: %v", err)
	}

	// Reset of the admin (lockout recovery): a new one-time password, the
	// old password fails, and the sessions end (refresh and access tokens).
	status, session := ca.signIn("ops@uni.example", own)
	if status != 200 {
		t.Fatalf("sign-in before the reset: %d", status)
	}
	if r := ca.do("GET", "/api/v1/me", bearer(session.AccessToken), ""); r.status != 200 {
		t.Fatalf("me before the reset: %d %s", r.status, r.body)
	}
	for range 3 { // failed sign-ins, cleared by the reset
		ca.signIn("ops@uni.example", "wrong password 123")
	}
	out, err = cli("create-admin", "--email", "ops@uni.example", "--reset-password")
	if err != nil || !strings.Contains(out, "sessions have ended") {
		t.Fatalf("reset: %v\n%s", err, out)
	}
	var failures int
	if err := db.Pool.QueryRow(ctx, `SELECT failed_login_count FROM users WHERE email = 'ops@uni.example'`).Scan(&failures); err != nil || failures != 0 {
		t.Fatalf("failed sign-ins after the reset: %d %v", failures, err)
	}
	reset := oneTimePasswordOf(t, out)
	passwords = append(passwords, reset)
	if reset == otp {
		t.Fatal("the reset printed the first one-time password again")
	}
	if status, _ := ca.signIn("ops@uni.example", own); status != 401 {
		t.Fatalf("old password after the reset: %d, want 401", status)
	}
	body, _ = json.Marshal(map[string]string{"refresh_token": session.RefreshToken})
	if r := ca.do("POST", "/api/v1/auth/refresh", nil, string(body)); r.status != 401 {
		t.Fatalf("refresh token after the reset: %d %s", r.status, r.body)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		r := ca.do("GET", "/api/v1/me", bearer(session.AccessToken), "")
		if r.status == 401 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("access token still accepted after the reset: %d %s", r.status, r.body)
		}
		time.Sleep(50 * time.Millisecond) // poll: the API caches "not revoked" for AUTH_STATE_CACHE_TTL
	}
	status, tk = ca.signIn("ops@uni.example", reset)
	if status != 200 || !tk.PasswordChangeRequired {
		t.Fatalf("sign-in with the reset one-time password: %d %+v", status, tk)
	}
	if err := db.Pool.QueryRow(ctx, `SELECT count(*) FROM audit_events WHERE action = 'user.password_reset' AND actor_id IS NULL
		AND request_id = $1`, cliRequestID).Scan(&auditRows); err != nil || auditRows != 1 {
		t.Fatalf("user.password_reset audit events by the system: %d, %v", auditRows, err)
	}

	// --password-file: the operator's password, checked by the policy, no
	// change required; for a reset and for a new admin.
	chosen := "Tr0ub4dor & 3 more words"
	passwords = append(passwords, chosen)
	pwFile := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pwFile, []byte(chosen+"\r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err = cli("create-admin", "--email", "ops@uni.example", "--reset-password", "--password-file", pwFile)
	if err != nil || strings.Contains(out, chosen) {
		t.Fatalf("reset from a file: %v\n%s", err, out)
	}
	if status, tk := ca.signIn("ops@uni.example", chosen); status != 200 || tk.PasswordChangeRequired {
		t.Fatalf("sign-in with the file's password: %d %+v", status, tk)
	}
	if status, _ := ca.signIn("ops@uni.example", reset); status != 401 {
		t.Fatalf("the previous one-time password after a reset: %d", status)
	}
	out, err = cli("create-admin", "--email", "second@uni.example", "--password-file", pwFile)
	if err != nil || strings.Contains(out, chosen) || !strings.Contains(out, "created admin account second@uni.example") {
		t.Fatalf("create from a file: %v\n%s", err, out)
	}
	if status, tk := ca.signIn("second@uni.example", chosen); status != 200 || tk.PasswordChangeRequired {
		t.Fatalf("sign-in of the second admin: %d %+v", status, tk)
	}

	// No password ever reaches standard error, and no audit event holds one.
	for _, e := range stderrs {
		for _, pw := range passwords {
			if strings.Contains(e, pw) {
				t.Fatalf("stderr holds a password:\n%s", e)
			}
		}
	}
	rows, err := db.Pool.Query(ctx, `SELECT coalesce(after::text, '') || coalesce(before::text, '') FROM audit_events`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		for _, pw := range passwords {
			if strings.Contains(s, pw) {
				t.Fatalf("audit event holds a password: %s", s)
			}
		}
	}
}
