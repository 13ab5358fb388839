package cursor

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"strings"
	"testing"

	"github.com/google/uuid"
)

func TestRoundTrip(t *testing.T) {
	keys := []Key{
		{Sort: "CSE2024A001", ID: uuid.MustParse("0191d9a0-8b5e-7c3a-9f1e-2a3b4c5d6e7f")},
		{Sort: "", ID: uuid.Nil},
		{Sort: strings.Repeat("x", MaxSortLen), ID: uuid.Max},
		{Sort: "Ünïcødé/roll-№", ID: uuid.New()},
	}
	for _, k := range keys {
		c, err := Encode("students", "department=CSE&year=2", k)
		if err != nil {
			t.Fatalf("Encode(%q): %v", k.Sort, err)
		}
		if len(c) > MaxLen {
			t.Fatalf("cursor of %d bytes exceeds MaxLen", len(c))
		}
		got, err := Decode(c, "students", "department=CSE&year=2")
		if err != nil {
			t.Fatalf("Decode(Encode(%q)): %v", k.Sort, err)
		}
		if got != k {
			t.Fatalf("round trip: got %+v, want %+v", got, k)
		}
	}
}

func TestEncodeRejectsBadSortValues(t *testing.T) {
	for _, s := range []string{strings.Repeat("x", MaxSortLen+1), "\xff\xfe"} {
		if _, err := Encode("students", "", Key{Sort: s}); !errors.Is(err, ErrSortTooLong) {
			t.Errorf("Encode(%q): got %v, want ErrSortTooLong", s, err)
		}
	}
}

func TestDecodeMismatch(t *testing.T) {
	c, err := Encode("students", "department=CSE&year=", Key{Sort: "CSE2024A001", ID: uuid.New()})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ scope, filters string }{
		{"students", "department=ECE&year="},
		{"students", "department=CSE&year=1"},
		{"students", "department=&year="},
		{"faculty", "department=CSE&year="},
	} {
		if _, err := Decode(c, tc.scope, tc.filters); !errors.Is(err, ErrMismatch) {
			t.Errorf("Decode with %s %q: got %v, want ErrMismatch", tc.scope, tc.filters, err)
		}
	}
}

func TestDecodeRejectsTampering(t *testing.T) {
	const scope, filters = "students", "department=&year="
	c, err := Encode(scope, filters, Key{Sort: "ME2025B017", ID: uuid.New()})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		t.Fatal(err)
	}
	// Every single-bit flip anywhere is caught (CRC-32C detects all of them).
	for i := range raw {
		for bit := range 8 {
			mut := append([]byte(nil), raw...)
			mut[i] ^= 1 << bit
			if _, err := Decode(base64.RawURLEncoding.EncodeToString(mut), scope, filters); err == nil {
				t.Fatalf("flip of byte %d bit %d accepted", i, bit)
			}
		}
	}
	// Every truncation and an extension are malformed.
	for n := range len(c) {
		if _, err := Decode(c[:n], scope, filters); !errors.Is(err, ErrMalformed) {
			t.Fatalf("truncation to %d chars: got %v, want ErrMalformed", n, err)
		}
	}
	if _, err := Decode(c+"A", scope, filters); !errors.Is(err, ErrMalformed) {
		t.Fatalf("extended cursor: got %v, want ErrMalformed", err)
	}
	for _, garbage := range []string{"abc", "====", "not a cursor", "AAAA", c + "=", " " + c, strings.Repeat("A", MaxLen+4)} {
		if _, err := Decode(garbage, scope, filters); !errors.Is(err, ErrMalformed) {
			t.Errorf("Decode(%.20q): got %v, want ErrMalformed", garbage, err)
		}
	}
}

func TestDecodeRejectsUnknownVersion(t *testing.T) {
	const scope, filters = "students", ""
	c, _ := Encode(scope, filters, Key{Sort: "A1", ID: uuid.New()})
	raw, _ := base64.RawURLEncoding.DecodeString(c)
	raw[0] = Version + 1
	// Re-seal so only the version is wrong.
	body := raw[:len(raw)-crcLen]
	binary.BigEndian.PutUint32(raw[len(raw)-crcLen:], crc32.Checksum(body, castagnoli()))
	if _, err := Decode(base64.RawURLEncoding.EncodeToString(raw), scope, filters); !errors.Is(err, ErrMalformed) {
		t.Fatalf("unknown version: got %v, want ErrMalformed", err)
	}
}

// FuzzDecode checks that Decode never panics, that everything it accepts
// re-encodes to exactly the same cursor (one spelling per position), and
// that Encode output always decodes.
func FuzzDecode(f *testing.F) {
	const scope, filters = "students", "department=CSE&year=2"
	for _, k := range []Key{{Sort: "CSE2024A001", ID: uuid.MustParse("0191d9a0-8b5e-7c3a-9f1e-2a3b4c5d6e7f")}, {}} {
		c, _ := Encode(scope, filters, k)
		f.Add(c)
	}
	f.Add("")
	f.Add("AQ")
	f.Add("////")
	f.Fuzz(func(t *testing.T, s string) {
		key, err := Decode(s, scope, filters)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrMismatch) {
				t.Fatalf("Decode(%q) returned unexpected error %v", s, err)
			}
			return
		}
		again, err := Encode(scope, filters, key)
		if err != nil {
			t.Fatalf("accepted key %+v does not re-encode: %v", key, err)
		}
		if again != s {
			t.Fatalf("non-canonical cursor accepted: %q re-encodes as %q", s, again)
		}
	})
}
