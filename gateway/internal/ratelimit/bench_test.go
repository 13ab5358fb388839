package ratelimit

import (
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"

	"github.com/campshub360/edge/gateway/internal/exchange"
)

// benchLocal measures the allowed path of the rate-limit stage with a
// local policy over `keys` distinct client IPs (a never-rejecting rate).
func benchLocal(b *testing.B, keys int) {
	e, err := New(Options{Registry: prometheus.NewRegistry()})
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	g, err := e.Compile(Settings{MaxKeys: max(keys*2, 1<<16), Policies: []PolicySpec{perIP("per-ip", 1e6, 1e6)}})
	if err != nil {
		b.Fatal(err)
	}
	r, _ := g.Route([]string{"per-ip"})
	stage := g.Middleware(func(*exchange.Exchange) *Route { return r }, func(*fasthttp.RequestCtx) {})
	ips := make([]netip.Addr, keys)
	for i := range ips {
		var a [4]byte
		binary.BigEndian.PutUint32(a[:], uint32(0x0a000000+i))
		ips[i] = netip.AddrFrom4(a)
	}
	ctx := request("192.0.2.1:1")
	ex := exchange.From(ctx)
	for _, ip := range ips { // every key has its bucket before timing
		ex.ClientIP = ip
		stage(ctx)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		ex.ClientIP = ips[i%keys]
		stage(ctx)
	}
}

func BenchmarkLocalAllowed1Key(b *testing.B)         { benchLocal(b, 1) }
func BenchmarkLocalAllowed1MillionKeys(b *testing.B) { benchLocal(b, 1_000_000) }

// BenchmarkSharedRedis measures shared-policy decisions against the Redis
// of TEST_REDIS_URL: "roundtrip" forces one GCRA script per request (a
// budget with no room for leases), "leased" lets a client plainly under its
// limit spend leases.
func BenchmarkSharedRedis(b *testing.B) {
	for _, tc := range []struct {
		name  string
		burst int
	}{{"roundtrip", 1}, {"leased", 1_000_000}} {
		b.Run(tc.name, func(b *testing.B) {
			rdb := benchRedis(b)
			e, err := New(Options{Redis: rdb, KeyPrefix: "bench:" + tc.name + ":", Registry: prometheus.NewRegistry()})
			if err != nil {
				b.Fatal(err)
			}
			defer e.Close()
			e.Heartbeat()
			g, err := e.Compile(Settings{MaxKeys: 1 << 16, StoreTimeout: time.Second,
				Policies: []PolicySpec{{Name: "p", PerSecond: 1e6, Burst: tc.burst, Key: []string{"ip"}, Shared: true}}})
			if err != nil {
				b.Fatal(err)
			}
			p := g.policies["p"]
			b.ReportAllocs()
			b.SetParallelism(4)
			b.RunParallel(func(pb *testing.PB) {
				key := []byte("client")
				for pb.Next() {
					p.decide(e.clock.Now(), key, 1)
				}
			})
			b.ReportMetric(float64(e.store.trips.Load())/float64(b.N), "trips/op")
		})
	}
}
