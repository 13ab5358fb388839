// Package e2e tests the gateway as it runs in production: the real binary,
// started as processes on 127.0.0.1, against a real Redis.
package e2e

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
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/valyala/fasthttp"

	"github.com/campshub360/edge/shared/testkit"
)

var buildOnce = sync.OnceValues(func() (string, error) {
	dir, err := testkit.GoBuild("campshub360-gateway-e2e-", "github.com/campshub360/edge/gateway/cmd/gateway")
	return filepath.Join(dir, "gateway"), err
})

func gatewayBinary(t *testing.T) string {
	t.Helper()
	bin, err := buildOnce()
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

func testRedisURL(t *testing.T) string {
	t.Helper()
	return testkit.Env(t, "TEST_REDIS_URL")
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// upstream is a real HTTP server answering 200 to everything.
func upstream(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) { ctx.SetBodyString(`{"ok":true}`) }}
	go srv.Serve(ln) //nolint:errcheck // ends with Shutdown
	t.Cleanup(func() { _ = srv.Shutdown() })
	return ln.Addr().String()
}

// gateway is a started gateway process.
type gateway struct {
	cmd          *exec.Cmd
	https, admin string
	done         chan struct{}
	stderr       *testkit.SyncBuffer
}

// startGateway runs the gateway binary with the given rate-limit section
// and routes, and waits for its "gateway serving" log line.
func startGateway(t *testing.T, redisURL, up, ratelimit, routes string) *gateway {
	t.Helper()
	dir := t.TempDir()
	doc := fmt.Sprintf(`runtime_dir: %s
log: {level: info, format: json, access: {enabled: false}}
listen: {https: "127.0.0.1:0", http: "", admin: "127.0.0.1:0"}
server: {drain_delay: 0s, shutdown_timeout: 5s}
upstreams:
  - name: campus
    instances: [{addr: "%s"}]
redis: {url: "%s"}
ratelimit:
%s
routes:
%s
`, dir, up, redisURL, ratelimit, routes)
	path := filepath.Join(dir, "gateway.yaml")
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(gatewayBinary(t), "--config", path)
	cmd.Stdout = io.Discard
	errPipe, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	g := &gateway{cmd: cmd, done: make(chan struct{}), stderr: &testkit.SyncBuffer{}}
	ready := make(chan [2]string, 1)
	go func() {
		sc := bufio.NewScanner(errPipe)
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(g.stderr, line)
			var m map[string]any
			if json.Unmarshal([]byte(line), &m) == nil && m["msg"] == "gateway serving" {
				https, _ := m["https"].(string)
				admin, _ := m["admin"].(string)
				select {
				case ready <- [2]string{https, admin}:
				default:
				}
			}
		}
	}()
	go func() { _ = cmd.Wait(); close(g.done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-g.done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-g.done
		}
		if t.Failed() {
			t.Logf("gateway %d stderr:\n%s", cmd.Process.Pid, g.stderr.String())
		}
	})
	select {
	case a := <-ready:
		g.https, g.admin = a[0], a[1]
	case <-g.done:
		t.Fatalf("gateway exited:\n%s", g.stderr.String())
	case <-time.After(20 * time.Second):
		t.Fatalf("gateway did not start:\n%s", g.stderr.String())
	}
	return g
}

func client() *http.Client {
	return &http.Client{
		Timeout: 5 * time.Second,
		Transport: &http.Transport{
			TLSClientConfig:     &tls.Config{InsecureSkipVerify: true},
			MaxIdleConnsPerHost: 16,
		},
	}
}

func get(c *http.Client, url string) (int, http.Header, error) {
	resp, err := c.Get(url)
	if err != nil {
		return 0, nil, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, resp.Header, nil
}

// metric reads one sample from the gateway's /metrics ("" labels: none).
func metric(t *testing.T, g *gateway, name, labels string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + g.admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	want := name
	if labels != "" {
		want += "{" + labels + "}"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, want+" "); ok {
			f, _ := strconv.ParseFloat(v, 64)
			return f
		}
	}
	return 0
}

