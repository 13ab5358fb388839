package keyring

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestSealOpenRotate(t *testing.T) {
	k1, spec1, err := Generate("2026-05", nil)
	if err != nil {
		t.Fatal(err)
	}
	k2, spec2, _ := Generate("2026-11", nil)
	old, err := Parse(spec1)
	if err != nil || old.Primary() != "2026-05" {
		t.Fatalf("parse: %v", err)
	}
	ct, err := old.Seal([]byte("+91 98765 43210"), []byte("students.phone:1"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(ct, []byte("98765")) {
		t.Fatal("plaintext visible")
	}
	if kid, _ := KeyID(ct); kid != "2026-05" {
		t.Fatalf("kid %q", kid)
	}
	ring, err := Parse(spec2 + ", " + spec1)
	if err != nil || ring.Primary() != "2026-11" || len(ring.IDs()) != 2 {
		t.Fatalf("two keys: %v", err)
	}
	if pt, err := ring.Open(ct, []byte("students.phone:1")); err != nil || string(pt) != "+91 98765 43210" {
		t.Fatalf("open with the old key in the ring: %q %v", pt, err)
	}
	if !ring.NeedsRotation(ct) || old.NeedsRotation(ct) {
		t.Fatal("NeedsRotation")
	}
	only2, _ := New([]Key{k2}, nil)
	if _, err := only2.Open(ct, []byte("students.phone:1")); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("missing key: %v", err)
	}
	if _, err := old.Open(ct, []byte("students.phone:2")); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("wrong associated data: %v", err)
	}
	bad := append([]byte(nil), ct...)
	bad[len(bad)-1] ^= 1
	if _, err := old.Open(bad, []byte("students.phone:1")); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("tampered: %v", err)
	}
	for _, m := range [][]byte{nil, {1}, {2, 1, 'a'}, {1, 40}, {1, 7, '2', '0', '2', '6', '-', '0', '5', 0}} {
		if _, err := old.Open(m, nil); !errors.Is(err, ErrMalformed) {
			t.Fatalf("malformed %v: %v", m, err)
		}
	}
	// Nonces differ: the same plaintext seals differently.
	a, _ := old.Seal([]byte("x"), nil)
	b, _ := old.Seal([]byte("x"), nil)
	if bytes.Equal(a, b) {
		t.Fatal("nonce reused")
	}
	_ = k1
}

func TestParseRejects(t *testing.T) {
	for _, spec := range []string{"", "nokey", "k:notbase64!", "k:c2hvcnQ=", "bad id:" + strings.Repeat("A", 43) + "=",
		"a:" + strings.Repeat("A", 43) + "=,a:" + strings.Repeat("B", 43) + "="} {
		if _, err := Parse(spec); err == nil {
			t.Errorf("accepted %q", spec)
		} else if strings.Contains(err.Error(), "AAAA") || strings.Contains(err.Error(), "c2hvcnQ") {
			t.Errorf("error echoes key material: %v", err)
		}
	}
}

func FuzzOpen(f *testing.F) {
	k, _, _ := Generate("k", nil)
	r, _ := New([]Key{k}, nil)
	ct, _ := r.Seal([]byte("secret"), nil)
	f.Add(ct)
	f.Fuzz(func(t *testing.T, b []byte) {
		pt, err := r.Open(b, nil)
		if err == nil && !bytes.Equal(b, ct) && string(pt) == "secret" {
			return // an equivalent ciphertext cannot exist, but must not panic either way
		}
	})
}
