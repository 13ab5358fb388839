package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/goccy/go-yaml"

	"github.com/campshub360/edge/backend/internal/testdb"
)

// deployDir is deploy/ of the workspace, relative to this package.
const deployDir = "../../deploy"

// unmergedMetrics are metric names the alerts and dashboards use that the
// gateway exports only once the issues defining them are merged
// (balancing and health: issue 4; TLS: issue 5; rate limiting: issue 6;
// cache: issue 7). The check skips exactly these while they are absent
// and fails once one is exported, so the list empties as merges land.
var unmergedMetrics = map[string]bool{}

// exporterMetrics are the metrics of the exporters the compose stack runs
// (postgres_exporter v0.17 default collectors, redis_exporter v1.67) and
// Prometheus's own "up" that the dashboards and alerts use. They are not
// exported by our code, so they are checked against this list, kept to
// names those exporters document.
var exporterMetrics = map[string]bool{
	"up": true,
	// postgres_exporter
	"pg_up": true, "pg_replication_lag_seconds": true, "pg_replication_is_replica": true,
	"pg_settings_max_connections": true, "pg_stat_activity_count": true, "pg_stat_activity_max_tx_duration": true,
	"pg_stat_database_xact_commit": true, "pg_stat_database_xact_rollback": true, "pg_stat_database_blks_hit": true,
	"pg_stat_database_blks_read": true, "pg_stat_database_deadlocks": true, "pg_database_size_bytes": true,
	"pg_locks_count": true,
	// redis_exporter
	"redis_up": true, "redis_memory_used_bytes": true, "redis_memory_max_bytes": true, "redis_connected_clients": true,
	"redis_commands_processed_total": true, "redis_keyspace_hits_total": true, "redis_keyspace_misses_total": true,
	"redis_evicted_keys_total": true, "redis_rejected_connections_total": true,
}

