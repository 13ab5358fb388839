package deploycheck

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestAlertRules checks deploy/prometheus/alerts.yml: every rule is an
// alert with an expression, a severity and the summary, description and
// runbook annotations, and the alerts the operators rely on exist.
func TestAlertRules(t *testing.T) {
	rules := readYAML(t, path("deploy", "prometheus", "alerts.yml"))
	names := map[string]string{}
	for _, g := range list(rules["groups"]) {
		if str(get(g, "name")) == "" {
			t.Error("a rule group has no name")
		}
		for _, r := range list(get(g, "rules")) {
			name := str(get(r, "alert"))
			if name == "" {
				t.Errorf("group %s: a rule that is not an alert: %v", get(g, "name"), r)
				continue
			}
			if _, dup := names[name]; dup {
				t.Errorf("alert %s is defined twice", name)
			}
			names[name] = str(get(r, "expr"))
			if strings.TrimSpace(names[name]) == "" {
				t.Errorf("%s: no expr", name)
			}
			if sev := str(get(r, "labels", "severity")); sev != "page" && sev != "ticket" {
				t.Errorf("%s: severity %q, want page or ticket", name, sev)
			}
			for _, a := range []string{"summary", "description", "runbook"} {
				if strings.TrimSpace(str(get(r, "annotations", a))) == "" {
					t.Errorf("%s: no %s annotation", name, a)
				}
			}
			if f := str(get(r, "for")); f != "" && !regexp.MustCompile(`^\d+[smh]$`).MatchString(f) {
				t.Errorf("%s: for %q is not a duration", name, f)
			}
		}
	}
	// The alerts the issue asks for, each recognised by the metric it
	// watches.
	for what, metric := range map[string]string{
		"error ratio":                  "gateway_http_requests_total",
		"p99 latency":                  "gateway_http_request_duration_seconds_bucket",
		"upstream down":                "gateway_upstream_healthy",
		"cache hit ratio drop":         "gateway_cache_requests_total",
		"rate-limit store fallback":    "gateway_ratelimit_decisions_total",
		"certificate expiry (14 days)": "gateway_tls_cert_expiry_timestamp_seconds",
		"DB pool saturation":           "campshub_backend_db_pool_connections",
	} {
		found := false
		for _, expr := range names {
			found = found || strings.Contains(expr, metric)
		}
		if !found {
			t.Errorf("no alert for %s (on %s)", what, metric)
		}
	}
	if !strings.Contains(names["TLSCertificateExpiresSoon"], "14 * 86400") {
		t.Errorf("TLSCertificateExpiresSoon does not fire at 14 days: %s", names["TLSCertificateExpiresSoon"])
	}

	prom := readYAML(t, path("deploy", "prometheus", "prometheus.yml"))
	if files := stringList(prom["rule_files"]); !slices.Contains(files, "/etc/prometheus/alerts.yml") {
		t.Errorf("prometheus.yml rule_files %q do not load alerts.yml", files)
	}
	var jobs []string
	for _, sc := range list(prom["scrape_configs"]) {
		jobs = append(jobs, str(get(sc, "job_name")))
	}
	for _, j := range []string{"gateway", "backend", "postgres", "redis"} {
		if !slices.Contains(jobs, j) {
			t.Errorf("prometheus.yml has no job %s (alerts and dashboards select on it)", j)
		}
	}
	k8s := readYAML(t, path("deploy", "prometheus", "prometheus-kubernetes.yml"))
	jobFromComponent := false
	for _, rc := range list(get(k8s, "scrape_configs", 0, "relabel_configs")) {
		jobFromComponent = jobFromComponent || (str(get(rc, "target_label")) == "job" &&
			str(get(rc, "source_labels", 0)) == "__meta_kubernetes_pod_label_app_kubernetes_io_component")
	}
	if !jobFromComponent {
		t.Error("prometheus-kubernetes.yml does not take the job label from app.kubernetes.io/component")
	}
}

// dashboard is the part of a Grafana dashboard these checks read.
type dashboard struct {
	UID        string `json:"uid"`
	Title      string `json:"title"`
	Templating struct {
		List []struct {
			Name  string `json:"name"`
			Type  string `json:"type"`
			Query any    `json:"query"`
		} `json:"list"`
	} `json:"templating"`
	Panels []struct {
		Type       string `json:"type"`
		Title      string `json:"title"`
		Datasource struct {
			UID string `json:"uid"`
		} `json:"datasource"`
		Targets []struct {
			Expr string `json:"expr"`
		} `json:"targets"`
	} `json:"panels"`
}

func readDashboards(t *testing.T) map[string]dashboard {
	t.Helper()
	files, err := filepath.Glob(path("deploy", "grafana", "dashboards", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]dashboard{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var d dashboard
		if err := json.Unmarshal(b, &d); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		out[filepath.Base(f)] = d
	}
	return out
}

// TestDashboards checks the three dashboards: unique uids, a data source
// variable every panel uses, a query on every panel, and the sections the
// issue names.
func TestDashboards(t *testing.T) {
	ds := readDashboards(t)
	want := map[string][]string{
		"edge-overview.json": {"Requests (RED per route)", "Cache", "Rate limiter", "Upstreams", "TLS"},
		"backend.json":       {"Requests (RED per route)", "PostgreSQL pool (pgxpool)", "Redis"},
		"postgres.json":      {"Availability", "Connections and throughput"},
	}
	if got := sortedKeys(ds); !slices.Equal(got, sortedKeys(want)) {
		t.Fatalf("dashboards %q, want %q", got, sortedKeys(want))
	}
	uids := map[string]bool{}
	for file, d := range ds {
		if d.UID == "" || uids[d.UID] || d.Title == "" {
			t.Errorf("%s: uid %q (must be unique and set), title %q", file, d.UID, d.Title)
		}
		uids[d.UID] = true
		hasDS := false
		for _, v := range d.Templating.List {
			hasDS = hasDS || (v.Name == "datasource" && v.Type == "datasource" && v.Query == "prometheus")
		}
		if !hasDS {
			t.Errorf("%s: no prometheus data source variable", file)
		}
		var rows []string
		for _, p := range d.Panels {
			if p.Type == "row" {
				rows = append(rows, p.Title)
				continue
			}
			if p.Datasource.UID != "${datasource}" {
				t.Errorf("%s: panel %q uses data source %q, not the variable", file, p.Title, p.Datasource.UID)
			}
			if len(p.Targets) == 0 {
				t.Errorf("%s: panel %q has no query", file, p.Title)
			}
			for _, tg := range p.Targets {
				if strings.TrimSpace(tg.Expr) == "" {
					t.Errorf("%s: panel %q has an empty query", file, p.Title)
				}
			}
		}
		for _, r := range want[file] {
			if !slices.Contains(rows, r) {
				t.Errorf("%s: no %q row (rows %q)", file, r, rows)
			}
		}
	}
}
