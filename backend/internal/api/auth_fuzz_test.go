package api

import (
	"errors"
	"testing"

	"github.com/campshub360/edge/backend/internal/domain"
)

// FuzzDecodeLogin feeds arbitrary bodies to the login decoder: it never
// panics, fails only with a client-safe validation error, and what it
// accepts passes or fails validation without panicking either.
func FuzzDecodeLogin(f *testing.F) {
	for _, s := range []string{`{"username":"a@b.c","password":"x"}`, `{}`, `[]`, `{"username":1}`, `{"username":"\u0000"}`,
		`{"username":"a","password":"b","x":1}`, `{"username":"a"} {}`, "\xff", `null`, `{"password":null}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var req loginRequest
		err := decodeAuthJSON(body, &req)
		if err != nil {
			var inv *domain.InvalidError
			if !errors.As(err, &inv) || len(inv.Violations) == 0 {
				t.Fatalf("decode error is not a validation error: %v", err)
			}
			for _, v := range inv.Violations {
				if len(v.Field) > 64 {
					t.Fatalf("field name echoes %d bytes of input", len(v.Field))
				}
			}
			return
		}
		_ = req.validate()
	})
}

// FuzzDecodeRefresh does the same for the token endpoints' bodies.
func FuzzDecodeRefresh(f *testing.F) {
	for _, s := range []string{`{"refresh_token":"rt_x"}`, `{"mfa_token":"mfa_x","code":"123456"}`, `{"refresh_token":["a"]}`, `"x"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var r refreshRequest
		if err := decodeAuthJSON(body, &r); err != nil {
			var inv *domain.InvalidError
			if !errors.As(err, &inv) {
				t.Fatalf("decode error is not a validation error: %v", err)
			}
		}
		var m mfaLoginRequest
		if err := decodeAuthJSON(body, &m); err != nil {
			var inv *domain.InvalidError
			if !errors.As(err, &inv) {
				t.Fatalf("decode error is not a validation error: %v", err)
			}
		}
	})
}

func FuzzIsMedia(f *testing.F) {
	f.Add([]byte("application/json; charset=utf-8"))
	f.Add([]byte("text/plain"))
	f.Fuzz(func(t *testing.T, ct []byte) { _ = isMedia(ct, "application/json") })
}
