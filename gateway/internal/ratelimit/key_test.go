package ratelimit

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/valyala/fasthttp"
)

func mustKey(t testing.TB, comps ...string) *KeySpec {
	t.Helper()
	k, err := NewKeySpec(comps, "username", []byte("0123456789abcdef0123"))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func header(kv ...string) *fasthttp.RequestHeader {
	var h fasthttp.RequestHeader
	for i := 0; i+1 < len(kv); i += 2 {
		h.Set(kv[i], kv[i+1])
	}
	return &h
}

func build(t testing.TB, k *KeySpec, in *Input) (string, bool) {
	t.Helper()
	b, ok := k.Append(nil, in)
	return string(b), ok
}

func TestKeyIPv6AggregatesTo64(t *testing.T) {
	k := mustKey(t, "ip")
	a, _ := build(t, k, &Input{ClientIP: netip.MustParseAddr("2001:db8:1:2:aaaa::1")})
	b, _ := build(t, k, &Input{ClientIP: netip.MustParseAddr("2001:db8:1:2:ffff:ffff:ffff:ffff")})
	c, _ := build(t, k, &Input{ClientIP: netip.MustParseAddr("2001:db8:1:3::1")})
	if a != b {
		t.Fatal("two addresses of one /64 got different keys")
	}
	if a == c {
		t.Fatal("different /64s share a key")
	}
	v4, _ := build(t, k, &Input{ClientIP: netip.MustParseAddr("192.0.2.7")})
	mapped, _ := build(t, k, &Input{ClientIP: netip.MustParseAddr("::ffff:192.0.2.7")})
	other, _ := build(t, k, &Input{ClientIP: netip.MustParseAddr("192.0.2.8")})
	if v4 != mapped || v4 == other {
		t.Fatal("IPv4 keys: mapped form differs or neighbours collide")
	}
	if _, ok := build(t, k, &Input{}); ok {
		t.Fatal("a request without a client IP was keyed")
	}
}

func TestKeyMissingComponentsSkipThePolicy(t *testing.T) {
	ip := netip.MustParseAddr("198.51.100.1")
	for _, tc := range []struct {
		comps []string
		in    Input
		ok    bool
	}{
		{[]string{"user"}, Input{ClientIP: ip}, false},
		{[]string{"user"}, Input{ClientIP: ip, Subject: "u-1"}, true},
		{[]string{"api_key"}, Input{ClientIP: ip, Header: header()}, false},
		{[]string{"api_key"}, Input{ClientIP: ip, Header: header("X-API-Key", "k")}, true},
		{[]string{"header:X-Tenant"}, Input{ClientIP: ip, Header: header("X-Tenant", "")}, false},
		{[]string{"ip", "header:X-Tenant"}, Input{ClientIP: ip, Header: header("X-Tenant", "t1")}, true},
		// A login without a username still counts, per IP.
		{[]string{"ip", "username"}, Input{ClientIP: ip, Header: header()}, true},
	} {
		if _, ok := build(t, mustKey(t, tc.comps...), &tc.in); ok != tc.ok {
			t.Errorf("%v %+v: applies=%v, want %v", tc.comps, tc.in, ok, tc.ok)
		}
	}
}

func TestKeyAPIKeyIsNeverKept(t *testing.T) {
	k := mustKey(t, "api_key")
	secret := "sk_live_7f3a9c2e51b84d6f"
	key, _ := build(t, k, &Input{Header: header("X-API-Key", secret)})
	if strings.Contains(key, secret) || strings.Contains(key, secret[3:12]) {
		t.Fatal("the key holds the API key")
	}
	again, _ := build(t, k, &Input{Header: header("X-API-Key", secret)})
	other, _ := build(t, k, &Input{Header: header("X-API-Key", secret+"x")})
	if key != again || key == other {
		t.Fatal("API key ids are not stable and distinct")
	}
	// Another secret (another process without key_secret) derives other ids.
	k2, _ := NewKeySpec([]string{"api_key"}, "", []byte("another-secret-0123"))
	if third, _ := build(t, k2, &Input{Header: header("X-API-Key", secret)}); third == key {
		t.Fatal("ids do not depend on the secret")
	}
}

func TestKeyLongValuesAreHashed(t *testing.T) {
	k := mustKey(t, "header:X-Tenant", "user")
	long := strings.Repeat("a", 500)
	key, ok := build(t, k, &Input{Subject: long, Header: header("X-Tenant", long+"b")})
	if !ok || len(key) > maxKeyBytes || strings.Contains(key, strings.Repeat("a", 65)) {
		t.Fatalf("long values: len %d ok %v", len(key), ok)
	}
	// Short and long values never collide by construction (hashed flag).
	short, _ := build(t, mustKey(t, "user"), &Input{Subject: string(make([]byte, 16))})
	hashed, _ := build(t, mustKey(t, "user"), &Input{Subject: long})
	if short[0] == hashed[0] {
		t.Fatal("hashed and raw components share a tag")
	}
}

func TestKeyLoginUsernameFromJSONBody(t *testing.T) {
	k := mustKey(t, "ip", "username")
	ip := netip.MustParseAddr("203.0.113.9")
	jsonHdr := header("Content-Type", "application/json; charset=utf-8")
	key := func(body string, h *fasthttp.RequestHeader) string {
		t.Helper()
		b := []byte(body)
		orig := bytes.Clone(b)
		s, ok := build(t, k, &Input{ClientIP: ip, Header: h, Body: b})
		if !ok {
			t.Fatalf("login key not built for %q", body)
		}
		if !bytes.Equal(b, orig) {
			t.Fatalf("body modified: %q", b)
		}
		return s
	}
	alice := key(`{"username":"alice@campus.test","password":"x"}`, jsonHdr)
	for _, same := range []string{
		`{"password":"x","username":"Alice@Campus.TEST"}`,
		`  {"username" : " alice@campus.test\t" }`,
		`{"username":"al\u0069ce@campus.test"}`,
		`{"user\u006eame":"alice@campus.test"}`,
		`{"nested":{"username":"mallory"},"list":[1,{"username":"x"}],"username":"alice@campus.test"}`,
		`{"username":"mallory","username":"alice@campus.test"}`,
		`{"UserName":"alice@campus.test"}`,
	} {
		if got := key(same, jsonHdr); got != alice {
			t.Errorf("%s: key differs from alice's", same)
		}
	}
	bob := key(`{"username":"bob@campus.test"}`, jsonHdr)
	none := key(`{"password":"x"}`, jsonHdr)
	for _, other := range []string{bob, none, key(`{"username":"alice@campus.test"`, jsonHdr),
		key(`{"username":"alice@campus.test"}`, header("Content-Type", "text/plain")),
		key(`{"username":["alice@campus.test"]}`, jsonHdr)} {
		if other == alice {
			t.Error("a different or unreadable username shares alice's key")
		}
	}
	if key(`not json`, jsonHdr) != none {
		t.Error("unparseable body should count as no username")
	}
}

func TestKeyAppendDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under the race detector")
	}
	k, _ := NewKeySpec([]string{"ip", "user", "api_key", "header:X-Tenant"}, "", []byte("0123456789abcdef"))
	in := &Input{
		ClientIP: netip.MustParseAddr("2001:db8::7"), Subject: "user-42",
		Header: header("X-API-Key", "secret-key-value", "X-Tenant", "eng"),
	}
	login := mustKey(t, "login")
	lin := &Input{ClientIP: netip.MustParseAddr("192.0.2.1"), Header: header("Content-Type", "application/json"),
		Body: []byte(`{"username":"Faculty1@campus.test","password":"hunter2"}`)}
	buf := make([]byte, 0, 1024)
	if n := testing.AllocsPerRun(200, func() { buf, _ = k.Append(buf[:0], in) }); n != 0 {
		t.Fatalf("Append allocates %.1f times", n)
	}
	if n := testing.AllocsPerRun(200, func() { buf, _ = login.Append(buf[:0], lin) }); n != 0 {
		t.Fatalf("login Append allocates %.1f times", n)
	}
}

