package cache

import (
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// step is one request of a conformance case and what must follow.
type step struct {
	advance time.Duration           // clock moves first
	origin  fasthttp.RequestHandler // origin behaviour from this step on
	method  string                  // default GET
	path    string                  // default /r
	hdr     []string                // request header pairs
	status  int                     // expected status (default 200)
	body    *string                 // expected body, when set
	cs      []string                // substrings of Cache-Status
	notCS   []string                // substrings Cache-Status must lack
	hits    int64                   // origin hits after the step
	// waitHits, when set, is polled for after the step (background work).
	waitHits int64
	check    func(t *testing.T, r reply, o *origin)
}

type conformanceCase struct {
	name    string
	origin  fasthttp.RequestHandler
	perUser bool
	steps   []step
}

func str(s string) *string { return &s }

// validating answers 304 when If-None-Match carries etag, else 200.
func validating(body, etag string, hdr ...string) fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) {
		for i := 0; i+1 < len(hdr); i += 2 {
			ctx.Response.Header.Add(hdr[i], hdr[i+1])
		}
		ctx.Response.Header.Set("ETag", etag)
		if string(ctx.Request.Header.Peek("If-None-Match")) == etag {
			ctx.SetStatusCode(fasthttp.StatusNotModified)
			return
		}
		ctx.SetContentType("text/plain")
		ctx.SetBodyString(body)
	}
}

func status(code int, hdr ...string) fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) {
		for i := 0; i+1 < len(hdr); i += 2 {
			ctx.Response.Header.Add(hdr[i], hdr[i+1])
		}
		ctx.SetStatusCode(code)
		ctx.SetBodyString(fmt.Sprintf("status %d", code))
	}
}

// counting answers "v1", "v2", ... with the given headers.
func counting(hdr ...string) fasthttp.RequestHandler {
	var n atomic.Int64
	return func(ctx *fasthttp.RequestCtx) {
		for i := 0; i+1 < len(hdr); i += 2 {
			ctx.Response.Header.Add(hdr[i], hdr[i+1])
		}
		ctx.SetBodyString(fmt.Sprintf("v%d", n.Add(1)))
	}
}

