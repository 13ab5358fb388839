package faulttest

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/campshub360/edge/gateway/internal/balancer"
	"github.com/campshub360/edge/gateway/internal/config"
	"github.com/campshub360/edge/gateway/internal/server"
)

// buildUpstream builds the upstream program once per test binary.
var buildUpstream = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "campshub360-faulttest-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "upstream")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/campshub360/edge/gateway/internal/faulttest/upstream").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
})

// instance is one upstream process.
type instance struct {
	name, addr, log string
	cmd             *exec.Cmd
	done            chan struct{}
}

func startInstance(t *testing.T, name, addr, logPath string) *instance {
	t.Helper()
	bin, err := buildUpstream()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-listen", addr, "-name", name, "-log", logPath)
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	in := &instance{name: name, log: logPath, cmd: cmd, done: make(chan struct{})}
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		if sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		_, _ = io.Copy(io.Discard, stdout)
	}()
	go func() { _ = cmd.Wait(); close(in.done) }()
	t.Cleanup(func() { in.kill(t) })
	select {
	case l, ok := <-lines:
		if !ok || !strings.HasPrefix(l, "listening ") {
			t.Fatalf("upstream %s did not start: %q", name, l)
		}
		in.addr = strings.TrimPrefix(l, "listening ")
	case <-time.After(10 * time.Second):
		t.Fatalf("upstream %s did not start within 10s", name)
	}
	return in
}

// kill SIGKILLs the process (continuing it first if stopped) and waits.
func (in *instance) kill(t *testing.T) {
	select {
	case <-in.done:
		return
	default:
	}
	_ = in.cmd.Process.Signal(syscall.SIGCONT)
	_ = in.cmd.Process.Kill()
	select {
	case <-in.done:
	case <-time.After(10 * time.Second):
		t.Errorf("upstream %s (pid %d) did not exit", in.name, in.cmd.Process.Pid)
	}
}

func (in *instance) control(t *testing.T, query string) {
	t.Helper()
	resp, err := http.Post("http://"+in.addr+"/_control?"+query, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
}

func (in *instance) probes(t *testing.T) int {
	t.Helper()
	resp, err := http.Get("http://" + in.addr + "/_control")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var s struct{ Probes int }
	_ = json.NewDecoder(resp.Body).Decode(&s)
	return s.Probes
}

// fleet is three upstream processes behind a gateway.
type fleet struct {
	inst   []*instance
	gw     *server.Server
	addrs  server.Addrs
	client *http.Client
	seq    atomic.Int64
}

type opts struct {
	balancer  string
	slowStart string
	interval  string
	timeout   string
}

func startFleet(t *testing.T, o opts) *fleet {
	t.Helper()
	dir := t.TempDir()
	f := &fleet{}
	for _, n := range []string{"a", "b", "c"} {
		f.inst = append(f.inst, startInstance(t, n, "127.0.0.1:0", filepath.Join(dir, n+".log")))
	}
	if o.balancer == "" {
		o.balancer = "p2c"
	}
	if o.slowStart == "" {
		o.slowStart = "10s"
	}
	if o.interval == "" {
		o.interval = "200ms"
	}
	if o.timeout == "" {
		o.timeout = "150ms"
	}
	var inst strings.Builder
	for _, in := range f.inst {
		fmt.Fprintf(&inst, "      - addr: %s\n", in.addr)
	}
	doc := fmt.Sprintf(`runtime_dir: %s
log: {level: warn}
listen: {https: 127.0.0.1:0, http: "", admin: 127.0.0.1:0}
server: {drain_delay: 0s, shutdown_timeout: 5s}
upstreams:
  - name: campus
    balancer: %s
    dial_timeout: 500ms
    slow_start: %s
    health_check:
      path: /health/
      interval: %s
      unhealthy_interval: 100ms
      timeout: %s
      rise: 2
      fall: 2
    passive:
      consecutive_errors: 3
      base_ejection_time: 5s
    retry:
      max_attempts: 3
      backoff_base: 5ms
      backoff_max: 20ms
instances_placeholder
routes:
  - name: api
    path_prefix: /api/
    upstream: campus
    timeout: 30s
`, dir, o.balancer, o.slowStart, o.interval, o.timeout)
	doc = strings.Replace(doc, "instances_placeholder\n", "    instances:\n"+inst.String(), 1)
	path := filepath.Join(dir, "gateway.yaml")
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	srv, err := server.New(cfg, server.Options{ConfigPath: path, Log: log, Registry: prometheus.NewRegistry(), Version: "test", Seed: 11})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			t.Error("gateway did not shut down")
		}
	})
	f.gw, f.addrs = srv, srv.Addrs()
	f.client = &http.Client{
		Timeout: 5 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true},
			MaxIdleConnsPerHost: 32, ForceAttemptHTTP2: false},
	}
	t.Cleanup(f.client.CloseIdleConnections)
	// Every instance has passed its first probe.
	f.waitState(t, "all healthy", func(s []balancer.InstanceState) bool {
		for _, i := range s {
			if i.LastCheck == nil || !i.Healthy {
				return false
			}
		}
		return true
	})
	return f
}

