package domain

import (
	"context"
	"time"

	"github.com/google/uuid"
)

// Student list paging bounds, in items per page.
const (
	DefaultPageLimit = 50
	MinPageLimit     = 1
	MaxPageLimit     = 500
)

// Year of study bounds (inclusive).
const (
	MinYearOfStudy = 1
	MaxYearOfStudy = 6
)

// Student is a student as listed: the identifying and academic fields, never
// the encrypted ones (phone) nor the date of birth. Email is "" when the
// student has none. Department and Program are codes.
type Student struct {
	ID          uuid.UUID
	RollNumber  string
	FirstName   string
	LastName    string
	Email       string
	Department  string
	Program     string
	YearOfStudy int
	Section     string
	Status      StudentStatus
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// StudentKey is a position in the student list, whose order is
// (RollNumber, ID) ascending. RollNumber is unique, so ID only breaks ties
// that cannot happen; it keeps the order total should that ever change.
type StudentKey struct {
	RollNumber string
	ID         uuid.UUID
}

// StudentFilter narrows the student list. Department is a department code
// ("" for all); Year is a year of study (0 for all).
type StudentFilter struct {
	Department string
	Year       int
}

// StudentQuery asks for one page of the student list: the students matching
// Filter that sort after After (from the start when After is nil), at most
// Limit of them.
type StudentQuery struct {
	Filter StudentFilter
	After  *StudentKey
	Limit  int
}

// StudentPage is one page of the student list. Next is the key to continue
// after, nil on the last page.
type StudentPage struct {
	Items []Student
	Next  *StudentKey
}

// StudentStore reads students. Implementations must be safe for concurrent
// use and honour ctx's deadline.
type StudentStore interface {
	// ListStudents returns the page q asks for, in (RollNumber, ID) order.
	// It fails with an *InvalidError naming "department" when
	// q.Filter.Department names no department, and with an error matching
	// ErrUnavailable when the database cannot answer.
	ListStudents(ctx context.Context, q StudentQuery) (StudentPage, error)
	// StudentByID returns one student, or an error matching ErrNotFound.
	StudentByID(ctx context.Context, id uuid.UUID) (Student, error)
}

// ValidDepartmentCode reports whether code has the shape of a department
// code: 2 to 10 upper-case ASCII letters or digits, starting with a letter.
func ValidDepartmentCode(code string) bool {
	if len(code) < 2 || len(code) > 10 {
		return false
	}
	for i := 0; i < len(code); i++ {
		c := code[i]
		switch {
		case c >= 'A' && c <= 'Z':
		case c >= '0' && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

// Validate checks q against the domain's rules and returns an *InvalidError
// listing every violation (fields "limit", "department", "year"), or nil.
func (q StudentQuery) Validate() error {
	var errs []Violation
	if q.Limit < MinPageLimit || q.Limit > MaxPageLimit {
		errs = append(errs, Violation{Field: "limit", Message: LimitMessage})
	}
	if q.Filter.Department != "" && !ValidDepartmentCode(q.Filter.Department) {
		errs = append(errs, Violation{Field: "department", Message: DepartmentCodeMessage})
	}
	if q.Filter.Year != 0 && (q.Filter.Year < MinYearOfStudy || q.Filter.Year > MaxYearOfStudy) {
		errs = append(errs, Violation{Field: "year", Message: YearMessage})
	}
	if len(errs) > 0 {
		return &InvalidError{Violations: errs}
	}
	return nil
}

// LimitMessage explains a bad page limit to a client (MinPageLimit to
// MaxPageLimit).
const LimitMessage = "must be an integer from 1 to 500"

// DepartmentCodeMessage explains a malformed department code to a client.
const DepartmentCodeMessage = "must be a department code: 2 to 10 letters or digits, starting with a letter"

// YearMessage explains a bad year of study to a client.
const YearMessage = "must be an integer from 1 to 6"

// UnknownDepartmentMessage explains a well-formed but unknown department code.
const UnknownDepartmentMessage = "no department has this code"
