package qr

import (
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

func TestIssueVerify(t *testing.T) {
	now := time.Date(2026, 11, 2, 4, 30, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	key := []byte(strings.Repeat("k", 32))
	s, err := New(key, time.Minute, 5*time.Second, clock)
	if err != nil {
		t.Fatal(err)
	}
	id := uuid.New()
	tok, exp := s.Issue(id)
	if len(tok) != TokenLen || !exp.Equal(now.Add(time.Minute)) {
		t.Fatalf("token %q (%d), expiry %s", tok, len(tok), exp)
	}
	if got, err := s.Verify(tok); err != nil || got != id {
		t.Fatalf("Verify: %s, %v", got, err)
	}
	// Expiry, with the skew tolerated.
	now = now.Add(time.Minute + 4*time.Second)
	if _, err := s.Verify(tok); err != nil {
		t.Fatalf("within skew: %v", err)
	}
	now = now.Add(2 * time.Second)
	if _, err := s.Verify(tok); err != ErrExpired {
		t.Fatalf("expired: %v", err)
	}
	// Another key, any flipped bit, another length: invalid.
	other, _ := New([]byte(strings.Repeat("o", 32)), time.Minute, 0, clock)
	tok2, _ := other.Issue(id)
	if _, err := s.Verify(tok2); err != ErrInvalid {
		t.Fatalf("other key: %v", err)
	}
	for i := range tok {
		b := []byte(tok)
		b[i] ^= 1
		if _, err := s.Verify(string(b)); err == nil {
			t.Fatalf("flipped byte %d accepted", i)
		}
	}
	for _, bad := range []string{"", tok + "A", tok[:len(tok)-1], strings.Repeat("=", TokenLen)} {
		if _, err := s.Verify(bad); err != ErrInvalid {
			t.Fatalf("%q: %v", bad, err)
		}
	}
	// A token claiming an expiry beyond ttl + skew was not issued here.
	far, _ := New(key, time.Hour, 0, clock)
	tok3, _ := far.Issue(id)
	if _, err := s.Verify(tok3); err != ErrInvalid {
		t.Fatalf("far expiry: %v", err)
	}
	if _, err := New([]byte("short"), time.Minute, 0, nil); err == nil {
		t.Fatal("short key accepted")
	}
}

func FuzzVerify(f *testing.F) {
	s, _ := New([]byte(strings.Repeat("k", 32)), time.Minute, time.Second, nil)
	tok, _ := s.Issue(uuid.New())
	f.Add(tok)
	f.Add("")
	f.Add(strings.Repeat("A", TokenLen))
	f.Fuzz(func(t *testing.T, in string) {
		_, _ = s.Verify(in)
	})
}
