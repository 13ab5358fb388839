package domain

import (
	"context"
	"time"

	"github.com/google/uuid"
)

// SessionQuery filters the session list, ordered by start (Key.Sort is
// "<session date>|<starts_at in RFC 3339 with nanoseconds, UTC>"). From/To
// are inclusive session dates (zero: unbounded).
type SessionQuery struct {
	FacultyID uuid.UUID
	SectionID uuid.UUID
	From, To  time.Time
	Status    SessionStatus
	Page      PageQuery
}

// SessionInput creates an extra session (one without a timetable slot).
// Its date is the local date of StartsAt in the institution's time zone.
type SessionInput struct {
	SectionID uuid.UUID
	StartsAt  time.Time
	EndsAt    time.Time
}

// MaxSessionLength bounds a session's duration.
const MaxSessionLength = 12 * time.Hour

// Validate checks in.
func (in SessionInput) Validate() error {
	var v Violations
	if in.SectionID == uuid.Nil {
		v.Add("section_id", "is required")
	}
	if in.StartsAt.IsZero() || in.StartsAt.Before(MinDate) || in.StartsAt.After(MaxDate) {
		v.Add("starts_at", "must be an RFC 3339 instant between 2000 and 2099")
	}
	if in.EndsAt.IsZero() || !in.EndsAt.After(in.StartsAt) {
		v.Add("ends_at", "must be an RFC 3339 instant after starts_at")
	} else if in.EndsAt.Sub(in.StartsAt) > MaxSessionLength {
		v.Add("ends_at", "must be at most 12 hours after starts_at")
	}
	return v.Err()
}

// GenerateInput asks for the sessions of every timetable slot on every
// matching weekday of [From, To] (inclusive, within the slot's term),
// skipping holidays. SectionID or TermID (zero: all) narrow it.
type GenerateInput struct {
	From, To  time.Time
	SectionID uuid.UUID
	TermID    uuid.UUID
}

// MaxGenerateDays bounds one generation request.
const MaxGenerateDays = 366

// Validate checks in.
func (in GenerateInput) Validate() error {
	var v Violations
	if in.From.After(in.To) {
		v.Add("from", "must not be after to")
	} else if in.To.Sub(in.From) >= MaxGenerateDays*24*time.Hour {
		v.Add("to", "must be less than 366 days after from")
	}
	return v.Err()
}

// GenerateResult says what a generation did. Sessions lists the created
// sessions' (id, section) pairs.
type GenerateResult struct {
	Created  int
	Existing int
	// Excused is how many records were created `excused` for students on
	// approved leave.
	Excused  int
	Sessions []SessionRef
}

// SessionRef names a session and its section.
type SessionRef struct {
	ID        uuid.UUID
	SectionID uuid.UUID
}

// RosterMark is a roster entry with the student's mark in a session
// (Mark "" when unmarked).
type RosterMark struct {
	StudentID  uuid.UUID
	RollNumber string
	FirstName  string
	LastName   string
	Mark       Mark
	Source     MarkSource
	MarkedAt   time.Time
	MarkedBy   uuid.UUID
	Reason     string
}

// SessionDetail is a session with its roster and marks.
type SessionDetail struct {
	Session AttendanceSession
	Roster  []RosterMark
	// Others are records of students no longer on the roster.
	Others []RosterMark
}

// MarkInput is one row of a bulk marking request.
type MarkInput struct {
	StudentID uuid.UUID
	Mark      Mark
	Reason    string
}

// MaxMarkRows bounds one marking request (a roster is at most a section's
// capacity).
const MaxMarkRows = 10000

// MarkOutcome is the per-row result of bulk marking.
type MarkOutcome string

// Mark outcomes.
const (
	OutcomeCreated     MarkOutcome = "created"
	OutcomeUpdated     MarkOutcome = "updated"
	OutcomeUnchanged   MarkOutcome = "unchanged"
	OutcomeNotEnrolled MarkOutcome = "not_enrolled"
)

// MarkResult is the outcome of one row: the mark stored (after the late
// rule) and, for updates, the mark before.
type MarkResult struct {
	StudentID uuid.UUID
	Outcome   MarkOutcome
	Mark      Mark
	Before    Mark
}

// MarkRequest writes marks in one session.
type MarkRequest struct {
	SessionID uuid.UUID
	Rows      []MarkInput
	Source    MarkSource
}

// MarkReply is what bulk marking did, with the session (for invalidation
// and audit).
type MarkReply struct {
	Session AttendanceSession
	Results []MarkResult
	At      time.Time
}

// CheckInResult is the outcome of a QR check-in.
type CheckInResult struct {
	Session AttendanceSession
	Outcome MarkOutcome
	Mark    Mark
	Before  Mark
	At      time.Time
}

// TransitionResult is a session after a lifecycle transition.
type TransitionResult struct {
	// Before is the status the compare-and-set replaced.
	Before  SessionStatus
	Session AttendanceSession
	// Absent and Excused count the marks closing filled in for unmarked
	// enrolled students.
	Absent, Excused int
	// Students are the students with a record in the session after the
	// transition (whose summaries it may change).
	Students []uuid.UUID
}

// SessionStore reads and writes attendance sessions and marks.
type SessionStore interface {
	// ListSessions lists sessions in keyset order (see the Key.Sort convention above).
	ListSessions(ctx context.Context, sc Scope, q SessionQuery) (Page[AttendanceSession], error)
	// SessionByID returns one session visible in sc, or ErrNotFound.
	SessionByID(ctx context.Context, sc Scope, id uuid.UUID) (AttendanceSession, error)
	// SessionDetail returns a session visible in sc with its roster's
	// marks, or ErrNotFound.
	SessionDetail(ctx context.Context, sc Scope, id uuid.UUID) (SessionDetail, error)
	// CreateSession inserts a scheduled extra session for a section
	// visible in a.Scope; overlapping another live session of the section
	// or faculty member is a *ConflictError.
	CreateSession(ctx context.Context, a Actor, in SessionInput) (AttendanceSession, error)
	// GenerateSessions creates the timetable's sessions for a window;
	// rerunning it creates nothing new.
	GenerateSessions(ctx context.Context, in GenerateInput) (GenerateResult, error)
	// Transition applies action as a compare-and-set on the status: a
	// session not in one of the action's source states is a
	// *ConflictError ("illegal_transition") naming its current status.
	// Closing fills absent (excused under approved leave) marks for
	// unmarked enrolled students, source system.
	Transition(ctx context.Context, a Actor, id uuid.UUID, action SessionAction) (TransitionResult, error)
	// MarkRecords upserts marks in one statement. The session must be open
	// or closed (a *ConflictError "session_locked" or "session_not_open"
	// otherwise); rows for students not enrolled are OutcomeNotEnrolled.
	MarkRecords(ctx context.Context, a Actor, req MarkRequest) (MarkReply, error)
	// CheckIn records the student's own check-in in an open session: one
	// idempotent upsert; present becomes late after the grace period.
	CheckIn(ctx context.Context, a Actor, sessionID, studentID uuid.UUID) (CheckInResult, error)
	// OpenForQR returns the session when it is open and visible in sc
	// (ErrNotFound, or a *ConflictError when it is not open).
	OpenForQR(ctx context.Context, sc Scope, id uuid.UUID) (AttendanceSession, error)
}
