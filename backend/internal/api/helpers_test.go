package api_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/campshub360/edge/shared/problem"
	"github.com/campshub360/edge/shared/requestid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/google/uuid"
	"github.com/valyala/fasthttp"

	"github.com/campshub360/edge/backend/internal/api"
	"github.com/campshub360/edge/backend/internal/authz"
	"github.com/campshub360/edge/backend/internal/authz/authztest"
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

// server is an API served on a real loopback socket.
type server struct {
	base   string
	logs   *syncBuffer
	reg    *prometheus.Registry
	client *http.Client
	// handler serves requests in memory (benchmarks).
	handler fasthttp.RequestHandler
	// token is sent as a bearer token on every request that sets no
	// Authorization header of its own (an admin principal unless the test
	// brought its own authenticator).
	token string
}

// adminToken is the bearer start gives tests that bring no authenticator.
const adminToken = "test-admin"

// start serves an API built from d (Logger, Registry, IDs and ReadyTimeout
// filled in when unset) on 127.0.0.1:0 until the test ends.
func start(t testing.TB, d api.Deps) *server {
	t.Helper()
	s := &server{logs: &syncBuffer{}, reg: prometheus.NewRegistry(), client: &http.Client{Timeout: 30 * time.Second}}
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
		toks := authztest.New()
		s.token = toks.Add(adminToken, &authz.Principal{UserID: uuid.New(), Role: authz.RoleAdmin})
		d.Authn = toks
	}
	a, err := api.New(d)
	if err != nil {
		t.Fatalf("api.New: %v", err)
	}
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

func (s *server) do(t testing.TB, method, path string, header map[string]string) response {
	t.Helper()
	req, err := http.NewRequest(method, s.base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, own := header["Authorization"]; !own && s.token != "" {
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
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{status: res.StatusCode, header: res.Header, body: body}
}

func (s *server) get(t *testing.T, path string) response {
	t.Helper()
	return s.do(t, http.MethodGet, path, nil)
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
