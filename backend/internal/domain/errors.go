// Package domain holds the campus entities, their rules, the errors the rest
// of the backend reasons about, and the store interfaces the domain needs.
// It knows nothing of HTTP or SQL: the api package maps these errors to HTTP
// in one place, and store/postgres implements the interfaces.
package domain

import (
	"errors"
	"strings"
)

// ErrNotFound reports that the requested entity does not exist, or is not
// visible to the caller's Scope (the two are indistinguishable on purpose).
var ErrNotFound = errors.New("not found")

// ErrUnavailable reports that a dependency (PostgreSQL, Redis) could not
// answer in time or at all: the request may succeed later. Stores wrap the
// underlying cause with it (errors.Is matches; the cause stays in the text
// for logs).
var ErrUnavailable = errors.New("dependency unavailable")

// ErrUnstorableText reports input text the database refused to store or
// compare: a NUL character or one outside the database encoding
// (PostgreSQL SQLSTATE 22021 character_not_in_repertoire, 22P05
// untranslatable_character). Input is checked before it reaches a store,
// so this is the backstop for a check that was missed: the request was
// bad (400), not the server. Stores wrap the cause with it.
var ErrUnstorableText = errors.New("text the database cannot store")

// ErrConflict is matched (errors.Is) by every *ConflictError.
var ErrConflict = errors.New("conflict")

// ErrForbidden reports an operation the caller's role admits in general but
// not on this entity in its current relation to the caller (a student
// checking in to a section they are not enrolled in). Use it only where a
// 404 would mislead; Scope mismatches are ErrNotFound.
var ErrForbidden = errors.New("forbidden")

// Violation names one invalid input and says what is wrong with it in words
// safe to show a client. Field is the snake_case name of the input (a query
// parameter such as "limit", or a JSON path such as "records[3].mark").
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

// Violations collects violations; the zero value is ready to use. Not safe
// for concurrent use.
type Violations []Violation

// Add records that field is invalid for the reason msg.
func (v *Violations) Add(field, msg string) { *v = append(*v, Violation{Field: field, Message: msg}) }

// AddAll appends every violation of err when it is an *InvalidError, with
// prefix prepended to each field ("students[3]." + "email"), and reports
// whether it was one.
func (v *Violations) AddAll(prefix string, err error) bool {
	var inv *InvalidError
	if !errors.As(err, &inv) {
		return false
	}
	for _, x := range inv.Violations {
		f := x.Field
		if prefix != "" {
			f = prefix + "." + f
		}
		v.Add(f, x.Message)
	}
	return true
}

// Err returns nil when no violation was added, else an *InvalidError
// holding them all.
func (v Violations) Err() error {
	if len(v) == 0 {
		return nil
	}
	return &InvalidError{Violations: append([]Violation(nil), v...)}
}

// ConflictError reports a request that is well-formed but clashes with the
// current state: a duplicate unique value, an illegal state transition, a
// double-booked slot, a locked session. Code is a stable machine-readable
// reason ("duplicate", "illegal_transition", "session_locked", ...);
// Field, when not empty, names the input at fault; Message is safe for
// clients. errors.Is(err, ErrConflict) matches.
type ConflictError struct {
	Code    string
	Field   string
	Message string
}

// Conflict returns a *ConflictError.
func Conflict(code, field, message string) *ConflictError {
	return &ConflictError{Code: code, Field: field, Message: message}
}

// Error returns "conflict: <code>: <message>".
func (e *ConflictError) Error() string { return "conflict: " + e.Code + ": " + e.Message }

// Is makes errors.Is(err, ErrConflict) true.
func (e *ConflictError) Is(target error) bool { return target == ErrConflict }

// ForbiddenError is an ErrForbidden with a client-safe reason.
type ForbiddenError struct {
	Code    string
	Message string
}

// Error returns "forbidden: <code>".
func (e *ForbiddenError) Error() string { return "forbidden: " + e.Code + ": " + e.Message }

// Is makes errors.Is(err, ErrForbidden) true.
func (e *ForbiddenError) Is(target error) bool { return target == ErrForbidden }
