package authn

import (
	"context"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/valyala/fasthttp"

	"github.com/campshub360/edge/gateway/internal/exchange"
	"github.com/campshub360/edge/shared/token"
)

// clock is a settable test clock.
type clock struct{ ns atomic.Int64 }

func newClock() *clock {
	c := &clock{}
	c.ns.Store(time.Unix(1_800_000_000, 0).UnixNano())
	return c
}
func (c *clock) Now() time.Time      { return time.Unix(0, c.ns.Load()) }
func (c *clock) Add(d time.Duration) { c.ns.Add(int64(d)) }
func b64(s string) string            { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
func keyOf(t testing.TB) (ed25519.PublicKey, ed25519.PrivateKey) {
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	return pub, priv
}

// jwksServer is the backend's JWKS endpoint on 127.0.0.1.
type jwksServer struct {
	mu    sync.Mutex
	keys  map[string]ed25519.PublicKey
	fail  bool
	hits  atomic.Int64
	srv   *httptest.Server
	etags bool
}

func startJWKS(t testing.TB, keys map[string]ed25519.PublicKey) *jwksServer {
	j := &jwksServer{keys: keys}
	j.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		j.hits.Add(1)
		j.mu.Lock()
		defer j.mu.Unlock()
		if j.fail {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		b, _ := token.NewKeySet(j.keys).MarshalJWKS()
		if j.etags {
			sum := sha256.Sum256(b)
			etag := `"` + base64.RawURLEncoding.EncodeToString(sum[:8]) + `"`
			if r.Header.Get("If-None-Match") == etag {
				w.WriteHeader(http.StatusNotModified)
				return
			}
			w.Header().Set("ETag", etag)
		}
		w.Header().Set("Content-Type", "application/jwk-set+json")
		_, _ = w.Write(b)
	}))
	t.Cleanup(j.srv.Close)
	return j
}

func (j *jwksServer) set(keys map[string]ed25519.PublicKey, fail bool) {
	j.mu.Lock()
	j.keys, j.fail = keys, fail
	j.mu.Unlock()
}

type fixture struct {
	clk    *clock
	pub    ed25519.PublicKey
	signer *token.Signer
	jwks   *jwksServer
	keys   *Keys
	auth   *Authenticator
	m      *Metrics
	hits   atomic.Int64
	seen   struct{ subject, role, hdrSub, hdrRole string }
}

func newFixture(t testing.TB, cacheEntries int) *fixture {
	f := &fixture{clk: newClock()}
	var priv ed25519.PrivateKey
	f.pub, priv = keyOf(t)
	kid := token.KeyID(f.pub)
	f.signer = &token.Signer{KeyID: kid, Key: priv, Issuer: "campshub360", Audience: "campus-api", TTL: 15 * time.Minute, Now: f.clk.Now}
	f.jwks = startJWKS(t, map[string]ed25519.PublicKey{kid: f.pub})
	var err error
	if f.m, err = NewMetrics(prometheus.NewRegistry()); err != nil {
		t.Fatal(err)
	}
	f.keys = NewKeys(KeysOptions{
		URLs: []string{f.jwks.srv.URL + "/api/v1/auth/jwks.json"}, RefreshInterval: time.Hour,
		MinRefreshInterval: 10 * time.Second, Timeout: 2 * time.Second, Now: f.clk.Now, Metrics: f.m,
	})
	t.Cleanup(f.keys.Close)
	deadline := time.Now().Add(10 * time.Second)
	for f.keys.Current() == nil {
		if time.Now().After(deadline) {
			t.Fatal("first JWKS fetch did not complete")
		}
		time.Sleep(5 * time.Millisecond)
	}
	f.auth = New(Options{Issuer: "campshub360", Audience: "campus-api", Realm: "campshub360", Keys: f.keys,
		CacheEntries: cacheEntries, CacheMargin: 5 * time.Second, Now: f.clk.Now, Metrics: f.m})
	return f
}

