package api

import (
	"bytes"
	"errors"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/valyala/fasthttp"

	"github.com/campshub360/edge/backend/internal/api/cursor"
	"github.com/campshub360/edge/backend/internal/domain"
)

// query validates a request's query parameters: only the accepted names,
// each at most once, each valid UTF-8 text without control characters
// (textMessage), each well-formed. Getters record violations and return
// zero values; err() reports them all at once. Every getter except the
// paging ones also records the normalized value in the canonical filter
// string a cursor is bound to, so call the filter getters before page().
// It is the only reader of query strings: handlers never read
// ctx.QueryArgs() themselves. Not safe for concurrent use.
type query struct {
	raw     map[string][]byte
	v       domain.Violations
	canon   strings.Builder
	badArgs bool
	// rejected holds the names whose value is not text; getters treat
	// them as absent (their violation is already recorded).
	rejected map[string]bool
}

// textMessage explains a query or path parameter that is not text.
const textMessage = "must be valid UTF-8 text without control characters"

// isText reports whether s is valid UTF-8 without control characters:
// C0 (U+0000..U+001F, tab and newline included), DEL and C1
// (U+0080..U+009F), the characters unicode.IsControl reports. NUL in
// particular is refused here, before any store call, as PostgreSQL
// rejects it in text (SQLSTATE 22021). It does not allocate.
func isText(s string) bool {
	for i, r := range s {
		if unicode.IsControl(r) || r == utf8.RuneError && !strings.HasPrefix(s[i:], "\uFFFD") {
			return false
		}
	}
	return true
}

// isTextBytes is isText for a byte slice (without copying it).
func isTextBytes(b []byte) bool {
	for i, r := range string(b) {
		if unicode.IsControl(r) || r == utf8.RuneError && !bytes.HasPrefix(b[i:], replacementChar) {
			return false
		}
	}
	return true
}

// replacementChar is U+FFFD encoded, which isText accepts as given text.
var replacementChar = []byte("\uFFFD")

// parseQuery reads args, accepting only the names in allowed (plus limit
// and cursor when paged).
func parseQuery(args *fasthttp.Args, paged bool, allowed ...string) *query {
	q := &query{raw: make(map[string][]byte, 4)}
	accepted := allowed
	if paged {
		accepted = append([]string{"limit", "cursor"}, allowed...)
	}
	for k, val := range args.All() {
		name := string(k)
		known := false
		for _, a := range accepted {
			known = known || a == name
		}
		switch {
		case !known:
			msg := "unknown parameter"
			if len(accepted) > 0 {
				msg += "; accepted: " + strings.Join(accepted, ", ")
			} else {
				msg += "; this operation takes none"
			}
			q.v.Add(clip(k, 64), msg)
			q.badArgs = true
		case q.raw[name] != nil:
			q.v.Add(name, "must be given at most once")
			q.badArgs = true
		default:
			q.raw[name] = append([]byte{}, val...)
			if !isTextBytes(val) {
				q.bad(name, textMessage)
				if q.rejected == nil {
					q.rejected = make(map[string]bool, 1)
				}
				q.rejected[name] = true
			}
		}
	}
	return q
}

// get returns the raw value of parameter name and whether it was given;
// a value already rejected as not text counts as not given.
func (q *query) get(name string) ([]byte, bool) {
	v, ok := q.raw[name]
	if !ok || q.rejected[name] {
		return nil, false
	}
	return v, true
}

func (q *query) bad(name, msg string) {
	q.v.Add(name, msg)
	q.badArgs = true
}

func (q *query) note(name, value string) {
	q.canon.WriteString(name)
	q.canon.WriteByte('=')
	q.canon.WriteString(value)
	q.canon.WriteByte('&')
}

// str returns a parameter's raw value (trimmed) and whether it was given
// non-empty; given but empty is a violation.
func (q *query) str(name string) (string, bool) {
	v, ok := q.get(name)
	if !ok {
		q.note(name, "")
		return "", false
	}
	s := strings.TrimSpace(string(v))
	if s == "" {
		q.bad(name, "must not be empty")
		return "", false
	}
	q.note(name, s)
	return s, true
}

// code returns an upper-cased code checked by valid.
func (q *query) code(name string, valid func(string) bool, msg string) string {
	v, ok := q.get(name)
	if !ok {
		q.note(name, "")
		return ""
	}
	s := strings.ToUpper(strings.TrimSpace(string(v)))
	if !valid(s) {
		q.bad(name, msg)
		return ""
	}
	q.note(name, s)
	return s
}

// id returns a UUID parameter (uuid.Nil when absent).
func (q *query) id(name string) uuid.UUID {
	v, ok := q.get(name)
	if !ok {
		q.note(name, "")
		return uuid.Nil
	}
	id, good := parseUUID(string(v))
	if !good {
		q.bad(name, uuidMessage)
		return uuid.Nil
	}
	q.note(name, id.String())
	return id
}

// date returns a YYYY-MM-DD parameter (zero when absent). "today" is
// accepted when today is not nil and resolves to it.
func (q *query) date(name string, today func() time.Time) time.Time {
	v, ok := q.get(name)
	if !ok {
		q.note(name, "")
		return time.Time{}
	}
	s := string(v)
	if s == "today" && today != nil {
		d := today()
		q.note(name, d.Format(time.DateOnly))
		return d
	}
	d, good := domain.ParseDate(s)
	if !good {
		q.bad(name, domain.DateRangeMessage)
		return time.Time{}
	}
	q.note(name, s)
	return d
}

