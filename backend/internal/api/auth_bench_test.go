package api_test

import (
	"context"
	"net"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
	"golang.org/x/crypto/bcrypt"

	"github.com/campshub360/edge/backend/internal/auth"
)

// benchCost is the bcrypt cost of BenchmarkLogin: BENCH_BCRYPT_COST, else
// the server's default (AUTH_BCRYPT_COST 12).
func benchCost() int {
	if n, err := strconv.Atoi(os.Getenv("BENCH_BCRYPT_COST")); err == nil {
		return n
	}
	return 12
}

// BenchmarkLogin measures POST /api/v1/auth/login end to end over a real
// socket and PostgreSQL: bcrypt at the configured cost dominates.
func BenchmarkLogin(b *testing.B) {
	cost := benchCost()
	st := newStack(b, stackOptions{cost: cost})
	hash, _ := bcrypt.GenerateFromPassword([]byte(goodPassword), cost)
	if _, err := st.db.Pool.Exec(context.Background(), `INSERT INTO users (email, password_hash, role) VALUES ('bench@staff.example', $1, 'registrar')`, string(hash)); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		st.login(b, "bench@staff.example", goodPassword)
	}
	b.ReportMetric(float64(cost), "bcrypt-cost")
}

// BenchmarkRefresh measures POST /api/v1/auth/refresh (rotation in one
// transaction, a new signed access token) over a real socket.
func BenchmarkRefresh(b *testing.B) {
	st := newStack(b, stackOptions{})
	st.user(b, "bench@staff.example", "registrar", goodPassword, false)
	tk := st.login(b, "bench@staff.example", goodPassword)
	refresh := tk.RefreshToken
	for b.Loop() {
		var next tokens
		if r := st.call(b, "POST", "/api/v1/auth/refresh", "", map[string]string{"refresh_token": refresh}, &next); r.status != 200 {
			b.Fatalf("refresh: %d %s", r.status, r.body)
		}
		refresh = next.RefreshToken
	}
}

// BenchmarkAuthenticate measures the authentication of one request with
// a bearer token: "cached" as the server runs (signature verified once per
// token, user state and revocation reused for AUTH_STATE_CACHE_TTL),
// "uncached" reading the user from PostgreSQL and the denylist from Redis
// on every request, and "verify-only" the bare Ed25519 JWT check.
func BenchmarkAuthenticate(b *testing.B) {
	for _, tc := range []struct {
		name string
		ttl  time.Duration
	}{{"cached", time.Second}, {"uncached", 0}} {
		b.Run(tc.name, func(b *testing.B) {
			st := newStack(b, stackOptions{stateTTL: tc.ttl})
			st.user(b, "bench@staff.example", "registrar", goodPassword, false)
			tk := st.login(b, "bench@staff.example", goodPassword)
			var ctx fasthttp.RequestCtx
			var req fasthttp.Request
			req.Header.Set("Authorization", "Bearer "+tk.AccessToken)
			ctx.Init(&req, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)}, nil)
			b.ReportAllocs()
			for b.Loop() {
				st.clock.Add(time.Microsecond) // keep cache ages real
				if p, err := st.authn.Authenticate(&ctx); err != nil || p == nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("verify-only", func(b *testing.B) {
		st := newStack(b, stackOptions{})
		st.user(b, "bench@staff.example", "registrar", goodPassword, false)
		tk := st.login(b, "bench@staff.example", goodPassword)
		v := verifierOf(st)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := v(tk.AccessToken); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkAuthorizationOverhead serves GET /api/v1/students?limit=50 in
// memory against PostgreSQL with a real bearer token through the whole
// chain, and the authentication step alone on the same request; it
// reports authentication as a percentage of the request (the goal: under
// 2%).
func BenchmarkAuthorizationOverhead(b *testing.B) {
	st := newStackOn(b, seededDB(b, 500), stackOptions{stateTTL: time.Second})
	st.user(b, "bench@staff.example", "registrar", goodPassword, false)
	tk := st.login(b, "bench@staff.example", goodPassword)
	var req fasthttp.Request
	req.SetRequestURI("/api/v1/students?limit=50")
	req.Header.Set("Authorization", "Bearer "+tk.AccessToken)
	remote := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}
	var ctx fasthttp.RequestCtx
	run := func(n int, f func()) time.Duration {
		start := time.Now()
		for i := 0; i < n; i++ {
			f()
		}
		return time.Since(start) / time.Duration(n)
	}
	list := func() {
		ctx.Init(&req, remote, nil)
		st.handler(&ctx)
		if ctx.Response.StatusCode() != 200 {
			b.Fatalf("status %d: %s", ctx.Response.StatusCode(), ctx.Response.Body())
		}
	}
	authn := func() {
		ctx.Init(&req, remote, nil)
		if _, err := st.authn.Authenticate(&ctx); err != nil {
			b.Fatal(err)
		}
	}
	list()
	var listT, authT time.Duration
	for b.Loop() {
		listT += run(20, list)
		authT += run(200, authn)
	}
	b.ReportMetric(float64(listT.Nanoseconds())/float64(b.N), "list-ns/op")
	b.ReportMetric(float64(authT.Nanoseconds())/float64(b.N), "authn-ns/op")
	b.ReportMetric(100*float64(authT)/float64(listT), "authn-%")
}

// verifierOf returns a bare token verifier over the stack's keys.
func verifierOf(st *stack) func(string) (any, error) {
	v := auth.NewTokenVerifier(st.keys, "campshub360", "campus-api", 5*time.Second, st.clock.Now)
	return func(tok string) (any, error) { return v.Verify(tok) }
}
