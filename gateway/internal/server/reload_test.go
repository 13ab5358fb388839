package server

import (
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/campshub360/edge/gateway/internal/config"
	"github.com/campshub360/edge/gateway/internal/testpki"
	"github.com/campshub360/edge/shared/problem"
	"github.com/campshub360/edge/shared/testkit"
)

// loggedGateway is a gateway whose process log is kept for inspection.
type loggedGateway struct {
	*gw
	log *testkit.SyncBuffer
}

// startLogged starts a gateway on the configuration file at path, with
// its process log (JSON) in the returned buffer.
func startLogged(t *testing.T, path string) *loggedGateway {
	t.Helper()
	logBuf := &testkit.SyncBuffer{}
	g := serveFile(t, path, Options{Log: slog.New(slog.NewJSONHandler(logBuf, nil)), AccessLog: io.Discard})
	return &loggedGateway{gw: g, log: logBuf}
}

// reload posts /admin/reload and returns the status and body.
func (g *gw) reload(t *testing.T) (int, []byte) {
	t.Helper()
	r, err := g.client.Post("http://"+g.addrs.Admin+"/admin/reload", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	b, _ := io.ReadAll(r.Body)
	return r.StatusCode, b
}

// The secret sits on the lines just above the syntax error, where the
// YAML parser's source excerpt would show it.
const secretPassword = "hunter2-rotate-me"

func TestReloadSyntaxErrorHidesSource(t *testing.T) {
	a := startEcho(t, "a")
	path := filepath.Join(t.TempDir(), "gateway.yaml")
	writeConfig(t, path, a.addr)
	g := startLogged(t, path)
	good := readFile(t, path)
	bad := good + "redis:\n  url: redis://:" + secretPassword + "@127.0.0.1:6379/0\nthis: is: not: yaml: [\n"
	writeFile(t, path, bad)
	line := strings.Count(good, "\n") + 3

	code, body := g.reload(t)
	if code != 422 {
		t.Fatalf("reload %d %s", code, body)
	}
	var p problem.Problem
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatalf("not a problem: %s", body)
	}
	want := problem.FieldError{Field: sprintf("line %d, column 7", line), Message: "mapping value is not allowed in this context"}
	if len(p.Errors) != 1 || p.Errors[0] != want {
		t.Fatalf("errors %+v, want [%+v]", p.Errors, want)
	}
	if strings.Contains(string(body), secretPassword) || strings.Contains(string(body), "redis:") {
		t.Fatalf("response quotes the document: %s", body)
	}
	logs := g.log.String()
	if !strings.Contains(logs, "mapping value is not allowed in this context") {
		t.Fatalf("rejection not logged:\n%s", logs)
	}
	if strings.Contains(logs, secretPassword) || strings.Contains(logs, "this: is") {
		t.Fatalf("log quotes the document:\n%s", logs)
	}
	// The old generation still serves.
	if resp, _ := g.get(t, "/api/v1/x", nil); resp.StatusCode != 200 {
		t.Fatalf("status %d after a rejected reload", resp.StatusCode)
	}
}

