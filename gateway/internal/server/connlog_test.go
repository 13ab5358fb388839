package server

import (
	"bytes"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/campshub360/edge/shared/testkit"
)

// TestConnErrorLogBounded: a burst of malformed requests yields at most
// connLogBurst connection-error log lines per second plus a count of those
// suppressed, while gateway_connection_errors_total counts them all; no
// parser text reaches the responses.
func TestConnErrorLogBounded(t *testing.T) {
	up := startEcho(t, "a")
	dir := t.TempDir()
	path := filepath.Join(dir, "gateway.yaml")
	writeYAML(t, path, dir, "", plainRoutes, up.addr)
	logs := &testkit.SyncBuffer{}
	g := startFileLog(t, path, logs)

	const burst = 60
	for i := 0; i < burst; i++ {
		c := dialWire(t, g.addrs.HTTP, false)
		_, _ = io.WriteString(c, "GET /health/x HTTP/1.1\r\nHost: a\r\nContent-Length: -5\r\n\r\n")
		b, _ := readToClose(t, c, 5*time.Second)
		_, body, _ := bytes.Cut(b, []byte("\r\n\r\n"))
		if !bytes.HasPrefix(b, []byte("HTTP/1.1 400 ")) || bytes.Contains(body, []byte("error")) || bytes.Contains(bytes.ToLower(body), []byte("content-length")) {
			t.Fatalf("malformed request answered %q", b)
		}
		c.Close()
	}
	want := "gateway_connection_errors_total{listener=\"http\"} " + itoa(burst)
	testkit.Poll(t, 5*time.Second, "every connection error counted", func() bool {
		return strings.Contains(g.metricsText(t), want)
	})
	lines := strings.Count(logs.String(), "error when serving connection")
	// The burst may straddle a window boundary or two on a loaded machine,
	// never many: the requests take far less than a second each.
	if lines == 0 || lines >= burst/2 {
		t.Fatalf("%d of %d connection errors logged:\n%s", lines, burst, logs.String())
	}
}

// TestConnErrorLogWindow drives connErrorLog with a fake clock: burst lines
// per window pass, the rest are dropped and reported by the next line let
// through; every call is counted.
func TestConnErrorLogWindow(t *testing.T) {
	var out testkit.SyncBuffer
	now := time.Unix(1700000000, 0)
	errs := prometheus.NewCounter(prometheus.CounterOpts{Name: "x"})
	l := &connErrorLog{
		log: slog.New(slog.NewTextHandler(&out, nil)), errors: errs,
		now: func() time.Time { return now }, burst: 3, window: time.Second,
	}
	for i := 0; i < 10; i++ {
		l.Printf("error when serving connection %d", i)
	}
	if n := strings.Count(out.String(), "error when serving"); n != 3 || strings.Contains(out.String(), "suppressed") {
		t.Fatalf("first window logged:\n%s", out.String())
	}
	now = now.Add(999 * time.Millisecond)
	l.Printf("still the first window")
	if strings.Contains(out.String(), "still the first window") {
		t.Fatal("a line over the burst was logged")
	}
	now = now.Add(time.Millisecond)
	l.Printf("next window")
	s := out.String()
	if !strings.Contains(s, "suppressed=8") || !strings.Contains(s, "next window") {
		t.Fatalf("second window logged:\n%s", s)
	}
	if got := testutil.ToFloat64(errs); got != 12 {
		t.Fatalf("counted %v, want 12", got)
	}
}

func itoa(n int) string { return sprintf("%d", n) }
