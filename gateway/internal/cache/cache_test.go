package cache

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/valyala/fasthttp"
)

// userOrigin answers private per-user data derived from the token.
func userOrigin() fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) {
		ctx.Response.Header.Set("Cache-Control", "private, max-age=60")
		ctx.SetBodyString("record of " + strings.TrimPrefix(string(ctx.Request.Header.Peek("Authorization")), "Bearer "))
	}
}

func TestTwoUsersNeverSeeEachOthersPrivateData(t *testing.T) {
	o := startOrigin(t, userOrigin())
	g := startGW(t, o, gwOpts{perUser: true})
	as := func(user string) []string {
		return []string{"Authorization", "Bearer tok-" + user, "X-Test-Subject", "subject-" + user}
	}
	for round := 0; round < 3; round++ {
		for _, u := range []string{"alice", "bob"} {
			r := g.get(t, "/me", as(u)...)
			if r.body != "record of tok-"+u {
				t.Fatalf("round %d: %s got %q (Cache-Status %q)", round, u, r.body, r.cacheStatus())
			}
			if round > 0 && !r.isHit() {
				t.Fatalf("round %d: %s not served from the user partition: %q", round, u, r.cacheStatus())
			}
		}
	}
	if got := o.hits.Load(); got != 2 {
		t.Fatalf("origin hits %d, want 2 (one per user)", got)
	}
	// No verified subject: never served from a user partition, and the
	// private response is not stored for it.
	r := g.get(t, "/me", "Authorization", "Bearer tok-mallory")
	if r.body != "record of tok-mallory" || r.isHit() || strings.Contains(r.cacheStatus(), "stored") {
		t.Fatalf("unverified request: %q %q", r.body, r.cacheStatus())
	}
	// A forged subject header reaches nothing either: partitions are keyed
	// on the verified subject only (X-Test-Subject stands for it here).
	r = g.get(t, "/me", "Authorization", "Bearer tok-mallory", "X-Test-Subject", "subject-mallory")
	if r.body != "record of tok-mallory" {
		t.Fatalf("mallory got %q", r.body)
	}
	// Purging alice's partition leaves bob's.
	if _, err := g.c.Invalidate(Invalidation{Partitions: []string{"user:subject-alice"}}, SourceAdmin); err != nil {
		t.Fatal(err)
	}
	if r := g.get(t, "/me", as("alice")...); r.isHit() {
		t.Fatalf("alice's partition survived its purge: %q", r.cacheStatus())
	}
	if r := g.get(t, "/me", as("bob")...); !r.isHit() || r.body != "record of tok-bob" {
		t.Fatalf("bob's partition lost: %q %q", r.body, r.cacheStatus())
	}
}

func TestUserQuotaEvictsOnlyThatUsersEntries(t *testing.T) {
	body := strings.Repeat("x", 1000)
	o := startOrigin(t, fixed(body, "Cache-Control", "private, max-age=60"))
	g := startGW(t, o, gwOpts{perUser: true, quota: 5000})
	g.get(t, "/bob/1", "X-Test-Subject", "bob")
	for i := 0; i < 20; i++ {
		g.get(t, fmt.Sprintf("/alice/%d", i), "X-Test-Subject", "alice")
	}
	alice := g.c.PartitionFor("alice")
	g.c.store.idx.mu.Lock()
	used := g.c.store.idx.parts[alice].bytes
	g.c.store.idx.mu.Unlock()
	if used > 5000 {
		t.Fatalf("alice holds %d bytes over a 5000-byte quota", used)
	}
	if r := g.get(t, "/alice/19", "X-Test-Subject", "alice"); !r.isHit() {
		t.Fatalf("alice's newest entry evicted: %q", r.cacheStatus())
	}
	if r := g.get(t, "/alice/0", "X-Test-Subject", "alice"); r.isHit() {
		t.Fatal("alice's oldest entry kept past the quota")
	}
	if r := g.get(t, "/bob/1", "X-Test-Subject", "bob"); !r.isHit() {
		t.Fatalf("bob's entry evicted by alice: %q", r.cacheStatus())
	}
}

