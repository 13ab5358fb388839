package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/campshub360/edge/backend/internal/keyring"
	"github.com/campshub360/edge/backend/internal/testdb"
	"github.com/campshub360/edge/shared/testkit"
)

// testQRKey is a QR_SIGNING_KEY for tests (base64 of 32 bytes).
const testQRKey = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="

// envOf serves m, with test keyrings and a QR signing key for the secrets
// serve requires (unless m sets them) and a low bcrypt cost.
func envOf(m map[string]string) func(string) string {
	return func(k string) string {
		if v, ok := m[k]; ok {
			return v
		}
		return testEnv[k]
	}
}

// testEnv holds keyrings generated for this test binary.
var testEnv = func() map[string]string {
	_, enc, _ := keyring.Generate("test-enc", nil)
	_, sig, _ := keyring.Generate("test-sig", nil)
	return map[string]string{"ENCRYPTION_KEYS": enc, "SIGNING_KEY_SECRETS": sig, "QR_SIGNING_KEY": testQRKey, "AUTH_BCRYPT_COST": "10"}
}()

func runCmd(t *testing.T, env map[string]string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out bytes.Buffer
	err := run(ctx, args, envOf(env), &out, io.Discard)
	return out.String(), err
}

func TestRunUnreachableDatabase(t *testing.T) {
	t.Parallel()
	addr := testkit.UnusedAddr(t)
	start := time.Now()
	_, err := runCmd(t, map[string]string{"DATABASE_URL": "postgres://campus:hunter2@" + addr + "/campus?sslmode=disable",
		"QR_SIGNING_KEY": testQRKey}, "serve", "--listen", "127.0.0.1:0")
	if err == nil {
		t.Fatal("serve with an unreachable database succeeded")
	}
	msg := oneLine(err.Error())
	if want := "cannot reach PostgreSQL at " + addr + ": connection refused"; msg != want {
		t.Errorf("error %q, want %q", msg, want)
	}
	if strings.Contains(err.Error(), "\n") || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("error is multi-line or leaks the password: %q", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("took %s", d)
	}
}

func TestRunDatabaseThatNeverAnswers(t *testing.T) {
	t.Parallel()
	// A listener that accepts connections and never speaks.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	start := time.Now()
	_, err = runCmd(t, map[string]string{
		"DATABASE_URL":             "postgres://campus:pw@" + ln.Addr().String() + "/campus?sslmode=disable",
		"DATABASE_CONNECT_TIMEOUT": "700ms",
		"QR_SIGNING_KEY":           testQRKey,
	}, "serve", "--listen", "127.0.0.1:0")
	if err == nil || !strings.Contains(err.Error(), "cannot reach PostgreSQL at "+ln.Addr().String()+": no answer within 700ms") {
		t.Fatalf("got %v, want a timeout naming the address", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("took %s with a 700ms connect timeout", d)
	}
}

func TestRunUsageErrors(t *testing.T) {
	t.Parallel()
	var ue *usageError
	for _, args := range [][]string{
		nil,
		{"frobnicate"},
		{"serve", "--bogus"},
		{"serve", "extra"},
		{"migrate"},
		{"migrate", "sideways"},
		{"migrate", "up", "--to", "3"},
		{"seed", "--students", "0"},
		{"seed", "--timezone", "Mars/Olympus_Mons"},
	} {
		_, err := runCmd(t, map[string]string{"DATABASE_URL": "postgres://x@127.0.0.1:1/x"}, args...)
		if !errors.As(err, &ue) {
			t.Errorf("%v: got %v, want a usage error", args, err)
		}
	}
	for _, args := range [][]string{{"help"}, {"serve", "-h"}, {"seed", "--help"}} {
		out, err := runCmd(t, nil, args...)
		if err != nil || !strings.Contains(out, "usage: backend") {
			t.Errorf("%v: err %v, output %q", args, err, out)
		}
	}
	if _, err := runCmd(t, nil, "serve"); err == nil || !strings.Contains(err.Error(), "DATABASE_URL: is required") {
		t.Errorf("serve without DATABASE_URL: %v", err)
	}
	if out, err := runCmd(t, map[string]string{"DATABASE_URL": "postgres://x@127.0.0.1:1/x", "QR_SIGNING_KEY": testQRKey}, "serve", "--check-config"); err != nil || !strings.Contains(out, "configuration ok") {
		t.Errorf("--check-config: %v %q", err, out)
	}
	// Outside --dev the QR signing key is required (every instance must
	// share it); --dev generates one.
	if _, err := runCmd(t, map[string]string{"DATABASE_URL": "postgres://x@127.0.0.1:1/x", "QR_SIGNING_KEY": ""}, "serve", "--check-config"); err == nil || !strings.Contains(err.Error(), "QR_SIGNING_KEY: is required outside --dev") {
		t.Errorf("--check-config without QR_SIGNING_KEY: %v", err)
	}
	if out, err := runCmd(t, map[string]string{"DATABASE_URL": "postgres://x@127.0.0.1:1/x", "QR_SIGNING_KEY": "", "ENCRYPTION_KEYS": "", "SIGNING_KEY_SECRETS": ""}, "serve", "--dev", "--check-config"); err != nil || !strings.Contains(out, "configuration ok") {
		t.Errorf("--dev --check-config: %v %q", err, out)
	}
}

func TestOneLine(t *testing.T) {
	if got := oneLine("failed to connect:\n\tfirst\n\tsecond  "); got != "failed to connect: first second" {
		t.Fatalf("oneLine = %q", got)
	}
}

// waitForStateFile polls dir for the serve state file and returns its
// contents.
func waitForStateFile(t *testing.T, dir string, served <-chan error) stateFile {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-served:
			t.Fatalf("serve returned before listening: %v", err)
		default:
		}
		matches, _ := filepath.Glob(filepath.Join(dir, "backend-*.json"))
		if len(matches) == 1 {
			body, err := os.ReadFile(matches[0])
			if err == nil {
				var st stateFile
				if err := json.Unmarshal(body, &st); err != nil {
					t.Fatalf("state file %s: %v", body, err)
				}
				return st
			}
		}
		time.Sleep(10 * time.Millisecond) // polling a file the server writes; no event to wait on
	}
	t.Fatal("serve did not write its state file within 30s")
	return stateFile{}
}

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	return httpGetAuth(t, url, "")
}