func (f *fixture) sign(t testing.TB, sub, role string) string {
	tok, _, err := f.signer.Sign(sub, role, "jti-"+sub)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// do runs one request through the middleware with policy p.
func (f *fixture) do(p *Policy, uri string, hdr map[string][]string) *fasthttp.RequestCtx {
	h := Middleware(f.auth, func(*fasthttp.RequestCtx) *Policy { return p }, func(ctx *fasthttp.RequestCtx) {
		f.hits.Add(1)
		ex := exchange.From(ctx)
		f.seen.subject, f.seen.role = ex.Subject, ex.Role
		f.seen.hdrSub = string(ctx.Request.Header.Peek(HeaderSubject))
		f.seen.hdrRole = string(ctx.Request.Header.Peek(HeaderRole))
		ctx.SetStatusCode(200)
	})
	ctx := &fasthttp.RequestCtx{}
	ctx.Request.SetRequestURI(uri)
	for k, vs := range hdr {
		for _, v := range vs {
			ctx.Request.Header.Add(k, v)
		}
	}
	h(ctx)
	return ctx
}

func withBearer(tok string) map[string][]string {
	return map[string][]string{"Authorization": {"Bearer " + tok}}
}

func TestVerifiedRequestCarriesIdentity(t *testing.T) {
	f := newFixture(t, 100)
	tok := f.sign(t, "user-1", "faculty")
	hdr := withBearer(tok)
	hdr[HeaderSubject] = []string{"admin-spoof"}
	hdr[HeaderRole] = []string{"admin"}
	ctx := f.do(NewPolicy(Required, nil), "/api/v1/x", hdr)
	if ctx.Response.StatusCode() != 200 || f.hits.Load() != 1 {
		t.Fatalf("status %d: %s", ctx.Response.StatusCode(), ctx.Response.Body())
	}
	if f.seen.subject != "user-1" || f.seen.role != "faculty" || f.seen.hdrSub != "user-1" || f.seen.hdrRole != "faculty" {
		t.Fatalf("identity %+v", f.seen)
	}
	// Second time from the cache, same result.
	f.do(NewPolicy(Required, nil), "/api/v1/x", withBearer(tok))
	if f.seen.subject != "user-1" || testutil.ToFloat64(f.m.Requests.WithLabelValues(ResultCached)) != 1 {
		t.Fatalf("cache: %+v", f.seen)
	}
	// Spoofed identity headers are removed even on routes without auth.
	f.do(NewPolicy(None, nil), "/x", map[string][]string{HeaderSubject: {"admin"}, HeaderRole: {"admin"}})
	if f.seen.hdrSub != "" || f.seen.hdrRole != "" || f.seen.subject != "" {
		t.Fatalf("spoofed identity forwarded: %+v", f.seen)
	}
}

func TestOptionalAndRoles(t *testing.T) {
	f := newFixture(t, 100)
	ctx := f.do(NewPolicy(Optional, nil), "/x", nil)
	if ctx.Response.StatusCode() != 200 || f.seen.subject != "" {
		t.Fatal("anonymous request on an optional route refused")
	}
	ctx = f.do(NewPolicy(Optional, nil), "/x", withBearer("garbage.token.here"))
	if ctx.Response.StatusCode() != 401 {
		t.Fatal("bad token on an optional route accepted")
	}
	ctx = f.do(NewPolicy(Optional, nil), "/x", map[string][]string{"Authorization": {"Basic dTpw"}})
	if ctx.Response.StatusCode() != 200 {
		t.Fatal("non-bearer credentials on an optional route refused")
	}
	before := f.hits.Load()
	ctx = f.do(NewPolicy(Required, []string{"admin", "registrar"}), "/x", withBearer(f.sign(t, "s-1", "student")))
	if ctx.Response.StatusCode() != 403 || f.hits.Load() != before ||
		!strings.Contains(string(ctx.Response.Header.Peek("WWW-Authenticate")), `error="insufficient_scope"`) {
		t.Fatalf("role check: %d %s", ctx.Response.StatusCode(), ctx.Response.Header.Peek("WWW-Authenticate"))
	}
	ctx = f.do(NewPolicy(Required, []string{"admin", "registrar"}), "/x", withBearer(f.sign(t, "r-1", "registrar")))
	if ctx.Response.StatusCode() != 200 {
		t.Fatal("allowed role refused")
	}
}

// badTokens is the bad-input list of the edge: every one must be refused
// with 401 and invalid_token (or invalid_request), with no hit.
func badTokens(t testing.TB, f *fixture) map[string]struct {
	hdr     map[string][]string
	uri     string
	at      time.Duration
	errCode string
	problem string
} {
	good := f.sign(t, "user-1", "student")
	parts := strings.Split(good, ".")
	other := *f.signer
	otherPub, otherPriv := keyOf(t)
	other.Key = otherPriv // same kid, another key
	forged, _, _ := other.Sign("user-1", "admin", "j")
	unknown := other
	unknown.KeyID = token.KeyID(otherPub)
	unknownTok, _, _ := unknown.Sign("user-1", "student", "j")
	wrongIss := *f.signer
	wrongIss.Issuer = "someone-else"
	wrongIssTok, _, _ := wrongIss.Sign("u", "student", "j")
	wrongAud := *f.signer
	wrongAud.Audience = "other-api"
	wrongAudTok, _, _ := wrongAud.Sign("u", "student", "j")
	hsHeader := b64(`{"alg":"HS256","typ":"JWT","kid":"` + f.signer.KeyID + `"}`)
	mac := hmac.New(sha256.New, f.pub)
	mac.Write([]byte(hsHeader + "." + parts[1]))
	hs := hsHeader + "." + parts[1] + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
	none := b64(`{"alg":"none","typ":"JWT"}`) + "." + parts[1] + "."
	tampered := parts[0] + "." + b64(`{"sub":"user-1","role":"admin","iss":"campshub360","aud":["campus-api"],"exp":1800000900,"iat":1800000000}`) + "." + parts[2]
	type tc = struct {
		hdr     map[string][]string
		uri     string
		at      time.Duration
		errCode string
		problem string
	}
	return map[string]tc{
		"expired":          {hdr: withBearer(good), at: 16 * time.Minute, errCode: "invalid_token", problem: "token-expired"},
		"not yet valid":    {hdr: withBearer(good), at: -time.Minute, errCode: "invalid_token", problem: "invalid-token"},
		"wrong issuer":     {hdr: withBearer(wrongIssTok), errCode: "invalid_token", problem: "invalid-token"},
		"wrong audience":   {hdr: withBearer(wrongAudTok), errCode: "invalid_token", problem: "invalid-token"},
		"unknown kid":      {hdr: withBearer(unknownTok), errCode: "invalid_token", problem: "invalid-token"},
		"forged signature": {hdr: withBearer(forged), errCode: "invalid_token", problem: "invalid-token"},
		"tampered payload": {hdr: withBearer(tampered), errCode: "invalid_token", problem: "invalid-token"},
		"alg none":         {hdr: withBearer(none), errCode: "invalid_token", problem: "invalid-token"},
		"hs256 public key": {hdr: withBearer(hs), errCode: "invalid_token", problem: "invalid-token"},
		"huge token":       {hdr: withBearer(strings.Repeat("a", 9000) + "." + parts[1] + "." + parts[2]), errCode: "invalid_token", problem: "invalid-token"},
		"malformed base64": {hdr: withBearer("@@@.###.$$$"), errCode: "invalid_token", problem: "invalid-token"},
		"bad base64 parts": {hdr: withBearer("eyJ!!!.eyJ!!!.sig"), errCode: "invalid_token", problem: "invalid-token"},
		"two parts":        {hdr: withBearer(parts[0] + "." + parts[1]), errCode: "invalid_token", problem: "invalid-token"},
		"empty bearer":     {hdr: map[string][]string{"Authorization": {"Bearer "}}, errCode: "invalid_token", problem: "invalid-token"},
		"token in query":   {uri: "/api/v1/x?access_token=" + good, errCode: "invalid_request", problem: "token-in-query"},
		"query and header": {uri: "/api/v1/x?a=1&access_token=" + good, hdr: withBearer(good), errCode: "invalid_request", problem: "token-in-query"},
		"two headers":      {hdr: map[string][]string{"Authorization": {"Bearer " + good, "Bearer " + forged}}, errCode: "invalid_request", problem: "invalid-request"},
		"missing":          {hdr: nil, errCode: "", problem: "unauthorized"},
		"basic scheme":     {hdr: map[string][]string{"Authorization": {"Basic dXNlcjpwYXNz"}}, errCode: "", problem: "unauthorized"},
	}
}

func TestBadInputIs401WithoutHit(t *testing.T) {
	f := newFixture(t, 100)
	// Warm the cache with the good token: no bad variant may ride on it.
	f.do(NewPolicy(Required, nil), "/api/v1/x", withBearer(f.sign(t, "user-1", "student")))
	base := f.hits.Load()
	for name, tc := range badTokens(t, f) {
		t.Run(name, func(t *testing.T) {
			f.clk.Add(tc.at)
			defer f.clk.Add(-tc.at)
			uri := tc.uri
			if uri == "" {
				uri = "/api/v1/x"
			}
			ctx := f.do(NewPolicy(Required, nil), uri, tc.hdr)
			if ctx.Response.StatusCode() != 401 {
				t.Fatalf("status %d: %s", ctx.Response.StatusCode(), ctx.Response.Body())
			}
			wa := string(ctx.Response.Header.Peek("WWW-Authenticate"))
			if !strings.HasPrefix(wa, `Bearer realm="campshub360"`) {
				t.Fatalf("WWW-Authenticate %q", wa)
			}
			if tc.errCode != "" && !strings.Contains(wa, `error="`+tc.errCode+`"`) {
				t.Fatalf("WWW-Authenticate %q, want error=%q", wa, tc.errCode)
			}
			if tc.errCode == "" && strings.Contains(wa, "error=") {
				t.Fatalf("a request without a token got an error code: %q", wa)
			}
			var p struct{ Type string }
			if err := json.Unmarshal(ctx.Response.Body(), &p); err != nil || !strings.HasSuffix(p.Type, "/"+tc.problem) {
				t.Fatalf("problem %s", ctx.Response.Body())
			}
		})
	}
	if f.hits.Load() != base {
		t.Fatalf("%d bad requests reached the next stage", f.hits.Load()-base)
	}
}

func TestCacheExpiresBeforeToken(t *testing.T) {
	f := newFixture(t, 100)
	tok := f.sign(t, "u", "student") // exp = now + 15m
	if c := f.do(NewPolicy(Required, nil), "/x", withBearer(tok)); c.Response.StatusCode() != 200 {
		t.Fatal(c.Response.StatusCode())
	}
	if f.auth.CacheLen() != 1 {
		t.Fatal("not cached")
	}
	f.clk.Add(15*time.Minute - 3*time.Second) // inside the margin: not from the cache, still valid
	if c := f.do(NewPolicy(Required, nil), "/x", withBearer(tok)); c.Response.StatusCode() != 200 {
		t.Fatal(c.Response.StatusCode())
	}
	if testutil.ToFloat64(f.m.Requests.WithLabelValues(ResultCached)) != 0 {
		t.Fatal("cached result used inside the expiry margin")
	}
	f.clk.Add(4 * time.Second) // past exp
	if c := f.do(NewPolicy(Required, nil), "/x", withBearer(tok)); c.Response.StatusCode() != 401 {
		t.Fatal("expired token accepted")
	}
}

func TestCacheBoundedLRU(t *testing.T) {
	m, _ := NewMetrics(prometheus.NewRegistry())
	c := NewCache(cacheShards, m) // one entry per shard
	var k1, k2 [32]byte
	k2[1] = 1 // same shard (k[0] == 0)
	c.Put(k1, "a", "r", 0, 100, 0)
	c.Put(k2, "b", "r", 0, 100, 0)
	if _, _, ok := c.Get(k1, 0, 0); ok {
		t.Fatal("full shard did not evict its least recently used entry")
	}
	if s, _, ok := c.Get(k2, 0, 0); !ok || s != "b" {
		t.Fatal("newest entry lost")
	}
	if _, _, ok := c.Get(k2, 100, 0); ok {
		t.Fatal("entry used at its expiry")
	}
	var k3 [32]byte
	k3[0] = 5
	c.Put(k3, "c", "r", 50, 100, 0)
	if _, _, ok := c.Get(k3, 10, 0); ok {
		t.Fatal("entry used before its not-before")
	}
	c.Put(k1, "a", "r", 0, 100, 1)
	if _, _, ok := c.Get(k1, 0, 2); ok {
		t.Fatal("entry of an older key generation used")
	}
	for i := 0; i < 10_000; i++ {
		var k [32]byte
		k[0], k[1], k[2] = byte(i), byte(i>>8), 7
		c.Put(k, "s", "r", 0, 100, 0)
	}
	if c.Len() > cacheShards || testutil.ToFloat64(m.CacheEntries) != float64(c.Len()) {
		t.Fatalf("len %d, gauge %v", c.Len(), testutil.ToFloat64(m.CacheEntries))
	}
	if testutil.ToFloat64(m.CacheEvictions) < 9000 {
		t.Fatal("evictions not counted")
	}
	c.Close()
	if c.Len() != 0 || testutil.ToFloat64(m.CacheEntries) != 0 {
		t.Fatal("close kept entries")
	}
	var nilCache *Cache
	nilCache.Put(k1, "a", "r", 0, 1, 0)
	if _, _, ok := nilCache.Get(k1, 0, 0); ok {
		t.Fatal("nil cache hit")
	}
}

func TestUnknownKidRefetchIsRateLimited(t *testing.T) {
	f := newFixture(t, 100)
	// The backend rotates to a new key; the gateway learns it on the first
	// token that names it.
	pub2, priv2 := keyOf(t)
	kid2 := token.KeyID(pub2)
	f.jwks.set(map[string]ed25519.PublicKey{f.signer.KeyID: f.pub, kid2: pub2}, false)
	s2 := *f.signer
	s2.KeyID, s2.Key = kid2, priv2
	tok2, _, _ := s2.Sign("u2", "faculty", "j")
	hitsBefore := f.jwks.hits.Load()
	f.clk.Add(11 * time.Second) // past the min refresh interval since the first fetch
	if c := f.do(NewPolicy(Required, nil), "/x", withBearer(tok2)); c.Response.StatusCode() != 200 {
		t.Fatalf("token with the rotated key: %d", c.Response.StatusCode())
	}
	if f.jwks.hits.Load() != hitsBefore+1 {
		t.Fatalf("fetches %d", f.jwks.hits.Load()-hitsBefore)
	}
	// A flood of made-up kids within the interval costs no fetch.
	_, priv3 := keyOf(t)
	s3 := *f.signer
	s3.KeyID, s3.Key = "made-up", priv3
	bad, _, _ := s3.Sign("x", "admin", "j")
	for i := 0; i < 20; i++ {
		if c := f.do(NewPolicy(Required, nil), "/x", withBearer(bad)); c.Response.StatusCode() != 401 {
			t.Fatal("unknown kid accepted")
		}
	}
	if f.jwks.hits.Load() != hitsBefore+1 {
		t.Fatalf("made-up kids caused %d fetches", f.jwks.hits.Load()-hitsBefore-1)
	}
	f.clk.Add(11 * time.Second)
	f.do(NewPolicy(Required, nil), "/x", withBearer(bad))
	if f.jwks.hits.Load() != hitsBefore+2 {
		t.Fatal("no refetch after the interval")
	}
}

func TestKeysKeepLastGoodSetAndFallback(t *testing.T) {
	clk := newClock()
	pub, _ := keyOf(t)
	pinnedPub, _ := keyOf(t)
	j := startJWKS(t, map[string]ed25519.PublicKey{"k1": pub})
	j.etags = true
	j.set(map[string]ed25519.PublicKey{"k1": pub}, true) // down at start
	m, _ := NewMetrics(prometheus.NewRegistry())
	fallback := token.NewKeySet(map[string]ed25519.PublicKey{"pinned": pinnedPub})
	k := NewKeys(KeysOptions{URLs: []string{j.srv.URL + "/a", j.srv.URL + "/b"}, RefreshInterval: time.Hour, MinRefreshInterval: time.Millisecond,
		Timeout: time.Second, Fallback: fallback, Now: clk.Now, Metrics: m})
	defer k.Close()
	if _, ok := k.Current().Key("pinned"); !ok || k.Fetched() != nil {
		t.Fatal("fallback not in force before the first fetch")
	}
	ctx := context.Background()
	if err := k.Fetch(ctx); err == nil || !strings.Contains(err.Error(), "status 503") {
		t.Fatalf("fetch from a failing server: %v", err)
	}
	j.set(map[string]ed25519.PublicKey{"k1": pub}, false)
	if err := k.Fetch(ctx); err != nil {
		t.Fatal(err)
	}
	if _, ok := k.Current().Key("k1"); !ok || k.Fetched() == nil {
		t.Fatal("fetched set not in force")
	}
	gen := k.Generation()
	if err := k.Fetch(ctx); err != nil || testutil.ToFloat64(m.JWKSFetches.WithLabelValues("not_modified")) < 1 {
		t.Fatalf("conditional fetch: %v", err)
	}
	j.set(nil, true)
	if err := k.Fetch(ctx); err == nil {
		t.Fatal("failure not reported")
	}
	if _, ok := k.Current().Key("k1"); !ok {
		t.Fatal("last good set dropped on failure")
	}
	// A rotation that drops k1 starts a new generation (cached results void).
	pub2, _ := keyOf(t)
	j.set(map[string]ed25519.PublicKey{"k2": pub2}, false)
	if err := k.Fetch(ctx); err != nil {
		t.Fatal(err)
	}
	if k.Generation() == gen {
		t.Fatal("dropping a key kept the generation")
	}
	if testutil.ToFloat64(m.JWKSKeys) != 1 {
		t.Fatal("key gauge")
	}
	// Invalid documents are failures too.
	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(`{"keys":[]}`)) }))
	defer bad.Close()
	kb := NewKeys(KeysOptions{URLs: []string{bad.URL}, RefreshInterval: time.Hour, MinRefreshInterval: time.Hour, Timeout: time.Second, Now: clk.Now})
	defer kb.Close()
	if err := kb.Fetch(ctx); err == nil || kb.Current() != nil {
		t.Fatal("empty key set accepted")
	}
}

