package domain

import (
	"context"
	"encoding/json"
	"strings"
	"time"

	"github.com/google/uuid"
)

// LeaveApplication is a student's request to be excused for a date range.
type LeaveApplication struct {
	ID        uuid.UUID
	StudentID uuid.UUID
	Type      LeaveType
	StartDate time.Time
	EndDate   time.Time
	Reason    string
	Status    RequestStatus
	DecidedBy uuid.UUID
	DecidedAt time.Time
	Note      string
	CreatedAt time.Time
	UpdatedAt time.Time
}

// MaxLeaveDays bounds one leave application's length.
const MaxLeaveDays = 180

// LeaveInput files a leave application.
type LeaveInput struct {
	StudentID uuid.UUID
	Type      string
	StartDate time.Time
	EndDate   time.Time
	Reason    string
}

// Validate checks in.
func (in *LeaveInput) Validate() error {
	var v Violations
	if in.StudentID == uuid.Nil {
		v.Add("student_id", "is required")
	}
	if _, ok := ParseLeaveType(in.Type); !ok {
		v.Add("type", "must be one of "+strings.Join(LeaveTypeValues(), ", "))
	}
	if in.StartDate.After(in.EndDate) {
		v.Add("start_date", "must not be after end_date")
	} else if in.EndDate.Sub(in.StartDate) >= MaxLeaveDays*24*time.Hour {
		v.Add("end_date", "must be less than 180 days after start_date")
	}
	in.Reason = CheckText(&v, "reason", in.Reason, MaxTextLen)
	return v.Err()
}

// RequestQuery filters leave applications or correction requests, newest
// first (Key.Sort is created_at in RFC 3339 with nanoseconds).
type RequestQuery struct {
	StudentID uuid.UUID
	SessionID uuid.UUID
	Status    RequestStatus
	Page      PageQuery
}

// DecisionInput decides a request: Note is an optional comment.
type DecisionInput struct {
	ID       uuid.UUID
	Decision Decision
	Note     string
}

// Effects lists what a decision changed in attendance records: the
// records touched (for audit) and the sessions, sections and students
// whose cached views it invalidates.
type Effects struct {
	Records  []RecordChange
	Sessions []SessionRef
	Students []uuid.UUID
}

// RecordChange is one attendance record rewritten by a decision.
type RecordChange struct {
	SessionID uuid.UUID
	StudentID uuid.UUID
	Before    Mark
	After     Mark
}

// LeaveStore files and decides leave applications.
type LeaveStore interface {
	// FileLeave inserts a pending application; an overlap with another
	// pending or approved application of the student is a *ConflictError.
	FileLeave(ctx context.Context, a Actor, in LeaveInput) (LeaveApplication, error)
	// ListLeave lists leave in keyset order (see the Key.Sort convention above).
	ListLeave(ctx context.Context, sc Scope, q RequestQuery) (Page[LeaveApplication], error)
	// LeaveByID returns one leave, or ErrNotFound.
	LeaveByID(ctx context.Context, sc Scope, id uuid.UUID) (LeaveApplication, error)
	// DecideLeave applies a decision as a compare-and-set on the status,
	// with its effects: approval excuses the student's absent marks in
	// sessions within the dates, cancelling an approved leave reverts
	// exactly those. Only a.Scope's visible applications may be decided;
	// an illegal transition is a *ConflictError.
	DecideLeave(ctx context.Context, a Actor, in DecisionInput) (before, after LeaveApplication, fx Effects, err error)
}

// CorrectionRequest asks to change one attendance mark.
type CorrectionRequest struct {
	ID          uuid.UUID
	SessionID   uuid.UUID
	StudentID   uuid.UUID
	SessionDate time.Time
	FromMark    Mark
	ToMark      Mark
	Reason      string
	Status      RequestStatus
	RequestedBy uuid.UUID
	DecidedBy   uuid.UUID
	DecidedAt   time.Time
	Note        string
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// CorrectionInput files a correction request. FromMark "" means "the
// current mark"; when set it must equal the current mark.
type CorrectionInput struct {
	SessionID uuid.UUID
	StudentID uuid.UUID
	FromMark  Mark
	ToMark    Mark
	Reason    string
}

// Validate checks in.
func (in *CorrectionInput) Validate() error {
	var v Violations
	if in.SessionID == uuid.Nil {
		v.Add("session_id", "is required")
	}
	if in.StudentID == uuid.Nil {
		v.Add("student_id", "is required")
	}
	if _, ok := ParseMark(string(in.ToMark)); !ok {
		v.Add("to_mark", "must be one of "+strings.Join(MarkValues(), ", "))
	}
	if in.FromMark != "" {
		if _, ok := ParseMark(string(in.FromMark)); !ok {
			v.Add("from_mark", "must be one of "+strings.Join(MarkValues(), ", "))
		} else if in.FromMark == in.ToMark {
			v.Add("to_mark", "must differ from from_mark")
		}
	}
	in.Reason = CheckText(&v, "reason", in.Reason, MaxTextLen)
	return v.Err()
}

// CorrectionStore files and decides correction requests.
type CorrectionStore interface {
	// FileCorrection inserts a pending request for a record visible in
	// a.Scope. A session older than the correction window, a mark that
	// already equals to_mark, a from_mark that is not the current mark or
	// another pending request for the record is a *ConflictError.
	FileCorrection(ctx context.Context, a Actor, in CorrectionInput) (CorrectionRequest, error)
	// ListCorrections lists corrections in keyset order (see the Key.Sort convention above).
	ListCorrections(ctx context.Context, sc Scope, q RequestQuery) (Page[CorrectionRequest], error)
	// CorrectionByID returns one correction, or ErrNotFound.
	CorrectionByID(ctx context.Context, sc Scope, id uuid.UUID) (CorrectionRequest, error)
	// DecideCorrection applies a decision as a compare-and-set on the
	// status. Approval rewrites the mark, also in a locked session, when
	// it still equals from_mark (a *ConflictError otherwise).
	DecideCorrection(ctx context.Context, a Actor, in DecisionInput) (before, after CorrectionRequest, fx Effects, err error)
}

// AuditEvent is one row of the audit trail, as read back.
type AuditEvent struct {
	ID        uuid.UUID
	At        time.Time
	ActorID   uuid.UUID
	Action    string
	Entity    string
	EntityID  string
	Before    json.RawMessage
	After     json.RawMessage
	IP        string
	RequestID string
}

// AuditQuery filters the audit trail, newest first (Key.Sort is `at` in
// RFC 3339 with nanoseconds). From/To are instants (zero: unbounded).
type AuditQuery struct {
	Entity   string
	EntityID string
	ActorID  uuid.UUID
	Action   string
	From, To time.Time
	Page     PageQuery
}

// AuditStore reads the audit trail (writes go through audit.Recorder).
type AuditStore interface {
	// ListAudit lists audit in keyset order (see the Key.Sort convention above).
	ListAudit(ctx context.Context, q AuditQuery) (Page[AuditEvent], error)
}

// Store is every store the API needs. postgres.Store implements it; the
// Redis decorator wraps it.
type Store interface {
	CatalogueStore
	StudentStore
	FacultyStore
	TeachingStore
	SessionStore
	ReportStore
	LeaveStore
	CorrectionStore
	AuditStore
}
