package testsrv

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/valyala/fasthttp"
)

// Campus is a small stand-in for the campus API, enough to exercise
// scenarios with auth and URL parameters:
//
//	POST /api/v1/auth/login      {"username","password"} -> {"access_token":"tok-USERNAME",...}; 401 on a wrong password
//	GET  /api/v1/students?limit=N  (Bearer token) -> {"items":[{"id":"s-0001",...}],"next_cursor":""}
//	GET  /api/v1/students/ID       (Bearer token) -> {"id":"ID"}
//	GET  /health/ and GET /        -> 200
//	anything else                  -> 404
//
// It records every request it serves. Its methods are safe for concurrent
// use.
type Campus struct {
	// Password is the one password every user has.
	Password string
	// Students is the number of students listed (ids s-0001...).
	Students int

	mu   sync.Mutex
	seen []Seen
}

// Seen is a request as Campus received it.
type Seen struct {
	// Method and URI (path and query) of the request.
	Method, URI string
	// Authorization and ContentType are the headers' values.
	Authorization, ContentType string
	// Body is the request body.
	Body string
}

// maxSeen bounds the request log.
const maxSeen = 10_000

// Seen returns a copy of the requests served so far (the first 10,000).
func (c *Campus) Seen() []Seen {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Seen(nil), c.seen...)
}

// Handle serves one request.
func (c *Campus) Handle(ctx *fasthttp.RequestCtx) {
	c.mu.Lock()
	if len(c.seen) < maxSeen {
		c.seen = append(c.seen, Seen{
			Method:        string(ctx.Method()),
			URI:           string(ctx.RequestURI()),
			Authorization: string(ctx.Request.Header.Peek("Authorization")),
			ContentType:   string(ctx.Request.Header.ContentType()),
			Body:          string(ctx.PostBody()),
		})
	}
	c.mu.Unlock()

	path := string(ctx.Path())
	authed := strings.HasPrefix(string(ctx.Request.Header.Peek("Authorization")), "Bearer tok-")
	switch {
	case path == "/api/v1/auth/login" && ctx.IsPost():
		var in struct{ Username, Password string }
		if err := json.Unmarshal(ctx.PostBody(), &in); err != nil || in.Username == "" {
			problem(ctx, fasthttp.StatusBadRequest)
			return
		}
		if in.Password != c.Password {
			problem(ctx, fasthttp.StatusUnauthorized)
			return
		}
		writeJSON(ctx, map[string]any{"access_token": "tok-" + in.Username, "token_type": "Bearer", "expires_in": 900})
	case path == "/api/v1/students" && ctx.IsGet():
		if !authed {
			problem(ctx, fasthttp.StatusUnauthorized)
			return
		}
		limit, err := strconv.Atoi(string(ctx.QueryArgs().Peek("limit")))
		if err != nil || limit <= 0 {
			limit = 50
		}
		items := []map[string]any{}
		for i := 1; i <= min(limit, c.Students); i++ {
			items = append(items, map[string]any{"id": fmt.Sprintf("s-%04d", i), "roll_number": i})
		}
		writeJSON(ctx, map[string]any{"items": items, "next_cursor": ""})
	case strings.HasPrefix(path, "/api/v1/students/") && ctx.IsGet():
		if !authed {
			problem(ctx, fasthttp.StatusUnauthorized)
			return
		}
		writeJSON(ctx, map[string]any{"id": strings.TrimPrefix(path, "/api/v1/students/")})
	case path == "/health/" || path == "/":
		writeJSON(ctx, map[string]any{"status": "ok"})
	default:
		problem(ctx, fasthttp.StatusNotFound)
	}
}

func writeJSON(ctx *fasthttp.RequestCtx, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		problem(ctx, fasthttp.StatusInternalServerError)
		return
	}
	ctx.SetContentType("application/json")
	ctx.SetBody(b)
}

func problem(ctx *fasthttp.RequestCtx, status int) {
	ctx.SetStatusCode(status)
	ctx.SetContentType("application/problem+json")
	ctx.SetBodyString(`{"type":"about:blank","status":` + strconv.Itoa(status) + `}`)
}