// result is one request through the gateway.
type result struct {
	method   string
	status   int
	instance string
	start    time.Time
	err      error
}

func (f *fleet) do(method string) result {
	r := result{method: method, start: time.Now()}
	req, _ := http.NewRequest(method, "https://"+f.addrs.HTTPS+"/api/v1/students", nil)
	if method == http.MethodPost {
		req.Header.Set("X-Request-Seq", fmt.Sprint(f.seq.Add(1)))
	}
	resp, err := f.client.Do(req)
	if err != nil {
		r.err = err
		return r
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	r.status, r.instance = resp.StatusCode, resp.Header.Get("X-Instance")
	return r
}

func (f *fleet) state(t *testing.T) []balancer.InstanceState {
	t.Helper()
	resp, err := f.client.Get("http://" + f.addrs.Admin + "/admin/upstreams")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var s struct{ Upstreams []balancer.PoolState }
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil || len(s.Upstreams) != 1 {
		t.Fatalf("admin upstreams: %v %+v", err, s)
	}
	return s.Upstreams[0].Instances
}

func (f *fleet) waitState(t *testing.T, what string, ok func([]balancer.InstanceState) bool) []balancer.InstanceState {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		s := f.state(t)
		if ok(s) {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s: %+v", what, s)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// load runs workers GET workers and one POST worker until stop is
// closed, or until the hard bound of n requests, and returns every result.
func (f *fleet) load(workers, n int, stop <-chan struct{}) []result {
	var mu sync.Mutex
	var out []result
	var sent atomic.Int64
	var wg sync.WaitGroup
	run := func(method string) {
		defer wg.Done()
		for sent.Add(1) <= int64(n) {
			select {
			case <-stop:
				return
			default:
			}
			r := f.do(method)
			mu.Lock()
			out = append(out, r)
			mu.Unlock()
		}
	}
	for i := 0; i < workers; i++ {
		wg.Add(1)
		go run(http.MethodGet)
	}
	wg.Add(1)
	go run(http.MethodPost)
	wg.Wait()
	return out
}

func TestKillOneOfThreeUnderLoad(t *testing.T) {
	f := startFleet(t, opts{})
	victim := f.inst[1]
	stop := make(chan struct{})
	results := make(chan []result, 1)
	go func() { results <- f.load(4, 20000, stop) }()

	// Steady load first, then SIGKILL b.
	waitFor(t, "b serving load", func() bool { return countInstance(f, 1) > 20 })
	victim.kill(t)
	killed := time.Now()
	// The detection window ends when the gateway has taken b out.
	f.waitState(t, "b out of selection", func(s []balancer.InstanceState) bool {
		return !s[1].Healthy || s[1].State == "ejected"
	})
	detected := time.Now()
	// Keep the load on for 400 more requests after detection.
	base := countInstance(f, 0) + countInstance(f, 2)
	waitFor(t, "load after detection", func() bool { return countInstance(f, 0)+countInstance(f, 2) > base+400 })
	close(stop)
	rs := <-results

	var getsAfter, getFailsAfter, getFailsBefore, postsOK int
	for _, r := range rs {
		failed := r.err != nil || r.status != 200
		switch {
		case r.method == http.MethodGet && r.start.After(detected):
			getsAfter++
			if failed {
				getFailsAfter++
				t.Errorf("GET after detection failed: status %d err %v", r.status, r.err)
			}
		case r.method == http.MethodGet && failed:
			getFailsBefore++
		case r.method == http.MethodPost && !failed:
			postsOK++
		}
	}
	t.Logf("%d results; detection %v after the kill; GETs after detection %d (failed %d), GET failures before %d, POSTs ok %d",
		len(rs), detected.Sub(killed).Round(time.Millisecond), getsAfter, getFailsAfter, getFailsBefore, postsOK)
	if getsAfter < 50 {
		t.Fatalf("only %d GETs after detection", getsAfter)
	}
	// No POST reached two instances: every sequence number is logged once
	// across the three upstream logs (b's lines survive its SIGKILL).
	seen := map[string]string{}
	for _, in := range f.inst {
		b, _ := os.ReadFile(in.log)
		for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			if line == "" {
				continue
			}
			if prev, dup := seen[line]; dup {
				t.Fatalf("POST replayed: %q on %s and %s", line, prev, in.name)
			}
			seen[line] = in.name
		}
	}
	if len(seen) < postsOK {
		t.Fatalf("%d POSTs answered 200 but only %d logged", postsOK, len(seen))
	}
}

// countInstance returns how many requests instance i has served (its
// /_control counter); a dead instance counts 0.
func countInstance(f *fleet, i int) int {
	resp, err := http.Get("http://" + f.inst[i].addr + "/_control")
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	var s struct{ Requests int }
	_ = json.NewDecoder(resp.Body).Decode(&s)
	return s.Requests
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestSlowInstanceShareDrops(t *testing.T) {
	f := startFleet(t, opts{})
	f.inst[2].control(t, "delay=40ms")
	share := map[string]int{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 100; i++ {
				r := f.do(http.MethodGet)
				if r.err != nil || r.status != 200 {
					t.Errorf("GET failed: %d %v", r.status, r.err)
					return
				}
				mu.Lock()
				share[r.instance]++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	t.Logf("shares %v", share)
	// An even split gives c a third (133 of 400).
	if share["c"] > 40 {
		t.Fatalf("slow instance got %d of 400 requests: %v", share["c"], share)
	}
	if share["a"] < 100 || share["b"] < 100 {
		t.Fatalf("fast instances not sharing the load: %v", share)
	}
}

func TestFlappingInstanceDoesNotFlap(t *testing.T) {
	// Probes far apart enough that a passing probe never times out on a
	// loaded CI machine: only the instance's own alternation is tested.
	f := startFleet(t, opts{interval: "150ms", timeout: "150ms"})
	b := f.inst[1]
	b.control(t, "flap=true") // every other probe fails from now on
	start := b.probes(t)
	waitFor(t, "a dozen flapping probes", func() bool { return b.probes(t) >= start+12 })
	s := f.state(t)[1]
	if !s.Healthy || s.StateChanges != 0 {
		t.Fatalf("flapping instance changed state: %+v", s)
	}
	// A real failure still takes it out: fall 2.
	b.control(t, "flap=false&health=500")
	f.waitState(t, "b unhealthy", func(s []balancer.InstanceState) bool { return !s[1].Healthy })
	if s := f.state(t)[1]; s.StateChanges != 1 || s.LastCheck == nil || s.LastCheck.Status != 500 {
		t.Fatalf("state %+v", s)
	}
}

func TestAllDownIsFast503(t *testing.T) {
	f := startFleet(t, opts{})
	f.inst[0].kill(t)
	f.inst[1].kill(t)
	// c hangs: it accepts connections (the kernel does) but never answers.
	if err := f.inst[2].cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	f.waitState(t, "all down", func(s []balancer.InstanceState) bool {
		return !s[0].Healthy && !s[1].Healthy && !s[2].Healthy
	})
	// The route allows 30s; a 503 within the client's 5s proves no wait on
	// the hung instance.
	for i := 0; i < 20; i++ {
		req, _ := http.NewRequest(http.MethodGet, "https://"+f.addrs.HTTPS+"/api/v1/students", nil)
		resp, err := f.client.Do(req)
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" ||
			resp.Header.Get("Content-Type") != "application/problem+json" || !strings.Contains(string(body), "upstream-unavailable") {
			t.Fatalf("request %d: %d %s", i, resp.StatusCode, body)
		}
	}
	resp, err := f.client.Get("http://" + f.addrs.Admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	m, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, in := range f.inst {
		if want := `gateway_upstream_healthy{instance="` + in.addr + `",upstream="campus"} 0`; !strings.Contains(string(m), want) {
			t.Fatalf("metrics lack %s", want)
		}
	}
}

func TestRestartComesBackWithSlowStart(t *testing.T) {
	f := startFleet(t, opts{balancer: "round_robin", slowStart: "30s"})
	b := f.inst[1]
	addr := b.addr
	b.kill(t)
	f.waitState(t, "b unhealthy", func(s []balancer.InstanceState) bool { return !s[1].Healthy })
	// Restart on the same address.
	nb := startInstance(t, "b", addr, b.log)
	f.inst[1] = nb
	s := f.waitState(t, "b healthy again", func(s []balancer.InstanceState) bool { return s[1].Healthy })
	if s[1].State != "slow_start" || s[1].EffectiveWeight >= 0.5 {
		t.Fatalf("b back without slow start: %+v", s[1])
	}
	count := map[string]int{}
	for i := 0; i < 300; i++ {
		r := f.do(http.MethodGet)
		if r.err != nil || r.status != 200 {
			t.Fatalf("GET %d failed after restart: %d %v", i, r.status, r.err)
		}
		count[r.instance]++
	}
	t.Logf("shares in slow start %v", count)
	// Round robin would give b 100 of 300; early in a 30s ramp it gets
	// 10-20% of its turns, and the turns it skips are shared evenly.
	if count["b"] == 0 || count["b"] > 60 || count["a"] < 100 || count["c"] < 100 {
		t.Fatalf("b's share in slow start: %v", count)
	}
}
