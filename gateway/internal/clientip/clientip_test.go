package clientip

import (
	"net"
	"net/netip"
	"testing"
)

func mustNew(t testing.TB, cidrs ...string) *Resolver {
	t.Helper()
	r, err := New(cidrs)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestClientWalk(t *testing.T) {
	r := mustNew(t, "10.0.0.0/8", "192.0.2.10")
	for _, tc := range []struct {
		name, peer string
		xff        []string
		want       string
	}{
		{"untrusted peer ignores header", "203.0.113.5", []string{"1.1.1.1"}, "203.0.113.5"},
		{"trusted peer, one hop", "10.0.0.1", []string{"198.51.100.7"}, "198.51.100.7"},
		{"spoofed left entries skipped", "10.0.0.1", []string{"6.6.6.6, 198.51.100.7, 10.1.1.1"}, "198.51.100.7"},
		{"multiple header lines", "10.0.0.1", []string{"6.6.6.6", "198.51.100.7", "10.2.2.2, 192.0.2.10"}, "198.51.100.7"},
		{"all trusted -> leftmost", "10.0.0.1", []string{"10.9.9.9, 10.8.8.8"}, "10.9.9.9"},
		{"no header from trusted peer", "10.0.0.1", nil, "10.0.0.1"},
		{"garbage stops the walk", "10.0.0.1", []string{"1.2.3.4, unknown, 10.3.3.3"}, "10.3.3.3"},
		{"ports and brackets", "10.0.0.1", []string{"[2001:db8::1]:443, 198.51.100.9:80"}, "198.51.100.9"},
		{"ipv6 bracketed", "10.0.0.1", []string{"[2001:db8::2]"}, "2001:db8::2"},
		{"mapped peer", "::ffff:10.0.0.1", []string{"198.51.100.7"}, "198.51.100.7"},
		{"empty entries", "10.0.0.1", []string{" , ,198.51.100.7 , "}, "198.51.100.7"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var xff [][]byte
			for _, l := range tc.xff {
				xff = append(xff, []byte(l))
			}
			got := r.Client(Peer(net.ParseIP(tc.peer)), xff)
			if got != netip.MustParseAddr(tc.want) {
				t.Fatalf("got %v, want %s", got, tc.want)
			}
		})
	}
}

func TestNewRejectsGarbage(t *testing.T) {
	if _, err := New([]string{"10.0.0.0/8", "not-a-cidr"}); err == nil {
		t.Fatal("accepted garbage")
	}
}

func TestClientUntrustedDoesNotAllocate(t *testing.T) {
	r := mustNew(t, "10.0.0.0/8")
	peer := Peer(net.ParseIP("203.0.113.5"))
	xff := [][]byte{[]byte("1.1.1.1")}
	if n := testing.AllocsPerRun(100, func() { _ = r.Client(peer, xff) }); n != 0 {
		t.Fatalf("allocates %.1f", n)
	}
}

func FuzzClient(f *testing.F) {
	r := mustNew(f, "10.0.0.0/8", "fd00::/8")
	for _, s := range []string{"1.2.3.4", "10.0.0.1, 1.2.3.4", "[::1]:80,  x", ",,,", "1.2.3.4:99999", "[fd00::1]"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		peer := netip.MustParseAddr("10.1.2.3")
		got := r.Client(peer, [][]byte{[]byte(s)})
		if !got.IsValid() {
			t.Fatalf("invalid client for %q", s)
		}
		// The client is either the peer or an address that appears in the header.
		if got != peer {
			if _, ok := ParseHop([]byte(got.String())); !ok {
				t.Fatalf("client %v not an address", got)
			}
		}
	})
}
