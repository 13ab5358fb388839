package cache

import (
	"bytes"
	"encoding/binary"
	"slices"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/campshub360/edge/gateway/internal/exchange"
)

// canonicalURL runs the key normalizer on a request target and host.
func canonicalURL(target, host string) (*state, bool) {
	var req fasthttp.Request
	req.Header.SetRequestURI(target)
	req.Header.SetHost(host)
	var ctx fasthttp.RequestCtx
	ctx.Init(&req, nil, nil)
	st := &state{}
	(&Cache{}).buildURL(&ctx, exchange.From(&ctx), st)
	return st, true
}

// splitParts decodes a key's length-prefixed parts after the version.
func splitParts(key []byte) ([][]byte, bool) {
	if !bytes.HasPrefix(key, []byte(keyVersion)) {
		return nil, false
	}
	key = key[len(keyVersion):]
	var parts [][]byte
	for len(key) > 0 {
		n, w := binary.Uvarint(key)
		if w <= 0 || uint64(len(key)-w) < n {
			return nil, false
		}
		parts = append(parts, key[w:w+int(n)])
		key = key[w+int(n):]
	}
	return parts, true
}

// FuzzKeyNormalizer feeds arbitrary request targets and hosts through the
// key normalizer and checks: it never panics; the key's length-prefixed
// parts decode back to exactly the URL parts (no two part lists share a
// key); the canonical URL rendered as purge text parses back to itself
// (purges find what requests stored); and re-ordering the query by
// parameter name changes nothing.
func FuzzKeyNormalizer(f *testing.F) {
	for _, s := range [][2]string{
		{"/api/v1/students?limit=5&after=9", "campus.example.edu"},
		{"/a/../b/./c?z=1&a=2&a=1", "CAMPUS.EXAMPLE.EDU:443"},
		{"/%7Euser/%2F?q=%E2%82%AC&x", "[::1]:8443"},
		{"//double//slash?=&&a==b", "h"},
		{"/p?b=%26&a=%3D", "h:80"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, target, host string) {
		st, _ := canonicalURL(target, host)
		u := st.url
		for _, part := range [][]byte{{}, []byte("u0123")} {
			key := appendKey(nil, &u, part)
			parts, ok := splitParts(key)
			if !ok || len(parts) != 6 {
				t.Fatalf("key %q does not split into 6 parts", key)
			}
			for i, want := range [][]byte{classGet, u.Scheme, u.Host, u.Path, u.Query, part} {
				if !bytes.Equal(parts[i], want) {
					t.Fatalf("part %d = %q, want %q", i, parts[i], want)
				}
			}
		}
		if len(u.Host) > 0 && !bytes.ContainsAny(u.Host, "/?#@ \t\r\n%") && bytes.IndexByte(u.Path, 0) < 0 {
			text := appendURL(nil, &u)
			back, msg := parseTarget(string(text), true)
			if msg == "" && (!bytes.Equal(back.Host, u.Host) || !bytes.Equal(back.Path, u.Path) || !bytes.Equal(back.Query, u.Query)) {
				t.Fatalf("purge text %q parses to %q %q %q, want %q %q %q", text, back.Host, back.Path, back.Query, u.Host, u.Path, u.Query)
			}
		}
		// The canonical query is a fixed point: normalizing it again, in
		// reverse name order, gives the same.
		var args fasthttp.Args
		args.ParseBytes(u.Query)
		var pairs []kv
		for k, v := range args.All() {
			pairs = append(pairs, kv{append([]byte(nil), k...), append([]byte(nil), v...)})
		}
		slices.SortStableFunc(pairs, func(a, b kv) int { return -bytes.Compare(a.k, b.k) })
		var rev fasthttp.Args
		for _, p := range pairs {
			rev.AddBytesKV(p.k, p.v)
		}
		var scratch []kv
		if again := appendCanonicalQuery(nil, &rev, &scratch); !bytes.Equal(again, u.Query) {
			t.Fatalf("query %q re-normalizes to %q", u.Query, again)
		}
	})
}

// FuzzDecodeEntry checks that arbitrary bytes never crash the decoder
// and that every decodable entry re-encodes to the same bytes.
func FuzzDecodeEntry(f *testing.F) {
	e := Entry{Kind: KindResponse, Status: 200, Key: []byte("k"), Path: []byte("/p"), Headers: appendHeader(nil, []byte("A"), []byte("b")), Body: []byte("x")}
	f.Add(e.AppendBinary(nil))
	f.Add([]byte{entryMagic, entryVersion, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		var d Entry
		if DecodeEntry(b, &d) != nil {
			return
		}
		if got := d.AppendBinary(nil); !bytes.Equal(got, b) {
			t.Fatalf("re-encoding differs")
		}
		for block := d.Headers; ; {
			_, _, rest, ok := nextHeader(block)
			if !ok {
				break
			}
			block = rest
		}
	})
}