// TestThreeGatewaysShareOneBudget runs three gateway processes against one
// Redis and sends them more than a shared policy allows: together they
// admit the global budget (burst + rate x elapsed) within 1%.
func TestThreeGatewaysShareOneBudget(t *testing.T) {
	redisURL := testRedisURL(t)
	up := upstream(t)
	const rate, burst = 300.0, 300
	rl := fmt.Sprintf(`  key_prefix: "e2e:%s:"
  store_timeout: 250ms
  heartbeat: 200ms
  policies:
    - {name: global, rate: %g/s, burst: %d, key: ip, scope: shared, fallback: fail_open}`, randomHex(6), rate, burst)
	routes := `  - {name: api, path_prefix: /api/, upstream: campus, rate_limits: [global]}`
	gws := []*gateway{
		startGateway(t, redisURL, up, rl, routes),
		startGateway(t, redisURL, up, rl, routes),
		startGateway(t, redisURL, up, rl, routes),
	}
	// Warm the TLS connections (the policy counts these too, so they run
	// before the measured window, against another route).
	c := client()
	for _, g := range gws {
		if code, _, err := get(c, "https://"+g.https+"/health/x"); err != nil || code == 0 {
			t.Fatalf("warm-up: %v", err)
		}
	}
	const window = 3 * time.Second
	var admitted, refused [3]atomic.Int64
	var failures atomic.Int64
	// Redis decides a request somewhere between its send and its
	// response; the midpoint estimates when. The budget accrues from the
	// first decision (a fresh bucket starts full) to the last.
	var mu sync.Mutex
	var firstMid, lastMid, lastSend time.Time
	start := time.Now()
	deadline := start.Add(window)
	var wg sync.WaitGroup
	for w := 0; w < 6; w++ {
		g := gws[w%3]
		idx := w % 3
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; n < 20000 && time.Now().Before(deadline); n++ {
				sent := time.Now()
				code, _, err := get(c, "https://"+g.https+"/api/v1/students")
				mid := sent.Add(time.Since(sent) / 2)
				mu.Lock()
				if firstMid.IsZero() || mid.Before(firstMid) {
					firstMid = mid
				}
				if sent.After(lastSend) {
					lastSend, lastMid = sent, mid
				}
				mu.Unlock()
				switch {
				case err != nil:
					failures.Add(1)
				case code == 200:
					admitted[idx].Add(1)
				case code == 429:
					refused[idx].Add(1)
				default:
					failures.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	elapsed := lastMid.Sub(firstMid)
	total := admitted[0].Load() + admitted[1].Load() + admitted[2].Load()
	budget := float64(burst) + rate*elapsed.Seconds()
	t.Logf("admitted %d (per gateway %d/%d/%d), refused %d/%d/%d, budget %.1f over %v",
		total, admitted[0].Load(), admitted[1].Load(), admitted[2].Load(),
		refused[0].Load(), refused[1].Load(), refused[2].Load(), budget, elapsed)
	if failures.Load() > 0 {
		t.Fatalf("%d requests failed", failures.Load())
	}
	if refused[0].Load()+refused[1].Load()+refused[2].Load() == 0 {
		t.Fatal("the load never exceeded the budget: the test measured nothing")
	}
	// A Redis round trip can exceed even a generous store_timeout on a
	// loaded 2-core CI machine; the few requests decided by the fallback
	// then are bounded (well under 1% of the load, and the budget check
	// below still holds them to 1%).
	var fallback float64
	for i, g := range gws {
		if admitted[i].Load() == 0 {
			t.Errorf("gateway %d admitted nothing", i)
		}
		fallback += metric(t, g, "gateway_ratelimit_decisions_total", `policy="global",result="fallback"`)
	}
	all := float64(total + refused[0].Load() + refused[1].Load() + refused[2].Load())
	if fallback > all*0.005 {
		t.Errorf("%v of %v requests were decided without Redis", fallback, all)
	}
	if diff := float64(total) - budget; diff > budget*0.01 || diff < -budget*0.01 {
		t.Fatalf("admitted %d, global budget %.1f: off by %.2f%% (want within 1%%)", total, budget, 100*diff/budget)
	}
}

// redisProc is a private redis-server this test starts and kills.
type redisProc struct {
	bin, port, dir string
	cmd            *exec.Cmd
}

func (r *redisProc) start(t *testing.T) {
	t.Helper()
	r.cmd = exec.Command(r.bin, "--port", r.port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--dir", r.dir, "--protected-mode", "yes")
	r.cmd.Stdout, r.cmd.Stderr = io.Discard, io.Discard
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	cmd := r.cmd
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGCONT)
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:" + r.port})
	defer rdb.Close()
	deadline := time.Now().Add(10 * time.Second)
	for rdb.Ping(context.Background()).Err() != nil {
		if time.Now().After(deadline) {
			t.Fatal("redis-server did not start")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestRedisLossFallsBackAndRecovers stops and then kills the Redis a
// gateway shares budgets through: every request is answered promptly; a
// single slow round trip is decided by this instance's share locally,
// whatever the policy (a sign-in is not refused for it); once the store
// is known down (failures in a row) fail_open keeps deciding locally and
// fail_closed answers 503, also after Redis is killed; nothing hangs, and
// the global budget is used again once Redis is back.
func TestRedisLossFallsBackAndRecovers(t *testing.T) {
	testRedisURL(t) // integration test: same requirements as the others
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatal("redis-server not found (scripts/test.sh installs it)")
	}
	_, port, _ := net.SplitHostPort(testkit.UnusedAddr(t))
	r := &redisProc{bin: bin, port: port, dir: t.TempDir()}
	r.start(t)
	redisURL := "redis://127.0.0.1:" + r.port + "/0"
	const storeTimeout = 50 * time.Millisecond
	rl := `  key_prefix: "e2e-loss:"
  store_timeout: 50ms
  heartbeat: 2s
  policies:
    - {name: reads, rate: 100000/s, burst: 10, key: ip, scope: shared, fallback: fail_open}
    - {name: marker, rate: 60/m, burst: 1000, key: ip, scope: shared, fallback: fail_open}
    - {name: login, rate: 100000/s, burst: 10, key: ip, scope: shared, fallback: fail_closed}`
	routes := `  - {name: api, path_prefix: /api/, upstream: campus, rate_limits: [reads, marker]}
  - {name: login, path_prefix: /login/, upstream: campus, rate_limits: [login]}`
	g := startGateway(t, redisURL, upstream(t), rl, routes)
	c := client()
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:" + r.port})
	defer rdb.Close()

	timed := func(path string) (int, time.Duration) {
		t.Helper()
		begin := time.Now()
		code, hdr, err := get(c, "https://"+g.https+path)
		took := time.Since(begin)
		if code == 429 {
			t.Logf("429 on %s: RateLimit %q Retry-After %q", path, hdr.Get("RateLimit"), hdr.Get("Retry-After"))
		}
		if err != nil {
			t.Fatalf("%s: %v after %v (a request hung or failed)", path, err, took)
		}
		return code, took
	}
	// Redis up: shared decisions, buckets in Redis.
	for i := 0; i < 5; i++ {
		if code, _ := timed("/api/a"); code != 200 {
			t.Fatalf("with Redis: %d", code)
		}
	}
	// The marker policy refills slowly, so its bucket stays in Redis.
	marker := "e2e-loss:marker:" + string([]byte{'i', 4, 127, 0, 0, 1})
	if n := rdb.Exists(context.Background(), marker).Val(); n != 1 {
		t.Fatal("no shared bucket in Redis")
	}
	if metric(t, g, "gateway_ratelimit_decisions_total", `policy="reads",result="fallback"`) != 0 {
		t.Fatal("fallback used while Redis was up")
	}

	// Redis stalls (SIGSTOP): round trips time out. The first one, a
	// sign-in, is decided by the local share, not refused (the heartbeat's
	// 1s timeout cannot have marked the store down yet).
	if err := r.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	var slowest time.Duration
	if code, took := timed("/login/first"); code != 200 {
		t.Fatalf("fail_closed on one slow round trip: %d, want 200 decided locally", code)
	} else {
		slowest = took
	}
	if metric(t, g, "gateway_ratelimit_decisions_total", `policy="login",result="fallback"`) != 1 {
		t.Fatal("the sign-in decided locally was not counted as a fallback")
	}
	// Then every round trip times out: the store is known down after
	// three in a row; fail_open keeps answering.
	for i := 0; i < 20; i++ {
		code, took := timed("/api/b")
		if code != 200 {
			t.Fatalf("fail_open during a stall: %d", code)
		}
		slowest = max(slowest, took)
	}
	code, took := timed("/login/x")
	if code != 503 {
		t.Fatalf("fail_closed during a stall: %d, want 503", code)
	}
	slowest = max(slowest, took)
	t.Logf("during the stall: slowest request %v (store timeout %v)", slowest, storeTimeout)
	if slowest > 2*time.Second {
		t.Fatalf("a request took %v during the stall", slowest)
	}
	if n := metric(t, g, "gateway_ratelimit_decisions_total", `policy="reads",result="fallback"`); n < 20 {
		t.Fatalf("fallback decisions %v, want at least 20", n)
	}
	if metric(t, g, "gateway_ratelimit_store_errors_total", "") < 1 {
		t.Fatal("store errors not counted")
	}

	// Redis dies (SIGKILL) and comes back empty on the same port.
	_ = r.cmd.Process.Kill()
	_ = r.cmd.Process.Signal(syscall.SIGCONT)
	for i := 0; i < 5; i++ {
		if code, _ := timed("/api/c"); code != 200 {
			t.Fatalf("fail_open with Redis gone: %d", code)
		}
	}
	if code, _ := timed("/login/gone"); code != 503 {
		t.Fatalf("fail_closed with Redis killed: %d, want 503", code)
	}
	r.start(t)
	before := metric(t, g, "gateway_ratelimit_decisions_total", `policy="reads",result="allow"`)
	deadline := time.Now().Add(15 * time.Second)
	for {
		if code, _ := timed("/api/d"); code != 200 {
			t.Fatalf("during recovery: %d", code)
		}
		if metric(t, g, "gateway_ratelimit_decisions_total", `policy="reads",result="allow"`) > before &&
			rdb.Exists(context.Background(), marker).Val() == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("shared decisions did not resume after Redis came back")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if code, _ := timed("/login/y"); code != 200 {
		t.Fatalf("fail_closed route after recovery: %d", code)
	}
}
