package server

import (
	"bufio"
	"crypto/tls"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/campshub360/edge/shared/testkit"
)

// gateway is a running Server for end-to-end tests.
type gateway struct {
	*gw
	access *testkit.SyncBuffer
}

// baseYAML is a test configuration with %s placeholders for the runtime
// dir and the upstream instance list; extra is appended verbatim (routes
// and other blocks).
const baseYAML = `runtime_dir: %[1]s
log:
  access: {enabled: true, sample_2xx: 1, flush_interval: 20ms}
listen:
  https: 127.0.0.1:0
  http: 127.0.0.1:0
  admin: 127.0.0.1:0
server:
%[4]supstreams:
  - name: campus
    dial_timeout: 500ms
    instances:
%[2]s%[3]s`

// startWith writes a configuration built from baseYAML and starts a
// gateway on it. server holds extra indented keys of the server block
// ("  max_uri_bytes: 1024\n"); extra must contain at least the routes.
func startWith(t *testing.T, server, extra string, upstreams ...string) *gateway {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "gateway.yaml")
	writeYAML(t, path, dir, server, extra, upstreams...)
	return startFile(t, path)
}

func writeYAML(t *testing.T, path, dir, server, extra string, upstreams ...string) {
	t.Helper()
	var inst strings.Builder
	for _, a := range upstreams {
		inst.WriteString("      - addr: " + a + "\n")
	}
	if !strings.Contains(server, "drain_delay") {
		server += "  drain_delay: 0s\n"
	}
	if !strings.Contains(server, "shutdown_timeout") {
		server += "  shutdown_timeout: 5s\n"
	}
	doc := sprintf(baseYAML, dir, inst.String(), extra, server)
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
}

func startFile(t *testing.T, path string) *gateway {
	t.Helper()
	return startFileLog(t, path, io.Discard)
}

// startFileLog is startFile with the process log written to logw.
func startFileLog(t *testing.T, path string, logw io.Writer) *gateway {
	t.Helper()
	access := &testkit.SyncBuffer{}
	g := serveFile(t, path, Options{AccessLog: access, Log: slog.New(slog.NewTextHandler(logw, nil))})
	g.client.Transport = &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, DisableCompression: true}
	return &gateway{gw: g, access: access}
}

// rawExchange sends raw bytes to the HTTPS listener and returns the parsed
// response and whether the gateway closed the connection afterwards.
func (g *gateway) raw(t *testing.T, req string) (status int, body string, closed bool) {
	return g.rawCheck(t, req, true)
}

// rawOpen is raw for requests that keep the connection: it does not wait
// to see it closed.
func (g *gateway) rawOpen(t *testing.T, req string) (status int, body string) {
	status, body, _ = g.rawCheck(t, req, false)
	return status, body
}

func (g *gateway) rawCheck(t *testing.T, req string, checkClose bool) (status int, body string, closed bool) {
	t.Helper()
	c, err := tls.Dial("tcp", g.addrs.HTTPS, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	// The gateway may answer and close before a long request is written
	// whole; the write error is expected then, the answer still readable.
	go io.WriteString(c, req) //nolint:errcheck
	br := bufio.NewReader(c)
	var resp fasthttp.Response
	if err := resp.Read(br); err != nil {
		t.Fatalf("reading response to %q: %v", req, err)
	}
	if !checkClose {
		return resp.StatusCode(), string(resp.Body()), false
	}
	// After a rejected request the connection must be closed: the next
	// read ends (EOF or reset) rather than timing out.
	_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
	_, rerr := br.ReadByte()
	var ne net.Error
	closed = rerr != nil && !(errorsAs(rerr, &ne) && ne.Timeout())
	return resp.StatusCode(), string(resp.Body()), closed
}

// accessLines returns the access log lines written so far, decoded.
func (g *gateway) accessLines(t *testing.T) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(g.access.String()), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("access line is not JSON: %q", l)
		}
		out = append(out, m)
	}
	return out
}

// metricsText fetches /metrics from the admin listener.
func (g *gateway) metricsText(t *testing.T) string {
	t.Helper()
	resp, err := g.client.Get("http://" + g.addrs.Admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// fastUpstream is a fasthttp upstream with a custom handler.
func fastUpstream(t *testing.T, s *fasthttp.Server) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(ln) //nolint:errcheck // ends with Shutdown
	t.Cleanup(func() { _ = s.Shutdown() })
	return ln.Addr().String()
}
