package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/goccy/go-yaml"

	"github.com/campshub360/edge/backend/internal/keyring"
	"github.com/campshub360/edge/backend/internal/testdb"
)

// deployDir is deploy/ of the workspace, relative to this package.
const deployDir = "../../deploy"

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

// query is one PromQL expression of an alert rule or a dashboard, with
// where it is used.
type query struct {
	where, expr string
}

// queriedMetrics returns every metric name used by the alert rules and
// the Grafana dashboards (panel queries and template variables), with
// where it is used, and the expressions themselves.
func queriedMetrics(t *testing.T) (map[string][]string, []query) {
	t.Helper()
	used := map[string][]string{}
	var queries []query
	add := func(where, expr string) {
		names, err := promqlMetricNames(expr)
		if err != nil {
			t.Errorf("%s: %v in %q", where, err, expr)
			return
		}
		for _, n := range names {
			used[n] = append(used[n], where)
		}
		queries = append(queries, query{where: where, expr: expr})
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
	return used, queries
}

// exposedLabels parses the Prometheus text exposition into the label
// names of every series name (histogram buckets carry le).
func exposedLabels(body []byte) map[string]map[string]bool {
	out := map[string]map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.IndexAny(line, "{ ")
		if i <= 0 {
			continue
		}
		name := line[:i]
		if out[name] == nil {
			out[name] = map[string]bool{}
		}
		if line[i] != '{' {
			continue
		}
		// name{l1="v",l2="v \" , }"} value
		for j := i + 1; j < len(line) && line[j] != '}'; {
			eq := strings.IndexByte(line[j:], '=')
			if eq < 0 {
				break
			}
			out[name][strings.TrimSpace(line[j:j+eq])] = true
			k := j + eq + 2 // past ="
			for k < len(line) && line[k] != '"' {
				if line[k] == '\\' {
					k++
				}
				k++
			}
			j = k + 1
			if j < len(line) && line[j] == ',' {
				j++
			}
		}
	}
	return out
}

// targetLabels are the labels Prometheus attaches to every scraped series
// in the shipped scrape configurations: job and instance, the static
// labels of prometheus.yml and the relabelled ones of
// prometheus-kubernetes.yml.
func targetLabels(t *testing.T) map[string]bool {
	t.Helper()
	labels := map[string]bool{"job": true, "instance": true}
	for _, f := range []string{"prometheus.yml", "prometheus-kubernetes.yml"} {
		b, err := os.ReadFile(filepath.Join(deployDir, "prometheus", f))
		if err != nil {
			t.Fatal(err)
		}
		var cfg struct {
			ScrapeConfigs []struct {
				StaticConfigs []struct {
					Labels map[string]string `yaml:"labels"`
				} `yaml:"static_configs"`
				RelabelConfigs []struct {
					TargetLabel string `yaml:"target_label"`
				} `yaml:"relabel_configs"`
			} `yaml:"scrape_configs"`
		}
		if err := yaml.Unmarshal(b, &cfg); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, sc := range cfg.ScrapeConfigs {
			for _, st := range sc.StaticConfigs {
				for l := range st.Labels {
					labels[l] = true
				}
			}
			for _, rc := range sc.RelabelConfigs {
				if rc.TargetLabel != "" && !strings.HasPrefix(rc.TargetLabel, "__") {
					labels[rc.TargetLabel] = true
				}
			}
		}
	}
	return labels
}

// checkQueryLabels requires every label a query selects a metric of ours
// on to be one that metric is exported with, or a target label; an
// exported "instance" label reaches Prometheus as "exported_instance".
// Labels in by/without/on/ignoring lists must belong to one of the
// query's metrics (or be le or a target label). Exporter metrics are not
// checked here.
func checkQueryLabels(t *testing.T, queries []query, exported map[string]map[string]bool) {
	t.Helper()
	target := targetLabels(t)
	allowed := func(metric, label string) bool {
		l := exported[metric]
		return target[label] || l[label] || (label == "exported_instance" && l["instance"])
	}
	for _, q := range queries {
		refs, err := promqlLabelRefs(q.expr)
		if err != nil {
			t.Errorf("%s: %v in %q", q.where, err, q.expr)
			continue
		}
		names, _ := promqlMetricNames(q.expr)
		ours := slices.DeleteFunc(slices.Clone(names), func(n string) bool { return exporterMetrics[n] })
		for _, r := range refs {
			switch {
			case r.Metric != "" && exporterMetrics[r.Metric]:
			case r.Metric != "":
				if !allowed(r.Metric, r.Label) {
					t.Errorf("%s: %s{%s=...}: %s is not exported with label %s (it has %q)", q.where, r.Metric, r.Label, r.Metric, r.Label, sortedKeys(exported[r.Metric]))
				}
			case len(ours) == 0 || len(ours) < len(names) || r.Label == "le":
				// exporter queries, and mixed ones, are the exporters' business
			case !slices.ContainsFunc(ours, func(m string) bool { return allowed(m, r.Label) }):
				t.Errorf("%s: grouping label %s belongs to none of %q", q.where, r.Label, ours)
			}
		}
	}
}

