package api_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/campshub360/edge/shared/problem"
	"github.com/campshub360/edge/shared/requestid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"

	"github.com/campshub360/edge/backend/internal/api"
	"github.com/campshub360/edge/backend/internal/audit"
	"github.com/campshub360/edge/backend/internal/authz/authztest"
	"github.com/campshub360/edge/backend/internal/qr"
)

// syncBuffer is a log sink safe for the server's goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// fakeClock is a settable clock shared by the API, the store and the QR
// signer of a test.
type fakeClock struct{ ns atomic.Int64 }

func newClock(t time.Time) *fakeClock {
	c := &fakeClock{}
	c.Set(t)
	return c
}

func (c *fakeClock) Now() time.Time      { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) Set(t time.Time)     { c.ns.Store(t.UnixNano()) }
func (c *fakeClock) Add(d time.Duration) { c.ns.Add(int64(d)) }

// recorder is an in-memory audit.Recorder.
type recorder struct {
	mu     sync.Mutex
	events []audit.Event
}

func (r *recorder) Record(_ context.Context, e audit.Event) error {
	if err := audit.Validate(e); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
	return nil
}

// count returns how many recorded events have action.
func (r *recorder) count(action string) int { return len(r.find(action)) }

// actions lists the recorded actions, for failure messages.
func (r *recorder) actions() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]string, len(r.events))
	for i, e := range r.events {
		out[i] = e.Action + " " + e.Entity + " " + e.EntityID
	}
	return out
}

// find returns the recorded events with action.
func (r *recorder) find(action string) []audit.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []audit.Event
	for _, e := range r.events {
		if e.Action == action {
			out = append(out, e)
		}
	}
	return out
}

// server is an API served on a real loopback socket.
type server struct {
	base   string
	logs   *syncBuffer
	reg    *prometheus.Registry
	client *http.Client
	tokens *authztest.Tokens
	audit  *recorder
	api    *api.API
	// handler serves requests in memory (benchmarks).
	handler fasthttp.RequestHandler
	// token is sent as the bearer when a request names none.
	token string
}

var testQRKey = []byte("0123456789abcdef0123456789abcdef-test-key")

// start serves an API built from d (Logger, Registry, IDs, ReadyTimeout,
// Authn, Audit and QR filled in when unset) on 127.0.0.1:0 until the test
// ends.
func start(t testing.TB, d api.Deps) *server {
	t.Helper()
	s := &server{logs: &syncBuffer{}, reg: prometheus.NewRegistry(), client: &http.Client{Timeout: 30 * time.Second}, tokens: authztest.New()}
	if d.Logger == nil {
		d.Logger = slog.New(slog.NewJSONHandler(s.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	if d.Registry == nil {
		d.Registry = s.reg
	} else {
		s.reg = d.Registry
	}
	if d.IDs == nil {
		d.IDs = requestid.NewGenerator(nil)
	}
	if d.ReadyTimeout == 0 {
		d.ReadyTimeout = 2 * time.Second
	}
	if d.Authn == nil {
		d.Authn = s.tokens
	}
	if d.Audit == nil {
		s.audit = &recorder{}
		d.Audit = s.audit
	}
	if d.QR == nil {
		signer, err := qr.New(testQRKey, time.Minute, 5*time.Second, d.Now)
		if err != nil {
			t.Fatal(err)
		}
		d.QR = signer
	}
	a, err := api.New(d)
	if err != nil {
		t.Fatalf("api.New: %v", err)
	}
	s.api = a
	s.handler = a.Handler()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := a.NewServer(api.ServerOptions{})
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		if err := srv.Shutdown(); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		// Shutdown does nothing when Serve has not registered the listener
		// yet; closing it ourselves makes Serve return in every case.
		_ = ln.Close()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	s.base = "http://" + ln.Addr().String()
	return s
}

// response is a fully read HTTP response.
type response struct {
	status int
	header http.Header
	body   []byte
}

// send makes a request with an optional JSON (or raw []byte/string) body;
// header "Authorization" "" sends none.
func (s *server) send(t testing.TB, method, path string, body any, header map[string]string) response {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	case string:
		rd = strings.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, s.base+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if s.token != "" {
		req.Header.Set("Authorization", "Bearer "+s.token)
	}
	for k, v := range header {
		if v == "" {
			req.Header.Del(k)
			continue
		}
		req.Header.Set(k, v)
	}
	res, err := s.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{status: res.StatusCode, header: res.Header, body: raw}
}

func (s *server) do(t testing.TB, method, path string, header map[string]string) response {
	t.Helper()
	return s.send(t, method, path, nil, header)
}

func (s *server) get(t *testing.T, path string) response {
	t.Helper()
	return s.do(t, http.MethodGet, path, nil)
}

// as returns a request helper authenticated with token.
func (s *server) as(token string) *client { return &client{s: s, token: token} }

// client sends requests as one principal.
type client struct {
	s     *server
	token string
}

func (c *client) auth() map[string]string {
	if c.token == "" {
		return map[string]string{"Authorization": ""}
	}
	return map[string]string{"Authorization": "Bearer " + c.token}
}

func (c *client) get(t *testing.T, path string) response {
	t.Helper()
	return c.s.send(t, http.MethodGet, path, nil, c.auth())
}

func (c *client) send(t *testing.T, method, path string, body any) response {
	t.Helper()
	return c.s.send(t, method, path, body, c.auth())
}

// ok decodes a 2xx response of the given status into v (when not nil).
func ok(t *testing.T, r response, status int, v any) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d; body %s", r.status, status, r.body)
	}
	if v != nil {
		if err := json.Unmarshal(r.body, v); err != nil {
			t.Fatalf("body %s: %v", r.body, err)
		}
	}
}

// problemOf decodes a problem response, checking the media type and that
// its request id matches the X-Request-ID header.
func problemOf(t *testing.T, r response, status int) problem.Problem {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d; body %s", r.status, status, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != problem.ContentType {
		t.Fatalf("Content-Type %q, want %q", ct, problem.ContentType)
	}
	var p problem.Problem
	if err := json.Unmarshal(r.body, &p); err != nil {
		t.Fatalf("problem body %s: %v", r.body, err)
	}
	if p.Status != status || !strings.HasPrefix(p.Type, problem.TypeBase) || p.Title == "" {
		t.Fatalf("malformed problem %+v", p)
	}
	if id := r.header.Get(requestid.Header); id == "" || p.RequestID != id {
		t.Fatalf("problem request_id %q, header %q", p.RequestID, id)
	}
	if cc := r.header.Get("Cache-Control"); cc != "no-store" {
		t.Fatalf("problem Cache-Control %q", cc)
	}
	return p
}

// fieldsOf lists the fields named by a validation problem.
func fieldsOf(p problem.Problem) []string {
	out := make([]string, len(p.Errors))
	for i, e := range p.Errors {
		out[i] = e.Field
	}
	return out
}

func discardLogger() *slog.Logger { return slog.New(slog.NewJSONHandler(io.Discard, nil)) }

func idGen() *requestid.Generator { return requestid.NewGenerator(nil) }

func bufioReader(r io.Reader) *bufio.Reader { return bufio.NewReader(r) }

// poll calls f until it returns true or within passes.
func poll(t *testing.T, within time.Duration, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", within, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
