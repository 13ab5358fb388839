package observe

import (
	"io"
	"log/slog"
	"net/netip"
	"testing"
	"time"
)

// The access log was first written with log/slog's JSON handler; these
// benchmarks compare it with the pooled line writer that replaced it, for
// the same fields (figures in benchmarks/RESULTS.md: slog about 6x the
// time and 6 allocations per line, the line writer none).

var (
	benchID   = []byte("0190b8a2-7c1e-7000-8000-000000000000")
	benchIP   = netip.MustParseAddr("198.51.100.7")
	benchPath = []byte("/api/v1/students")
)

func BenchmarkAccessLineSlog(b *testing.B) {
	l := slog.New(slog.NewJSONHandler(io.Discard, nil))
	now := time.Now()
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		l.LogAttrs(nil, slog.LevelInfo, "access",
			slog.Time("time", now),
			slog.String("request_id", string(benchID)),
			slog.String("client_ip", benchIP.String()),
			slog.String("method", "GET"),
			slog.String("route", "api"),
			slog.String("path", string(benchPath)),
			slog.Int("status", 200),
			slog.Int("bytes_in", 0),
			slog.Int("bytes_out", 2048),
			slog.String("upstream", "campus"),
			slog.String("instance", "127.0.0.1:9001"),
			slog.Int("attempts", 1),
			slog.Float64("duration_ms", 1.234),
			slog.Float64("upstream_ms", 1.1),
			slog.String("cache", ""),
			slog.String("ratelimit", ""),
		)
	}
}

func BenchmarkAccessLine(b *testing.B) {
	l := NewAccessLog(io.Discard, 0, time.Hour)
	defer l.Close()
	now := time.Now()
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		ln := l.Begin()
		ln.Time("time", now)
		ln.Bytes("request_id", benchID)
		ln.key("client_ip")
		ln.b = append(ln.b, '"')
		ln.b = benchIP.AppendTo(ln.b)
		ln.b = append(ln.b, '"')
		ln.Str("method", "GET")
		ln.Str("route", "api")
		ln.Bytes("path", benchPath)
		ln.Int("status", 200)
		ln.Int("bytes_in", 0)
		ln.Int("bytes_out", 2048)
		ln.Str("upstream", "campus")
		ln.Str("instance", "127.0.0.1:9001")
		ln.Int("attempts", 1)
		ln.Millis("duration_ms", 1234*time.Microsecond)
		ln.Millis("upstream_ms", 1100*time.Microsecond)
		ln.Str("cache", "")
		ln.Str("ratelimit", "")
		l.Commit(ln)
	}
}
