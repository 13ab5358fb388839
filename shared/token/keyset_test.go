package token

import (
	"crypto/ed25519"
	"strings"
	"testing"
)

func TestKeySetCompare(t *testing.T) {
	a, _, _ := ed25519.GenerateKey(nil)
	b, _, _ := ed25519.GenerateKey(nil)
	one := NewKeySet(map[string]ed25519.PublicKey{"k1": a})
	two := NewKeySet(map[string]ed25519.PublicKey{"k1": a, "k2": b})
	swapped := NewKeySet(map[string]ed25519.PublicKey{"k1": b})
	if got := strings.Join(two.KeyIDs(), ","); got != "k1,k2" {
		t.Fatalf("KeyIDs %q", got)
	}
	if !one.Equal(NewKeySet(map[string]ed25519.PublicKey{"k1": a})) || one.Equal(two) || one.Equal(swapped) || one.Equal(nil) {
		t.Fatal("Equal")
	}
	var none *KeySet
	if !none.Equal(nil) {
		t.Fatal("nil sets are equal")
	}
	if !two.Covers(one) || one.Covers(two) || swapped.Covers(one) || !one.Covers(nil) || none.Covers(one) {
		t.Fatal("Covers")
	}
}