func TestForcedHashCollisionsNeverServeAnotherURL(t *testing.T) {
	o := startOrigin(t, func(ctx *fasthttp.RequestCtx) {
		ctx.Response.Header.Set("Cache-Control", "max-age=60")
		ctx.Response.Header.Set("Vary", "Accept-Language")
		ctx.SetBodyString(string(ctx.Path()) + "|" + string(ctx.Request.Header.Peek("Accept-Language")))
	})
	g := startGW(t, o, gwOpts{hash: func([]byte) uint64 { return 42 }})
	for i := 0; i < 30; i++ {
		for _, p := range []string{"/a", "/b", "/c"} {
			for _, lang := range []string{"en", "hi"} {
				r := g.get(t, p, "Accept-Language", lang)
				if want := p + "|" + lang; r.body != want {
					t.Fatalf("%s %s: got %q, want %q (Cache-Status %q)", p, lang, r.body, want, r.cacheStatus())
				}
			}
		}
	}
	// Every key collides, so each request replaced the single slot.
	if got := o.hits.Load(); got != 30*6 {
		t.Fatalf("origin hits %d, want %d: a colliding entry was served", got, 30*6)
	}
}

func TestCoalescesThousandConcurrentMissesIntoOneFetch(t *testing.T) {
	const n = 1000
	var g *gw
	o := startOrigin(t, nil)
	o.set(func(ctx *fasthttp.RequestCtx) {
		// Answer only once every other request waits on this fetch.
		deadline := time.Now().Add(20 * time.Second)
		for g.c.waiting.Load() < n-1 && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		ctx.Response.Header.Set("Cache-Control", "max-age=60")
		ctx.SetBodyString("roster")
	})
	g = startGW(t, o, gwOpts{wait: 30 * time.Second})
	var wg sync.WaitGroup
	var bad, collapsed atomic.Int64
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
			defer fasthttp.ReleaseRequest(req)
			defer fasthttp.ReleaseResponse(resp)
			req.SetRequestURI("http://campus.test/roster")
			if err := g.client.DoTimeout(req, resp, 40*time.Second); err != nil || string(resp.Body()) != "roster" {
				bad.Add(1)
				return
			}
			if strings.Contains(string(resp.Header.Peek("Cache-Status")), "collapsed") {
				collapsed.Add(1)
			}
		}()
	}
	wg.Wait()
	if bad.Load() != 0 {
		t.Fatalf("%d requests failed", bad.Load())
	}
	if got := o.hits.Load(); got != 1 {
		t.Fatalf("origin fetched %d times for %d concurrent misses", got, n)
	}
	if collapsed.Load() != n-1 {
		t.Fatalf("%d collapsed responses, want %d", collapsed.Load(), n-1)
	}
	if got := testutil.ToFloat64(g.c.metrics.requests.WithLabelValues("api", "coalesced")); got != n-1 {
		t.Fatalf("coalesced metric %v", got)
	}
}

func TestUncacheableResponseReleasesWaitersAndStopsSerialization(t *testing.T) {
	const n = 10
	var inflight, peak atomic.Int64
	release := make(chan struct{})
	var g *gw
	o := startOrigin(t, nil)
	o.set(func(ctx *fasthttp.RequestCtx) {
		cur := inflight.Add(1)
		defer inflight.Add(-1)
		for p := peak.Load(); cur > p && !peak.CompareAndSwap(p, cur); p = peak.Load() {
		}
		<-release
		ctx.Response.Header.Set("Cache-Control", "no-store")
		ctx.SetBodyString("live")
	})
	g = startGW(t, o, gwOpts{wait: 30 * time.Second})
	fire := func() *sync.WaitGroup {
		var wg sync.WaitGroup
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if r := g.get(t, "/live"); r.body != "live" {
					t.Errorf("got %q", r.body)
				}
			}()
		}
		return &wg
	}
	// Round 1: one leader, n-1 waiters; a no-store answer releases them at
	// once and they go to the origin themselves.
	wg := fire()
	waitFor(t, "waiters", func() bool { return g.c.waiting.Load() == n-1 && inflight.Load() == 1 })
	release <- struct{}{}
	waitFor(t, "released waiters at the origin", func() bool { return inflight.Load() == n-1 })
	for i := 0; i < n-1; i++ {
		release <- struct{}{}
	}
	wg.Wait()
	// Round 2: the hit-for-miss marker sends all n in parallel.
	peak.Store(0)
	wg = fire()
	waitFor(t, "parallel fetches under hit-for-miss", func() bool { return inflight.Load() == n })
	for i := 0; i < n; i++ {
		release <- struct{}{}
	}
	wg.Wait()
	if g.c.waiting.Load() != 0 {
		t.Fatal("requests still waiting")
	}
}