// instant returns an RFC 3339 parameter (zero when absent).
func (q *query) instant(name string) time.Time {
	v, ok := q.get(name)
	if !ok {
		q.note(name, "")
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339Nano, string(v))
	if err != nil || t.Before(domain.MinDate) || t.After(domain.MaxDate) {
		q.bad(name, "must be an RFC 3339 instant between 2000 and 2099 (e.g. 2026-11-02T09:00:00Z)")
		return time.Time{}
	}
	q.note(name, t.UTC().Format(time.RFC3339Nano))
	return t
}

// integer returns an integer parameter within [lo, hi] (def when absent).
func (q *query) integer(name string, lo, hi, def int, msg string) int {
	v, ok := q.get(name)
	if !ok {
		q.note(name, "")
		return def
	}
	n, good := parseSmallInt(v)
	if !good || n < lo || n > hi {
		q.bad(name, msg)
		return def
	}
	q.note(name, strconv.Itoa(n))
	return n
}

// enum returns a parameter that must be one of values.
func (q *query) enum(name string, values []string) string {
	v, ok := q.get(name)
	if !ok {
		q.note(name, "")
		return ""
	}
	s := string(v)
	for _, x := range values {
		if s == x {
			q.note(name, s)
			return s
		}
	}
	q.bad(name, "must be one of "+strings.Join(values, ", "))
	return ""
}

// boolean returns an optional true/false parameter.
func (q *query) boolean(name string) *bool {
	v, ok := q.get(name)
	if !ok {
		q.note(name, "")
		return nil
	}
	switch string(v) {
	case "true":
		q.note(name, "true")
		t := true
		return &t
	case "false":
		q.note(name, "false")
		f := false
		return &f
	}
	q.bad(name, "must be true or false")
	return nil
}

// percent returns a percentage parameter in hundredths (def when absent).
func (q *query) percent(name string, def domain.Percent) domain.Percent {
	v, ok := q.get(name)
	if !ok {
		q.note(name, "")
		return def
	}
	h, good := domain.ParsePercent(string(v))
	if !good {
		q.bad(name, "must be a percentage from 0 to 100 with at most 2 decimals")
		return def
	}
	q.note(name, strconv.FormatInt(int64(h), 10))
	return h
}

// page returns the paging of a list named scope: limit (default 50) and
// the cursor, which must have been issued for the same list and filters.
func (q *query) page(scope string) domain.PageQuery {
	p := domain.PageQuery{Limit: domain.DefaultPageLimit}
	if v, ok := q.get("limit"); ok {
		n, good := parseSmallInt(v)
		if !good || !domain.ValidLimit(n) {
			// Reported first: it is the first parameter of every list.
			q.v = append(domain.Violations{{Field: "limit", Message: domain.LimitMessage}}, q.v...)
		} else {
			p.Limit = n
		}
	}
	if v, ok := q.get("cursor"); ok {
		key, err := cursor.Decode(string(v), scope, q.canon.String())
		switch {
		case errors.Is(err, cursor.ErrMismatch):
			if !q.badArgs { // with bad filters the mismatch is expected noise
				q.v.Add("cursor", "was issued for other filters; repeat the request that returned it with its filters")
			}
		case err != nil:
			q.v.Add("cursor", "is not a cursor this server issued; use next_cursor from a previous page unchanged")
		default:
			p.After = &domain.Key{Sort: key.Sort, ID: key.ID}
		}
	}
	return p
}

// next encodes the cursor continuing after key for this query's filters
// (nil on the last page).
func (q *query) next(scope string, key *domain.Key) (*string, error) {
	if key == nil {
		return nil, nil
	}
	s, err := cursor.Encode(scope, q.canon.String(), cursor.Key{Sort: key.Sort, ID: key.ID})
	if err != nil {
		return nil, err
	}
	return &s, nil
}

// err returns every violation found, or nil.
func (q *query) err() error { return q.v.Err() }

// uuidMessage explains a malformed UUID.
const uuidMessage = "must be a UUID such as 0191d9a0-8b5e-7c3a-9f1e-2a3b4c5d6e7f"

// pathParam returns the path parameter name, percent-decoded (the router
// matches the path as sent, RFC 3986 §2.1), or an *InvalidError naming it
// when it is not text (isText) or holds a malformed escape. It is the
// only reader of path parameters.
func pathParam(ctx *fasthttp.RequestCtx, name string) (string, error) {
	raw, _ := ctx.UserValue(name).(string)
	if strings.IndexByte(raw, '%') >= 0 {
		s, err := url.PathUnescape(raw)
		if err != nil {
			return "", domain.Invalid(name, textMessage)
		}
		raw = s
	}
	if !isText(raw) {
		return "", domain.Invalid(name, textMessage)
	}
	return raw, nil
}

// pathID returns the path parameter name as a UUID, or an *InvalidError
// naming it.
func pathID(ctx *fasthttp.RequestCtx, name string) (uuid.UUID, error) {
	raw, err := pathParam(ctx, name)
	if err != nil {
		return uuid.Nil, err
	}
	id, ok := parseUUID(raw)
	if !ok {
		return uuid.Nil, domain.Invalid(name, uuidMessage)
	}
	return id, nil
}

// parseUUID accepts only the canonical 8-4-4-4-12 hexadecimal form (either
// case), not the URN, braced or unhyphenated forms uuid.Parse also takes.
func parseUUID(s string) (uuid.UUID, bool) {
	if len(s) != 36 {
		return uuid.UUID{}, false
	}
	id, err := uuid.Parse(s)
	return id, err == nil
}

// parseSmallInt parses 1 to 6 ASCII digits (no sign, no spaces).
func parseSmallInt(b []byte) (int, bool) {
	if len(b) == 0 || len(b) > 6 {
		return 0, false
	}
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// clip returns b as a string of at most n bytes, for echoing client input
// in a problem.
func clip(b []byte, n int) string {
	if len(b) > n {
		b = b[:n]
	}
	return strings.ToValidUTF8(string(b), "?")
}
