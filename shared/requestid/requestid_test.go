package requestid

import (
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

func TestAppendNewIsUUIDv7AndOrdered(t *testing.T) {
	g := NewGenerator(nil)
	prev := ""
	for i := 0; i < 10000; i++ {
		s := g.New()
		u, err := uuid.Parse(s)
		if err != nil || u.Version() != 7 || u.Variant() != uuid.RFC4122 || len(s) != Len || strings.ToLower(s) != s {
			t.Fatalf("minted %q: version %v variant %v err %v", s, u.Version(), u.Variant(), err)
		}
		if s <= prev {
			t.Fatalf("ids not increasing: %q after %q", s, prev)
		}
		prev = s
	}
}

func TestClockStepBackKeepsOrder(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	g := NewGenerator(func() time.Time { return now })
	a := g.New()
	now = now.Add(-time.Hour)
	b := g.New()
	if b <= a {
		t.Fatalf("id after clock step back %q is not after %q", b, a)
	}
	u, _ := uuid.Parse(a)
	if sec, _ := u.Time().UnixTime(); sec != 1_800_000_000 {
		t.Fatalf("timestamp = %d, want 1800000000", sec)
	}
}

func TestAppendNewDoesNotAllocate(t *testing.T) {
	g := NewGenerator(nil)
	buf := make([]byte, 0, Len)
	if n := testing.AllocsPerRun(100, func() { buf = g.AppendNew(buf[:0]) }); n != 0 {
		t.Fatalf("AppendNew allocates %.1f times per call", n)
	}
}

func BenchmarkAppendNew(b *testing.B) {
	g := NewGenerator(nil)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		buf := make([]byte, 0, Len)
		for pb.Next() {
			buf = g.AppendNew(buf[:0])
		}
	})
}

func TestValid(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want bool
	}{
		{"0190b8a2-7c1e-7000-8000-000000000000", true},
		{"abc_DEF.1:2", true},
		{"", false},
		{strings.Repeat("a", MaxLen), true},
		{strings.Repeat("a", MaxLen+1), false},
		{"has space", false},
		{"crlf\r\nX-Evil: 1", false},
		{"quote\"", false},
		{"ünïcode", false},
		{"nul\x00", false},
	} {
		if got := Valid([]byte(tc.in)); got != tc.want {
			t.Errorf("Valid(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func FuzzValid(f *testing.F) {
	for _, s := range []string{"", "abc", "a\r\nb", strings.Repeat("x", 70), "0190b8a2-7c1e-7000-8000-000000000000"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if !Valid(b) {
			return
		}
		if len(b) == 0 || len(b) > MaxLen {
			t.Fatalf("accepted id of length %d", len(b))
		}
		for _, c := range b {
			if c <= ' ' || c >= 0x7f || c == '"' || c == ',' || c == ';' {
				t.Fatalf("accepted unsafe byte %q in %q", c, b)
			}
		}
	})
}
