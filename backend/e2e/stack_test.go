// Package e2e tests the whole stack as users run it: the real gateway and
// backend binaries, started as processes on 127.0.0.1, against a real
// PostgreSQL database, over real HTTPS.
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/campshub360/edge/backend/internal/keyring"
	"github.com/campshub360/edge/backend/internal/testdb"
)

// binaries builds the gateway and backend commands once per test binary.
var buildOnce = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "campshub360-e2e-bin-")
	if err != nil {
		return "", err
	}
	cmd := exec.Command("go", "build", "-o", dir+string(os.PathSeparator),
		"github.com/campshub360/edge/gateway/cmd/gateway",
		"github.com/campshub360/edge/backend/cmd/backend")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return dir, nil
})

func binaries(t *testing.T) (gateway, backend string) {
	t.Helper()
	dir, err := buildOnce()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, "gateway"), filepath.Join(dir, "backend")
}

// proc is a started process whose output is captured.
type proc struct {
	cmd    *exec.Cmd
	stderr *lockedBuffer
	done   chan error
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func start(t *testing.T, env []string, name string, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), env...)
	p := &proc{cmd: cmd, stderr: &lockedBuffer{}, done: make(chan error, 1)}
	cmd.Stdout = io.Discard
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() { p.done <- cmd.Wait() }()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("%s %v stderr:\n%s", filepath.Base(name), args, tail(p.stderr.String(), 30))
		}
	})
	return p
}

// stop sends SIGTERM and waits for the exit status.
func (p *proc) stop(t *testing.T, within time.Duration) error {
	t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.done:
		p.done <- err
		return err
	case <-time.After(within):
		t.Fatalf("process %d did not exit within %v after SIGTERM", p.cmd.Process.Pid, within)
		return nil
	}
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// poll calls f until it returns true or the deadline passes.
func poll(t *testing.T, within time.Duration, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", within, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

var client = &http.Client{
	Timeout:   10 * time.Second,
	Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}},
}

func get(t *testing.T, url string) (int, http.Header, []byte) {
	t.Helper()
	return getAuth(t, url, "")
}

// getAuth GETs url with a bearer token (none when empty).
func getAuth(t *testing.T, url, token string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: read body: %v", url, err)
	}
	return resp.StatusCode, resp.Header, b
}

// gatewayAddrs waits for the gateway's "gateway serving" log line and
// returns its https and admin addresses.
func gatewayAddrs(t *testing.T, p *proc) (https, admin string) {
	t.Helper()
	poll(t, 30*time.Second, "the gateway to start serving", func() bool {
		sc := bufio.NewScanner(strings.NewReader(p.stderr.String()))
		for sc.Scan() {
			var line struct {
				Msg   string `json:"msg"`
				HTTPS string `json:"https"`
				Admin string `json:"admin"`
			}
			if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "gateway serving" {
				https, admin = line.HTTPS, line.Admin
				return true
			}
		}
		select {
		case err := <-p.done:
			p.done <- err
			t.Fatalf("gateway exited: %v\n%s", err, p.stderr.String())
		default:
		}
		return false
	})
	return https, admin
}