// queriedMetrics returns every metric name used by the alert rules and
// the Grafana dashboards (panel queries and template variables), with
// where it is used.
func queriedMetrics(t *testing.T) map[string][]string {
	t.Helper()
	used := map[string][]string{}
	add := func(where, expr string) {
		names, err := promqlMetricNames(expr)
		if err != nil {
			t.Errorf("%s: %v in %q", where, err, expr)
			return
		}
		for _, n := range names {
			used[n] = append(used[n], where)
		}
	}

	b, err := os.ReadFile(filepath.Join(deployDir, "prometheus", "alerts.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var rules struct {
		Groups []struct {
			Rules []struct {
				Alert string `yaml:"alert"`
				Expr  string `yaml:"expr"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal(b, &rules); err != nil {
		t.Fatal(err)
	}
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			add("alert "+r.Alert, r.Expr)
		}
	}

	files, err := filepath.Glob(filepath.Join(deployDir, "grafana", "dashboards", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no dashboards: %v", err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var d struct {
			Templating struct {
				List []struct {
					Name  string `json:"name"`
					Type  string `json:"type"`
					Query any    `json:"query"`
				} `json:"list"`
			} `json:"templating"`
			Panels []struct {
				Title   string `json:"title"`
				Targets []struct {
					Expr string `json:"expr"`
				} `json:"targets"`
			} `json:"panels"`
		}
		if err := json.Unmarshal(b, &d); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, p := range d.Panels {
			for _, tg := range p.Targets {
				add(filepath.Base(f)+" panel "+p.Title, tg.Expr)
			}
		}
		for _, v := range d.Templating.List {
			if v.Type != "query" {
				continue
			}
			q, _ := v.Query.(map[string]any)
			expr, _ := q["query"].(string)
			// label_values(SELECTOR, LABEL): only the selector names a metric.
			if inner, ok := strings.CutPrefix(expr, "label_values("); ok {
				if i := strings.LastIndexByte(inner, ','); i >= 0 {
					expr = inner[:i]
				}
			}
			add(filepath.Base(f)+" variable "+v.Name, expr)
		}
	}
	if len(used) < 20 {
		t.Fatalf("only %d metric names found in alerts and dashboards", len(used))
	}
	return used
}

// exposedNames parses the Prometheus text exposition: every family name,
// and for histograms and summaries the series names they expand to.
func exposedNames(body []byte) map[string]bool {
	names := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, "# TYPE "); ok {
			f := strings.Fields(rest)
			if len(f) != 2 {
				continue
			}
			names[f[0]] = true
			switch f[1] {
			case "histogram":
				names[f[0]+"_bucket"], names[f[0]+"_sum"], names[f[0]+"_count"] = true, true, true
			case "summary":
				names[f[0]+"_sum"], names[f[0]+"_count"] = true, true
			}
			continue
		}
		if line == "" || line[0] == '#' {
			continue
		}
		if i := strings.IndexAny(line, "{ "); i > 0 {
			names[line[:i]] = true
		}
	}
	return names
}

// gatewayConfigForTest turns the compose stack's gateway configuration
// (the deployment the dashboards watch, with every route policy it
// enables) into one that runs here: loopback listeners on free ports, a
// scratch runtime directory and self-signed certificate, the test Redis,
// and as upstream instances the live backend plus one dead address (so
// failure metrics appear).
func gatewayConfigForTest(t *testing.T, runtime, backend, dead string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(deployDir, "compose", "gateway.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if err := yaml.Unmarshal(b, &cfg); err != nil {
		t.Fatal(err)
	}
	cfg["runtime_dir"] = runtime
	cfg["listen"] = map[string]any{"https": "127.0.0.1:0", "http": "127.0.0.1:0", "admin": "127.0.0.1:0"}
	if tls, ok := cfg["tls"].(map[string]any); ok {
		tls["certificates"] = []any{}
	}
	if srv, ok := cfg["server"].(map[string]any); ok {
		srv["drain_delay"] = "0s"
	}
	ups, _ := cfg["upstreams"].([]any)
	if len(ups) == 0 {
		t.Fatal("the compose gateway configuration has no upstream")
	}
	for _, u := range ups {
		u.(map[string]any)["instances"] = []any{map[string]any{"addr": backend}, map[string]any{"addr": dead}}
	}
	if r, ok := cfg["redis"].(map[string]any); ok {
		r["url"] = testdb.RedisURL(t)
	}
	out, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(runtime, "gateway.yaml")
	if err := os.WriteFile(p, out, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestDeployMetricNamesAreExported starts the real gateway and backend,
// sends traffic through every kind of path the dashboards chart (API and
// health routes, a repeated cacheable GET, an unsafe method, the HTTP
// redirect listener, a configuration reload, a dead upstream instance),
// scrapes both /metrics endpoints, and requires that every metric name in
// deploy/prometheus/alerts.yml and deploy/grafana/dashboards is exported
// (or is an exporter's, or is listed in unmergedMetrics).
func TestDeployMetricNamesAreExported(t *testing.T) {
	used := queriedMetrics(t)
	gatewayBin, backendBin := binaries(t)
	db := testdb.NewEmpty(t)
	env := []string{"DATABASE_URL=" + db.URL, "REDIS_URL=" + testdb.RedisURL(t),
		"QR_SIGNING_KEY=MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="}

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, backendBin, "migrate", "up")
	cmd.Env = append(os.Environ(), env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("backend migrate up: %v\n%s", err, out)
	}
	backendAddr := freePort(t)
	start(t, env, backendBin, "serve", "--listen", backendAddr)
	poll(t, 30*time.Second, "the backend to be ready", func() bool {
		resp, err := client.Get("http://" + backendAddr + "/ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})

	runtime := t.TempDir()
	cfg := gatewayConfigForTest(t, runtime, backendAddr, freePort(t))
	gw := start(t, nil, gatewayBin, "--config", cfg)
	httpsAddr, adminAddr := gatewayAddrs(t, gw)
	httpAddr := gatewayHTTPAddr(t, gw)

	// Traffic: every request is bounded by the client's timeout and the
	// loop by its count.
	do := func(method, url string) {
		req, err := http.NewRequest(method, url, strings.NewReader("{}"))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, url, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	for range 6 {
		do(http.MethodGet, "https://"+httpsAddr+"/health/")
		do(http.MethodGet, "https://"+httpsAddr+"/api/v1/students?limit=1")
		do(http.MethodHead, "https://"+httpsAddr+"/api/v1/students?limit=1")
	}
	do(http.MethodPost, "https://"+httpsAddr+"/api/v1/students")
	do(http.MethodGet, "https://"+httpsAddr+"/api/v1/students?limit=1")
	noRedirect := &http.Client{Timeout: 5 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	if resp, err := noRedirect.Get("http://" + httpAddr + "/api/v1/students"); err == nil {
		resp.Body.Close()
	}
	if resp, err := client.Post("http://"+adminAddr+"/admin/reload", "", nil); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("POST /admin/reload: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	// A purge, so the cache's invalidation counter has a series.
	if resp, err := client.Post("http://"+adminAddr+"/admin/cache/purge", "application/json",
		strings.NewReader(`{"prefixes":["/api/v1/students"]}`)); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("POST /admin/cache/purge: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	// Backend metrics of the routes the gateway did not reach.
	do(http.MethodGet, "http://"+backendAddr+"/api/v1/students?limit=1")

	exported := map[string]bool{}
	for _, u := range []string{"http://" + adminAddr + "/metrics", "http://" + backendAddr + "/metrics"} {
		status, _, body := get(t, u)
		if status != http.StatusOK {
			t.Fatalf("GET %s: %d", u, status)
		}
		for n := range exposedNames(body) {
			exported[n] = true
		}
	}

	var missing, nowExported []string
	for name, where := range used {
		switch {
		case exporterMetrics[name]:
		case exported[name] && unmergedMetrics[name]:
			nowExported = append(nowExported, name)
		case exported[name], unmergedMetrics[name]:
		default:
			sort.Strings(where)
			missing = append(missing, name+" (used by "+strings.Join(slices.Compact(where), "; ")+")")
		}
	}
	sort.Strings(missing)
	sort.Strings(nowExported)
	for _, m := range missing {
		t.Errorf("metric %s is not exported by the gateway or the backend (exercise it here or register it at start)", m)
	}
	for _, m := range nowExported {
		t.Errorf("metric %s is exported now: remove it from unmergedMetrics", m)
	}
	for name := range unmergedMetrics {
		if _, ok := used[name]; !ok {
			t.Errorf("unmergedMetrics lists %s, which no alert or dashboard uses", name)
		}
	}
	if t.Failed() {
		return
	}
	var skipped []string
	for name := range unmergedMetrics {
		skipped = append(skipped, name)
	}
	sort.Strings(skipped)
	t.Logf("%d metric names checked; not exported yet (unmerged issues): %s", len(used), strings.Join(skipped, ", "))
}

// gatewayHTTPAddr returns the plain-HTTP listener address from the
// gateway's "gateway serving" log line.
func gatewayHTTPAddr(t *testing.T, p *proc) string {
	t.Helper()
	sc := bufio.NewScanner(strings.NewReader(p.stderr.String()))
	for sc.Scan() {
		var line struct {
			Msg  string `json:"msg"`
			HTTP string `json:"http"`
		}
		if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "gateway serving" && line.HTTP != "" {
			return line.HTTP
		}
	}
	t.Fatal(errors.New("the gateway logged no HTTP listener address"))
	return ""
}