// rawOrigin answers every connection with the given bytes and closes it.
func rawOrigin(t *testing.T, response string) (string, *atomic.Int64) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var hits atomic.Int64
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					line, err := br.ReadString('\n')
					if err != nil || line == "\r\n" {
						break
					}
				}
				hits.Add(1)
				_, _ = io.WriteString(c, response)
			}()
		}
	}()
	t.Cleanup(func() { ln.Close() })
	return ln.Addr().String(), &hits
}

func TestTruncatedOrMisframedBodiesAreNeverStored(t *testing.T) {
	for name, raw := range map[string]string{
		"short content-length": "HTTP/1.1 200 OK\r\nCache-Control: max-age=60\r\nContent-Length: 100\r\n\r\n" + strings.Repeat("x", 50),
		"broken chunked":       "HTTP/1.1 200 OK\r\nCache-Control: max-age=60\r\nTransfer-Encoding: chunked\r\n\r\n10\r\nonly-part",
	} {
		t.Run(name, func(t *testing.T) {
			addr, hits := rawOrigin(t, raw)
			o := &origin{addr: addr}
			g := startGW(t, o, gwOpts{})
			for i := 1; i <= 3; i++ {
				r := g.get(t, "/r")
				if r.status != 502 || r.isHit() {
					t.Fatalf("request %d: %d %q", i, r.status, r.cacheStatus())
				}
				if hits.Load() != int64(i) {
					t.Fatalf("request %d: origin hits %d: a broken response was stored", i, hits.Load())
				}
			}
		})
	}
	t.Run("streamed body cut short", func(t *testing.T) {
		var hits atomic.Int64
		g := startGW(t, &origin{}, gwOpts{upstream: func(ctx *fasthttp.RequestCtx) {
			hits.Add(1)
			ctx.Response.Header.Set("Cache-Control", "max-age=60")
			ctx.Response.SetBodyStream(io.MultiReader(strings.NewReader("half"), errReader{}), 100)
		}})
		for i := 1; i <= 2; i++ {
			if r := g.get(t, "/r"); r.status != 502 {
				t.Fatalf("status %d body %q", r.status, r.body)
			}
		}
		if hits.Load() != 2 {
			t.Fatalf("hits %d", hits.Load())
		}
	})
	t.Run("streamed body whole is stored", func(t *testing.T) {
		var hits atomic.Int64
		g := startGW(t, &origin{}, gwOpts{upstream: func(ctx *fasthttp.RequestCtx) {
			hits.Add(1)
			ctx.Response.Header.Set("Cache-Control", "max-age=60")
			ctx.Response.SetBodyStream(strings.NewReader("whole body"), 10)
		}})
		g.get(t, "/r")
		if r := g.get(t, "/r"); !r.isHit() || r.body != "whole body" || hits.Load() != 1 {
			t.Fatalf("%q %q hits %d", r.body, r.cacheStatus(), hits.Load())
		}
	})
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("connection reset") }

func TestObjectsOverTheLimitAreNotStored(t *testing.T) {
	o := startOrigin(t, fixed(strings.Repeat("x", 5000), "Cache-Control", "max-age=60"))
	g := startGW(t, o, gwOpts{maxObject: 4096})
	if r := g.get(t, "/big"); !strings.Contains(r.cacheStatus(), "detail=too-large") {
		t.Fatalf("Cache-Status %q", r.cacheStatus())
	}
	g.get(t, "/big")
	if o.hits.Load() != 2 {
		t.Fatalf("hits %d", o.hits.Load())
	}
}

