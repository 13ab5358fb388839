package api_test

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"

	"github.com/campshub360/edge/backend/internal/api"
	"github.com/campshub360/edge/backend/internal/authz"
	"github.com/campshub360/edge/backend/internal/authz/authztest"
	"github.com/campshub360/edge/backend/internal/domain"
)

// BenchmarkListStudents measures the handler chain and JSON encoding of a
// 50-item page (the store is an in-memory fake, so this is the API's own
// cost per request).
func BenchmarkListStudents(b *testing.B) {
	var students []domain.Student
	now := time.Now()
	for i := range 200 {
		students = append(students, domain.Student{ID: uuid.New(), RollNumber: fmt.Sprintf("CSE2024A%03d", i+1),
			FirstName: "Aarav", LastName: "Sharma", Email: fmt.Sprintf("aarav.sharma%d@students.campshub360.example", i),
			Department: "CSE", Program: "BTECH-CSE", YearOfStudy: 3, Section: "A",
			Status: domain.StudentActive, CreatedAt: now, UpdatedAt: now})
	}
	tokens := authztest.New()
	a, err := api.New(api.Deps{
		Store:        fakeStore{students: students},
		Authn:        tokens,
		Audit:        &recorder{},
		QR:           testSigner(b),
		ReadyTimeout: time.Second,
		Logger:       slog.New(slog.NewJSONHandler(io.Discard, nil)),
		Registry:     prometheus.NewRegistry(),
		IDs:          idGen(),
	})
	if err != nil {
		b.Fatal(err)
	}
	h := a.Handler()
	var req fasthttp.Request
	req.SetRequestURI("/api/v1/students?limit=50&department=CSE")
	req.Header.Set("Authorization", "Bearer "+tokens.Add("tok", &authz.Principal{Role: authz.RoleAdmin}))
	remote := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}
	var ctx fasthttp.RequestCtx
	b.ReportAllocs()
	for b.Loop() {
		ctx.Init(&req, remote, nil)
		h(&ctx)
		if ctx.Response.StatusCode() != 200 {
			b.Fatalf("status %d: %s", ctx.Response.StatusCode(), ctx.Response.Body())
		}
	}
}
