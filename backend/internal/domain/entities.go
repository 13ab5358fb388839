package domain

import (
	"time"

	"github.com/google/uuid"
)

// The academic structure and attendance entities, as stored. Dates that are
// calendar days in the institution's time zone are held as time.Time at
// midnight UTC of that day (only the year, month and day are meaningful);
// instants are time.Time in any location. Times of day are durations since
// midnight.

// Department is an academic department. Code is unique, 2-10 upper-case
// letters or digits starting with a letter (e.g. "CSE").
type Department struct {
	ID        uuid.UUID
	Code      string
	Name      string
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Program is a program of study (e.g. B.Tech in CSE) offered by a
// department.
type Program struct {
	ID            uuid.UUID
	Code          string
	Name          string
	Level         ProgramLevel
	DepartmentID  uuid.UUID
	DurationYears int
	// DepartmentCode is the department's code (read views only).
	DepartmentCode string
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

// Term is an academic term. StartDate < EndDate; at most one term is
// current.
type Term struct {
	ID        uuid.UUID
	Name      string
	StartDate time.Time
	EndDate   time.Time
	IsCurrent bool
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Faculty is a member of the teaching staff. EmployeeID and Email are
// unique (Email case-insensitively).
type Faculty struct {
	ID           uuid.UUID
	EmployeeID   string
	FirstName    string
	LastName     string
	Email        string
	Designation  string
	DepartmentID uuid.UUID
	Active       bool
	// DepartmentCode is the department's code (read views only).
	DepartmentCode string
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

// Course is a course in the catalogue. Credits are in academic credit units.
type Course struct {
	ID           uuid.UUID
	Code         string
	Title        string
	Credits      float64
	DepartmentID uuid.UUID
	// DepartmentCode is the department's code (read views only).
	DepartmentCode string
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

// Section is one offering of a course in a term, taught by one faculty
// member, with a capacity in students. (CourseID, TermID, Code) is unique.
type Section struct {
	ID        uuid.UUID
	CourseID  uuid.UUID
	TermID    uuid.UUID
	FacultyID uuid.UUID
	Code      string
	Capacity  int
	// Read views only: the course, term and faculty member by name, and
	// how many students are ENROLLED.
	CourseCode  string
	CourseTitle string
	TermName    string
	FacultyName string
	Enrolled    int
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// Enrollment ties a student to a section.
type Enrollment struct {
	StudentID  uuid.UUID
	SectionID  uuid.UUID
	Status     EnrollmentStatus
	EnrolledAt time.Time
}

// TimetableSlot is a weekly meeting of a section: ISO weekday (1 = Monday ..
// 7 = Sunday), [Start, End) as times of day in the institution's time zone,
// and a room. Within a term a section, a faculty member and a room are never
// booked in two overlapping slots.
type TimetableSlot struct {
	ID        uuid.UUID
	SectionID uuid.UUID
	TermID    uuid.UUID
	FacultyID uuid.UUID
	Weekday   int
	Start     time.Duration
	End       time.Duration
	Room      string
	// Read views only: the section's course and code.
	CourseCode  string
	CourseTitle string
	SectionCode string
}

// Holiday is a day without classes: no sessions are generated on it.
type Holiday struct {
	Date time.Time
	Name string
}

// AttendanceSession is one class meeting. SlotID is uuid.Nil for a session
// without a timetable slot. Date is the session's day in the institution's
// time zone; StartsAt < EndsAt are instants.
type AttendanceSession struct {
	ID        uuid.UUID
	SectionID uuid.UUID
	FacultyID uuid.UUID
	SlotID    uuid.UUID
	Date      time.Time
	StartsAt  time.Time
	EndsAt    time.Time
	Status    SessionStatus
	// Read views only: the section's course and code, and the slot's room
	// ("" without a slot).
	CourseCode  string
	CourseTitle string
	SectionCode string
	Room        string
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// AttendanceRecord is one student's mark in one session. SessionDate equals
// the session's Date (it is the partition key). MarkedBy is uuid.Nil when
// the system wrote the mark.
type AttendanceRecord struct {
	SessionID   uuid.UUID
	StudentID   uuid.UUID
	SessionDate time.Time
	Mark        Mark
	Source      MarkSource
	MarkedAt    time.Time
	MarkedBy    uuid.UUID
	Reason      string
}
