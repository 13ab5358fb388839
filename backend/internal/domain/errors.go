// Package domain holds the campus entities, their rules, the errors the rest
// of the backend reasons about, and the store interfaces the domain needs.
// It knows nothing of HTTP or SQL: the api package maps these errors to HTTP
// in one place, and store/postgres implements the interfaces.
package domain

import (
	"errors"
	"strings"
)

// ErrNotFound reports that the requested entity does not exist.
var ErrNotFound = errors.New("not found")

// ErrUnavailable reports that a dependency (PostgreSQL, Redis) could not
// answer in time or at all: the request may succeed later. Stores wrap the
// underlying cause with it (errors.Is matches; the cause stays in the text
// for logs).
var ErrUnavailable = errors.New("dependency unavailable")

// Violation names one invalid input and says what is wrong with it in words
// safe to show a client. Field is the snake_case name of the input
// (a query parameter such as "limit", or an entity field such as "department").
type Violation struct {
	Field   string
	Message string
}

// InvalidError reports input that breaks the domain's rules, listing every
// violation found (callers collect them all before failing). Use errors.As
// to retrieve it.
type InvalidError struct {
	Violations []Violation
}

// Invalid returns an *InvalidError with a single violation.
func Invalid(field, message string) *InvalidError {
	return &InvalidError{Violations: []Violation{{Field: field, Message: message}}}
}

// Error lists the violations as "field: message" pairs on one line.
func (e *InvalidError) Error() string {
	var b strings.Builder
	b.WriteString("invalid input")
	for i, v := range e.Violations {
		if i == 0 {
			b.WriteString(": ")
		} else {
			b.WriteString("; ")
		}
		b.WriteString(v.Field)
		b.WriteString(": ")
		b.WriteString(v.Message)
	}
	return b.String()
}
