package auth

import (
	"errors"
	"strings"
	"testing"
)

func TestCheckEmail(t *testing.T) {
	for in, want := range map[string]string{
		"ops@uni.example":                      "ops@uni.example",
		"  Ops@Uni.Example \n":                 "Ops@Uni.Example",
		"a.b+c@sub.uni.example":                "a.b+c@sub.uni.example",
		strings.Repeat("a", 64) + "@x.example": strings.Repeat("a", 64) + "@x.example",
	} {
		if got, err := CheckEmail(in); err != nil || got != want {
			t.Errorf("CheckEmail(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "   ", "ops", "ops@", "@uni.example", "a@b@c", "o ps@uni.example",
		"ops@uni\x00.example", strings.Repeat("a", 65) + "@x.example", "a@" + strings.Repeat("b", 253)} {
		_, err := CheckEmail(in)
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != "email" {
			t.Errorf("CheckEmail(%q): %v, want a FieldError for email", in, err)
		}
	}
}
