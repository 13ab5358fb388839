package domain

import (
	"context"
	"strings"
	"time"

	"github.com/google/uuid"
)

// SectionInput creates or replaces a section.
type SectionInput struct {
	CourseID  uuid.UUID
	TermID    uuid.UUID
	FacultyID uuid.UUID
	Code      string
	Capacity  int
}

// Validate normalizes and checks in.
func (in *SectionInput) Validate() error {
	var v Violations
	in.Code = NormalizeCode(in.Code)
	if in.CourseID == uuid.Nil {
		v.Add("course_id", "is required")
	}
	if in.TermID == uuid.Nil {
		v.Add("term_id", "is required")
	}
	if in.FacultyID == uuid.Nil {
		v.Add("faculty_id", "is required")
	}
	if !ValidSectionCode(in.Code) {
		v.Add("section_code", SectionCodeMessage)
	}
	if in.Capacity < 1 || in.Capacity > 10000 {
		v.Add("capacity", "must be an integer from 1 to 10000")
	}
	return v.Err()
}

// SectionQuery filters the section list (order: course code, section
// code; Key.Sort is "<course code> <section code>").
type SectionQuery struct {
	TermID     uuid.UUID
	CourseID   uuid.UUID
	FacultyID  uuid.UUID
	Department string
	Page       PageQuery
}

// RosterEntry is one student on a section's roster.
type RosterEntry struct {
	Student    Student
	Status     EnrollmentStatus
	EnrolledAt time.Time
}

// SlotInput creates or replaces a weekly timetable slot. Start and End are
// times of day in the institution's time zone.
type SlotInput struct {
	Weekday int
	Start   time.Duration
	End     time.Duration
	Room    string
}

// Validate checks in: ISO weekday 1-7, start < end within one day, a room.
func (in *SlotInput) Validate() error {
	var v Violations
	if in.Weekday < 1 || in.Weekday > 7 {
		v.Add("weekday", "must be an ISO weekday from 1 (Monday) to 7 (Sunday)")
	}
	if in.Start < 0 || in.Start >= 24*time.Hour {
		v.Add("start_time", "must be a time of day HH:MM")
	}
	if in.End <= 0 || in.End > 24*time.Hour {
		v.Add("end_time", "must be a time of day HH:MM")
	} else if in.End <= in.Start {
		v.Add("end_time", "must be after start_time")
	}
	in.Room = strings.TrimSpace(in.Room)
	if in.Room == "" || len(in.Room) > 32 {
		v.Add("room", "must be 1 to 32 characters")
	}
	return v.Err()
}

// TeachingStore reads and writes sections, enrollments and the timetable.
type TeachingStore interface {
	// ListSections lists sections visible in sc (a faculty member sees
	// their own; a student the ones they are enrolled in).
	ListSections(ctx context.Context, sc Scope, q SectionQuery) (Page[Section], error)
	// SectionByID returns one section, or ErrNotFound.
	SectionByID(ctx context.Context, sc Scope, id uuid.UUID) (Section, error)
	// CreateSection inserts a validated section; a duplicate unique value is a *ConflictError naming its field.
	CreateSection(ctx context.Context, in SectionInput) (Section, error)
	// UpdateSection replaces a section atomically and returns it before and after (ErrNotFound when absent).
	UpdateSection(ctx context.Context, id uuid.UUID, in SectionInput) (before, after Section, err error)
	// DeleteSection deletes a section nothing refers to and returns it (a *ConflictError "in_use" otherwise).
	DeleteSection(ctx context.Context, id uuid.UUID) (Section, error)

	// Enroll puts a student on a section's roster (re-enrolling a dropped
	// enrollment). created is false when the student was already
	// enrolled. A full section or a student who is not ACTIVE is a
	// *ConflictError.
	Enroll(ctx context.Context, sectionID, studentID uuid.UUID) (e Enrollment, created bool, err error)
	// Drop marks an enrollment DROPPED (records are kept), or ErrNotFound.
	Drop(ctx context.Context, sectionID, studentID uuid.UUID) (Enrollment, error)
	// Roster lists a section's ENROLLED students in roll number order,
	// when the section is visible in sc.
	Roster(ctx context.Context, sc Scope, sectionID uuid.UUID, q PageQuery) (Page[RosterEntry], error)

	// SectionSlots lists a section's weekly slots (visible in sc) by
	// weekday and start time.
	SectionSlots(ctx context.Context, sc Scope, sectionID uuid.UUID) ([]TimetableSlot, error)
	// CreateSlot adds a slot; a double booking of the section, the faculty
	// member or the room is a *ConflictError.
	CreateSlot(ctx context.Context, sectionID uuid.UUID, in SlotInput) (TimetableSlot, error)
	// UpdateSlot replaces a slot atomically and returns it before and after (ErrNotFound when absent).
	UpdateSlot(ctx context.Context, id uuid.UUID, in SlotInput) (before, after TimetableSlot, err error)
	// DeleteSlot deletes a slot nothing refers to and returns it (a *ConflictError "in_use" otherwise).
	DeleteSlot(ctx context.Context, id uuid.UUID) (TimetableSlot, error)
	// Timetable returns the weekly slots of a term (the current one when
	// termID is nil) for sc: a student's enrolled sections, a faculty
	// member's own sections.
	Timetable(ctx context.Context, sc Scope, termID uuid.UUID) ([]TimetableSlot, error)
}
