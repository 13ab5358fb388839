package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"

	"github.com/google/uuid"
	"github.com/valyala/fasthttp"

	"github.com/campshub360/edge/backend/internal/api/cursor"
	"github.com/campshub360/edge/backend/internal/domain"
)

// cursorScope names the student list in its cursors.
const cursorScope = "students"

// timeLayout renders instants as RFC 3339 in UTC with microseconds (the
// database's precision), e.g. 2026-11-29T08:02:20.123456Z.
const timeLayout = "2006-01-02T15:04:05.000000Z07:00"

// cacheControlPrivate marks per-user data: browsers may keep it but must
// revalidate, shared caches must not store it.
const cacheControlPrivate = "private, no-cache"

// studentJSON is a student in API responses. Email is null when the student
// has none. Encrypted and sensitive fields (phone, date of birth) are never
// included.
type studentJSON struct {
	ID          string  `json:"id"`
	RollNumber  string  `json:"roll_number"`
	FirstName   string  `json:"first_name"`
	LastName    string  `json:"last_name"`
	Email       *string `json:"email"`
	Department  string  `json:"department"`
	Program     string  `json:"program"`
	YearOfStudy int     `json:"year_of_study"`
	Section     string  `json:"section"`
	Status      string  `json:"status"`
	CreatedAt   string  `json:"created_at"`
	UpdatedAt   string  `json:"updated_at"`
}

// studentListJSON is a page of the student list; NextCursor is null on the
// last page.
type studentListJSON struct {
	Items      []studentJSON `json:"items"`
	NextCursor *string       `json:"next_cursor"`
}

func toStudentJSON(s domain.Student) studentJSON {
	out := studentJSON{
		ID:          s.ID.String(),
		RollNumber:  s.RollNumber,
		FirstName:   s.FirstName,
		LastName:    s.LastName,
		Department:  s.Department,
		Program:     s.Program,
		YearOfStudy: s.YearOfStudy,
		Section:     s.Section,
		Status:      string(s.Status),
		CreatedAt:   s.CreatedAt.UTC().Format(timeLayout),
		UpdatedAt:   s.UpdatedAt.UTC().Format(timeLayout),
	}
	if s.Email != "" {
		email := s.Email
		out.Email = &email
	}
	return out
}

// listStudents serves GET /api/v1/students.
//
// Query parameters (each at most once; any other parameter is an error):
//
//	limit       page size, 1..500 (default 50)
//	cursor      next_cursor of the previous page, with the same filters
//	department  department code, case-insensitive (e.g. CSE)
//	year        year of study, 1..6
//
// Every invalid parameter is reported in one 400 problem.
func (a *API) listStudents(ctx *fasthttp.RequestCtx) {
	q, filters, err := parseStudentQuery(ctx.QueryArgs())
	if err != nil {
		a.fail(ctx, err)
		return
	}
	page, err := a.students.ListStudents(queryContext(ctx), q)
	if err != nil {
		a.fail(ctx, err)
		return
	}
	out := studentListJSON{Items: make([]studentJSON, len(page.Items))}
	for i, s := range page.Items {
		out.Items[i] = toStudentJSON(s)
	}
	if page.Next != nil {
		next, err := cursor.Encode(cursorScope, filters, cursor.Key{Sort: page.Next.RollNumber, ID: page.Next.ID})
		if err != nil {
			a.fail(ctx, err)
			return
		}
		out.NextCursor = &next
	}
	ctx.Response.Header.Set(fasthttp.HeaderCacheControl, cacheControlPrivate)
	if err := writeJSON(ctx, fasthttp.StatusOK, out); err != nil {
		a.fail(ctx, err)
	}
}

// getStudent serves GET /api/v1/students/{id}: 400 for an id that is not a
// canonical UUID, 404 when no student has it.
func (a *API) getStudent(ctx *fasthttp.RequestCtx) {
	raw, _ := ctx.UserValue("id").(string)
	id, ok := parseUUID(raw)
	if !ok {
		a.fail(ctx, domain.Invalid("id", "must be a UUID such as 0191d9a0-8b5e-7c3a-9f1e-2a3b4c5d6e7f"))
		return
	}
	s, err := a.students.StudentByID(queryContext(ctx), id)
	if err != nil {
		a.fail(ctx, err)
		return
	}
	ctx.Response.Header.Set(fasthttp.HeaderCacheControl, cacheControlPrivate)
	if err := writeJSON(ctx, fasthttp.StatusOK, toStudentJSON(s)); err != nil {
		a.fail(ctx, err)
	}
}

// The query parameters of the student list, as indexes into the parsing
// state of parseStudentQuery.
const (
	paramLimit = iota
	paramCursor
	paramDepartment
	paramYear
	numStudentParams
)

