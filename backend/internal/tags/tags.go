// Package tags names the cache tags of the backend's data. One tag set is
// used three ways: as the Surrogate-Key header of responses (for the
// gateway's cache), as the generation tags of the Redis read-through cache,
// and as the keys a write invalidates (Redis generations plus the
// "campshub360:invalidate" Pub/Sub message). A write invalidates the tags
// of every response its change could alter.
//
// Tags are short ASCII words without spaces: collection tags ("courses",
// "students") and entity tags ("student:<uuid>", "section:<uuid>",
// "session:<uuid>", "summary:student:<uuid>").
package tags

import "github.com/google/uuid"

// Collection tags: any change to one of the collection's rows (including
// creation and deletion) invalidates them.
const (
	Departments = "departments"
	Programs    = "programs"
	Courses     = "courses"
	Terms       = "terms"
	Holidays    = "holidays"
	Students    = "students"
	Faculty     = "faculty"
	Sections    = "sections"
	Sessions    = "sessions"
	Leave       = "leave"
	Corrections = "corrections"
	Timetable   = "timetable"
	Audit       = "audit"
)

// Student tags one student's own resource.
func Student(id uuid.UUID) string { return "student:" + id.String() }

// FacultyMember tags one faculty member's resource.
func FacultyMember(id uuid.UUID) string { return "faculty:" + id.String() }

// Section tags everything derived from one section: the section, its
// roster, slots, and its attendance report.
func Section(id uuid.UUID) string { return "section:" + id.String() }

// Session tags one attendance session and its marks.
func Session(id uuid.UUID) string { return "session:" + id.String() }

// Summary tags a student's attendance summaries.
func Summary(student uuid.UUID) string { return "summary:student:" + student.String() }

// LeaveApplication tags one leave application.
func LeaveApplication(id uuid.UUID) string { return "leave:" + id.String() }

// Correction tags one correction request.
func Correction(id uuid.UUID) string { return "correction:" + id.String() }
