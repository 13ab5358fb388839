package domain

import (
	"context"
	"math"
	"strings"
	"time"

	"github.com/google/uuid"
)

// DepartmentInput creates or replaces a department.
type DepartmentInput struct {
	Code string
	Name string
}

// Validate normalizes and checks in.
func (in *DepartmentInput) Validate() error {
	var v Violations
	in.Code = NormalizeCode(in.Code)
	if !ValidDepartmentCode(in.Code) {
		v.Add("code", DepartmentCodeMessage)
	}
	in.Name = CheckName(&v, "name", in.Name)
	return v.Err()
}

// ProgramInput creates or replaces a program; Department is a code.
type ProgramInput struct {
	Code          string
	Name          string
	Level         string
	Department    string
	DurationYears int
}

// Validate normalizes and checks in.
func (in *ProgramInput) Validate() error {
	var v Violations
	in.Code = NormalizeCode(in.Code)
	in.Department = NormalizeCode(in.Department)
	if !ValidProgramCode(in.Code) {
		v.Add("code", ProgramCodeMessage)
	}
	in.Name = CheckName(&v, "name", in.Name)
	if _, ok := ParseProgramLevel(in.Level); !ok {
		v.Add("level", "must be one of "+strings.Join(ProgramLevelValues(), ", "))
	}
	if !ValidDepartmentCode(in.Department) {
		v.Add("department", DepartmentCodeMessage)
	}
	if in.DurationYears < 1 || in.DurationYears > 7 {
		v.Add("duration_years", "must be an integer from 1 to 7")
	}
	return v.Err()
}

// CourseInput creates or replaces a course; Department is a code.
type CourseInput struct {
	Code       string
	Title      string
	Credits    float64
	Department string
}

// Validate normalizes and checks in. Credits are > 0 and <= 20 in steps of
// 0.1.
func (in *CourseInput) Validate() error {
	var v Violations
	in.Code = NormalizeCode(in.Code)
	in.Department = NormalizeCode(in.Department)
	if !ValidCourseCode(in.Code) {
		v.Add("code", CourseCodeMessage)
	}
	in.Title = CheckName(&v, "title", in.Title)
	tenths := in.Credits * 10
	if !(in.Credits > 0 && in.Credits <= 20) || math.Abs(tenths-math.Round(tenths)) > 1e-9 {
		v.Add("credits", "must be a number greater than 0 and at most 20, in steps of 0.1")
	}
	if !ValidDepartmentCode(in.Department) {
		v.Add("department", DepartmentCodeMessage)
	}
	return v.Err()
}

// TermInput creates or replaces a term. Dates are at midnight UTC.
type TermInput struct {
	Name      string
	StartDate time.Time
	EndDate   time.Time
	IsCurrent bool
}

// Validate checks in: a name, start < end, and at most 400 days.
func (in *TermInput) Validate() error {
	var v Violations
	in.Name = CheckName(&v, "name", in.Name)
	if !in.StartDate.Before(in.EndDate) {
		v.Add("start_date", "must be before end_date")
	} else if in.EndDate.Sub(in.StartDate) > 400*24*time.Hour {
		v.Add("end_date", "must be at most 400 days after start_date")
	}
	return v.Err()
}

// HolidayInput creates a holiday.
type HolidayInput struct {
	Date time.Time
	Name string
}

// CatalogueQuery filters a catalogue list: Department is a department code
// (courses and programs), From/To bound holidays (zero: unbounded).
type CatalogueQuery struct {
	Department string
	Level      ProgramLevel
	From, To   time.Time
	Page       PageQuery
}