func TestPurgeByURLPrefixSurrogateKeyAndPartition(t *testing.T) {
	o := startOrigin(t, func(ctx *fasthttp.RequestCtx) {
		ctx.Response.Header.Set("Cache-Control", "public, max-age=60")
		switch {
		case strings.HasPrefix(string(ctx.Path()), "/sections/42"):
			ctx.Response.Header.Set("Surrogate-Key", "section:42 students")
		case strings.HasPrefix(string(ctx.Path()), "/sessions/"):
			ctx.Response.Header.Set("Surrogate-Key", "session:"+strings.TrimPrefix(string(ctx.Path()), "/sessions/"))
		}
		ctx.SetBodyString(string(ctx.RequestURI()))
	})
	g := startGW(t, o, gwOpts{})
	paths := []string{"/students?limit=5&after=9", "/students/7", "/sections/42/roster", "/sessions/1", "/sessions/2", "/courses"}
	fill := func() {
		for _, p := range paths {
			g.get(t, p)
		}
	}
	cached := func(p string) bool { return g.get(t, p, "Cache-Control", "only-if-cached").status == 200 }
	fill()
	cases := []struct {
		inv  Invalidation
		gone []string
	}{
		{Invalidation{URLs: []string{"https://CAMPUS.test:443/students?after=9&limit=5"}}, []string{"/students?limit=5&after=9"}},
		{Invalidation{URLs: []string{"/students/7"}}, []string{"/students/7"}},
		{Invalidation{Prefixes: []string{"/sessions/"}}, []string{"/sessions/1", "/sessions/2"}},
		{Invalidation{SurrogateKeys: []string{"section:42"}}, []string{"/sections/42/roster"}},
		{Invalidation{Partitions: []string{"public"}}, paths},
	}
	for i, tc := range cases {
		fill()
		n, err := g.c.Invalidate(tc.inv, SourceAdmin)
		if err != nil {
			t.Fatal(err)
		}
		if n < len(tc.gone) {
			t.Fatalf("case %d: purged %d entries, want at least %d", i, n, len(tc.gone))
		}
		for _, p := range paths {
			want := true
			for _, gp := range tc.gone {
				if gp == p {
					want = false
				}
			}
			if got := cached(p); got != want {
				t.Fatalf("case %d: %s cached=%v, want %v", i, p, got, want)
			}
		}
	}
	if _, err := g.c.Invalidate(Invalidation{URLs: []string{"students"}, Partitions: []string{"everyone"}}, SourceAdmin); err == nil {
		t.Fatal("malformed targets accepted")
	} else if es := err.(InvalidationErrors); len(es) != 2 || es[0].Field != "urls[0]" || es[1].Field != "partitions[0]" {
		t.Fatalf("errors %v", err)
	}
	if got := testutil.ToFloat64(g.c.metrics.invalidations.WithLabelValues(SourceAdmin)); got != 5 {
		t.Fatalf("invalidations metric %v", got)
	}
}

func TestRefreshAheadKeepsHotEntriesFresh(t *testing.T) {
	o := startOrigin(t, counting("Cache-Control", "max-age=100"))
	g := startGW(t, o, gwOpts{ahead: 0.2})
	g.get(t, "/hot")
	g.clock.Advance(50 * time.Second)
	g.get(t, "/hot")
	g.get(t, "/hot")
	if o.hits.Load() != 1 {
		t.Fatal("refreshed outside the window")
	}
	g.clock.Advance(35 * time.Second) // 15 s left, within 20 %
	if r := g.get(t, "/hot"); r.body != "v1" || !r.isHit() {
		t.Fatalf("%q %q", r.body, r.cacheStatus())
	}
	if r := g.get(t, "/hot"); r.body != "v1" || !r.isHit() {
		t.Fatalf("%q %q", r.body, r.cacheStatus())
	}
	waitFor(t, "refresh-ahead fetch", func() bool { return o.hits.Load() == 2 && len(g.c.bg) == 0 })
	g.clock.Advance(20 * time.Second) // past the first response's lifetime
	if r := g.get(t, "/hot"); r.body != "v2" || !r.isHit() {
		t.Fatalf("after refresh-ahead: %q %q", r.body, r.cacheStatus())
	}
}

func TestMetricsAreExported(t *testing.T) {
	o := startOrigin(t, fixed("v1", "Cache-Control", "max-age=60"))
	g := startGW(t, o, gwOpts{})
	g.get(t, "/m")
	g.get(t, "/m")
	g.get(t, "/m", "Range", "bytes=0-0")
	for res, want := range map[string]float64{"hit": 1, "miss": 1, "bypass": 1} {
		if got := testutil.ToFloat64(g.c.metrics.requests.WithLabelValues("api", res)); got != want {
			t.Fatalf("%s = %v, want %v", res, got, want)
		}
	}
	families, err := g.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, f := range families {
		names[f.GetName()] = true
	}
	for _, n := range []string{"gateway_cache_requests_total", "gateway_cache_bytes", "gateway_cache_entries",
		"gateway_cache_evictions_total", "gateway_cache_invalidations_total", "gateway_cache_fanout_degraded"} {
		if !names[n] {
			t.Fatalf("metric %s missing", n)
		}
	}
	if testutil.ToFloat64(g.c.metrics.entries) < 1 || testutil.ToFloat64(g.c.metrics.bytes) < 1 {
		t.Fatal("entries/bytes gauges empty")
	}
	if testutil.ToFloat64(g.c.metrics.degraded) != 1 {
		t.Fatal("fan-out without Redis not reported degraded")
	}
}

