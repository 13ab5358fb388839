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

// LeaveType is the kind of a leave application.
type LeaveType string

// Leave types.
const (
	LeaveMedical   LeaveType = "medical"
	LeaveOnDuty    LeaveType = "on_duty"
	LeaveSport     LeaveType = "sport"
	LeavePersonal  LeaveType = "personal"
	LeaveEmergency LeaveType = "emergency"
	LeaveOther     LeaveType = "other"
)

// RequestStatus is the state of a leave application or a correction
// request: pending -> approved | rejected | cancelled, and (leave only)
// approved -> cancelled.
type RequestStatus string

// Request statuses.
const (
	RequestPending   RequestStatus = "pending"
	RequestApproved  RequestStatus = "approved"
	RequestRejected  RequestStatus = "rejected"
	RequestCancelled RequestStatus = "cancelled"
)

// Decision is what a reviewer or the requester does to a pending request.
type Decision string

// Decisions.
const (
	DecisionApprove Decision = "approve"
	DecisionReject  Decision = "reject"
	DecisionCancel  Decision = "cancel"
)

// LeaveTransition returns the statuses a leave application may be in for
// d and the status d leads to: pending -> approved | rejected, and
// pending | approved -> cancelled (cancelling an approved leave reverts its
// effects).
func LeaveTransition(d Decision) (from []RequestStatus, to RequestStatus, ok bool) {
	switch d {
	case DecisionApprove:
		return []RequestStatus{RequestPending}, RequestApproved, true
	case DecisionReject:
		return []RequestStatus{RequestPending}, RequestRejected, true
	case DecisionCancel:
		return []RequestStatus{RequestPending, RequestApproved}, RequestCancelled, true
	}
	return nil, "", false
}

// CorrectionTransition returns the statuses a correction request may be in
// for d and the status d leads to: pending -> approved | rejected |
// cancelled.
func CorrectionTransition(d Decision) (from []RequestStatus, to RequestStatus, ok bool) {
	switch d {
	case DecisionApprove:
		return []RequestStatus{RequestPending}, RequestApproved, true
	case DecisionReject:
		return []RequestStatus{RequestPending}, RequestRejected, true
	case DecisionCancel:
		return []RequestStatus{RequestPending}, RequestCancelled, true
	}
	return nil, "", false
}

// enumOf returns v when it is one of values.
func enumOf[T ~string](s string, values ...T) (T, bool) {
	for _, v := range values {
		if string(v) == s {
			return v, true
		}
	}
	return "", false
}

// ParseLeaveType returns the LeaveType named s.
func ParseLeaveType(s string) (LeaveType, bool) {
	return enumOf(s, LeaveMedical, LeaveOnDuty, LeaveSport, LeavePersonal, LeaveEmergency, LeaveOther)
}

// LeaveTypeValues lists the leave types.
func LeaveTypeValues() []string {
	return []string{"medical", "on_duty", "sport", "personal", "emergency", "other"}
}

// ParseRequestStatus returns the RequestStatus named s.
func ParseRequestStatus(s string) (RequestStatus, bool) {
	return enumOf(s, RequestPending, RequestApproved, RequestRejected, RequestCancelled)
}

// RequestStatusValues lists the request statuses.
func RequestStatusValues() []string { return []string{"pending", "approved", "rejected", "cancelled"} }

// ParseStudentStatus returns the StudentStatus named s.
func ParseStudentStatus(s string) (StudentStatus, bool) {
	return enumOf(s, StudentActive, StudentInactive, StudentGraduated, StudentSuspended, StudentDropped)
}

// StudentStatusValues lists the student statuses.
func StudentStatusValues() []string {
	return []string{"ACTIVE", "INACTIVE", "GRADUATED", "SUSPENDED", "DROPPED"}
}

// ParseGender returns the Gender named s.
func ParseGender(s string) (Gender, bool) {
	return enumOf(s, GenderFemale, GenderMale, GenderOther, GenderUndisclosed)
}

// GenderValues lists the genders.
func GenderValues() []string { return []string{"female", "male", "other", "undisclosed"} }

// ParseProgramLevel returns the ProgramLevel named s.
func ParseProgramLevel(s string) (ProgramLevel, bool) {
	return enumOf(s, LevelUG, LevelPG, LevelPhD, LevelDiploma)
}

// ProgramLevelValues lists the program levels.
func ProgramLevelValues() []string { return []string{"UG", "PG", "PHD", "DIPLOMA"} }

// ParseMarkSource returns the MarkSource named s.
func ParseMarkSource(s string) (MarkSource, bool) {
	return enumOf(s, SourceManual, SourceQR, SourceBulk, SourceImport, SourceSystem)
}