// httpGetAuth GETs url with a bearer token (none when empty).
func httpGetAuth(t *testing.T, url, token string) (int, string) {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second}
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(body)
}

// readCredentials reads a demo accounts file, checking its mode.
func readCredentials(t *testing.T, path string) map[string]string {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("%s has mode %v, want 0600", path, fi.Mode().Perm())
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var creds map[string]string
	if err := json.Unmarshal(raw, &creds); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	roles := map[string]int{}
	for email := range creds {
		switch {
		case strings.HasSuffix(email, "@"+demoStaffDomain):
			roles[strings.TrimSuffix(email, "@"+demoStaffDomain)]++
		case strings.HasSuffix(email, "@faculty.campshub360.example"):
			roles["faculty"]++
		case strings.HasSuffix(email, "@students.campshub360.example"):
			roles["student"]++
		}
	}
	if roles["admin"] != 1 || roles["registrar"] != 1 || roles["auditor"] != 1 || roles["faculty"] < 2 || roles["student"] < 2 {
		t.Fatalf("demo accounts by role: %v", roles)
	}
	return creds
}

// login signs in at base and returns the access token.
func login(t *testing.T, base, username, password string) string {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"username": username, "password": password})
	res, err := (&http.Client{Timeout: 30 * time.Second}).Post(base+"/api/v1/auth/login", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatalf("login: %v", err)
	}
	defer res.Body.Close()
	var out struct {
		AccessToken string `json:"access_token"`
	}
	raw, _ := io.ReadAll(res.Body)
	if res.StatusCode != 200 || json.Unmarshal(raw, &out) != nil || out.AccessToken == "" {
		t.Fatalf("login as %s: %d %s", username, res.StatusCode, raw)
	}
	return out.AccessToken
}

// createAdmin stores an admin account with password pw in the database.
func createAdmin(t *testing.T, db *testdb.DB, email, pw string) {
	t.Helper()
	hash, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Pool.Exec(context.Background(), `INSERT INTO users (email, password_hash, role) VALUES ($1, $2, 'admin')`,
		email, string(hash)); err != nil {
		t.Fatal(err)
	}
}