func TestConformance(t *testing.T) {
	lm := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	lmText := lm.Format(http.TimeFormat)
	cases := []conformanceCase{
		{name: "max-age: fresh hit, stale refetch", origin: fixed("v1", "Cache-Control", "max-age=60"), steps: []step{
			{body: str("v1"), cs: []string{"fwd=uri-miss", "fwd-status=200", "stored", "ttl="}, hits: 1},
			{body: str("v1"), cs: []string{"; hit", "ttl="}, hits: 1, check: func(t *testing.T, r reply, _ *origin) {
				if r.get("Age") == "" {
					t.Fatal("hit without Age")
				}
			}},
			{advance: 30 * time.Second, cs: []string{"; hit"}, hits: 1, check: func(t *testing.T, r reply, _ *origin) {
				if a := r.get("Age"); a != "30" && a != "31" {
					t.Fatalf("Age %q after 30 s", a)
				}
			}},
			{advance: 40 * time.Second, cs: []string{"fwd=stale", "stored"}, hits: 2},
		}},
		{name: "s-maxage wins over max-age in a shared cache", origin: fixed("v1", "Cache-Control", "max-age=1, s-maxage=60"), steps: []step{
			{hits: 1}, {advance: 30 * time.Second, cs: []string{"; hit"}, hits: 1},
		}},
		{name: "Expires minus Date", origin: func(ctx *fasthttp.RequestCtx) {
			ctx.Response.Header.Set("Expires", time.Now().Add(60*time.Second).UTC().Format(http.TimeFormat))
			ctx.SetBodyString("v1")
		}, steps: []step{
			{hits: 1}, {advance: 20 * time.Second, cs: []string{"; hit"}, hits: 1},
			{advance: 60 * time.Second, cs: []string{"fwd=stale"}, hits: 2},
		}},
		{name: "no-store is never stored", origin: fixed("v1", "Cache-Control", "no-store, max-age=60"), steps: []step{
			{cs: []string{"fwd=uri-miss", "detail=no-store"}, notCS: []string{"stored"}, hits: 1},
			{cs: []string{"detail=hit-for-miss"}, hits: 2},
		}},
		{name: "private is not stored in the shared partition", origin: fixed("v1", "Cache-Control", "private, max-age=60"), steps: []step{
			{cs: []string{"detail=private"}, hits: 1}, {hits: 2},
		}},
		{name: "no explicit freshness is not stored", origin: fixed("v1", "Last-Modified", "Mon, 01 Jan 2024 00:00:00 GMT"), steps: []step{
			{cs: []string{"detail=no-explicit-freshness"}, hits: 1}, {hits: 2},
		}},
		{name: "no-cache is stored and revalidated every time", origin: validating("v1", `"e1"`, "Cache-Control", "no-cache"), steps: []step{
			{body: str("v1"), cs: []string{"stored"}, hits: 1},
			{body: str("v1"), cs: []string{"fwd=stale", "fwd-status=304"}, hits: 2, check: func(t *testing.T, _ reply, o *origin) {
				if v := o.seen("If-None-Match"); len(v) != 1 || v[0] != `"e1"` {
					t.Fatalf("origin saw If-None-Match %v", v)
				}
			}},
			{body: str("v1"), cs: []string{"fwd=stale"}, hits: 3},
		}},
		{name: "Vary: * is never stored", origin: fixed("v1", "Cache-Control", "max-age=60", "Vary", "*"), steps: []step{
			{cs: []string{"detail=vary-star"}, hits: 1}, {hits: 2},
		}},
		{name: "Vary on a credential is never stored", origin: fixed("v1", "Cache-Control", "max-age=60", "Vary", "Cookie"), steps: []step{
			{cs: []string{"detail=vary-credential"}, hits: 1},
		}},
		{name: "must-revalidate: no stale on error", origin: fixed("v1", "Cache-Control", "max-age=10, must-revalidate, stale-if-error=60"), steps: []step{
			{hits: 1},
			{advance: 20 * time.Second, origin: status(500), status: 500, hits: 2},
		}},
		{name: "stale-if-error serves stale on 5xx within the window", origin: fixed("v1", "Cache-Control", "max-age=10, stale-if-error=60"), steps: []step{
			{hits: 1},
			{advance: 20 * time.Second, origin: status(503), body: str("v1"), cs: []string{"fwd=stale", "fwd-status=503", "detail=stale-if-error"}, hits: 2},
			{advance: 100 * time.Second, status: 503, hits: 3},
		}},
		{name: "request stale-if-error", origin: fixed("v1", "Cache-Control", "max-age=10"), steps: []step{
			{hits: 1},
			{advance: 20 * time.Second, origin: status(502), status: 502, hits: 2},
			{hdr: []string{"Cache-Control", "stale-if-error=60"}, body: str("v1"), cs: []string{"fwd=stale"}, hits: 3},
		}},
		{name: "stale-while-revalidate serves stale and refreshes once in the background", origin: counting("Cache-Control", "max-age=10, stale-while-revalidate=60"), steps: []step{
			{body: str("v1"), hits: 1},
			{advance: 20 * time.Second, body: str("v1"), cs: []string{"; hit", "detail=stale-while-revalidate"}, waitHits: 2},
			{body: str("v2"), cs: []string{"; hit"}, hits: 2},
		}},
		{name: "request max-age=0 forwards", origin: fixed("v1", "Cache-Control", "max-age=60"), steps: []step{
			{hits: 1}, {advance: time.Second, hdr: []string{"Cache-Control", "max-age=0"}, cs: []string{"fwd=request"}, hits: 2},
			{cs: []string{"; hit"}, hits: 2},
		}},
		{name: "request no-store is neither served from nor stored", origin: fixed("v1", "Cache-Control", "max-age=60"), steps: []step{
			{hdr: []string{"Cache-Control", "no-store"}, cs: []string{"fwd=request", "detail=request-no-store"}, hits: 1},
			{cs: []string{"fwd=uri-miss", "stored"}, hits: 2},
			{hdr: []string{"Cache-Control", "no-store"}, cs: []string{"fwd=request"}, hits: 3},
		}},
		{name: "request no-cache forwards with the stored validator", origin: validating("v1", `"e1"`, "Cache-Control", "max-age=60"), steps: []step{
			{hits: 1}, {hdr: []string{"Cache-Control", "no-cache"}, body: str("v1"), cs: []string{"fwd=request", "fwd-status=304"}, hits: 2},
		}},
		{name: "max-stale accepts stale within its bound", origin: fixed("v1", "Cache-Control", "max-age=10"), steps: []step{
			{hits: 1},
			{advance: 20 * time.Second, hdr: []string{"Cache-Control", "max-stale=30"}, cs: []string{"; hit"}, hits: 1},
			{hdr: []string{"Cache-Control", "max-stale"}, cs: []string{"; hit"}, hits: 1},
			{hdr: []string{"Cache-Control", "max-stale=2"}, cs: []string{"fwd=stale"}, hits: 2},
		}},
		{name: "min-fresh", origin: fixed("v1", "Cache-Control", "max-age=60"), steps: []step{
			{hits: 1}, {advance: 30 * time.Second, hdr: []string{"Cache-Control", "min-fresh=40"}, cs: []string{"fwd=request"}, hits: 2},
		}},
		{name: "only-if-cached answers 504 when absent", origin: fixed("v1", "Cache-Control", "max-age=60"), steps: []step{
			{hdr: []string{"Cache-Control", "only-if-cached"}, status: 504, hits: 0},
			{hits: 1},
			{hdr: []string{"Cache-Control", "only-if-cached"}, cs: []string{"; hit"}, hits: 1},
		}},
		{name: "If-None-Match is answered 304 from a fresh entry", origin: validating("v1", `"e1"`, "Cache-Control", "max-age=60"), steps: []step{
			{hits: 1},
			{hdr: []string{"If-None-Match", `"e1"`}, status: 304, body: str(""), cs: []string{"; hit"}, hits: 1},
			{hdr: []string{"If-None-Match", `"x", W/"e1"`}, status: 304, hits: 1},
			{hdr: []string{"If-None-Match", `"other"`}, body: str("v1"), hits: 1},
		}},
		{name: "If-Modified-Since is answered 304 from a fresh entry", origin: fixed("v1", "Cache-Control", "max-age=60", "Last-Modified", lmText), steps: []step{
			{hits: 1},
			{hdr: []string{"If-Modified-Since", lmText}, status: 304, hits: 1},
			{hdr: []string{"If-Modified-Since", "Mon, 01 Jan 2024 00:00:00 GMT"}, body: str("v1"), hits: 1},
		}},
		{name: "a client conditional on a miss gets 304 without the origin seeing it", origin: validating("v1", `"e1"`, "Cache-Control", "max-age=60"), steps: []step{
			{hdr: []string{"If-None-Match", `"e1"`}, status: 304, cs: []string{"stored"}, hits: 1, check: func(t *testing.T, _ reply, o *origin) {
				if v := o.seen("If-None-Match"); len(v) != 0 {
					t.Fatalf("origin saw the client's conditional %v", v)
				}
			}},
			{body: str("v1"), cs: []string{"; hit"}, hits: 1},
		}},
		{name: "Set-Cookie is never stored", origin: fixed("v1", "Cache-Control", "public, max-age=60", "Set-Cookie", "sid=secret"), steps: []step{
			{cs: []string{"detail=set-cookie"}, hits: 1}, {hits: 2},
		}},
		{name: "Authorization: not stored without an explicit allowance", origin: fixed("v1", "Cache-Control", "max-age=60"), steps: []step{
			{hdr: []string{"Authorization", "Bearer a"}, cs: []string{"detail=authorization"}, hits: 1},
			{hdr: []string{"Authorization", "Bearer a"}, hits: 2},
		}},
		{name: "Authorization: public responses are shared", origin: fixed("v1", "Cache-Control", "public, max-age=60"), steps: []step{
			{hdr: []string{"Authorization", "Bearer a"}, cs: []string{"stored"}, hits: 1},
			{hdr: []string{"Authorization", "Bearer b"}, cs: []string{"; hit"}, hits: 1},
		}},
		{name: "Authorization never reuses an entry that did not allow it", origin: fixed("v1", "Cache-Control", "max-age=60"), steps: []step{
			{hits: 1},
			{hdr: []string{"Authorization", "Bearer a"}, cs: []string{"fwd=miss", "detail=authorization"}, hits: 2},
			{cs: []string{"; hit"}, hits: 2},
		}},
		{name: "206 is never stored", origin: status(206, "Cache-Control", "max-age=60", "Content-Range", "bytes 0-9/100"), steps: []step{
			{status: 206, cs: []string{"detail=partial"}, hits: 1}, {status: 206, hits: 2},
		}},
		{name: "Range requests bypass the cache", origin: fixed("v1", "Cache-Control", "max-age=60"), steps: []step{
			{hdr: []string{"Range", "bytes=0-1"}, cs: []string{"fwd=bypass", "detail=range"}, hits: 1},
			{hdr: []string{"Range", "bytes=0-1"}, hits: 2},
		}},
		{name: "HEAD then GET", origin: fixed("v1", "Cache-Control", "max-age=60"), steps: []step{
			{method: "HEAD", body: str(""), cs: []string{"stored"}, hits: 1, check: func(t *testing.T, r reply, o *origin) {
				if r.get("Content-Length") != "2" {
					t.Fatalf("HEAD Content-Length %q", r.get("Content-Length"))
				}
			}},
			{body: str("v1"), cs: []string{"; hit"}, hits: 1},
			{method: "HEAD", body: str(""), cs: []string{"; hit"}, hits: 1},
		}},
		{name: "an origin 304 never reaches a client that sent no conditional", origin: status(304, "Cache-Control", "max-age=60"), steps: []step{
			{status: 502, hits: 1},
		}},
		{name: "304 revalidation freshens the stored header fields", origin: fixed("v1", "Cache-Control", "max-age=10", "ETag", `"e1"`, "X-Version", "1"), steps: []step{
			{hits: 1},
			{advance: 20 * time.Second, origin: func(ctx *fasthttp.RequestCtx) {
				ctx.Response.Header.Set("Cache-Control", "max-age=10")
				ctx.Response.Header.Set("ETag", `"e1"`)
				ctx.Response.Header.Set("X-Version", "2")
				ctx.SetStatusCode(304)
			}, body: str("v1"), cs: []string{"fwd=stale", "fwd-status=304"}, hits: 2, check: func(t *testing.T, r reply, _ *origin) {
				if r.get("X-Version") != "2" {
					t.Fatalf("X-Version %q after 304 (%q)", r.get("X-Version"), r.cacheStatus())
				}
			}},
			{body: str("v1"), cs: []string{"; hit"}, hits: 2, check: func(t *testing.T, r reply, _ *origin) {
				if r.get("X-Version") != "2" {
					t.Fatalf("stored X-Version %q", r.get("X-Version"))
				}
			}},
		}},
		{name: "unsafe methods invalidate the target URI and Location", origin: func(ctx *fasthttp.RequestCtx) {
			if string(ctx.Method()) == "POST" {
				ctx.Response.Header.Set("Location", "/r2")
				ctx.Response.Header.Set("Content-Location", "https://elsewhere.test/r3")
				ctx.SetStatusCode(201)
				return
			}
			ctx.Response.Header.Set("Cache-Control", "max-age=60")
			ctx.SetBodyString("v")
		}, steps: []step{
			{hits: 1}, {path: "/r2", hits: 2}, {cs: []string{"; hit"}, hits: 2}, {path: "/r2", cs: []string{"; hit"}, hits: 2},
			{method: "POST", status: 201, hits: 3},
			{cs: []string{"fwd=uri-miss"}, hits: 4},
			{path: "/r2", cs: []string{"fwd=uri-miss"}, hits: 5},
		}},
		{name: "error responses to unsafe methods invalidate nothing", origin: func(ctx *fasthttp.RequestCtx) {
			if string(ctx.Method()) == "DELETE" {
				ctx.SetStatusCode(409)
				return
			}
			ctx.Response.Header.Set("Cache-Control", "max-age=60")
			ctx.SetBodyString("v")
		}, steps: []step{
			{hits: 1}, {method: "DELETE", status: 409, hits: 2}, {cs: []string{"; hit"}, hits: 2},
		}},
		{name: "Vary with duplicate Accept-Encoding lines", origin: func(ctx *fasthttp.RequestCtx) {
			ctx.Response.Header.Set("Cache-Control", "max-age=60")
			ctx.Response.Header.Set("Vary", "Accept-Encoding")
			ctx.SetBodyString("ae=" + string(ctx.Request.Header.Peek("Accept-Encoding")))
		}, steps: []step{
			{hdr: []string{"Accept-Encoding", "gzip", "Accept-Encoding", "br"}, body: str("ae=br,gzip"), hits: 1},
			{hdr: []string{"Accept-Encoding", "br, gzip"}, body: str("ae=br,gzip"), cs: []string{"; hit"}, hits: 1},
			{hdr: []string{"Accept-Encoding", "GZIP;q=0.5, deflate, br;q=1.0"}, body: str("ae=br,gzip"), cs: []string{"; hit"}, hits: 1},
			{hdr: []string{"Accept-Encoding", "gzip;q=0, br"}, body: str("ae=br"), cs: []string{"fwd=vary-miss"}, hits: 2},
			{hdr: []string{"Accept-Encoding", "deflate"}, body: str("ae="), cs: []string{"fwd=vary-miss"}, hits: 3},
			{body: str("ae="), cs: []string{"; hit"}, hits: 3},
		}},
		{name: "query parameter order does not matter", origin: fixed("v1", "Cache-Control", "max-age=60"), steps: []step{
			{path: "/r?b=2&a=1", hits: 1}, {path: "/r?a=1&b=2", cs: []string{"; hit"}, hits: 1},
			{path: "/r?a=%31&b=2", cs: []string{"; hit"}, hits: 1}, {path: "/x/../r?b=2&a=1", cs: []string{"; hit"}, hits: 1},
			{path: "/r?a=2&b=1", cs: []string{"fwd=uri-miss"}, hits: 2},
		}},
		{name: "Surrogate-Key is not sent to clients", origin: fixed("v1", "Cache-Control", "max-age=60", "Surrogate-Key", "students section:42"), steps: []step{
			{hits: 1, check: func(t *testing.T, r reply, _ *origin) {
				if r.get("Surrogate-Key") != "" {
					t.Fatal("Surrogate-Key leaked")
				}
			}},
			{cs: []string{"; hit"}, hits: 1, check: func(t *testing.T, r reply, _ *origin) {
				if r.get("Surrogate-Key") != "" {
					t.Fatal("Surrogate-Key leaked on a hit")
				}
			}},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := startOrigin(t, tc.origin)
			g := startGW(t, o, gwOpts{perUser: tc.perUser})
			for i, s := range tc.steps {
				if s.advance > 0 {
					g.clock.Advance(s.advance)
				}
				if s.origin != nil {
					o.set(s.origin)
				}
				method, path := s.method, s.path
				if method == "" {
					method = "GET"
				}
				if path == "" {
					path = "/r"
				}
				r := g.do(t, method, path, s.hdr...)
				want := s.status
				if want == 0 {
					want = 200
				}
				if r.status != want {
					t.Fatalf("step %d: status %d, want %d (Cache-Status %q, body %q)", i, r.status, want, r.cacheStatus(), r.body)
				}
				if s.body != nil && r.body != *s.body {
					t.Fatalf("step %d: body %q, want %q (Cache-Status %q)", i, r.body, *s.body, r.cacheStatus())
				}
				for _, c := range s.cs {
					if !strings.Contains(r.cacheStatus(), c) {
						t.Fatalf("step %d: Cache-Status %q lacks %q", i, r.cacheStatus(), c)
					}
				}
				for _, c := range s.notCS {
					if strings.Contains(r.cacheStatus(), c) {
						t.Fatalf("step %d: Cache-Status %q has %q", i, r.cacheStatus(), c)
					}
				}
				if s.waitHits > 0 {
					waitFor(t, "background fetch", func() bool { return o.hits.Load() >= s.waitHits })
					waitFor(t, "background fetch to finish", func() bool { return len(g.c.bg) == 0 })
				} else if got := o.hits.Load(); got != s.hits {
					t.Fatalf("step %d: origin hits %d, want %d (Cache-Status %q)", i, got, s.hits, r.cacheStatus())
				}
				if s.check != nil {
					s.check(t, r, o)
				}
			}
		})
	}
}
