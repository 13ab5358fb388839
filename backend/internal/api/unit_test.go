package api_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"

	"github.com/campshub360/edge/backend/internal/api"
	"github.com/campshub360/edge/backend/internal/authz"
	"github.com/campshub360/edge/backend/internal/domain"
	"github.com/campshub360/edge/backend/internal/qr"
)

func testSigner(t testing.TB) *qr.Signer {
	t.Helper()
	s, err := qr.New(testQRKey, time.Minute, 5*time.Second, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// fakeStore answers the student reads from a fixed list, or with err, or
// panics; every other method of domain.Store is the nil embedded
// interface's (a test calling one fails loudly).
type fakeStore struct {
	domain.Store
	students []domain.Student
	err      error
	panic    bool
}

func (f fakeStore) ListStudents(ctx context.Context, _ domain.Scope, q domain.StudentQuery) (domain.Page[domain.Student], error) {
	if f.panic {
		panic("boom: secret internals")
	}
	if f.err != nil {
		return domain.Page[domain.Student]{}, f.err
	}
	if _, ok := ctx.Deadline(); ok {
		return domain.Page[domain.Student]{}, errors.New("the API must leave deadlines to the store")
	}
	var out domain.Page[domain.Student]
	for _, s := range f.students {
		if q.Page.After != nil && s.RollNumber <= q.Page.After.Sort {
			continue
		}
		if len(out.Items) == q.Page.Limit {
			last := out.Items[len(out.Items)-1]
			out.Next = &domain.Key{Sort: last.RollNumber, ID: last.ID}
			break
		}
		out.Items = append(out.Items, s)
	}
	return out, nil
}

func (f fakeStore) StudentByID(ctx context.Context, _ domain.Scope, id uuid.UUID) (domain.Student, error) {
	if f.err != nil {
		return domain.Student{}, f.err
	}
	for _, s := range f.students {
		if s.ID == id {
			return s, nil
		}
	}
	return domain.Student{}, domain.ErrNotFound
}

// startFake serves the API over store with an administrator's token sent
// by default.
func startFake(t *testing.T, d api.Deps) *server {
	t.Helper()
	srv := start(t, d)
	srv.token = srv.tokens.Add("tok-admin", &authz.Principal{UserID: uuid.New(), Role: authz.RoleAdmin})
	return srv
}

func TestPanicBecomesInternalProblem(t *testing.T) {
	t.Parallel()
	srv := startFake(t, api.Deps{Store: fakeStore{panic: true}})
	p := problemOf(t, srv.get(t, "/api/v1/students"), 500)
	if strings.Contains(p.Detail, "boom") || strings.Contains(p.Detail, "secret") {
		t.Fatalf("panic text leaked: %+v", p)
	}
	logs := srv.logs.String()
	if !strings.Contains(logs, "panic serving request") || !strings.Contains(logs, p.RequestID) {
		t.Fatalf("panic not logged with its request id:\n%s", logs)
	}
	// The server keeps serving.
	if r := srv.get(t, "/health/"); r.status != 200 {
		t.Fatalf("after a panic /health/ answers %d", r.status)
	}
}

func TestErrorMapping(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		err    error
		status int
		slug   string
	}{
		{fmt.Errorf("list students: %w", errors.New(`pq: relation "students" SELECT secret`)), 500, "/internal"},
		{fmt.Errorf("list students: %w: %w", domain.ErrUnavailable, context.DeadlineExceeded), 503, "/unavailable"},
		{domain.ErrNotFound, 404, "/not-found"},
		{domain.Invalid("department", domain.UnknownDepartmentMessage), 400, "/validation"},
		// The backstop for text the database refuses (SQLSTATE 22021).
		{fmt.Errorf("list students: %w: %w", domain.ErrUnstorableText, errors.New(`invalid byte sequence 0x00 secret`)), 400, "/validation"},
	} {
		srv := startFake(t, api.Deps{Store: fakeStore{err: tc.err}})
		r := srv.get(t, "/api/v1/students")
		p := problemOf(t, r, tc.status)
		if !strings.HasSuffix(p.Type, tc.slug) {
			t.Errorf("%v: type %s, want suffix %s", tc.err, p.Type, tc.slug)
		}
		if strings.Contains(string(r.body), "secret") || strings.Contains(string(r.body), "deadline") {
			t.Errorf("%v: internal text in body %s", tc.err, r.body)
		}
		if r.header.Get("Cache-Control") != "no-store" {
			t.Errorf("%v: problem cacheable: %q", tc.err, r.header.Get("Cache-Control"))
		}
		if tc.status == 500 && !strings.Contains(srv.logs.String(), "secret") {
			t.Errorf("internal error not logged with its cause")
		}
		if tc.status == 503 && r.header.Get("Retry-After") == "" {
			t.Errorf("503 without Retry-After")
		}
	}
}

func TestPaginationOverFake(t *testing.T) {
	t.Parallel()
	var students []domain.Student
	for i := range 10 {
		students = append(students, domain.Student{ID: uuid.New(), RollNumber: fmt.Sprintf("CSE2024A%03d", i+1),
			FirstName: "A", LastName: "B", Department: "CSE", Program: "BTECH-CSE", YearOfStudy: 3, Section: "A",
			Status: domain.StudentActive, CreatedAt: time.Now(), UpdatedAt: time.Now()})
	}
	srv := startFake(t, api.Deps{Store: fakeStore{students: students}})
	p := decodePage(t, srv.get(t, "/api/v1/students?limit=4"))
	if len(p.Items) != 4 || p.NextCursor == nil || p.Items[0].Email != nil {
		t.Fatalf("first page: %+v", p)
	}
	p = decodePage(t, srv.get(t, "/api/v1/students?limit=4&cursor="+*p.NextCursor))
	if len(p.Items) != 4 || p.Items[0].RollNumber != "CSE2024A005" {
		t.Fatalf("second page: %+v", p)
	}
}

func TestNewValidatesDeps(t *testing.T) {
	t.Parallel()
	if _, err := api.New(api.Deps{}); err == nil {
		t.Fatal("api.New accepted empty Deps")
	}
	// Registering the metrics twice on one registry is an error, not a panic.
	reg := prometheus.NewRegistry()
	srv := start(t, api.Deps{Store: fakeStore{}, Registry: reg})
	if _, err := api.New(api.Deps{Store: fakeStore{}, Registry: reg, Logger: discardLogger(), IDs: idGen(), ReadyTimeout: time.Second,
		Authn: srv.tokens, Audit: &recorder{}, QR: testSigner(t)}); err == nil {
		t.Fatal("second api.New on the same registry succeeded")
	}
}

func TestMalformedRequestGetsProblem(t *testing.T) {
	t.Parallel()
	srv := start(t, api.Deps{Store: fakeStore{}})
	conn, err := net.Dial("tcp", strings.TrimPrefix(srv.base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := conn.Write([]byte("GET /health/ HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	var resp fasthttp.Response
	if err := resp.Read(bufioReader(conn)); err != nil {
		t.Fatalf("reading response: %v", err)
	}
	if resp.StatusCode() != 400 || string(resp.Header.ContentType()) != "application/problem+json" || len(resp.Header.Peek("X-Request-ID")) == 0 {
		t.Fatalf("malformed request: %d %s %s", resp.StatusCode(), resp.Header.ContentType(), resp.Body())
	}
}

// Without a personal data vault the API refuses personal data rather than
// storing it unsealed (and never reaches the store).
func TestPersonalDataRefusedWithoutVault(t *testing.T) {
	t.Parallel()
	srv := startFake(t, api.Deps{Store: fakeStore{}})
	body := map[string]any{"roll_number": "ZZ2026A009", "first_name": "A", "last_name": "B", "program": "BTECH-CSE",
		"year_of_study": 1, "section": "A", "date_of_birth": "2006-05-01"}
	p := problemOf(t, srv.send(t, "POST", "/api/v1/students", body, nil), 400)
	if len(p.Errors) != 1 || p.Errors[0].Field != "date_of_birth" || !strings.Contains(p.Errors[0].Message, "encryption key") {
		t.Fatalf("problem %+v", p)
	}
}
