// Package problem writes RFC 9457 problem details (application/problem+json)
// on fasthttp responses. Both programs map their errors to HTTP in one place
// and hand the result to Write, so every error body has the same shape.
package problem

import (
	"encoding/json"
	"strconv"

	"github.com/valyala/fasthttp"
)

// ContentType is the media type of a problem details body (RFC 9457 §3).
const ContentType = "application/problem+json"

// TypeBase prefixes every problem type URI; the suffix is a stable slug such
// as "validation" or "upstream-unavailable" that clients may match on.
const TypeBase = "https://campshub360.dev/problems/"

// HeaderRequestID is the header that carries the request id on requests and
// responses; Write copies its response value into the body.
const HeaderRequestID = "X-Request-ID"

// FieldError names one invalid input field (a JSON field path such as
// "items[3].mark", or a query parameter such as "limit") and says what is
// wrong with it in words safe to show a client.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// Problem is an RFC 9457 problem details object (§3.1 members plus the
// extension members request_id and errors). Detail must be safe for clients:
// never internal error text, SQL or secrets.
type Problem struct {
	Type      string       `json:"type"`
	Title     string       `json:"title"`
	Status    int          `json:"status"`
	Detail    string       `json:"detail,omitempty"`
	Instance  string       `json:"instance,omitempty"`
	RequestID string       `json:"request_id,omitempty"`
	Errors    []FieldError `json:"errors,omitempty"`
}

// New returns a Problem with Type TypeBase+slug and the given HTTP status,
// title (short, the same for every occurrence of the type) and detail.
func New(status int, slug, title, detail string) Problem {
	return Problem{Type: TypeBase + slug, Title: title, Status: status, Detail: detail}
}

// Validation returns a 400 problem of type "validation" listing every field
// error found; callers collect them all before answering.
func Validation(detail string, errs ...FieldError) Problem {
	p := New(fasthttp.StatusBadRequest, "validation", "Invalid request", detail)
	p.Errors = errs
	return p
}

// Write replaces ctx's response status, Content-Type and body with p. The
// request id is taken from the response's X-Request-ID header when p has
// none, so it matches the header the client sees. Other response headers
// already set (security headers, Retry-After, WWW-Authenticate) are kept.
// Safe for concurrent use on distinct contexts.
func Write(ctx *fasthttp.RequestCtx, p Problem) {
	if p.RequestID == "" {
		p.RequestID = string(ctx.Response.Header.Peek(HeaderRequestID))
	}
	if p.Status == 0 {
		p.Status = fasthttp.StatusInternalServerError
	}
	if p.Title == "" {
		p.Title = fasthttp.StatusMessage(p.Status)
	}
	body, err := json.Marshal(p)
	if err != nil {
		// Marshal of this struct of strings cannot fail; keep a valid body anyway.
		body = []byte(`{"type":"` + TypeBase + `internal","title":"Internal Server Error","status":` + strconv.Itoa(p.Status) + `}`)
	}
	ctx.Response.ResetBody()
	ctx.SetStatusCode(p.Status)
	ctx.SetContentType(ContentType)
	ctx.Response.Header.Del(fasthttp.HeaderContentEncoding)
	ctx.Response.Header.Del(fasthttp.HeaderETag)
	ctx.SetBody(body)
}
