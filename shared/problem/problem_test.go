package problem

import (
	"encoding/json"
	"testing"

	"github.com/valyala/fasthttp"
)

func TestWriteCarriesRequestIDAndFields(t *testing.T) {
	var ctx fasthttp.RequestCtx
	ctx.Response.Header.Set(HeaderRequestID, "req-1")
	ctx.Response.Header.Set("Retry-After", "3")
	ctx.SetBodyString("partial upstream body")
	Write(&ctx, Validation("limit must be between 1 and 500", FieldError{Field: "limit", Message: "must be between 1 and 500"}))

	if got := ctx.Response.StatusCode(); got != 400 {
		t.Fatalf("status = %d, want 400", got)
	}
	if got := string(ctx.Response.Header.ContentType()); got != ContentType {
		t.Fatalf("content type = %q", got)
	}
	if got := string(ctx.Response.Header.Peek("Retry-After")); got != "3" {
		t.Fatalf("Retry-After dropped: %q", got)
	}
	var p Problem
	if err := json.Unmarshal(ctx.Response.Body(), &p); err != nil {
		t.Fatalf("body is not JSON: %v: %s", err, ctx.Response.Body())
	}
	if p.RequestID != "req-1" || p.Type != TypeBase+"validation" || p.Status != 400 || len(p.Errors) != 1 || p.Errors[0].Field != "limit" {
		t.Fatalf("unexpected problem: %+v", p)
	}
}

func TestWriteFillsTitleAndStatus(t *testing.T) {
	var ctx fasthttp.RequestCtx
	Write(&ctx, Problem{Type: TypeBase + "x"})
	var p Problem
	if err := json.Unmarshal(ctx.Response.Body(), &p); err != nil {
		t.Fatal(err)
	}
	if p.Status != 500 || p.Title != "Internal Server Error" || ctx.Response.StatusCode() != 500 {
		t.Fatalf("defaults not filled: %+v", p)
	}
}