func TestNoKeysIs503(t *testing.T) {
	clk := newClock()
	k := NewKeys(KeysOptions{URLs: []string{"http://127.0.0.1:1/jwks.json"}, RefreshInterval: time.Hour, MinRefreshInterval: time.Hour,
		Timeout: 200 * time.Millisecond, Now: clk.Now})
	defer k.Close()
	a := New(Options{Issuer: "i", Audience: "a", Realm: "r", Keys: k, Now: clk.Now})
	var hits int
	h := Middleware(a, func(*fasthttp.RequestCtx) *Policy { return NewPolicy(Required, nil) }, func(*fasthttp.RequestCtx) { hits++ })
	ctx := &fasthttp.RequestCtx{}
	ctx.Request.Header.Set("Authorization", "Bearer a.b.c")
	h(ctx)
	if ctx.Response.StatusCode() != 503 || hits != 0 || len(ctx.Response.Header.Peek("Retry-After")) == 0 {
		t.Fatalf("status %d", ctx.Response.StatusCode())
	}
}

func TestFallbackFileFormat(t *testing.T) {
	pub, _ := keyOf(t)
	b, _ := token.NewKeySet(map[string]ed25519.PublicKey{"pinned": pub}).MarshalJWKS()
	p := filepath.Join(t.TempDir(), "jwks.json")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(p)
	ks, err := token.ParseJWKS(raw)
	if err != nil || ks.Len() != 1 {
		t.Fatal(err)
	}
}