func sortedKeys(m map[string]bool) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
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
// enables: edge token verification, the response cache, shared rate
// limits) into one that runs here: loopback listeners on free ports, a
// scratch runtime directory and self-signed certificate, the test Redis,
// the live backend's JWK Set, and as upstream instances the live backend
// plus a failing one (so failure, retry and ejection metrics appear).
func gatewayConfigForTest(t *testing.T, runtime, backend, failing string) string {
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
		u.(map[string]any)["instances"] = []any{map[string]any{"addr": backend}, map[string]any{"addr": failing}}
	}
	if r, ok := cfg["redis"].(map[string]any); ok {
		r["url"] = testdb.RedisURL(t)
	}
	// The shared limiter's Redis budget (ratelimit.store_timeout, 5 ms by
	// default) is for a Redis next to the gateway; under the race
	// detector on a shared test machine a round trip can take longer, and
	// the login policy fails closed.
	rl, _ := cfg["ratelimit"].(map[string]any)
	if rl == nil {
		t.Fatal("the compose gateway configuration has no rate limits")
	}
	rl["store_timeout"] = "500ms"
	a, _ := cfg["auth"].(map[string]any)
	jwks, _ := a["jwks"].(map[string]any)
	if jwks == nil {
		t.Fatal("the compose gateway configuration verifies no tokens (auth.jwks)")
	}
	jwks["urls"] = []any{"http://" + backend + "/api/v1/auth/jwks.json"}
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