func TestStackServesStudentsOverHTTPSAndSurvivesBackendLoss(t *testing.T) {
	gatewayBin, backendBin := binaries(t)
	db := testdb.NewEmpty(t)
	// Outside --dev the backend needs its two keyrings and the QR signing
	// key; both instances share them (and the signing keys the keyrings
	// seal, in PostgreSQL).
	_, enc, _ := keyring.Generate("e2e-data", nil)
	_, sig, _ := keyring.Generate("e2e-seal", nil)
	env := []string{"DATABASE_URL=" + db.URL, "REDIS_URL=" + testdb.RedisURL(t),
		"ENCRYPTION_KEYS=" + enc, "SIGNING_KEY_SECRETS=" + sig, "AUTH_BCRYPT_COST=10",
		"QR_SIGNING_KEY=MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="}
	accounts := filepath.Join(t.TempDir(), "demo-accounts.json")

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for _, args := range [][]string{{"migrate", "up"}, {"seed", "--students", "300", "--weeks", "1"},
		{"accounts", "demo", "--dev", "--out", accounts}} {
		cmd := exec.CommandContext(ctx, backendBin, args...)
		cmd.Env = append(os.Environ(), env...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("backend %v: %v\n%s", args, err, out)
		}
	}

	b1, b2 := freePort(t), freePort(t)
	backends := []*proc{
		start(t, env, backendBin, "serve", "--listen", b1),
		start(t, env, backendBin, "serve", "--listen", b2),
	}
	for _, a := range []string{b1, b2} {
		poll(t, 30*time.Second, "backend "+a+" to be ready", func() bool {
			resp, err := client.Get("http://" + a + "/ready")
			if err != nil {
				return false
			}
			resp.Body.Close()
			return resp.StatusCode == 200
		})
	}

	runtime := t.TempDir()
	cfg := filepath.Join(runtime, "gateway.yaml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`runtime_dir: %s
listen: {https: "127.0.0.1:0", http: "127.0.0.1:0", admin: "127.0.0.1:0"}
server: {drain_delay: 100ms, shutdown_timeout: 5s}
upstreams:
  - name: campus
    dial_timeout: 1s
    instances: [{addr: %q}, {addr: %q}]
routes:
  - {name: api, path_prefix: /api/, upstream: campus}
  - {name: health, path_prefix: /health/, upstream: campus}
`, runtime, b1, b2)), 0o600); err != nil {
		t.Fatal(err)
	}
	gw := start(t, nil, gatewayBin, "--config", cfg)
	httpsAddr, adminAddr := gatewayAddrs(t, gw)
	base := "https://" + httpsAddr

	// Students are not public: without a token, a 401 problem from the
	// backend through the gateway.
	status, hdr, body := get(t, base+"/api/v1/students?limit=5")
	if status != 401 || hdr.Get("Content-Type") != "application/problem+json" || !strings.Contains(hdr.Get("WWW-Authenticate"), "Bearer") {
		t.Fatalf("anonymous students: %d %v %s", status, hdr, body)
	}
	// Sign in through the gateway with a demo account; the JWK Set the
	// gateway verifies with is public.
	registrar, password := demoAccount(t, accounts, "registrar@")
	token := loginVia(t, base, registrar, password)
	if status, hdr, body := get(t, base+"/api/v1/auth/jwks.json"); status != 200 || !strings.Contains(string(body), `"kty":"OKP"`) ||
		hdr.Get("Content-Type") != "application/jwk-set+json" {
		t.Fatalf("jwks: %d %s", status, body)
	}

	// Five students from PostgreSQL, over HTTPS, through the gateway, for
	// a signed-in registrar; one by id, and the next page by cursor.
	status, hdr, body = getAuth(t, base+"/api/v1/students?limit=5", token)
	if status != 200 {
		t.Fatalf("GET students: %d %s", status, body)
	}
	var students struct {
		Items []struct {
			ID         string `json:"id"`
			RollNumber string `json:"roll_number"`
		} `json:"items"`
		NextCursor string `json:"next_cursor"`
	}
	if err := json.Unmarshal(body, &students); err != nil {
		t.Fatalf("students body: %v: %s", err, body)
	}
	if len(students.Items) != 5 || students.NextCursor == "" || students.Items[0].RollNumber == "" {
		t.Fatalf("unexpected page: %s", body)
	}
	if hdr.Get("X-Request-ID") == "" || hdr.Get("X-Content-Type-Options") != "nosniff" || hdr.Get("Server") != "" {
		t.Fatalf("response headers: %v", hdr)
	}
	status, _, body = getAuth(t, base+"/api/v1/students/"+students.Items[0].ID, token)
	if status != 200 || !strings.Contains(string(body), students.Items[0].RollNumber) {
		t.Fatalf("GET student by id: %d %s", status, body)
	}
	status, _, body = getAuth(t, base+"/api/v1/students?limit=5&cursor="+students.NextCursor, token)
	if status != 200 || strings.Contains(string(body), students.Items[0].ID) {
		t.Fatalf("students next page: %d %s", status, body)
	}

	// The catalogue is public: five courses without a token, one by id,
	// and the next page by cursor.
	status, hdr, body = get(t, base+"/api/v1/courses?limit=5")
	if status != 200 {
		t.Fatalf("GET courses: %d %s", status, body)
	}
	var page struct {
		Items []struct {
			ID   string `json:"id"`
			Code string `json:"code"`
		} `json:"items"`
		NextCursor string `json:"next_cursor"`
	}
	if err := json.Unmarshal(body, &page); err != nil {
		t.Fatalf("courses body: %v: %s", err, body)
	}
	if len(page.Items) != 5 || page.NextCursor == "" || page.Items[0].Code == "" {
		t.Fatalf("unexpected page: %s", body)
	}
	if hdr.Get("X-Request-ID") == "" || hdr.Get("X-Content-Type-Options") != "nosniff" || hdr.Get("Server") != "" {
		t.Fatalf("response headers: %v", hdr)
	}
	status, _, body = get(t, base+"/api/v1/courses/"+page.Items[0].ID)
	if status != 200 || !strings.Contains(string(body), page.Items[0].Code) {
		t.Fatalf("GET course by id: %d %s", status, body)
	}
	status, _, body = get(t, base+"/api/v1/courses?limit=5&cursor="+page.NextCursor)
	if status != 200 || strings.Contains(string(body), page.Items[0].ID) {
		t.Fatalf("next page: %d %s", status, body)
	}

	// Bad input is a problem document, with the request id, from the backend through the gateway.
	for _, q := range []string{"limit=0", "limit=100000", "limit=abc", "cursor=forged"} {
		for _, path := range []string{"/api/v1/courses?", "/api/v1/students?"} {
			status, hdr, body = getAuth(t, base+path+q, token)
			var p struct {
				Status    int    `json:"status"`
				RequestID string `json:"request_id"`
			}
			if status != 400 || hdr.Get("Content-Type") != "application/problem+json" || json.Unmarshal(body, &p) != nil ||
				p.Status != 400 || p.RequestID != hdr.Get("X-Request-ID") {
				t.Fatalf("%s%s: %d %s %s", path, q, status, hdr.Get("Content-Type"), body)
			}
		}
	}

	// Round robin reached both instances.
	_, _, metrics := get(t, "http://"+adminAddr+"/metrics")
	for _, a := range []string{b1, b2} {
		if !strings.Contains(string(metrics), `instance="`+a+`"`) {
			t.Fatalf("instance %s never used:\n%s", a, grep(string(metrics), "gateway_upstream_requests_total"))
		}
	}

	// Lose one instance: every GET still succeeds.
	if err := backends[0].stop(t, 20*time.Second); err != nil {
		t.Fatalf("backend exit after SIGTERM: %v", err)
	}
	for i := 0; i < 20; i++ {
		if status, _, body := getAuth(t, base+"/api/v1/students?limit=2", token); status != 200 {
			t.Fatalf("request %d with one instance down: %d %s", i, status, body)
		}
	}

	// Lose both: a 502 problem, promptly.
	if err := backends[1].stop(t, 20*time.Second); err != nil {
		t.Fatalf("backend exit after SIGTERM: %v", err)
	}
	status, hdr, body = getAuth(t, base+"/api/v1/students?limit=2", token)
	if status != 502 || hdr.Get("Content-Type") != "application/problem+json" || !strings.Contains(string(body), hdr.Get("X-Request-ID")) {
		t.Fatalf("all instances down: %d %s", status, body)
	}

	// Graceful shutdown exits 0.
	if err := gw.stop(t, 20*time.Second); err != nil {
		t.Fatalf("gateway exit after SIGTERM: %v\n%s", err, gw.stderr.String())
	}
}

// demoAccount returns the e-mail and password of the demo account whose
// e-mail starts with prefix.
func demoAccount(t *testing.T, path, prefix string) (string, string) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var creds map[string]string
	if err := json.Unmarshal(raw, &creds); err != nil {
		t.Fatal(err)
	}
	for email, pw := range creds {
		if strings.HasPrefix(email, prefix) {
			return email, pw
		}
	}
	t.Fatalf("no demo account %s* in %s", prefix, path)
	return "", ""
}

// loginVia signs in through base and returns the access token.
func loginVia(t *testing.T, base, username, password string) string {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"username": username, "password": password})
	resp, err := client.Post(base+"/api/v1/auth/login", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatalf("login: %v", err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var tk struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
	}
	if resp.StatusCode != 200 || json.Unmarshal(raw, &tk) != nil || tk.AccessToken == "" || tk.TokenType != "Bearer" {
		t.Fatalf("login through the gateway: %d %s", resp.StatusCode, raw)
	}
	return tk.AccessToken
}

func TestBackendWithUnreachableDatabaseExitsWithOneLine(t *testing.T) {
	_, backendBin := binaries(t)
	dead := freePort(t)
	cmd := exec.Command(backendBin, "serve", "--listen", freePort(t))
	_, enc, _ := keyring.Generate("e2e-data", nil)
	_, sig, _ := keyring.Generate("e2e-seal", nil)
	cmd.Env = append(os.Environ(), "DATABASE_URL=postgres://campus:secret@"+dead+"/campus?connect_timeout=2",
		"ENCRYPTION_KEYS="+enc, "SIGNING_KEY_SECRETS="+sig)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	start := time.Now()
	err := cmd.Run()
	if err == nil {
		t.Fatal("backend started without a database")
	}
	if time.Since(start) > 30*time.Second {
		t.Fatalf("took %v to give up", time.Since(start))
	}
	out := strings.TrimSpace(stderr.String())
	lines := strings.Split(out, "\n")
	last := lines[len(lines)-1]
	if !strings.HasPrefix(last, "backend: ") || strings.Contains(out, "secret") || strings.Contains(out, "goroutine") {
		t.Fatalf("stderr:\n%s", out)
	}
}

func TestBackendRefusesToStartWithoutSecrets(t *testing.T) {
	_, backendBin := binaries(t)
	cmd := exec.Command(backendBin, "serve", "--listen", freePort(t))
	env := []string{"DATABASE_URL=postgres://campus:pw@127.0.0.1:1/campus"}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "ENCRYPTION_KEYS") && !strings.HasPrefix(kv, "SIGNING_KEY_SECRETS") {
			env = append(env, kv)
		}
	}
	cmd.Env = env
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err == nil {
		t.Fatal("backend started without its secrets")
	}
	out := strings.TrimSpace(stderr.String())
	if strings.Count(out, "\n") != 0 || !strings.HasPrefix(out, "backend: ") ||
		!strings.Contains(out, "ENCRYPTION_KEYS: is required outside --dev") || !strings.Contains(out, "SIGNING_KEY_SECRETS: is required outside --dev") {
		t.Fatalf("stderr: %q", out)
	}
}

func grep(s, substr string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
