package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/valyala/fasthttp"

	"github.com/campshub360/edge/shared/testkit"
)

// childEnv makes the test binary run the gateway itself (run with the
// remaining arguments), so that tests can start real gateway processes.
const childEnv = "CAMPSHUB_GATEWAY_TEST_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
		err := run(ctx, os.Args[1:], os.Environ(), os.Stdout, os.Stderr)
		stop()
		if err != nil {
			fmt.Fprintln(os.Stderr, "gateway:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// gatewayProc is a gateway process started from the test binary.
type gatewayProc struct {
	cmd          *exec.Cmd
	https, admin string
}

// startGatewayProc starts a gateway process with the YAML config doc and
// waits for its "gateway serving" log line to learn its addresses.
func startGatewayProc(t *testing.T, doc string) *gatewayProc {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "gateway.yaml")
	if err := os.WriteFile(path, []byte(strings.ReplaceAll(doc, "RUNTIME_DIR", dir)), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "--config", path)
	cmd.Env = append(os.Environ(), childEnv+"=1")
	cmd.Stdout = io.Discard
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &gatewayProc{cmd: cmd}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	ready := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sent := false
		for sc.Scan() {
			var line map[string]any
			if json.Unmarshal(sc.Bytes(), &line) != nil || sent {
				continue
			}
			if line["msg"] == "gateway serving" {
				p.https, _ = line["https"].(string)
				p.admin, _ = line["admin"].(string)
				ready <- nil
				sent = true
			}
		}
		if !sent {
			ready <- fmt.Errorf("gateway exited before serving")
		}
	}()
	select {
	case err := <-ready:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("gateway did not start")
	}
	return p
}

var insecure = &http.Client{
	Timeout:   10 * time.Second,
	Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}},
}

func (p *gatewayProc) do(t *testing.T, method, path string, hdr ...string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, "https://"+p.https+path, nil)
	req.Host = "campus.test"
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := insecure.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Cache-Status") + "|" + string(b)
}

// cached reports whether the gateway holds path (only-if-cached: 504 when not).
func (p *gatewayProc) cached(t *testing.T, path string) bool {
	code, _ := p.do(t, http.MethodGet, path, "Cache-Control", "only-if-cached")
	return code == http.StatusOK
}

func (p *gatewayProc) metric(t *testing.T, prefix string) string {
	t.Helper()
	resp, err := insecure.Get("http://" + p.admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, prefix) {
			return line
		}
	}
	return ""
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestInvalidationFansOutAcrossTwoGatewayProcesses runs two real gateway
// processes sharing a Redis channel in front of one origin: an admin purge
// on one, a write through one, and a backend-published message each
// remove the entry from both.
func TestInvalidationFansOutAcrossTwoGatewayProcesses(t *testing.T) {
	redisURL := testkit.Env(t, "TEST_REDIS_URL")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var hits atomic.Int64
	origin := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		hits.Add(1)
		if !ctx.IsGet() {
			ctx.SetStatusCode(fasthttp.StatusNoContent)
			return
		}
		ctx.Response.Header.Set("Cache-Control", "public, max-age=600")
		ctx.Response.Header.Set("Surrogate-Key", "session:7 students")
		ctx.SetBodyString("roster")
	}}
	go origin.Serve(ln) //nolint:errcheck // ends with Shutdown
	t.Cleanup(func() { _ = origin.Shutdown() })

	var rb [6]byte
	_, _ = rand.Read(rb[:])
	channel := "campshub360:invalidate:test-" + hex.EncodeToString(rb[:])
	doc := fmt.Sprintf(`runtime_dir: RUNTIME_DIR
log: {level: info, format: json, access: {enabled: false}}
listen: {https: "127.0.0.1:0", http: "", admin: "127.0.0.1:0"}
server: {drain_delay: 0s, shutdown_timeout: 5s}
upstreams:
  - name: campus
    instances: [{addr: %q}]
routes:
  - name: api
    path_prefix: /api/
    upstream: campus
    cache: {enabled: true}
redis: {url: %q}
cache: {max_bytes: 8388608, invalidation_channel: %q}
`, ln.Addr().String(), redisURL, channel)
	a := startGatewayProc(t, doc)
	b := startGatewayProc(t, doc)
	for _, g := range []*gatewayProc{a, b} {
		waitUntil(t, "fan-out subscription", func() bool {
			return g.metric(t, "gateway_cache_fanout_degraded") == "gateway_cache_fanout_degraded 0"
		})
	}
	const path = "/api/v1/sessions/7"
	fillBoth := func() {
		for _, g := range []*gatewayProc{a, b} {
			if code, body := g.do(t, http.MethodGet, path); code != 200 || !strings.HasSuffix(body, "|roster") {
				t.Fatalf("GET: %d %s", code, body)
			}
			if !g.cached(t, path) {
				t.Fatal("not stored")
			}
		}
	}

	// 1. Admin purge by surrogate key on a; b drops it through Redis.
	fillBoth()
	before := hits.Load()
	resp, err := insecure.Post("http://"+a.admin+"/admin/cache/purge", "application/json",
		strings.NewReader(`{"surrogate_keys":["session:7"]}`))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"fanout": "published"`) || !strings.Contains(string(body), `"purged": 1`) {
		t.Fatalf("purge: %d %s", resp.StatusCode, body)
	}
	if a.cached(t, path) {
		t.Fatal("a kept the purged entry")
	}
	waitUntil(t, "b to apply a's purge", func() bool { return !b.cached(t, path) })
	if hits.Load() != before {
		t.Fatal("only-if-cached probes reached the origin")
	}

	// 2. A write through b invalidates the URL on a (RFC 9111 §4.4, fanned out).
	fillBoth()
	if code, _ := b.do(t, http.MethodPost, path); code != 204 {
		t.Fatalf("POST: %d", code)
	}
	if b.cached(t, path) {
		t.Fatal("b kept the written URL")
	}
	waitUntil(t, "a to apply b's write invalidation", func() bool { return !a.cached(t, path) })

	// 3. The backend publishes the surrogate keys its writes affect.
	fillBoth()
	if err := publish(redisURL, channel, `{"v":1,"origin":"backend-test","surrogate_keys":["students"]}`); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "both to apply the backend's message", func() bool { return !a.cached(t, path) && !b.cached(t, path) })
	if line := b.metric(t, `gateway_cache_invalidations_total{source="remote"}`); !strings.HasSuffix(line, " 2") { // a's purge and the backend's message
		t.Fatalf("b remote invalidations: %q", line)
	}
}

// publish sends one raw message on channel, as the backend does.
func publish(redisURL, channel, msg string) error {
	o, err := redis.ParseURL(redisURL)
	if err != nil {
		return err
	}
	c := redis.NewClient(o)
	defer c.Close()
	return c.Publish(context.Background(), channel, msg).Err()
}