// studentParam returns the index of a student list parameter, or -1.
func studentParam(k []byte) int {
	switch string(k) {
	case "limit":
		return paramLimit
	case "cursor":
		return paramCursor
	case "department":
		return paramDepartment
	case "year":
		return paramYear
	default:
		return -1
	}
}

// studentParamName is the inverse of studentParam.
func studentParamName(i int) string {
	return [...]string{"limit", "cursor", "department", "year"}[i]
}

// parseStudentQuery validates the student list's query parameters and
// returns the domain query and the canonical rendering of its filters (the
// input of the cursor's filter hash). Errors are *domain.InvalidError
// listing every bad parameter.
func parseStudentQuery(args *fasthttp.Args) (domain.StudentQuery, string, error) {
	var (
		errs []domain.Violation
		q    = domain.StudentQuery{Limit: domain.DefaultPageLimit}
		seen [numStudentParams]bool
		raw  [numStudentParams][]byte
	)
	for k, v := range args.All() {
		i := studentParam(k)
		switch {
		case i < 0:
			errs = append(errs, domain.Violation{Field: clip(k, 64),
				Message: "unknown parameter; accepted: limit, cursor, department, year"})
		case seen[i]:
			errs = append(errs, domain.Violation{Field: studentParamName(i), Message: "must be given at most once"})
		default:
			seen[i], raw[i] = true, v
		}
	}
	if seen[paramLimit] {
		n, ok := parseSmallInt(raw[paramLimit])
		if !ok || n < domain.MinPageLimit || n > domain.MaxPageLimit {
			errs = append(errs, domain.Violation{Field: "limit", Message: domain.LimitMessage})
		} else {
			q.Limit = n
		}
	}
	filtersOK := true
	if seen[paramDepartment] {
		code := strings.ToUpper(string(raw[paramDepartment]))
		if !domain.ValidDepartmentCode(code) {
			errs = append(errs, domain.Violation{Field: "department", Message: domain.DepartmentCodeMessage})
			filtersOK = false
		} else {
			q.Filter.Department = code
		}
	}
	if seen[paramYear] {
		n, ok := parseSmallInt(raw[paramYear])
		if !ok || n < domain.MinYearOfStudy || n > domain.MaxYearOfStudy {
			errs = append(errs, domain.Violation{Field: "year", Message: domain.YearMessage})
			filtersOK = false
		} else {
			q.Filter.Year = n
		}
	}
	filters := canonicalFilters(q.Filter)
	if seen[paramCursor] {
		key, err := cursor.Decode(string(raw[paramCursor]), cursorScope, filters)
		switch {
		case errors.Is(err, cursor.ErrMismatch):
			if filtersOK { // with bad filters the mismatch is expected noise
				errs = append(errs, domain.Violation{Field: "cursor",
					Message: "was issued for other filters; repeat the request that returned it with its filters"})
			}
		case err != nil:
			errs = append(errs, domain.Violation{Field: "cursor",
				Message: "is not a cursor this server issued; use next_cursor from a previous page unchanged"})
		default:
			q.After = &domain.StudentKey{RollNumber: key.Sort, ID: key.ID}
		}
	}
	if len(errs) > 0 {
		return domain.StudentQuery{}, "", &domain.InvalidError{Violations: errs}
	}
	return q, filters, nil
}

// canonicalFilters renders the active filters the same way for the same
// filters, whatever the parameter order or case of the request.
func canonicalFilters(f domain.StudentFilter) string {
	year := ""
	if f.Year != 0 {
		year = strconv.Itoa(f.Year)
	}
	return "department=" + f.Department + "&year=" + year
}

// clip returns b as a string of at most n bytes, for echoing client input
// in a problem.
func clip(b []byte, n int) string {
	if len(b) > n {
		b = b[:n]
	}
	return string(b)
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

// parseUUID accepts only the canonical 8-4-4-4-12 hexadecimal form (either
// case), not the URN, braced or unhyphenated forms uuid.Parse also takes.
func parseUUID(s string) (uuid.UUID, bool) {
	if len(s) != 36 {
		return uuid.UUID{}, false
	}
	id, err := uuid.Parse(s)
	return id, err == nil
}

// queryContext is the context for the store calls of one request. It keeps
// the request's values but not its cancellation: fasthttp cancels every
// RequestCtx when the server starts shutting down, and in-flight requests
// must be allowed to finish. Stores add their own deadline.
func queryContext(ctx *fasthttp.RequestCtx) context.Context {
	return context.WithoutCancel(ctx)
}

// writeJSON answers with status and v encoded as JSON.
func writeJSON(ctx *fasthttp.RequestCtx, status int, v any) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	if err := enc.Encode(v); err != nil {
		return err
	}
	ctx.SetStatusCode(status)
	ctx.SetContentType("application/json")
	ctx.SetBody(buf.Bytes())
	return nil
}
