package domain

// The closed value sets of the campus domain. Each mirrors a CHECK constraint
// in backend/migrations; the wire form (JSON, SQL) is the string value.

// ProgramLevel is the level of a program of study.
type ProgramLevel string

// Program levels.
const (
	LevelUG      ProgramLevel = "UG"
	LevelPG      ProgramLevel = "PG"
	LevelPhD     ProgramLevel = "PHD"
	LevelDiploma ProgramLevel = "DIPLOMA"
)

// StudentStatus is a student's standing with the institution.
type StudentStatus string

// Student statuses.
const (
	StudentActive    StudentStatus = "ACTIVE"
	StudentInactive  StudentStatus = "INACTIVE"
	StudentGraduated StudentStatus = "GRADUATED"
	StudentSuspended StudentStatus = "SUSPENDED"
	StudentDropped   StudentStatus = "DROPPED"
)

// Gender is a student's self-declared gender.
type Gender string

// Genders.
const (
	GenderFemale      Gender = "female"
	GenderMale        Gender = "male"
	GenderOther       Gender = "other"
	GenderUndisclosed Gender = "undisclosed"
)

// EnrollmentStatus is the state of a student's enrollment in a section. The
// roster of a section is its EnrollmentEnrolled students.
type EnrollmentStatus string

// Enrollment statuses.
const (
	EnrollmentEnrolled  EnrollmentStatus = "ENROLLED"
	EnrollmentDropped   EnrollmentStatus = "DROPPED"
	EnrollmentCompleted EnrollmentStatus = "COMPLETED"
)

// SessionStatus is the lifecycle state of an attendance session:
// scheduled -> open -> closed -> locked, and scheduled|open -> cancelled.
type SessionStatus string

// Session statuses.
const (
	SessionScheduled SessionStatus = "scheduled"
	SessionOpen      SessionStatus = "open"
	SessionClosed    SessionStatus = "closed"
	SessionLocked    SessionStatus = "locked"
	SessionCancelled SessionStatus = "cancelled"
)

// Mark is a student's attendance mark in a session.
type Mark string

// Marks.
const (
	MarkPresent Mark = "present"
	MarkAbsent  Mark = "absent"
	MarkLate    Mark = "late"
	MarkExcused Mark = "excused"
)

// MarkSource says how a mark was written.
type MarkSource string

// Mark sources.
const (
	SourceManual MarkSource = "manual"
	SourceQR     MarkSource = "qr"
	SourceBulk   MarkSource = "bulk"
	SourceImport MarkSource = "import"
	SourceSystem MarkSource = "system"
)