func TestReloadReportsMissingFilesByPath(t *testing.T) {
	a := startEcho(t, "a")
	dir := t.TempDir()
	path := filepath.Join(dir, "gateway.yaml")
	writeConfig(t, path, a.addr)
	g := startLogged(t, path)
	ca := testpki.NewCA(t, "reload test CA")
	certFile, keyFile := ca.Write(t, dir, "site", testpki.Leaf{DNSNames: []string{"localhost"}})
	missing := filepath.Join(dir, "missing.crt")
	doc := readFile(t, path) + sprintf(`tls:
  certificates:
    - {cert_file: %s, key_file: %s}
    - {cert_file: %s, key_file: %s}
`, certFile, keyFile, missing, keyFile)
	doc = strings.Replace(doc, "    dial_timeout: 500ms\n", sprintf("    dial_timeout: 500ms\n    tls: {enabled: true, ca_file: %s}\n", filepath.Join(dir, "no-ca.pem")), 1)
	writeFile(t, path, doc)

	code, body := g.reload(t)
	var p problem.Problem
	if err := json.Unmarshal(body, &p); err != nil || code != 422 {
		t.Fatalf("reload %d %s", code, body)
	}
	var fields []string
	for _, e := range p.Errors {
		fields = append(fields, e.Field)
		if e.Message == "" {
			t.Errorf("empty message for %s", e.Field)
		}
	}
	if !slices.Equal(fields, []string{"tls.certificates[1]", "upstreams[0].tls.ca_file"}) {
		t.Fatalf("fields %q in %s", fields, body)
	}
	if !strings.Contains(p.Errors[0].Message, "missing.crt") {
		t.Fatalf("message %q", p.Errors[0].Message)
	}

	// Check (gateway --check-config) finds the same problems.
	cfg, err := config.Load(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = Check(cfg, time.Now)
	var ps config.Problems
	if !errorsAs(err, &ps) || len(ps) != 2 || ps[0].Path != "tls.certificates[1]" || ps[1].Path != "upstreams[0].tls.ca_file" {
		t.Fatalf("Check: %v", err)
	}
}

func TestReloadKeepsStartOnlySettings(t *testing.T) {
	a, b := startEcho(t, "a"), startEcho(t, "b")
	path := filepath.Join(t.TempDir(), "gateway.yaml")
	writeConfig(t, path, a.addr)
	g := startLogged(t, path)
	original := readFile(t, path)

	// A new listener address and read timeout need a restart; the new
	// upstream applies now.
	writeConfig(t, path, b.addr)
	changed := strings.Replace(readFile(t, path), "  https: 127.0.0.1:0\n", "  https: localhost:0\n", 1)
	changed = strings.Replace(changed, "server:\n", "server:\n  read_timeout: 3s\n", 1)
	writeFile(t, path, changed)
	for i := 0; i < 2; i++ { // the second reload compares against what runs, not the last file
		code, body := g.reload(t)
		var res struct {
			Status          string   `json:"status"`
			RestartRequired []string `json:"restart_required"`
			Message         string   `json:"message"`
			ConfigHash      string   `json:"config_hash"`
		}
		if err := json.Unmarshal(body, &res); err != nil || code != 200 {
			t.Fatalf("reload %d: %s", code, body)
		}
		if res.Status != "reloaded" || !slices.Equal(res.RestartRequired, []string{"listen.https", "server.read_timeout"}) ||
			!strings.Contains(res.Message, "listen.https") || res.ConfigHash == "" {
			t.Fatalf("reload %d: %s", i, body)
		}
	}
	if resp, body := g.get(t, "/api/v1/x", nil); resp.StatusCode != 200 || !strings.Contains(string(body), `"instance":"b"`) {
		t.Fatalf("the rest of the configuration did not apply: %d %s", resp.StatusCode, body)
	}
	r, err := g.client.Get("http://" + g.addrs.Admin + "/admin/config")
	if err != nil {
		t.Fatal(err)
	}
	var running struct {
		Listen struct {
			HTTPS string `json:"https"`
		} `json:"listen"`
		Server struct {
			ReadTimeout string `json:"read_timeout"`
		} `json:"server"`
	}
	err = json.NewDecoder(r.Body).Decode(&running)
	r.Body.Close()
	if err != nil || running.Listen.HTTPS != "127.0.0.1:0" || running.Server.ReadTimeout != "10s" {
		t.Fatalf("running configuration %+v (%v), want the start values", running, err)
	}
	logs := g.log.String()
	if !strings.Contains(logs, `"restart_required":["listen.https","server.read_timeout"]`) || !strings.Contains(logs, `"https":"`+g.addrs.HTTPS+`"`) {
		t.Fatalf("log does not name the pending settings and the bound address:\n%s", logs)
	}

	// Back to the start values: nothing pending.
	writeFile(t, path, original)
	code, body := g.reload(t)
	if code != 200 || !strings.Contains(string(body), `"restart_required": []`) {
		t.Fatalf("reload %d: %s", code, body)
	}
}

func TestCheckLoadsNothingWithoutCertificates(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "gateway.yaml")
	writeConfig(t, path, "127.0.0.1:1")
	cfg, err := config.Load(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := Check(cfg, time.Now); err != nil {
		t.Fatal(err)
	}
	// The self-signed development certificate is generated at start only.
	if _, err := os.Stat(filepath.Join(dir, "tls")); !os.IsNotExist(err) {
		t.Fatalf("Check wrote under runtime_dir: %v", err)
	}
}