// FuzzKeyBuilder feeds arbitrary client input to the key builder: it must
// never panic, keys stay bounded, the API key never appears in a key,
// distinct subjects and headers give distinct keys, and the login body
// scan agrees with encoding/json.
func FuzzKeyBuilder(f *testing.F) {
	f.Add("192.0.2.1", "user-1", "key-1", "tenant", `{"username":"a@b.c","password":"p"}`, "application/json")
	f.Add("2001:db8::1", "", "", "", `{"username":"\ud83d\ude00"}`, "application/json")
	f.Add("::ffff:10.0.0.1", strings.Repeat("s", 100), "k", strings.Repeat("h", 70), `{"a":[{"b":"}"}],"username":"x\"y"}`, "application/vnd.api+json")
	f.Add("bogus", "x", "y", "z", `{"username":"A\u00c9"}`, "text/plain")
	f.Add("10.1.1.1", "s", "k", "t", `{"username":"\ud800"}`, "application/json")
	f.Fuzz(func(t *testing.T, ip, subject, apiKey, tenant, body, ctype string) {
		k := mustKey(t, "ip", "user", "api_key", "header:X-Tenant")
		login := mustKey(t, "login")
		addr, _ := netip.ParseAddr(ip)
		h := &fasthttp.RequestHeader{}
		h.Set("X-API-Key", apiKey)
		h.Set("X-Tenant", tenant)
		h.Set("Content-Type", ctype)
		in := &Input{ClientIP: addr, Subject: subject, Header: h, Body: []byte(body)}
		key, ok := k.Append(nil, in)
		if len(key) > maxKeyBytes {
			t.Fatalf("key of %d bytes", len(key))
		}
		storedKey := string(h.Peek("X-API-Key"))
		if ok && len(storedKey) >= 8 && bytes.Contains(key, []byte(storedKey)) {
			t.Fatalf("key contains the API key %q", storedKey)
		}
		if ok {
			in2 := *in
			in2.Subject = subject + "x"
			key2, ok2 := k.Append(nil, &in2)
			if !ok2 || bytes.Equal(key, key2) {
				t.Fatal("different subjects, same key")
			}
		}
		lk, lok := login.Append(nil, in)
		if addr.IsValid() != lok || len(lk) > maxKeyBytes {
			t.Fatalf("login key ok=%v len=%d for ip %q", lok, len(lk), ip)
		}
		// Differential check of the JSON scan against encoding/json.
		got, found := jsonStringField([]byte(body), []byte("username"), nil)
		var v struct {
			Username any `json:"username"`
		}
		if err := json.Unmarshal([]byte(body), &v); err == nil && utf8.ValidString(body) && strings.HasPrefix(strings.TrimSpace(body), "{") {
			want, isStr := v.Username.(string)
			if isStr != found || (isStr && want != string(got)) {
				t.Fatalf("body %q: scan found=%v %q, encoding/json %v %q", body, found, got, isStr, want)
			}
		}
	})
}
