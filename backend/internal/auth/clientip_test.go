package auth

import (
	"net/netip"
	"testing"
)

func TestProxiesResolve(t *testing.T) {
	p, err := ParseProxies("127.0.0.0/8, ::1/128, 10.0.0.5")
	if err != nil {
		t.Fatal(err)
	}
	lo := netip.MustParseAddr("127.0.0.1")
	ext := netip.MustParseAddr("203.0.113.9")
	for _, tc := range []struct {
		name   string
		remote netip.Addr
		xff    string
		real   string
		want   string
	}{
		{"direct untrusted ignores headers", ext, "198.51.100.1", "198.51.100.2", "203.0.113.9"},
		{"trusted proxy, one hop", lo, "198.51.100.1", "", "198.51.100.1"},
		{"spoofed left part is ignored", lo, "6.6.6.6, 198.51.100.1", "", "198.51.100.1"},
		{"trusted chain is skipped", lo, "198.51.100.1, 10.0.0.5", "", "198.51.100.1"},
		{"all trusted gives leftmost", lo, "10.0.0.5, 127.0.0.2", "", "10.0.0.5"},
		{"garbage stops the walk", lo, "198.51.100.1, nonsense", "", "127.0.0.1"},
		{"x-real-ip from trusted", lo, "", "198.51.100.7", "198.51.100.7"},
		{"bad x-real-ip", lo, "", "x", "127.0.0.1"},
		{"mapped v4", netip.MustParseAddr("::ffff:127.0.0.1"), "198.51.100.1", "", "198.51.100.1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var xff, real []byte
			if tc.xff != "" {
				xff = []byte(tc.xff)
			}
			if tc.real != "" {
				real = []byte(tc.real)
			}
			if got := p.Resolve(tc.remote, xff, real); got.String() != tc.want {
				t.Fatalf("got %s, want %s", got, tc.want)
			}
		})
	}
	if _, err := ParseProxies("10.0.0.0/33"); err == nil {
		t.Fatal("bad prefix accepted")
	}
	none, _ := ParseProxies("")
	if got := none.Resolve(lo, []byte("1.2.3.4"), nil); got != lo {
		t.Fatal("empty list trusted loopback")
	}
}

func FuzzResolve(f *testing.F) {
	p, _ := ParseProxies(DefaultTrustedProxies)
	f.Add("1.2.3.4, 127.0.0.1", "5.6.7.8")
	f.Add(",,,", "")
	f.Fuzz(func(t *testing.T, xff, real string) {
		got := p.Resolve(netip.MustParseAddr("127.0.0.1"), []byte(xff), []byte(real))
		if !got.IsValid() {
			t.Fatal("invalid address")
		}
	})
}