func TestCommandsEndToEnd(t *testing.T) {
	t.Parallel()
	db := testdb.NewEmpty(t)
	env := map[string]string{"DATABASE_URL": db.URL, "REDIS_URL": testdb.RedisURL(t), "SHUTDOWN_TIMEOUT": "5s", "QR_SIGNING_KEY": testQRKey}

	// An unmigrated database: serve and seed refuse, saying what to run.
	for _, cmd := range [][]string{{"serve", "--listen", "127.0.0.1:0"}, {"seed"}} {
		if _, err := runCmd(t, env, cmd...); err == nil || !strings.Contains(err.Error(), "run `backend migrate up`") {
			t.Fatalf("%v on an empty database: %v", cmd, err)
		}
	}
	out, err := runCmd(t, env, "migrate", "status")
	if err != nil || !strings.Contains(out, "pending") {
		t.Fatalf("migrate status: %v\n%s", err, out)
	}
	out, err = runCmd(t, env, "migrate", "up")
	if err != nil || !strings.Contains(out, "OK    up 00001_foundations.sql") {
		t.Fatalf("migrate up: %v\n%s", err, out)
	}
	if out, err = runCmd(t, env, "migrate", "up"); err != nil || !strings.Contains(out, "no pending migrations") {
		t.Fatalf("migrate up again: %v\n%s", err, out)
	}

	out, err = runCmd(t, env, "seed", "--students", "120", "--weeks", "1", "--seed", "9")
	if err != nil || !strings.HasPrefix(out, "seeded ") || !strings.Contains(out, "120 students") {
		t.Fatalf("seed: %v\n%s", err, out)
	}
	if out, err = runCmd(t, env, "seed", "--if-empty"); err != nil || !strings.Contains(out, "nothing to do") {
		t.Fatalf("seed --if-empty: %v\n%s", err, out)
	}
	if _, err = runCmd(t, env, "seed"); err == nil || !strings.Contains(err.Error(), "already holds campus data") {
		t.Fatalf("second seed: %v", err)
	}

	// Demo accounts: only with --dev, written 0600 as e-mail -> password.
	accounts := filepath.Join(t.TempDir(), "demo-accounts.json")
	if _, err := runCmd(t, env, "accounts", "demo", "--out", accounts); err == nil || !strings.Contains(err.Error(), "only with --dev") {
		t.Fatalf("accounts demo without --dev: %v", err)
	}
	if out, err = runCmd(t, env, "accounts", "demo", "--dev", "--out", accounts); err != nil || !strings.Contains(out, "registrar@") {
		t.Fatalf("accounts demo: %v\n%s", err, out)
	}
	creds := readCredentials(t, accounts)

	// Serve until cancelled.
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var logs testkit.SyncBuffer
	served := make(chan error, 1)
	go func() {
		served <- run(ctx, []string{"serve", "--listen", "127.0.0.1:0", "--runtime-dir", dir}, envOf(env), io.Discard, &logs)
	}()
	st := waitForStateFile(t, dir, served)
	if st.PID != os.Getpid() || st.Listen == "" {
		t.Fatalf("state file %+v", st)
	}
	base := "http://" + st.Listen
	if code, body := httpGet(t, base+"/ready"); code != 200 || !strings.Contains(body, `"redis":"ok"`) {
		t.Fatalf("/ready: %d %s", code, body)
	}
	// The public catalogue needs no token; students do.
	if code, body := httpGet(t, base+"/api/v1/courses?limit=3&department=CSE"); code != 200 || !strings.Contains(body, `"department":"CSE"`) {
		t.Fatalf("courses: %d %s", code, body)
	}
	if code, body := httpGet(t, base+"/api/v1/students?limit=3&department=CSE"); code != 401 || !strings.Contains(body, `"status":401`) {
		t.Fatalf("students without a token: %d %s", code, body)
	}
	registrar := "registrar@" + demoStaffDomain
	token := login(t, base, registrar, creds[registrar])
	if code, body := httpGetAuth(t, base+"/api/v1/students?limit=3&department=CSE", token); code != 200 || !strings.Contains(body, `"department":"CSE"`) {
		t.Fatalf("students: %d %s", code, body)
	}
	for email, pw := range creds {
		tok := login(t, base, email, pw)
		if code, body := httpGetAuth(t, base+"/api/v1/me", tok); code != 200 || !strings.Contains(body, email) {
			t.Fatalf("me as %s: %d %s", email, code, body)
		}
	}
	cancel()
	select {
	case err := <-served:
		if err != nil {
			t.Fatalf("serve returned %v after cancellation, want nil", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop within 30s of cancellation")
	}
	if matches, _ := filepath.Glob(filepath.Join(dir, "backend-*.json")); len(matches) != 0 {
		t.Fatalf("state file left behind: %v", matches)
	}
	for _, want := range []string{`"msg":"serving"`, `"msg":"shutting down"`, `"msg":"stopped"`} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %s:\n%s", want, logs.String())
		}
	}

	// Rolling one migration back makes serve refuse again.
	if out, err = runCmd(t, env, "migrate", "down"); err != nil || !strings.Contains(out, "OK    down") {
		t.Fatalf("migrate down: %v\n%s", err, out)
	}
	if _, err := runCmd(t, env, "serve", "--listen", "127.0.0.1:0"); err == nil || !strings.Contains(err.Error(), "pending") {
		t.Fatalf("serve after migrate down: %v", err)
	}
}

