package domain

import (
	"context"
	"strings"
	"time"

	"github.com/google/uuid"
)

// Student is a student as the store reads them: the identifying and
// academic fields, never the personal ones (phone, date of birth,
// address), which are sealed by the data-protection layer (package pii)
// and opened only for callers allowed to see them. Email is "" when the
// student has none. Department and Program are codes.
type Student struct {
	ID          uuid.UUID
	RollNumber  string
	FirstName   string
	LastName    string
	Email       string
	Gender      Gender // "" when not recorded
	Department  string
	Program     string
	YearOfStudy int
	Section     string
	Status      StudentStatus
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// StudentFilter narrows the student list; zero fields do not filter.
// Department and Program are codes; Q is a case-insensitive substring of
// the roll number, first or last name, or e-mail.
type StudentFilter struct {
	Department string
	Program    string
	Year       int
	Section    string
	Status     StudentStatus
	// SectionID keeps the students ENROLLED in that course section.
	SectionID uuid.UUID
	Q         string
}

// StudentQuery asks for one page of the student list in roll number order
// (Page.After.Sort is the last roll number).
type StudentQuery struct {
	Filter StudentFilter
	Page   PageQuery
}

// MinSearchLen and MaxSearchLen bound the `q` search string, in characters.
const (
	MinSearchLen = 2
	MaxSearchLen = 64
)

// Validate checks q and returns an *InvalidError naming every bad field
// ("limit", "department", "program", "year", "section", "q").
func (q StudentQuery) Validate() error {
	var v Violations
	if !ValidLimit(q.Page.Limit) {
		v.Add("limit", LimitMessage)
	}
	f := q.Filter
	if f.Department != "" && !ValidDepartmentCode(f.Department) {
		v.Add("department", DepartmentCodeMessage)
	}
	if f.Program != "" && !ValidProgramCode(f.Program) {
		v.Add("program", ProgramCodeMessage)
	}
	if f.Year != 0 && (f.Year < MinYearOfStudy || f.Year > MaxYearOfStudy) {
		v.Add("year", YearMessage)
	}
	if f.Section != "" && !ValidSectionLetter(f.Section) {
		v.Add("section", SectionLetterMessage)
	}
	if f.Q != "" {
		n := len([]rune(f.Q))
		if n < MinSearchLen || n > MaxSearchLen {
			v.Add("q", "must be 2 to 64 characters")
		}
	}
	return v.Err()
}

// SealedPII is a student's personal data (phone, date of birth, address)
// as the data-protection layer sealed it for that student: AES-256-GCM
// ciphertexts bound to the student's id, opaque to the store, which
// writes them as given in the same statement as the rest of the row. A
// nil field is stored as NULL.
type SealedPII struct {
	Phone, DateOfBirth, Address []byte
}

// SealedChange changes one sealed personal data column: Set says whether
// it changes; Value nil clears it.
type SealedChange struct {
	Set   bool
	Value []byte
}

// StudentInput is a student to create (or one row of a bulk import).
// Codes and roll numbers are normalized (trimmed, upper-cased) by
// Normalize; Department may be empty (it is the program's).
type StudentInput struct {
	// ID is the new student's id; zero lets the store assign one. Sealed
	// personal data is bound to the id, so a caller sealing PII chooses
	// it first.
	ID uuid.UUID
	// PII is the sealed personal data (nil: none on record).
	PII         *SealedPII
	RollNumber  string
	FirstName   string
	LastName    string
	Email       string
	Gender      string
	Department  string
	Program     string
	YearOfStudy int
	Section     string
	Status      string
}

// Normalize trims and upper-cases codes, trims names and lower-cases
// nothing (e-mail is case-insensitive in the database).
func (in *StudentInput) Normalize() {
	in.RollNumber = NormalizeCode(in.RollNumber)
	in.Department = NormalizeCode(in.Department)
	in.Program = NormalizeCode(in.Program)
	in.Section = NormalizeCode(in.Section)
	in.Email = strings.TrimSpace(in.Email)
	in.FirstName = strings.TrimSpace(in.FirstName)
	in.LastName = strings.TrimSpace(in.LastName)
	if in.Status == "" {
		in.Status = string(StudentActive)
	}
}

// Validate checks a normalized input and returns an *InvalidError naming
// every bad field by its JSON name.
func (in StudentInput) Validate() error {
	var v Violations
	if !ValidRollNumber(in.RollNumber) {
		v.Add("roll_number", RollNumberMessage)
	}
	CheckName(&v, "first_name", in.FirstName)
	CheckName(&v, "last_name", in.LastName)
	if in.Email != "" && !ValidEmail(in.Email) {
		v.Add("email", EmailMessage)
	}
	if in.Gender != "" {
		if _, ok := ParseGender(in.Gender); !ok {
			v.Add("gender", "must be one of "+strings.Join(GenderValues(), ", "))
		}
	}
	if in.Department != "" && !ValidDepartmentCode(in.Department) {
		v.Add("department", DepartmentCodeMessage)
	}
	if !ValidProgramCode(in.Program) {
		v.Add("program", ProgramCodeMessage)
	}
	if in.YearOfStudy < MinYearOfStudy || in.YearOfStudy > MaxYearOfStudy {
		v.Add("year_of_study", YearMessage)
	}
	if !ValidSectionLetter(in.Section) {
		v.Add("section", SectionLetterMessage)
	}
	if _, ok := ParseStudentStatus(in.Status); !ok {
		v.Add("status", "must be one of "+strings.Join(StudentStatusValues(), ", "))
	}
	return v.Err()
}

// StudentPatch changes some fields of a student; nil pointers keep the
// current value. ClearEmail removes the e-mail address (Email must then be
// nil). The sealed personal data columns change where their SealedChange
// is Set; a new or cleared date of birth also clears any clear-text one
// left by a loader.
type StudentPatch struct {
	RollNumber  *string
	FirstName   *string
	LastName    *string
	Email       *string
	ClearEmail  bool
	Gender      *string
	Program     *string
	YearOfStudy *int
	Section     *string
	Status      *string
	// Phone, DateOfBirth and Address change the sealed personal data.
	Phone, DateOfBirth, Address SealedChange
}

// Apply returns s with p applied to its input form, normalized, for
// validation and storage.
func (p StudentPatch) Apply(s Student) StudentInput {
	in := StudentInput{RollNumber: s.RollNumber, FirstName: s.FirstName, LastName: s.LastName, Email: s.Email,
		Gender: string(s.Gender), Program: s.Program, YearOfStudy: s.YearOfStudy, Section: s.Section, Status: string(s.Status)}
	set := func(dst *string, src *string) {
		if src != nil {
			*dst = *src
		}
	}
	set(&in.RollNumber, p.RollNumber)
	set(&in.FirstName, p.FirstName)
	set(&in.LastName, p.LastName)
	set(&in.Email, p.Email)
	if p.ClearEmail {
		in.Email = ""
	}
	set(&in.Gender, p.Gender)
	set(&in.Program, p.Program)
	if p.YearOfStudy != nil {
		in.YearOfStudy = *p.YearOfStudy
	}
	set(&in.Section, p.Section)
	set(&in.Status, p.Status)
	in.Normalize()
	return in
}

// MaxImportRows is the most students one bulk import may carry.
const MaxImportRows = 5000

// StudentStore reads and writes students. Implementations are safe for
// concurrent use and honour ctx's deadline.
type StudentStore interface {
	// ListStudents returns the page q asks for, in roll number order,
	// restricted to sc (a faculty member sees the students of their
	// sections, a student only themselves). It fails with an
	// *InvalidError naming "department" or "program" for an unknown code.
	ListStudents(ctx context.Context, sc Scope, q StudentQuery) (Page[Student], error)
	// StudentByID returns one student visible in sc, or ErrNotFound.
	StudentByID(ctx context.Context, sc Scope, id uuid.UUID) (Student, error)
	// CreateStudent inserts a validated input. Duplicate roll number or
	// e-mail is a *ConflictError naming the field; an unknown program or a
	// department not the program's an *InvalidError.
	CreateStudent(ctx context.Context, in StudentInput) (Student, error)
	// UpdateStudent applies p atomically and returns the student before
	// and after.
	UpdateStudent(ctx context.Context, id uuid.UUID, p StudentPatch) (before, after Student, err error)
	// DeleteStudent removes a student without attendance history or
	// enrollments (a *ConflictError otherwise: set the status instead).
	DeleteStudent(ctx context.Context, id uuid.UUID) (Student, error)
	// ImportStudents inserts every row in one transaction, or none: it
	// returns an *InvalidError with one violation per bad row
	// ("students[i].field") when any row is invalid or clashes with
	// another row or an existing student.
	ImportStudents(ctx context.Context, rows []StudentInput) (int, error)
}

// FacultyInput is a faculty member to create.
type FacultyInput struct {
	EmployeeID  string
	FirstName   string
	LastName    string
	Email       string
	Designation string
	Department  string
	Active      bool
}

// Normalize trims and upper-cases codes.
func (in *FacultyInput) Normalize() {
	in.EmployeeID = NormalizeCode(in.EmployeeID)
	in.Department = NormalizeCode(in.Department)
	in.Email = strings.TrimSpace(in.Email)
	in.FirstName = strings.TrimSpace(in.FirstName)
	in.LastName = strings.TrimSpace(in.LastName)
	in.Designation = strings.TrimSpace(in.Designation)
}

// Validate checks a normalized input.
func (in FacultyInput) Validate() error {
	var v Violations
	if !ValidEmployeeID(in.EmployeeID) {
		v.Add("employee_id", EmployeeIDMessage)
	}
	CheckName(&v, "first_name", in.FirstName)
	CheckName(&v, "last_name", in.LastName)
	if !ValidEmail(in.Email) {
		v.Add("email", EmailMessage)
	}
	CheckName(&v, "designation", in.Designation)
	if !ValidDepartmentCode(in.Department) {
		v.Add("department", DepartmentCodeMessage)
	}
	return v.Err()
}

// FacultyPatch changes some fields of a faculty member.
type FacultyPatch struct {
	EmployeeID  *string
	FirstName   *string
	LastName    *string
	Email       *string
	Designation *string
	Department  *string
	Active      *bool
}

// Apply returns f with p applied, normalized.
func (p FacultyPatch) Apply(f Faculty) FacultyInput {
	in := FacultyInput{EmployeeID: f.EmployeeID, FirstName: f.FirstName, LastName: f.LastName, Email: f.Email,
		Designation: f.Designation, Department: f.DepartmentCode, Active: f.Active}
	set := func(dst *string, src *string) {
		if src != nil {
			*dst = *src
		}
	}
	set(&in.EmployeeID, p.EmployeeID)
	set(&in.FirstName, p.FirstName)
	set(&in.LastName, p.LastName)
	set(&in.Email, p.Email)
	set(&in.Designation, p.Designation)
	set(&in.Department, p.Department)
	if p.Active != nil {
		in.Active = *p.Active
	}
	in.Normalize()
	return in
}

// FacultyQuery asks for a page of the faculty list in employee id order.
type FacultyQuery struct {
	Department string
	Active     *bool
	Q          string
	Page       PageQuery
}

// FacultyStore reads and writes faculty members.
type FacultyStore interface {
	// ListFaculty lists faculty in keyset order (see the Key.Sort convention above).
	ListFaculty(ctx context.Context, q FacultyQuery) (Page[Faculty], error)
	// FacultyByID returns one faculty, or ErrNotFound.
	FacultyByID(ctx context.Context, id uuid.UUID) (Faculty, error)
	// CreateFaculty inserts a validated faculty; a duplicate unique value is a *ConflictError naming its field.
	CreateFaculty(ctx context.Context, in FacultyInput) (Faculty, error)
	// UpdateFaculty replaces a faculty atomically and returns it before and after (ErrNotFound when absent).
	UpdateFaculty(ctx context.Context, id uuid.UUID, p FacultyPatch) (before, after Faculty, err error)
	// DeleteFaculty removes a faculty member who teaches no section (a
	// *ConflictError otherwise: deactivate instead).
	DeleteFaculty(ctx context.Context, id uuid.UUID) (Faculty, error)
}
