package cors

import (
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

func policy(t testing.TB, o Options) *Policy {
	t.Helper()
	p, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

var campus = Options{
	AllowOrigins:     []string{"https://portal.campus.edu", "https://*.campus.edu", "http://localhost:5173"},
	AllowMethods:     []string{"GET", "POST", "PUT", "DELETE"},
	AllowHeaders:     []string{"Authorization", "Content-Type"},
	ExposeHeaders:    []string{"X-Request-ID"},
	AllowCredentials: true,
	MaxAge:           10 * time.Minute,
}

func TestAllowed(t *testing.T) {
	p := policy(t, campus)
	for origin, want := range map[string]bool{
		"https://portal.campus.edu":            true,
		"HTTPS://Portal.Campus.EDU":            true,
		"https://a.b.campus.edu":               true,
		"https://attendance.campus.edu":        true,
		"http://localhost:5173":                true,
		"https://campus.edu":                   false, // the wildcard needs a subdomain
		"http://portal.campus.edu":             false, // scheme differs
		"https://portal.campus.edu:8443":       false, // port differs
		"https://evilcampus.edu":               false,
		"https://campus.edu.evil.com":          false,
		"https://x.campus.edu.":                false,
		"https://x..campus.edu":                false,
		"https://x.campus.edu/path":            false,
		"https://x_y.campus.edu":               false,
		"https://evil.com#.campus.edu":         false,
		"https://evil.com?.campus.edu":         false,
		"https://user@x.campus.edu":            false,
		"null":                                 false,
		"":                                     false,
		"http://localhost:5174":                false,
		"https://" + string(make([]byte, 300)): false,
	} {
		if got := p.Allowed([]byte(origin)); got != want {
			t.Errorf("%q: %v, want %v", origin, got, want)
		}
	}
	star := policy(t, Options{AllowOrigins: []string{"*"}})
	if !star.Allowed([]byte("https://anything.example")) || star.Allowed([]byte("null")) {
		t.Fatal("* policy")
	}
	if _, err := New(Options{AllowOrigins: []string{"*"}, AllowCredentials: true}); err == nil {
		t.Fatal(`"*" with credentials accepted`)
	}
}

type result struct {
	status  int
	headers map[string]string
	hit     bool
}

func serve(p *Policy, method, origin string, hdr map[string]string, upstream func(*fasthttp.RequestCtx)) result {
	var r result
	h := Middleware(func(*fasthttp.RequestCtx) *Policy { return p }, func(ctx *fasthttp.RequestCtx) {
		r.hit = true
		ctx.SetStatusCode(200)
		if upstream != nil {
			upstream(ctx)
		}
	})
	var ctx fasthttp.RequestCtx
	ctx.Request.Header.SetMethod(method)
	ctx.Request.SetRequestURI("/api/v1/students")
	if origin != "" {
		ctx.Request.Header.Set("Origin", origin)
	}
	for k, v := range hdr {
		ctx.Request.Header.Set(k, v)
	}
	h(&ctx)
	r.status = ctx.Response.StatusCode()
	r.headers = map[string]string{}
	for k, v := range ctx.Response.Header.All() {
		if prev, ok := r.headers[string(k)]; ok {
			r.headers[string(k)] = prev + "|" + string(v)
		} else {
			r.headers[string(k)] = string(v)
		}
	}
	return r
}

func TestPreflightMatrix(t *testing.T) {
	p := policy(t, campus)
	star := policy(t, Options{AllowOrigins: []string{"*"}, AllowMethods: []string{"GET", "PATCH"}, AllowHeaders: []string{"*"}})
	type hdrs = map[string]string
	for _, tc := range []struct {
		name   string
		p      *Policy
		origin string
		req    hdrs
		status int
		want   hdrs // "" = must be absent
	}{
		{"allowed origin and method", p, "https://portal.campus.edu", hdrs{"Access-Control-Request-Method": "PUT", "Access-Control-Request-Headers": "authorization, content-type"}, 204,
			hdrs{"Access-Control-Allow-Origin": "https://portal.campus.edu", "Access-Control-Allow-Credentials": "true",
				"Access-Control-Allow-Methods": "GET, POST, PUT, DELETE", "Access-Control-Allow-Headers": "Authorization, Content-Type",
				"Access-Control-Max-Age": "600", "Vary": "Origin, Access-Control-Request-Method, Access-Control-Request-Headers"}},
		{"wildcard subdomain", p, "https://attendance.campus.edu", hdrs{"Access-Control-Request-Method": "DELETE"}, 204,
			hdrs{"Access-Control-Allow-Origin": "https://attendance.campus.edu"}},
		{"safelisted method not listed", policy(t, Options{AllowOrigins: []string{"https://a.edu"}}), "https://a.edu", hdrs{"Access-Control-Request-Method": "POST"}, 204,
			hdrs{"Access-Control-Allow-Origin": "https://a.edu", "Access-Control-Allow-Credentials": ""}},
		{"disallowed origin", p, "https://evil.example", hdrs{"Access-Control-Request-Method": "GET"}, 403,
			hdrs{"Access-Control-Allow-Origin": "", "Access-Control-Allow-Methods": "", "Access-Control-Allow-Credentials": "", "Vary": "Origin, Access-Control-Request-Method, Access-Control-Request-Headers"}},
		{"null origin", p, "null", hdrs{"Access-Control-Request-Method": "GET"}, 403, hdrs{"Access-Control-Allow-Origin": ""}},
		{"disallowed method", p, "https://portal.campus.edu", hdrs{"Access-Control-Request-Method": "PATCH"}, 403, hdrs{"Access-Control-Allow-Origin": ""}},
		{"disallowed header", p, "https://portal.campus.edu", hdrs{"Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "x-secret"}, 403, hdrs{"Access-Control-Allow-Origin": ""}},
		{"safelisted header names", p, "https://portal.campus.edu", hdrs{"Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "accept,accept-language"}, 204, hdrs{}},
		{"star without credentials", star, "https://any.example", hdrs{"Access-Control-Request-Method": "PATCH", "Access-Control-Request-Headers": "x-a, x-b"}, 204,
			hdrs{"Access-Control-Allow-Origin": "*", "Access-Control-Allow-Credentials": "", "Access-Control-Allow-Headers": "x-a, x-b"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := serve(tc.p, "OPTIONS", tc.origin, tc.req, nil)
			if r.hit {
				t.Fatal("preflight reached the next stage")
			}
			if r.status != tc.status {
				t.Fatalf("status %d, want %d (%v)", r.status, tc.status, r.headers)
			}
			for k, v := range tc.want {
				if got := r.headers[k]; got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
		})
	}
}

func TestActualRequests(t *testing.T) {
	p := policy(t, campus)
	upstreamCORS := func(ctx *fasthttp.RequestCtx) {
		ctx.Response.Header.Set("Access-Control-Allow-Origin", "*")
		ctx.Response.Header.Add("Vary", "Accept-Encoding")
		ctx.Response.Header.Add("Vary", "Accept-Language")
	}
	// Allowed origin: echoed, credentials, expose, Vary merged (other Vary
	// lines kept), upstream CORS replaced.
	r := serve(p, "GET", "https://portal.campus.edu", nil, upstreamCORS)
	if !r.hit || r.headers["Access-Control-Allow-Origin"] != "https://portal.campus.edu" ||
		r.headers["Access-Control-Allow-Credentials"] != "true" || r.headers["Access-Control-Expose-Headers"] != "X-Request-ID" {
		t.Fatalf("%+v", r)
	}
	if v := r.headers["Vary"]; len(v) != len("Accept-Encoding|Accept-Language|Origin") ||
		!strings.Contains(v, "Accept-Encoding") || !strings.Contains(v, "Accept-Language") || !strings.HasSuffix(v, "|Origin") {
		t.Fatalf("Vary %q", r.headers["Vary"])
	}
	// Disallowed origin: served (browsers enforce), but no CORS headers,
	// not even the upstream's, and Vary: Origin.
	r = serve(p, "GET", "https://evil.example", nil, upstreamCORS)
	if !r.hit || r.headers["Access-Control-Allow-Origin"] != "" || r.headers["Access-Control-Expose-Headers"] != "" {
		t.Fatalf("%+v", r)
	}
	// No Origin: the response still depends on Origin.
	r = serve(p, "GET", "", nil, nil)
	if r.headers["Vary"] != "Origin" || r.headers["Access-Control-Allow-Origin"] != "" {
		t.Fatalf("%+v", r)
	}
	// Vary already listing Origin, or "*", is left alone.
	r = serve(p, "GET", "https://portal.campus.edu", nil, func(ctx *fasthttp.RequestCtx) { ctx.Response.Header.Set("Vary", "accept, origin") })
	if r.headers["Vary"] != "accept, origin" {
		t.Fatalf("Vary %q", r.headers["Vary"])
	}
	// OPTIONS without Access-Control-Request-Method is not a preflight.
	r = serve(p, "OPTIONS", "https://portal.campus.edu", nil, nil)
	if !r.hit {
		t.Fatal("plain OPTIONS answered at the edge")
	}
	// No policy: untouched.
	h := Middleware(func(*fasthttp.RequestCtx) *Policy { return nil }, func(ctx *fasthttp.RequestCtx) {
		ctx.Response.Header.Set("Access-Control-Allow-Origin", "https://x")
	})
	var ctx fasthttp.RequestCtx
	ctx.Request.Header.Set("Origin", "https://y")
	h(&ctx)
	if string(ctx.Response.Header.Peek("Access-Control-Allow-Origin")) != "https://x" || len(ctx.Response.Header.Peek("Vary")) != 0 {
		t.Fatal("a route without a policy was changed")
	}
}

func TestAllowedDoesNotAllocate(t *testing.T) {
	p := policy(t, campus)
	o := []byte("https://attendance.campus.edu")
	if n := testing.AllocsPerRun(100, func() { p.Allowed(o) }); n != 0 {
		t.Fatalf("%v allocs", n)
	}
}

func FuzzAllowed(f *testing.F) {
	p, _ := New(campus)
	for _, s := range []string{"https://portal.campus.edu", "https://a.campus.edu", "null", "https://[::1]:443", "http://x.campus.edu:80"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, origin string) {
		if p.Allowed([]byte(origin)) {
			// Whatever passes is an exact origin or a strict subdomain of campus.edu over https.
			ok := origin == "http://localhost:5173"
			lo := []byte(origin)
			for i, c := range lo {
				if c >= 'A' && c <= 'Z' {
					lo[i] = c + 32
				}
			}
			s := string(lo)
			if len(s) > len("https://.campus.edu") && s[:8] == "https://" && s[len(s)-11:] == ".campus.edu" {
				ok = true
			}
			if !ok {
				t.Fatalf("allowed %q", origin)
			}
		}
	})
}

func BenchmarkActualRequest(b *testing.B) {
	p := policy(b, campus)
	h := Middleware(func(*fasthttp.RequestCtx) *Policy { return p }, func(ctx *fasthttp.RequestCtx) {})
	var ctx fasthttp.RequestCtx
	ctx.Request.Header.Set("Origin", "https://attendance.campus.edu")
	b.ReportAllocs()
	for b.Loop() {
		ctx.Response.Reset()
		h(&ctx)
	}
}
