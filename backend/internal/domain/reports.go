package domain

import (
	"context"
	"time"

	"github.com/google/uuid"
)

// Window is an inclusive range of session dates. Zero From/To mean "the
// term's": the section's term for a section, the current term otherwise.
type Window struct {
	From, To time.Time
}

// Validate checks From <= To when both are set.
func (w Window) Validate() error {
	if !w.From.IsZero() && !w.To.IsZero() && w.From.After(w.To) {
		return Invalid("from", "must not be after to")
	}
	return nil
}

// SectionTally is a student's tally in one section.
type SectionTally struct {
	SectionID   uuid.UUID
	CourseCode  string
	CourseTitle string
	SectionCode string
	Tally       Tally
}

// StudentSummary is a student's attendance per section over a window,
// counting only closed and locked sessions.
type StudentSummary struct {
	StudentID uuid.UUID
	From, To  time.Time
	Sections  []SectionTally
}

// Overall sums the sections' tallies.
func (s StudentSummary) Overall() Tally {
	var t Tally
	for _, x := range s.Sections {
		t = t.Add(x.Tally)
	}
	return t
}

// StudentTally is one roster student's tally in a section report.
type StudentTally struct {
	StudentID  uuid.UUID
	RollNumber string
	FirstName  string
	LastName   string
	Tally      Tally
}

// SectionReport is a section's per-student attendance over a window.
type SectionReport struct {
	Section  Section
	From, To time.Time
	// Sessions counts the closed or locked sessions in the window.
	Sessions int
	Students []StudentTally
}

// OverviewQuery selects the term dashboard (TermID nil: the current term).
type OverviewQuery struct {
	TermID    uuid.UUID
	Threshold Percent
}

// DepartmentOverview is one department's line of the dashboard.
type DepartmentOverview struct {
	Code     string
	Name     string
	Tally    Tally
	Students int
	Below    int
}

// Overview is the attendance dashboard of a term.
type Overview struct {
	Term      Term
	Threshold Percent
	Sections  int
	// SessionsByStatus counts the term's sessions per status.
	SessionsByStatus map[SessionStatus]int
	// Tally counts marks in closed and locked sessions.
	Tally Tally
	// Students is how many (student, section) pairs have records; Below
	// how many of those are below the threshold.
	Students    int
	Below       int
	Departments []DepartmentOverview
}

// ShortageQuery lists (student, section) pairs below Threshold in a term,
// lowest percentage first (Key.Sort is "<hundredths, 5 digits>|<roll
// number>", Key.ID the section).
type ShortageQuery struct {
	TermID     uuid.UUID
	SectionID  uuid.UUID
	Department string
	Threshold  Percent
	Page       PageQuery
}

// Shortage is one student below the threshold in one section.
type Shortage struct {
	StudentID   uuid.UUID
	RollNumber  string
	FirstName   string
	LastName    string
	SectionID   uuid.UUID
	CourseCode  string
	SectionCode string
	Tally       Tally
}

// ExportRow is one record of a section's CSV export.
type ExportRow struct {
	SessionID  uuid.UUID
	Date       time.Time
	StartsAt   time.Time
	Status     SessionStatus
	StudentID  uuid.UUID
	RollNumber string
	FirstName  string
	LastName   string
	Mark       Mark
	Source     MarkSource
	MarkedAt   time.Time
	Reason     string
}

// ReportStore computes attendance summaries and reports.
type ReportStore interface {
	// StudentSummary returns the student's tallies per section (one
	// section when sectionID is set) over w; only enrolled sections with
	// records or the given section appear. The student must be visible
	// in sc.
	StudentSummary(ctx context.Context, sc Scope, studentID, sectionID uuid.UUID, w Window) (StudentSummary, error)
	// SectionReport aggregates a section's records per roster student in
	// one SQL statement.
	SectionReport(ctx context.Context, sc Scope, sectionID uuid.UUID, w Window) (SectionReport, error)
	// Overview aggregates a term.
	Overview(ctx context.Context, sc Scope, q OverviewQuery) (Overview, error)
	// Shortages lists every (student, section) below the threshold.
	Shortages(ctx context.Context, sc Scope, q ShortageQuery) (Page[Shortage], error)
	// ExportSection streams a section's records over w to emit, in
	// (session start, roll number) order, stopping at emit's first error.
	ExportSection(ctx context.Context, sc Scope, sectionID uuid.UUID, w Window, emit func(ExportRow) error) error
}
