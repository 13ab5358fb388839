package api_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/campshub360/edge/backend/internal/api"
)

// switchable is a readiness dependency a test turns on and off.
type switchable struct{ down atomic.Bool }

func (s *switchable) ping(context.Context) error {
	if s.down.Load() {
		return errors.New("dial tcp 10.0.0.9:6379: connect: connection refused")
	}
	return nil
}

// TestReadinessDegradesOnOptionalDependency drives PostgreSQL (required)
// and Redis (optional) through every combination: Redis alone down keeps
// the instance ready (200, "degraded"); PostgreSQL down makes it unready
// (503 naming postgres only); the dependency metric follows at scrape
// time; each transition is logged once; no error text leaks.
func TestReadinessDegradesOnOptionalDependency(t *testing.T) {
	t.Parallel()
	var pg, rd switchable
	srv := start(t, api.Deps{
		Store: fakeStore{},
		Checks: []api.Check{
			{Name: "postgres", Ping: pg.ping},
			api.Optional(api.Check{Name: "redis", Ping: rd.ping}),
		},
	})
	ready := func() response {
		t.Helper()
		r := srv.get(t, "/ready")
		if cc := r.header.Get("Cache-Control"); cc != "no-store" {
			t.Fatalf("/ready Cache-Control %q", cc)
		}
		if strings.Contains(string(r.body), "refused") || strings.Contains(string(r.body), "10.0.0.9") {
			t.Fatalf("/ready leaks the error text: %s", r.body)
		}
		return r
	}
	gauge := func(dep string) string {
		t.Helper()
		for _, l := range strings.Split(scrape(t, srv), "\n") {
			if v, ok := strings.CutPrefix(l, `campshub_backend_dependency_up{dependency="`+dep+`"} `); ok {
				return v
			}
		}
		t.Fatalf("no campshub_backend_dependency_up for %s", dep)
		return ""
	}

	if r := ready(); r.status != 200 || strings.TrimSpace(string(r.body)) != `{"status":"ok","checks":{"postgres":"ok","redis":"ok"}}` {
		t.Fatalf("all up: %d %s", r.status, r.body)
	}
	if gauge("postgres") != "1" || gauge("redis") != "1" {
		t.Fatal("dependency gauges are not 1 with everything up")
	}

	rd.down.Store(true)
	r := ready()
	if r.status != 200 || strings.TrimSpace(string(r.body)) != `{"status":"degraded","checks":{"postgres":"ok","redis":"degraded"}}` {
		t.Fatalf("Redis down: %d %s", r.status, r.body)
	}
	if gauge("redis") != "0" || gauge("postgres") != "1" {
		t.Fatal("dependency gauges do not show Redis down")
	}
	ready() // a second probe while down logs nothing new

	pg.down.Store(true)
	p := problemOf(t, ready(), 503)
	if p.Detail != "Not ready: postgres unavailable." {
		t.Fatalf("both down: detail %q, want postgres named alone (Redis only degrades)", p.Detail)
	}
	if r := ready(); r.header.Get("Retry-After") == "" {
		t.Fatal("503 without Retry-After")
	}

	rd.down.Store(false)
	problemOf(t, ready(), 503)
	pg.down.Store(false)
	if r := ready(); r.status != 200 || !strings.Contains(string(r.body), `"status":"ok"`) {
		t.Fatalf("recovered: %d %s", r.status, r.body)
	}
	if gauge("postgres") != "1" || gauge("redis") != "1" {
		t.Fatal("dependency gauges do not recover")
	}

	logs := srv.logs.String()
	for check, want := range map[string]int{"postgres": 1, "redis": 1} {
		if n := strings.Count(logs, `"msg":"readiness check failing","check":"`+check+`"`); n != want {
			t.Errorf("%s failing logged %d times, want %d:\n%s", check, n, want, logs)
		}
		if n := strings.Count(logs, `"msg":"readiness check recovered","check":"`+check+`"`); n != want {
			t.Errorf("%s recovery logged %d times, want %d:\n%s", check, n, want, logs)
		}
	}
	if !strings.Contains(logs, `"check":"redis","state":"degraded"`) || !strings.Contains(logs, `"check":"postgres","state":"unavailable"`) {
		t.Errorf("failure logs do not say degraded / unavailable:\n%s", logs)
	}
}

