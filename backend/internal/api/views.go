package api

import (
	"encoding/json"
	"time"

	"github.com/google/uuid"

	"github.com/campshub360/edge/backend/internal/domain"
	"github.com/campshub360/edge/backend/internal/pii"
)

// The JSON shapes of the API (DOMAIN.md "API shape"): snake_case names,
// UUIDs as strings, instants RFC 3339 in UTC, dates YYYY-MM-DD,
// percentages as numbers with two decimals. The struct tags are also the
// source of the OpenAPI schemas (openapi.go): `format` and `enum` tags
// document string formats and closed value sets.

// timeLayout renders instants as RFC 3339 in UTC with microseconds (the
// database's precision), e.g. 2026-11-29T08:02:20.123456Z.
const timeLayout = "2006-01-02T15:04:05.000000Z07:00"

func instant(t time.Time) string { return t.UTC().Format(timeLayout) }

func optInstant(t time.Time) *string {
	if t.IsZero() {
		return nil
	}
	s := instant(t)
	return &s
}

func day(t time.Time) string { return t.Format(time.DateOnly) }

func optID(id uuid.UUID) *string {
	if id == uuid.Nil {
		return nil
	}
	s := id.String()
	return &s
}

func optText(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// pageJSON is a page of any list.
type pageJSON[T any] struct {
	Items      []T     `json:"items"`
	NextCursor *string `json:"next_cursor" doc:"opaque cursor of the next page; null on the last page"`
}

type departmentJSON struct {
	ID        string `json:"id" format:"uuid"`
	Code      string `json:"code"`
	Name      string `json:"name"`
	CreatedAt string `json:"created_at" format:"date-time"`
	UpdatedAt string `json:"updated_at" format:"date-time"`
}

func toDepartment(d domain.Department) departmentJSON {
	return departmentJSON{ID: d.ID.String(), Code: d.Code, Name: d.Name, CreatedAt: instant(d.CreatedAt), UpdatedAt: instant(d.UpdatedAt)}
}

type programJSON struct {
	ID            string `json:"id" format:"uuid"`
	Code          string `json:"code"`
	Name          string `json:"name"`
	Level         string `json:"level" enum:"UG,PG,PHD,DIPLOMA"`
	Department    string `json:"department" doc:"department code"`
	DurationYears int    `json:"duration_years"`
	CreatedAt     string `json:"created_at" format:"date-time"`
	UpdatedAt     string `json:"updated_at" format:"date-time"`
}

func toProgram(p domain.Program) programJSON {
	return programJSON{ID: p.ID.String(), Code: p.Code, Name: p.Name, Level: string(p.Level), Department: p.DepartmentCode,
		DurationYears: p.DurationYears, CreatedAt: instant(p.CreatedAt), UpdatedAt: instant(p.UpdatedAt)}
}

type courseJSON struct {
	ID         string  `json:"id" format:"uuid"`
	Code       string  `json:"code"`
	Title      string  `json:"title"`
	Credits    float64 `json:"credits"`
	Department string  `json:"department" doc:"department code"`
	CreatedAt  string  `json:"created_at" format:"date-time"`
	UpdatedAt  string  `json:"updated_at" format:"date-time"`
}

func toCourse(c domain.Course) courseJSON {
	return courseJSON{ID: c.ID.String(), Code: c.Code, Title: c.Title, Credits: c.Credits, Department: c.DepartmentCode,
		CreatedAt: instant(c.CreatedAt), UpdatedAt: instant(c.UpdatedAt)}
}

type termJSON struct {
	ID        string `json:"id" format:"uuid"`
	Name      string `json:"name"`
	StartDate string `json:"start_date" format:"date"`
	EndDate   string `json:"end_date" format:"date"`
	IsCurrent bool   `json:"is_current"`
	CreatedAt string `json:"created_at" format:"date-time"`
	UpdatedAt string `json:"updated_at" format:"date-time"`
}

func toTerm(t domain.Term) termJSON {
	return termJSON{ID: t.ID.String(), Name: t.Name, StartDate: day(t.StartDate), EndDate: day(t.EndDate), IsCurrent: t.IsCurrent,
		CreatedAt: instant(t.CreatedAt), UpdatedAt: instant(t.UpdatedAt)}
}

type holidayJSON struct {
	Date string `json:"date" format:"date"`
	Name string `json:"name"`
}

func toHoliday(h domain.Holiday) holidayJSON { return holidayJSON{Date: day(h.Date), Name: h.Name} }

// studentJSON is a student as lists show them. Email and gender are null
// when not recorded. The personal data (phone, date of birth, address) is
// never part of it: studentDetailJSON adds it for callers allowed to see
// it.
type studentJSON struct {
	ID          string  `json:"id" format:"uuid"`
	RollNumber  string  `json:"roll_number"`
	FirstName   string  `json:"first_name"`
	LastName    string  `json:"last_name"`
	Email       *string `json:"email" format:"email"`
	Gender      *string `json:"gender" enum:"female,male,other,undisclosed"`
	Department  string  `json:"department" doc:"department code"`
	Program     string  `json:"program" doc:"program code"`
	YearOfStudy int     `json:"year_of_study"`
	Section     string  `json:"section" doc:"section letter A-Z"`
	Status      string  `json:"status" enum:"ACTIVE,INACTIVE,GRADUATED,SUSPENDED,DROPPED"`
	CreatedAt   string  `json:"created_at" format:"date-time"`
	UpdatedAt   string  `json:"updated_at" format:"date-time"`
}

func toStudent(s domain.Student) studentJSON {
	return studentJSON{ID: s.ID.String(), RollNumber: s.RollNumber, FirstName: s.FirstName, LastName: s.LastName,
		Email: optText(s.Email), Gender: optText(string(s.Gender)), Department: s.Department, Program: s.Program,
		YearOfStudy: s.YearOfStudy, Section: s.Section, Status: string(s.Status),
		CreatedAt: instant(s.CreatedAt), UpdatedAt: instant(s.UpdatedAt)}
}

// studentDetailJSON is one student; Contact, the personal data decrypted,
// is present only for administrators, registrars and the student themself
// (absent, not null, for everyone else).
type studentDetailJSON struct {
	studentJSON
	Contact *contactJSON `json:"contact,omitempty" doc:"personal data (sealed at rest), only for administrators, registrars and the student themself"`
}

// contactJSON is a student's personal data, decrypted; each field is null
// when not on record.
type contactJSON struct {
	Phone       *string `json:"phone"`
	DateOfBirth *string `json:"date_of_birth" format:"date"`
	Address     *string `json:"address"`
}

func toContact(c pii.Contact) *contactJSON {
	out := &contactJSON{Phone: optText(c.Phone), Address: optText(c.Address)}
	if !c.DateOfBirth.IsZero() {
		out.DateOfBirth = optText(c.DateOfBirth.Format(time.DateOnly))
	}
	return out
}

type facultyJSON struct {
	ID          string `json:"id" format:"uuid"`
	EmployeeID  string `json:"employee_id"`
	FirstName   string `json:"first_name"`
	LastName    string `json:"last_name"`
	Email       string `json:"email" format:"email"`
	Designation string `json:"designation"`
	Department  string `json:"department" doc:"department code"`
	Active      bool   `json:"active"`
	CreatedAt   string `json:"created_at" format:"date-time"`
	UpdatedAt   string `json:"updated_at" format:"date-time"`
}

func toFaculty(f domain.Faculty) facultyJSON {
	return facultyJSON{ID: f.ID.String(), EmployeeID: f.EmployeeID, FirstName: f.FirstName, LastName: f.LastName, Email: f.Email,
		Designation: f.Designation, Department: f.DepartmentCode, Active: f.Active,
		CreatedAt: instant(f.CreatedAt), UpdatedAt: instant(f.UpdatedAt)}
}

type sectionJSON struct {
	ID          string `json:"id" format:"uuid"`
	CourseID    string `json:"course_id" format:"uuid"`
	CourseCode  string `json:"course_code"`
	CourseTitle string `json:"course_title"`
	TermID      string `json:"term_id" format:"uuid"`
	TermName    string `json:"term_name"`
	FacultyID   string `json:"faculty_id" format:"uuid"`
	FacultyName string `json:"faculty_name"`
	SectionCode string `json:"section_code"`
	Capacity    int    `json:"capacity"`
	Enrolled    int    `json:"enrolled" doc:"students ENROLLED"`
	CreatedAt   string `json:"created_at" format:"date-time"`
	UpdatedAt   string `json:"updated_at" format:"date-time"`
}

func toSection(s domain.Section) sectionJSON {
	return sectionJSON{ID: s.ID.String(), CourseID: s.CourseID.String(), CourseCode: s.CourseCode, CourseTitle: s.CourseTitle,
		TermID: s.TermID.String(), TermName: s.TermName, FacultyID: s.FacultyID.String(), FacultyName: s.FacultyName,
		SectionCode: s.Code, Capacity: s.Capacity, Enrolled: s.Enrolled, CreatedAt: instant(s.CreatedAt), UpdatedAt: instant(s.UpdatedAt)}
}

type enrollmentJSON struct {
	StudentID  string `json:"student_id" format:"uuid"`
	SectionID  string `json:"section_id" format:"uuid"`
	Status     string `json:"status" enum:"ENROLLED,DROPPED,COMPLETED"`
	EnrolledAt string `json:"enrolled_at" format:"date-time"`
}

func toEnrollment(e domain.Enrollment) enrollmentJSON {
	return enrollmentJSON{StudentID: e.StudentID.String(), SectionID: e.SectionID.String(), Status: string(e.Status), EnrolledAt: instant(e.EnrolledAt)}
}

type rosterEntryJSON struct {
	studentJSON
	EnrollmentStatus string `json:"enrollment_status" enum:"ENROLLED,DROPPED,COMPLETED"`
	EnrolledAt       string `json:"enrolled_at" format:"date-time"`
}

type slotJSON struct {
	ID          string `json:"id" format:"uuid"`
	SectionID   string `json:"section_id" format:"uuid"`
	CourseCode  string `json:"course_code"`
	CourseTitle string `json:"course_title"`
	SectionCode string `json:"section_code"`
	TermID      string `json:"term_id" format:"uuid"`
	FacultyID   string `json:"faculty_id" format:"uuid"`
	Weekday     int    `json:"weekday" doc:"ISO weekday, 1 = Monday .. 7 = Sunday"`
	StartTime   string `json:"start_time" doc:"HH:MM, institution time zone"`
	EndTime     string `json:"end_time" doc:"HH:MM, institution time zone"`
	Room        string `json:"room"`
}

func clock(d time.Duration) string {
	m := int(d / time.Minute)
	return string([]byte{byte('0' + m/600), byte('0' + m/60%10), ':', byte('0' + m%60/10), byte('0' + m%10)})
}

func toSlot(s domain.TimetableSlot) slotJSON {
	return slotJSON{ID: s.ID.String(), SectionID: s.SectionID.String(), CourseCode: s.CourseCode, CourseTitle: s.CourseTitle,
		SectionCode: s.SectionCode, TermID: s.TermID.String(), FacultyID: s.FacultyID.String(), Weekday: s.Weekday,
		StartTime: clock(s.Start), EndTime: clock(s.End), Room: s.Room}
}

type sessionJSON struct {
	ID          string  `json:"id" format:"uuid"`
	SectionID   string  `json:"section_id" format:"uuid"`
	CourseCode  string  `json:"course_code"`
	CourseTitle string  `json:"course_title"`
	SectionCode string  `json:"section_code"`
	FacultyID   string  `json:"faculty_id" format:"uuid"`
	SlotID      *string `json:"slot_id" format:"uuid" doc:"null for a session without a timetable slot"`
	Room        *string `json:"room"`
	Date        string  `json:"date" format:"date"`
	StartsAt    string  `json:"starts_at" format:"date-time"`
	EndsAt      string  `json:"ends_at" format:"date-time"`
	Status      string  `json:"status" enum:"scheduled,open,closed,locked,cancelled"`
	UpdatedAt   string  `json:"updated_at" format:"date-time"`
}

func toSession(s domain.AttendanceSession) sessionJSON {
	return sessionJSON{ID: s.ID.String(), SectionID: s.SectionID.String(), CourseCode: s.CourseCode, CourseTitle: s.CourseTitle,
		SectionCode: s.SectionCode, FacultyID: s.FacultyID.String(), SlotID: optID(s.SlotID), Room: optText(s.Room),
		Date: day(s.Date), StartsAt: instant(s.StartsAt), EndsAt: instant(s.EndsAt), Status: string(s.Status), UpdatedAt: instant(s.UpdatedAt)}
}

type rosterMarkJSON struct {
	StudentID  string  `json:"student_id" format:"uuid"`
	RollNumber string  `json:"roll_number"`
	FirstName  string  `json:"first_name"`
	LastName   string  `json:"last_name"`
	Mark       *string `json:"mark" enum:"present,absent,late,excused" doc:"null when unmarked"`
	Source     *string `json:"source" enum:"manual,qr,bulk,import,system"`
	MarkedAt   *string `json:"marked_at" format:"date-time"`
	MarkedBy   *string `json:"marked_by" format:"uuid"`
	Reason     *string `json:"reason"`
}

func toRosterMark(m domain.RosterMark) rosterMarkJSON {
	return rosterMarkJSON{StudentID: m.StudentID.String(), RollNumber: m.RollNumber, FirstName: m.FirstName, LastName: m.LastName,
		Mark: optText(string(m.Mark)), Source: optText(string(m.Source)), MarkedAt: optInstant(m.MarkedAt),
		MarkedBy: optID(m.MarkedBy), Reason: optText(m.Reason)}
}

type markCountsJSON struct {
	Present  int `json:"present"`
	Late     int `json:"late"`
	Absent   int `json:"absent"`
	Excused  int `json:"excused"`
	Unmarked int `json:"unmarked"`
}

type sessionDetailJSON struct {
	sessionJSON
	Counts markCountsJSON   `json:"counts" doc:"marks of the roster"`
	Roster []rosterMarkJSON `json:"roster" doc:"ENROLLED students in roll number order, with their marks"`
	Others []rosterMarkJSON `json:"others" doc:"marks of students no longer enrolled"`
}

func toSessionDetail(d domain.SessionDetail) sessionDetailJSON {
	out := sessionDetailJSON{sessionJSON: toSession(d.Session), Roster: make([]rosterMarkJSON, len(d.Roster)), Others: make([]rosterMarkJSON, len(d.Others))}
	for i, m := range d.Roster {
		out.Roster[i] = toRosterMark(m)
		switch m.Mark {
		case domain.MarkPresent:
			out.Counts.Present++
		case domain.MarkLate:
			out.Counts.Late++
		case domain.MarkAbsent:
			out.Counts.Absent++
		case domain.MarkExcused:
			out.Counts.Excused++
		default:
			out.Counts.Unmarked++
		}
	}
	for i, m := range d.Others {
		out.Others[i] = toRosterMark(m)
	}
	return out
}

// tallyJSON is a tally with its percentage and eligibility.
type tallyJSON struct {
	Present    int64          `json:"present"`
	Late       int64          `json:"late"`
	Absent     int64          `json:"absent"`
	Excused    int64          `json:"excused"`
	Total      int64          `json:"total"`
	Percentage domain.Percent `json:"percentage" doc:"100 * (present + late) / max(total - excused, 1), half-up to 2 decimals; 0 without records"`
	Eligible   bool           `json:"eligible" doc:"percentage >= threshold"`
}

func toTally(t domain.Tally, threshold domain.Percent) tallyJSON {
	return tallyJSON{Present: t.Present, Late: t.Late, Absent: t.Absent, Excused: t.Excused, Total: t.Total(),
		Percentage: t.Percentage(), Eligible: t.Eligible(threshold)}
}

type auditEventJSON struct {
	ID        string          `json:"id" format:"uuid"`
	At        string          `json:"at" format:"date-time"`
	ActorID   *string         `json:"actor_id" format:"uuid" doc:"null for the system"`
	Action    string          `json:"action"`
	Entity    string          `json:"entity"`
	EntityID  string          `json:"entity_id"`
	Before    json.RawMessage `json:"before" doc:"snapshot before the change, or null"`
	After     json.RawMessage `json:"after" doc:"snapshot after the change, or null"`
	IP        *string         `json:"ip"`
	RequestID *string         `json:"request_id"`
}

func toAuditEvent(e domain.AuditEvent) auditEventJSON {
	out := auditEventJSON{ID: e.ID.String(), At: instant(e.At), ActorID: optID(e.ActorID), Action: e.Action, Entity: e.Entity,
		EntityID: e.EntityID, Before: e.Before, After: e.After, IP: optText(e.IP), RequestID: optText(e.RequestID)}
	if out.Before == nil {
		out.Before = json.RawMessage("null")
	}
	if out.After == nil {
		out.After = json.RawMessage("null")
	}
	return out
}

type leaveJSON struct {
	ID        string  `json:"id" format:"uuid"`
	StudentID string  `json:"student_id" format:"uuid"`
	Type      string  `json:"type" enum:"medical,on_duty,sport,personal,emergency,other"`
	StartDate string  `json:"start_date" format:"date"`
	EndDate   string  `json:"end_date" format:"date"`
	Reason    string  `json:"reason"`
	Status    string  `json:"status" enum:"pending,approved,rejected,cancelled"`
	DecidedBy *string `json:"decided_by" format:"uuid"`
	DecidedAt *string `json:"decided_at" format:"date-time"`
	Note      *string `json:"note"`
	CreatedAt string  `json:"created_at" format:"date-time"`
	UpdatedAt string  `json:"updated_at" format:"date-time"`
}

func toLeave(l domain.LeaveApplication) leaveJSON {
	return leaveJSON{ID: l.ID.String(), StudentID: l.StudentID.String(), Type: string(l.Type), StartDate: day(l.StartDate),
		EndDate: day(l.EndDate), Reason: l.Reason, Status: string(l.Status), DecidedBy: optID(l.DecidedBy),
		DecidedAt: optInstant(l.DecidedAt), Note: optText(l.Note), CreatedAt: instant(l.CreatedAt), UpdatedAt: instant(l.UpdatedAt)}
}

type correctionJSON struct {
	ID          string  `json:"id" format:"uuid"`
	SessionID   string  `json:"session_id" format:"uuid"`
	StudentID   string  `json:"student_id" format:"uuid"`
	SessionDate string  `json:"session_date" format:"date"`
	FromMark    string  `json:"from_mark" enum:"present,absent,late,excused"`
	ToMark      string  `json:"to_mark" enum:"present,absent,late,excused"`
	Reason      string  `json:"reason"`
	Status      string  `json:"status" enum:"pending,approved,rejected,cancelled"`
	RequestedBy *string `json:"requested_by" format:"uuid"`
	DecidedBy   *string `json:"decided_by" format:"uuid"`
	DecidedAt   *string `json:"decided_at" format:"date-time"`
	Note        *string `json:"note"`
	CreatedAt   string  `json:"created_at" format:"date-time"`
	UpdatedAt   string  `json:"updated_at" format:"date-time"`
}

func toCorrection(c domain.CorrectionRequest) correctionJSON {
	return correctionJSON{ID: c.ID.String(), SessionID: c.SessionID.String(), StudentID: c.StudentID.String(),
		SessionDate: day(c.SessionDate), FromMark: string(c.FromMark), ToMark: string(c.ToMark), Reason: c.Reason,
		Status: string(c.Status), RequestedBy: optID(c.RequestedBy), DecidedBy: optID(c.DecidedBy),
		DecidedAt: optInstant(c.DecidedAt), Note: optText(c.Note), CreatedAt: instant(c.CreatedAt), UpdatedAt: instant(c.UpdatedAt)}
}

// mapItems converts a page of domain values with f.
func mapItems[T, U any](items []T, f func(T) U) []U {
	out := make([]U, len(items))
	for i, x := range items {
		out[i] = f(x)
	}
	return out
}
