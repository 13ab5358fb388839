// Package authztest provides an Authenticator for tests of code above
// authentication: bearer tokens are looked up in a fixed map, so a test
// states exactly which principal calls a route. It is imported only by
// _test.go files.
package authztest

import (
	"bytes"
	"sync"

	"github.com/valyala/fasthttp"

	"github.com/campshub360/edge/backend/internal/authz"
)

// Tokens maps opaque bearer strings to principals. Safe for concurrent use.
type Tokens struct {
	mu sync.RWMutex
	m  map[string]*authz.Principal
}

// New returns an empty token table.
func New() *Tokens { return &Tokens{m: map[string]*authz.Principal{}} }

// Add registers token for p and returns token.
func (t *Tokens) Add(token string, p *authz.Principal) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.m[token] = p
	return token
}

// Authenticate implements authz.Authenticator like the real one at the
// header level: no Authorization header, or one in another scheme, is
// anonymous; two are an *authz.RequestError; an unknown bearer is
// ErrInvalidCredentials.
func (t *Tokens) Authenticate(ctx *fasthttp.RequestCtx) (*authz.Principal, error) {
	var h []byte
	n := 0
	for k, v := range ctx.Request.Header.All() {
		if bytes.EqualFold(k, []byte(fasthttp.HeaderAuthorization)) {
			h = v
			n++
		}
	}
	if n > 1 {
		return nil, &authz.RequestError{Description: "Send exactly one Authorization header"}
	}
	tok, ok := bytes.CutPrefix(h, []byte("Bearer "))
	if !ok {
		return nil, nil
	}
	t.mu.RLock()
	defer t.mu.RUnlock()
	p, found := t.m[string(tok)]
	if !found {
		return nil, authz.ErrInvalidCredentials
	}
	return p, nil
}