func TestCacheHitDoesNotAllocate(t *testing.T) {
	f := newFixture(t, 1000)
	tok := f.sign(t, "user-1", "student")
	p := NewPolicy(Required, nil)
	h := Middleware(f.auth, func(*fasthttp.RequestCtx) *Policy { return p }, func(*fasthttp.RequestCtx) {})
	ctx := &fasthttp.RequestCtx{}
	ctx.Request.SetRequestURI("/api/v1/x")
	ctx.Request.Header.Set("Authorization", "Bearer "+tok)
	h(ctx)
	if n := testing.AllocsPerRun(200, func() { h(ctx) }); n != 0 {
		t.Fatalf("cache-hit path allocates %v times", n)
	}
}

// FuzzAuthorization drives arbitrary Authorization values and query
// strings through the edge token path: nothing but the genuinely signed
// token may pass, and nothing may panic.
func FuzzAuthorization(f *testing.F) {
	fx := newFixture(f, 100)
	good := fx.sign(f, "user-1", "student")
	parts := strings.Split(good, ".")
	f.Add("Bearer "+good, "")
	f.Add("Bearer "+parts[0]+"."+parts[1]+".", "")
	f.Add("bearer "+b64(`{"alg":"none"}`)+".e30.", "")
	f.Add("Bearer a.b.c", "access_token=x")
	f.Add("Basic Zm9vOmJhcg==", "")
	f.Add("Bearer "+strings.Repeat("A", 5000), "")
	f.Add("Bearer ===", "")
	p := NewPolicy(Required, nil)
	f.Fuzz(func(t *testing.T, authz, query string) {
		var passed bool
		h := Middleware(fx.auth, func(*fasthttp.RequestCtx) *Policy { return p }, func(*fasthttp.RequestCtx) { passed = true })
		ctx := &fasthttp.RequestCtx{}
		ctx.Request.SetRequestURI("/x?" + query)
		ctx.Request.Header.Set("Authorization", authz)
		h(ctx)
		st := ctx.Response.StatusCode()
		if passed {
			if st != 200 || !strings.Contains(authz, parts[2][:20]) {
				t.Fatalf("passed: %q", authz)
			}
			return
		}
		if st != 401 && st != 403 {
			t.Fatalf("status %d for %q", st, authz)
		}
	})
}

func benchmarkVerify(b *testing.B, cacheEntries int) {
	f := newFixture(b, cacheEntries)
	tok := f.sign(b, "2f1a7c9e-5b7d-4c1e-9f3a-8d2b6e4a1c00", "student")
	p := NewPolicy(Required, nil)
	h := Middleware(f.auth, func(*fasthttp.RequestCtx) *Policy { return p }, func(*fasthttp.RequestCtx) {})
	ctx := &fasthttp.RequestCtx{}
	ctx.Request.SetRequestURI("/api/v1/attendance")
	ctx.Request.Header.Set("Authorization", "Bearer "+tok)
	b.ReportAllocs()
	for b.Loop() {
		h(ctx)
		if ctx.Response.StatusCode() != 200 {
			b.Fatal(ctx.Response.StatusCode())
		}
	}
}

// BenchmarkVerifyNoCache is the full EdDSA verification per request.
func BenchmarkVerifyNoCache(b *testing.B) { benchmarkVerify(b, 0) }

// BenchmarkVerifyCached is the verification cache hit path.
func BenchmarkVerifyCached(b *testing.B) { benchmarkVerify(b, 100_000) }