// TestDeployMetricNamesAreExported starts the real gateway (with the
// compose stack's configuration) and backend (with its keyrings, like the
// deployments), sends traffic through every kind of path the dashboards
// chart (sign-in through the login policy, API requests with a verified
// token, a cached repeat, anonymous and forged tokens refused at the
// edge, a public route, the health route, an unsafe method, the HTTP
// redirect listener, a configuration reload, a cache purge, an upstream
// instance that passes health checks but fails requests, so they are
// retried), scrapes both /metrics endpoints, and requires that
// every metric name in deploy/prometheus/alerts.yml and
// deploy/grafana/dashboards is exported (or is an exporter's) with the
// labels the queries select and group on. Nothing is skipped: a metric a
// rule or panel needs must be exported once the code is merged.
func TestDeployMetricNamesAreExported(t *testing.T) {
	used, queries := queriedMetrics(t)
	gatewayBin, backendBin := binaries(t)
	db := testdb.NewEmpty(t)
	_, enc, _ := keyring.Generate("e2e-data", nil)
	_, sig, _ := keyring.Generate("e2e-seal", nil)
	env := []string{"DATABASE_URL=" + db.URL, "REDIS_URL=" + testdb.RedisURL(t),
		"ENCRYPTION_KEYS=" + enc, "SIGNING_KEY_SECRETS=" + sig, "AUTH_BCRYPT_COST=10",
		"QR_SIGNING_KEY=MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="}
	accounts := filepath.Join(t.TempDir(), "demo-accounts.json")

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for _, args := range [][]string{{"migrate", "up"}, {"seed", "--students", "60", "--weeks", "1"},
		{"accounts", "demo", "--dev", "--out", accounts}} {
		cmd := exec.CommandContext(ctx, backendBin, args...)
		cmd.Env = append(os.Environ(), env...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("backend %v: %v\n%s", args, err, out)
		}
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
	// An instance that passes the active health check but answers every
	// request 503: requests it gets are retried on the backend, and
	// passive health checking ejects it.
	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/health/" {
			w.WriteHeader(http.StatusOK)
			return
		}
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer failing.Close()
	cfg := gatewayConfigForTest(t, runtime, backendAddr, strings.TrimPrefix(failing.URL, "http://"))
	gw := start(t, nil, gatewayBin, "--config", cfg)
	httpsAddr, adminAddr := gatewayAddrs(t, gw)
	httpAddr := gatewayHTTPAddr(t, gw)

	// Traffic: every request is bounded by the client's timeout and the
	// loops by their counts.
	do := func(method, url, token string) int {
		req, err := http.NewRequest(method, url, strings.NewReader("{}"))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, url, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	base := "https://" + httpsAddr
	// The gateway verifies tokens once it has the backend's JWK Set.
	poll(t, 30*time.Second, "the gateway to load the JWK Set", func() bool {
		_, _, m := get(t, "http://"+adminAddr+"/metrics")
		return strings.Contains(string(m), `gateway_auth_jwks_fetches_total{result="success"}`)
	})
	// Sign in through the login route (per-ip and login policies). The
	// Idempotency-Key makes the POST safe to retry, should P2C send it to
	// the failing instance first.
	registrar, password := demoAccount(t, accounts, "registrar@")
	body, _ := json.Marshal(map[string]string{"username": registrar, "password": password})
	req, err := http.NewRequest(http.MethodPost, base+"/api/v1/auth/login", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", "deploy-metrics-login")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("login: %v", err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var tokens struct {
		AccessToken string `json:"access_token"`
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal(raw, &tokens) != nil || tokens.AccessToken == "" {
		t.Fatalf("login through the gateway: %d %s", resp.StatusCode, raw)
	}
	token := tokens.AccessToken
	for range 6 {
		do(http.MethodGet, base+"/health/", "")
		if code := do(http.MethodGet, base+"/api/v1/students?limit=1", token); code != http.StatusOK {
			t.Fatalf("GET students with a token through the gateway: %d", code)
		}
		do(http.MethodHead, base+"/api/v1/students?limit=1", token)
	}
	if code := do(http.MethodGet, base+"/api/v1/students?limit=1", ""); code != http.StatusUnauthorized {
		t.Fatalf("GET students without a token: %d, want 401 at the edge", code)
	}
	if code := do(http.MethodGet, base+"/api/v1/students?limit=1", "not.a.token"); code != http.StatusUnauthorized {
		t.Fatalf("GET students with a malformed token: %d, want 401 at the edge", code)
	}
	// Distinct URLs (no cache hits) until one went to the failing
	// instance first and was retried; P2C spreads them, so this takes a
	// few at most.
	for i := 1; ; i++ {
		if code := do(http.MethodGet, fmt.Sprintf("%s/api/v1/students?limit=%d", base, i), token); code != http.StatusOK {
			t.Fatalf("GET students (retried on the backend): %d", code)
		}
		_, _, m := get(t, "http://"+adminAddr+"/metrics")
		if strings.Contains(string(m), `gateway_upstream_retries_total{outcome="success"`) {
			break
		}
		if i == 50 {
			t.Fatal("50 requests and none was retried on the backend")
		}
	}
	do(http.MethodGet, base+"/api/v1/auth/jwks.json", "")
	do(http.MethodGet, base+"/api/v1/courses", "")
	do(http.MethodPost, base+"/api/v1/students", token)
	do(http.MethodGet, base+"/api/v1/students?limit=1", token)
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
	do(http.MethodGet, "http://"+backendAddr+"/api/v1/students?limit=1", "")

	exported := map[string]bool{}
	labels := map[string]map[string]bool{}
	for _, u := range []string{"http://" + adminAddr + "/metrics", "http://" + backendAddr + "/metrics"} {
		status, _, body := get(t, u)
		if status != http.StatusOK {
			t.Fatalf("GET %s: %d", u, status)
		}
		for n := range exposedNames(body) {
			exported[n] = true
		}
		for n, ls := range exposedLabels(body) {
			if labels[n] == nil {
				labels[n] = map[string]bool{}
			}
			for l := range ls {
				labels[n][l] = true
			}
		}
	}

	var missing []string
	for name, where := range used {
		if !exporterMetrics[name] && !exported[name] {
			sort.Strings(where)
			missing = append(missing, name+" (used by "+strings.Join(slices.Compact(where), "; ")+")")
		}
	}
	sort.Strings(missing)
	for _, m := range missing {
		t.Errorf("metric %s is not exported by the gateway or the backend (exercise it here or register it at start)", m)
	}
	checkQueryLabels(t, queries, labels)
	if !t.Failed() {
		t.Logf("%d metric names and the labels of %d queries checked", len(used), len(queries))
	}
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