// TestOptionalCheck covers the wrapper itself: it marks failures with
// ErrDegraded while keeping the cause, passes successes through, does
// not wrap twice, and leaves a check without Ping as it is (New rejects
// it).
func TestOptionalCheck(t *testing.T) {
	t.Parallel()
	cause := errors.New("boom")
	c := api.Optional(api.Check{Name: "redis", Ping: func(context.Context) error { return cause }})
	err := c.Ping(context.Background())
	if !errors.Is(err, api.ErrDegraded) || !errors.Is(err, cause) {
		t.Fatalf("Optional failure: %v", err)
	}
	if again := api.Optional(c).Ping(context.Background()); strings.Count(again.Error(), api.ErrDegraded.Error()) != 1 {
		t.Fatalf("wrapped twice: %v", again)
	}
	if err := api.Optional(api.Check{Name: "x", Ping: func(context.Context) error { return nil }}).Ping(context.Background()); err != nil {
		t.Fatalf("Optional success: %v", err)
	}
	if c := api.Optional(api.Check{Name: "x"}); c.Ping != nil {
		t.Fatal("Optional gave a check without Ping one, hiding it from New's validation")
	}
}

// TestReadinessWithoutChecks: an API with no dependencies is ready and
// exports no dependency series.
func TestReadinessWithoutChecks(t *testing.T) {
	t.Parallel()
	srv := start(t, api.Deps{Store: fakeStore{}})
	if r := srv.get(t, "/ready"); r.status != 200 || strings.TrimSpace(string(r.body)) != `{"status":"ok","checks":{}}` {
		t.Fatalf("/ready: %d %s", r.status, r.body)
	}
	if m := scrape(t, srv); strings.Contains(m, "campshub_backend_dependency_up") {
		t.Fatalf("dependency series without checks:\n%s", grepLines(m, "dependency"))
	}
}

// TestDrainFailsHealthEndpointsAndClosesConnections: once Drain is
// called, /ready and /health/ answer 503 "draining" (so load balancers
// take the instance out) while other requests are still served, each
// with Connection: close (so keep-alive clients reconnect elsewhere
// before the listener closes).
func TestDrainFailsHealthEndpointsAndClosesConnections(t *testing.T) {
	t.Parallel()
	srv := start(t, api.Deps{Store: fakeStore{}})
	raw := func(path string) *http.Response {
		t.Helper()
		c, err := net.DialTimeout("tcp", strings.TrimPrefix(srv.base, "http://"), 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.WriteString(c, "GET "+path+" HTTP/1.1\r\nHost: campus.test\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	if r := raw("/health/"); r.StatusCode != 200 || r.Close {
		t.Fatalf("before Drain: /health/ %d, close %v", r.StatusCode, r.Close)
	}
	if srv.api.Draining() {
		t.Fatal("draining before Drain")
	}
	srv.api.Drain()
	for _, path := range []string{"/ready", "/health/"} {
		r := srv.get(t, path)
		if r.status != 503 || !strings.Contains(string(r.body), "draining") || r.header.Get("Retry-After") == "" ||
			r.header.Get("Content-Type") != "application/problem+json" {
			t.Fatalf("draining %s: %d %v %s", path, r.status, r.header, r.body)
		}
	}
	if r := raw("/api/v1/openapi.json"); r.StatusCode != 200 || !r.Close {
		t.Fatalf("draining: a request got %d, Connection: close %v; want served and closed", r.StatusCode, r.Close)
	}
}