func TestEvictionUnderBudgetKeepsIndexConsistent(t *testing.T) {
	s, err := NewStore(StoreOptions{MaxBytes: 1 << 20, MaxObjectBytes: 16 << 10, LifeWindow: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	body := make([]byte, 10<<10)
	for i := 0; i < 500; i++ {
		e := Entry{Kind: KindResponse, Status: 200, Key: []byte(fmt.Sprintf("k%d", i)), Path: []byte(fmt.Sprintf("/p/%d", i)),
			Surrogate: []byte("all"), Body: body}
		if err := s.Put(&e, e.AppendBinary(nil)); err != nil {
			t.Fatal(err)
		}
	}
	if s.Bytes() > 1<<20 {
		t.Fatalf("store holds %d bytes over a 1 MiB budget", s.Bytes())
	}
	s.idx.mu.Lock()
	tagged := len(s.idx.tags["all"])
	s.idx.mu.Unlock()
	if int64(tagged) != s.Len() {
		t.Fatalf("index has %d tagged entries, store %d", tagged, s.Len())
	}
	if n := s.Purge(&Selector{SurrogateKeys: []string{"all"}}); int64(n) != int64(tagged) || s.Len() != 0 || s.Bytes() != 0 {
		t.Fatalf("purge left %d entries, %d bytes", s.Len(), s.Bytes())
	}
}

func TestWaitersWithAnotherVariantFetchThemselves(t *testing.T) {
	release := make(chan struct{})
	var g *gw
	o := startOrigin(t, nil)
	o.set(func(ctx *fasthttp.RequestCtx) {
		if string(ctx.Request.Header.Peek("Accept-Language")) == "en" {
			<-release
		}
		ctx.Response.Header.Set("Cache-Control", "max-age=60")
		ctx.Response.Header.Set("Vary", "Accept-Language")
		ctx.SetBodyString("lang=" + string(ctx.Request.Header.Peek("Accept-Language")))
	})
	g = startGW(t, o, gwOpts{wait: 30 * time.Second})
	done := make(chan reply, 2)
	go func() { done <- g.get(t, "/v", "Accept-Language", "en") }()
	waitFor(t, "leader at the origin", func() bool { return o.hits.Load() == 1 })
	go func() { done <- g.get(t, "/v", "Accept-Language", "hi") }()
	waitFor(t, "waiter", func() bool { return g.c.waiting.Load() == 1 })
	close(release)
	got := map[string]bool{}
	for i := 0; i < 2; i++ {
		got[(<-done).body] = true
	}
	if !got["lang=en"] || !got["lang=hi"] || o.hits.Load() != 2 {
		t.Fatalf("bodies %v, origin hits %d: a waiter was served another variant", got, o.hits.Load())
	}
}

func TestCrossOriginLocationIsNotInvalidated(t *testing.T) {
	o := startOrigin(t, func(ctx *fasthttp.RequestCtx) {
		if ctx.IsPut() {
			ctx.Response.Header.Set("Content-Location", "https://elsewhere.test/other")
			ctx.Response.Header.Set("Location", "http://campus.test/other") // another scheme
			ctx.SetStatusCode(200)
			return
		}
		ctx.Response.Header.Set("Cache-Control", "max-age=60")
		ctx.SetBodyString("v")
	})
	g := startGW(t, o, gwOpts{})
	g.get(t, "/other")
	g.do(t, "PUT", "/r")
	// The gateway saw plain HTTP, so "http://campus.test/other" is same
	// origin here and goes; a host elsewhere never does.
	if r := g.get(t, "/other"); r.isHit() {
		t.Fatal("same-origin Location not invalidated")
	}
	g.do(t, "PUT", "/r")
	o.set(func(ctx *fasthttp.RequestCtx) {
		if ctx.IsPut() {
			ctx.Response.Header.Set("Content-Location", "https://elsewhere.test/other")
			ctx.SetStatusCode(200)
			return
		}
		ctx.Response.Header.Set("Cache-Control", "max-age=60")
		ctx.SetBodyString("v")
	})
	g.get(t, "/other")
	g.do(t, "PUT", "/r")
	if r := g.get(t, "/other"); !r.isHit() {
		t.Fatalf("cross-origin Content-Location invalidated /other: %q", r.cacheStatus())
	}
}
