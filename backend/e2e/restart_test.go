package e2e

import (
	"bufio"
	"context"
	"crypto/tls"
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

	"github.com/campshub360/edge/backend/internal/keyring"
	"github.com/campshub360/edge/backend/internal/testdb"
)

// TestStackBackendRestartAndLossAreInvisibleToGETs runs a few clients in a
// closed loop of signed-in GETs through the real gateway in front of two
// real backends, and meanwhile stops one backend gracefully (SIGTERM: it
// drains, then closes), starts it again, and kills the other (SIGKILL,
// requests in flight on it). Every GET must succeed: a drained instance
// leaves the pool before its connections close, and what fails on a lost
// instance is retried on the other within the retry budget.
func TestStackBackendRestartAndLossAreInvisibleToGETs(t *testing.T) {
	gatewayBin, backendBin := binaries(t)
	db := testdb.NewEmpty(t)
	_, enc, _ := keyring.Generate("e2e-data", nil)
	_, sig, _ := keyring.Generate("e2e-seal", nil)
	env := []string{"DATABASE_URL=" + db.URL, "REDIS_URL=" + testdb.RedisURL(t),
		"ENCRYPTION_KEYS=" + enc, "SIGNING_KEY_SECRETS=" + sig, "AUTH_BCRYPT_COST=10",
		"QR_SIGNING_KEY=MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
		"SHUTDOWN_DRAIN_DELAY=1s", "SHUTDOWN_TIMEOUT=5s"}
	accounts := filepath.Join(t.TempDir(), "demo-accounts.json")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for _, args := range [][]string{{"migrate", "up"}, {"seed", "--students", "50", "--weeks", "1"},
		{"accounts", "demo", "--dev", "--out", accounts}} {
		cmd := exec.CommandContext(ctx, backendBin, args...)
		cmd.Env = append(os.Environ(), env...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("backend %v: %v\n%s", args, err, out)
		}
	}

	addrs := []string{freeAddr(t), freeAddr(t)}
	serve := func(i int) *proc {
		p := start(t, env, backendBin, "serve", "--listen", addrs[i])
		waitFor(t, 30*time.Second, "backend "+addrs[i]+" to be ready", func() bool {
			resp, err := client.Get("http://" + addrs[i] + "/ready")
			if err != nil {
				return false
			}
			resp.Body.Close()
			return resp.StatusCode == 200
		})
		return p
	}
	backends := []*proc{serve(0), serve(1)}

	runtime := t.TempDir()
	cfg := filepath.Join(runtime, "gateway.yaml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`runtime_dir: %s
log: {access: {enabled: false}}
listen: {https: "127.0.0.1:0", http: "127.0.0.1:0", admin: "127.0.0.1:0"}
server: {drain_delay: 100ms, shutdown_timeout: 5s}
upstreams:
  - name: campus
    dial_timeout: 1s
    health_check: {path: /health/, interval: 200ms, unhealthy_interval: 200ms, timeout: 200ms, rise: 1, fall: 2}
    instances: [{addr: %q}, {addr: %q}]
routes:
  - {name: api, path_prefix: /api/, upstream: campus}
`, runtime, addrs[0], addrs[1])), 0o600); err != nil {
		t.Fatal(err)
	}
	gw := start(t, nil, gatewayBin, "--config", cfg)
	httpsAddr, adminAddr := gatewayAddrs(t, gw)
	base := "https://" + httpsAddr
	registrar, password := demoAccount(t, accounts, "registrar@")
	token := loginVia(t, base, registrar, password)

	// The clients: a closed loop each, on keep-alive connections.
	const clients = 6
	lc := &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, MaxIdleConnsPerHost: clients}}
	defer lc.CloseIdleConnections()
	var (
		ok, failed atomic.Int64
		mu         sync.Mutex
		failures   []string
		stop       = make(chan struct{})
		wg         sync.WaitGroup
	)
	for range clients {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				req, _ := http.NewRequest(http.MethodGet, base+"/api/v1/students?limit=5", nil)
				req.Header.Set("Authorization", "Bearer "+token)
				resp, err := lc.Do(req)
				status, detail := 0, ""
				if err != nil {
					detail = err.Error()
				} else {
					body, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					status, detail = resp.StatusCode, string(body)
				}
				if status == 200 {
					ok.Add(1)
					continue
				}
				failed.Add(1)
				mu.Lock()
				if len(failures) < 5 {
					failures = append(failures, fmt.Sprintf("%d %s", status, detail))
				}
				mu.Unlock()
			}
		})
	}
	stopClients := sync.OnceFunc(func() { close(stop); wg.Wait() })
	defer stopClients()
	// served waits for n more successful GETs.
	served := func(n int64, what string) {
		t.Helper()
		target := ok.Load() + n
		waitFor(t, 60*time.Second, fmt.Sprintf("%d GETs %s", n, what), func() bool { return ok.Load() >= target })
	}
	phase := func(name string) {
		t.Logf("%s: %d GETs ok, %d failed so far", name, ok.Load(), failed.Load())
	}

	served(100, "with both backends")
	phase("both backends")

	// Graceful stop of backend 0 under load: it drains, then closes.
	if err := backends[0].stop(t, 30*time.Second); err != nil {
		t.Fatalf("backend exit after SIGTERM: %v\n%s", err, tail(backends[0].stderr.String(), 20))
	}
	if !strings.Contains(backends[0].stderr.String(), `"msg":"draining"`) {
		t.Fatalf("backend did not drain before shutting down:\n%s", tail(backends[0].stderr.String(), 20))
	}
	served(100, "after backend 0 stopped")
	phase("SIGTERM")

	// Backend 0 comes back on its address and takes traffic again.
	backends[0] = serve(0)
	before := upstreamTries(t, adminAddr, addrs[0])
	waitFor(t, 60*time.Second, "the restarted backend to take traffic", func() bool {
		return upstreamTries(t, adminAddr, addrs[0]) > before
	})
	served(100, "after backend 0 restarted")
	phase("restart")

	// Backend 1 is killed with requests in flight.
	if err := backends[1].cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-backends[1].done:
		backends[1].done <- err
	case <-time.After(30 * time.Second):
		t.Fatal("backend 1 did not die after SIGKILL")
	}
	served(100, "after backend 1 was killed")
	phase("SIGKILL")

	stopClients()
	if n := failed.Load(); n != 0 {
		t.Fatalf("%d of %d GETs failed while a backend was restarted and another killed; first: %q",
			n, n+ok.Load(), failures)
	}
	retries := metricLines(t, adminAddr, "gateway_upstream_retries_total")
	t.Logf("%d GETs, none failed; retries:\n%s", ok.Load(), retries)
}

// upstreamTries sums gateway_upstream_requests_total of one instance.
func upstreamTries(t *testing.T, admin, instance string) float64 {
	t.Helper()
	var sum float64
	for _, l := range strings.Split(metricLines(t, admin, "gateway_upstream_requests_total"), "\n") {
		if !strings.Contains(l, `instance="`+instance+`"`) {
			continue
		}
		if i := strings.LastIndexByte(l, ' '); i > 0 {
			v, _ := strconv.ParseFloat(l[i+1:], 64)
			sum += v
		}
	}
	return sum
}

// metricLines returns the gateway's metric samples named name.
func metricLines(t *testing.T, admin, name string) string {
	t.Helper()
	resp, err := client.Get("http://" + admin + "/metrics")
	if err != nil {
		t.Fatalf("metrics: %v", err)
	}
	defer resp.Body.Close()
	var out []string
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if l := sc.Text(); strings.HasPrefix(l, name+"{") || strings.HasPrefix(l, name+" ") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// freeAddr returns a 127.0.0.1 address with a port free at the time.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// waitFor calls f until it returns true or the deadline passes.
func waitFor(t *testing.T, within time.Duration, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", within, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