func TestServeWithoutOrWithUnreachableRedis(t *testing.T) {
	t.Parallel()
	db := testdb.New(t)
	for _, tc := range []struct {
		name, redisURL, warning string
		readyStatus             int
	}{
		{"unset", "", "REDIS_URL is not set; serving without Redis", 200},
		{"unreachable", "redis://" + testkit.UnusedAddr(t) + "/0", "Redis is unreachable", 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var logs testkit.SyncBuffer
			served := make(chan error, 1)
			env := map[string]string{"DATABASE_URL": db.URL, "REDIS_URL": tc.redisURL, "READY_TIMEOUT": "3s", "QR_SIGNING_KEY": testQRKey}
			go func() {
				served <- run(ctx, []string{"serve", "--listen", "127.0.0.1:0", "--runtime-dir", dir}, envOf(env), io.Discard, &logs)
			}()
			st := waitForStateFile(t, dir, served)
			// Each check has READY_TIMEOUT (300ms): on a loaded machine the
			// PostgreSQL ping can miss it once, so poll with a deadline.
			for deadline := time.Now().Add(15 * time.Second); ; {
				code, body := httpGet(t, "http://"+st.Listen+"/ready")
				if code == tc.readyStatus {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("/ready: %d %s", code, body)
				}
				time.Sleep(100 * time.Millisecond)
			}
			if code, _ := httpGet(t, "http://"+st.Listen+"/api/v1/courses"); code != 200 {
				t.Fatalf("courses without Redis: %d", code)
			}
			email := "admin-" + tc.name + "@staff.campshub360.example"
			createAdmin(t, db, email, "a long enough test password")
			token := login(t, "http://"+st.Listen, email, "a long enough test password")
			if code, _ := httpGetAuth(t, "http://"+st.Listen+"/api/v1/students", token); code != 200 {
				t.Fatalf("students without Redis: %d", code)
			}
			if n := strings.Count(logs.String(), tc.warning); n != 1 {
				t.Fatalf("warning %q logged %d times:\n%s", tc.warning, n, logs.String())
			}
			cancel()
			if err := <-served; err != nil {
				t.Fatalf("serve: %v", err)
			}
		})
	}
}

// TestServeDevGeneratesSecretsUnderRuntimeDir runs serve as `make run`
// does (--dev, a runtime dir, no secrets set): the two keyrings and the QR
// signing key are generated under runtime-dir/secrets, private to the
// owner, and a second start (another instance) uses the same ones.
func TestServeDevGeneratesSecretsUnderRuntimeDir(t *testing.T) {
	t.Parallel()
	db := testdb.New(t)
	dir := t.TempDir()
	env := map[string]string{"DATABASE_URL": db.URL, "SHUTDOWN_TIMEOUT": "5s",
		"ENCRYPTION_KEYS": "", "SIGNING_KEY_SECRETS": "", "QR_SIGNING_KEY": ""}
	files := []string{devEncryptionFile, devSigningFile, qrKeyFile}
	var first map[string]string
	for round := 0; round < 2; round++ {
		ctx, cancel := context.WithCancel(context.Background())
		served := make(chan error, 1)
		go func() {
			served <- run(ctx, []string{"serve", "--dev", "--listen", "127.0.0.1:0", "--runtime-dir", dir}, envOf(env), io.Discard, io.Discard)
		}()
		st := waitForStateFile(t, dir, served)
		if code, body := httpGet(t, "http://"+st.Listen+"/ready"); code != 200 {
			t.Fatalf("/ready: %d %s", code, body)
		}
		got := map[string]string{}
		for _, f := range files {
			path := filepath.Join(dir, "secrets", f)
			fi, err := os.Stat(path)
			if err != nil || fi.Mode().Perm() != 0o600 {
				t.Fatalf("%s: %v %v", path, fi, err)
			}
			b, _ := os.ReadFile(path)
			got[f] = string(b)
		}
		if fi, err := os.Stat(filepath.Join(dir, "secrets")); err != nil || fi.Mode().Perm() != 0o700 {
			t.Fatalf("secrets dir: %v %v", fi, err)
		}
		if key, err := readKey(filepath.Join(dir, "secrets", qrKeyFile)); err != nil || len(key) < 32 {
			t.Fatalf("QR key: %d bytes, %v", len(key), err)
		}
		if round == 0 {
			first = got
		} else {
			for _, f := range files {
				if got[f] != first[f] {
					t.Errorf("%s changed between starts", f)
				}
			}
		}
		cancel()
		if err := <-served; err != nil {
			t.Fatalf("serve: %v", err)
		}
	}
}
