package observe

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestLineIsJSON(t *testing.T) {
	var buf bytes.Buffer
	l := NewAccessLog(&buf, 0, time.Hour)
	ln := l.Begin()
	ln.Time("time", time.Date(2026, 11, 29, 8, 0, 0, 123e6, time.FixedZone("IST", 19800)))
	ln.Str("path", "/api/\"q\"\\\x00\n\t\u00e9\xff")
	ln.Int("status", 499)
	ln.Millis("duration_ms", 1234567*time.Microsecond)
	ln.Millis("neg", -1500*time.Microsecond)
	l.Commit(ln)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
		t.Fatalf("not JSON: %q", buf.String())
	}
	if m["time"] != "2026-11-29T02:30:00.123Z" || m["path"] != "/api/\"q\"\\\x00\n\t\u00e9\ufffd" ||
		m["status"] != float64(499) || m["duration_ms"] != 1234.567 || m["neg"] != -1.5 {
		t.Fatalf("decoded %v", m)
	}
	if !strings.HasSuffix(buf.String(), "}\n") || strings.Count(buf.String(), "\n") != 1 {
		t.Fatalf("not one line: %q", buf.String())
	}
}

func TestFlushInterval(t *testing.T) {
	var buf syncBuf
	l := NewAccessLog(&buf, 0, 10*time.Millisecond)
	defer l.Close()
	ln := l.Begin()
	ln.Str("k", "v")
	l.Commit(ln)
	deadline := time.Now().Add(5 * time.Second)
	for buf.Len() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("line never flushed")
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestLineAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops objects under the race detector")
	}
	var buf bytes.Buffer
	l := NewAccessLog(&buf, 1<<20, time.Hour)
	defer l.Close()
	now := time.Now()
	n := testing.AllocsPerRun(1000, func() {
		ln := l.Begin()
		ln.Time("time", now)
		ln.Str("path", "/api/v1/students")
		ln.Bytes("request_id", []byte("0190b8a2-7c1e-7000-8000-000000000000"))
		ln.Int("status", 200)
		ln.Millis("duration_ms", time.Millisecond)
		l.Commit(ln)
		if buf.Len() > 1<<19 {
			buf.Reset()
		}
	})
	if n != 0 {
		t.Fatalf("a line allocates %.1f times", n)
	}
}

// FuzzJSONString: any byte string becomes a valid JSON string that
// decodes to the input (invalid UTF-8 sequences as U+FFFD).
func FuzzJSONString(f *testing.F) {
	for _, s := range []string{"", "plain", "\"\\", "\x00\x1f\x7f", "é€𝄞", "\xff\xfe", "a\xe2\x82"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, s []byte) {
		out := appendJSONString(nil, s)
		var got string
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatalf("invalid JSON %q for %q", out, s)
		}
		if want := strings.ToValidUTF8(string(s), "\ufffd"); utf8.Valid(s) && got != want {
			t.Fatalf("decoded %q, want %q", got, want)
		}
		if !utf8.ValidString(got) {
			t.Fatalf("decoded invalid UTF-8 %q", got)
		}
	})
}