// CatalogueStore reads and writes the academic structure: departments,
// programs, courses, terms and holidays. Lists are keyset-paginated on the
// code (Key.Sort is the code; for terms the start date, newest first; for
// holidays the date).
type CatalogueStore interface {
	// ListDepartments lists departments in keyset order (see the Key.Sort convention above).
	ListDepartments(ctx context.Context, q CatalogueQuery) (Page[Department], error)
	// DepartmentByID returns one department, or ErrNotFound.
	DepartmentByID(ctx context.Context, id uuid.UUID) (Department, error)
	// CreateDepartment inserts a validated department; a duplicate unique value is a *ConflictError naming its field.
	CreateDepartment(ctx context.Context, in DepartmentInput) (Department, error)
	// UpdateDepartment replaces a department atomically and returns it before and after (ErrNotFound when absent).
	UpdateDepartment(ctx context.Context, id uuid.UUID, in DepartmentInput) (before, after Department, err error)
	// DeleteDepartment deletes a department nothing refers to and returns it (a *ConflictError "in_use" otherwise).
	DeleteDepartment(ctx context.Context, id uuid.UUID) (Department, error)

	// ListPrograms lists programs in keyset order (see the Key.Sort convention above).
	ListPrograms(ctx context.Context, q CatalogueQuery) (Page[Program], error)
	// ProgramByID returns one program, or ErrNotFound.
	ProgramByID(ctx context.Context, id uuid.UUID) (Program, error)
	// CreateProgram inserts a validated program; a duplicate unique value is a *ConflictError naming its field.
	CreateProgram(ctx context.Context, in ProgramInput) (Program, error)
	// UpdateProgram replaces a program atomically and returns it before and after (ErrNotFound when absent).
	UpdateProgram(ctx context.Context, id uuid.UUID, in ProgramInput) (before, after Program, err error)
	// DeleteProgram deletes a program nothing refers to and returns it (a *ConflictError "in_use" otherwise).
	DeleteProgram(ctx context.Context, id uuid.UUID) (Program, error)

	// ListCourses lists courses in keyset order (see the Key.Sort convention above).
	ListCourses(ctx context.Context, q CatalogueQuery) (Page[Course], error)
	// CourseByID returns one course, or ErrNotFound.
	CourseByID(ctx context.Context, id uuid.UUID) (Course, error)
	// CreateCourse inserts a validated course; a duplicate unique value is a *ConflictError naming its field.
	CreateCourse(ctx context.Context, in CourseInput) (Course, error)
	// UpdateCourse replaces a course atomically and returns it before and after (ErrNotFound when absent).
	UpdateCourse(ctx context.Context, id uuid.UUID, in CourseInput) (before, after Course, err error)
	// DeleteCourse deletes a course nothing refers to and returns it (a *ConflictError "in_use" otherwise).
	DeleteCourse(ctx context.Context, id uuid.UUID) (Course, error)

	// ListTerms lists terms in keyset order (see the Key.Sort convention above).
	ListTerms(ctx context.Context, q CatalogueQuery) (Page[Term], error)
	// TermByID returns one term, or ErrNotFound.
	TermByID(ctx context.Context, id uuid.UUID) (Term, error)
	// CurrentTerm returns the term marked current, or ErrNotFound.
	CurrentTerm(ctx context.Context) (Term, error)
	// CreateTerm inserts a term; IsCurrent moves the current flag to it
	// atomically.
	CreateTerm(ctx context.Context, in TermInput) (Term, error)
	// UpdateTerm replaces a term atomically and returns it before and after (ErrNotFound when absent).
	UpdateTerm(ctx context.Context, id uuid.UUID, in TermInput) (before, after Term, err error)
	// DeleteTerm deletes a term nothing refers to and returns it (a *ConflictError "in_use" otherwise).
	DeleteTerm(ctx context.Context, id uuid.UUID) (Term, error)

	// ListHolidays lists holidays in keyset order (see the Key.Sort convention above).
	ListHolidays(ctx context.Context, q CatalogueQuery) (Page[Holiday], error)
	// CreateHoliday inserts a holiday; a date that already has one is a
	// *ConflictError.
	CreateHoliday(ctx context.Context, in HolidayInput) (Holiday, error)
	// DeleteHoliday removes the holiday on date, or ErrNotFound.
	DeleteHoliday(ctx context.Context, date time.Time) (Holiday, error)
}
