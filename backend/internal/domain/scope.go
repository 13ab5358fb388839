package domain

import "github.com/google/uuid"

// ScopeKind says whose data a caller may see.
type ScopeKind uint8

// Scope kinds.
const (
	// ScopeAll sees everything (admin, registrar, auditor within their
	// routes).
	ScopeAll ScopeKind = iota
	// ScopeFaculty sees the sections taught by Scope.ID and what hangs off
	// them (sessions, records, their students' leave and corrections).
	ScopeFaculty
	// ScopeStudent sees only the student Scope.ID's own data.
	ScopeStudent
)

// Scope restricts a read or write to the caller's own data (DOMAIN.md "Who
// may do what"). Stores enforce it inside their queries, never by
// filtering after fetching. A faculty or student scope with a nil ID
// matches nothing: an account not linked to a faculty or student row sees
// nothing rather than everything.
type Scope struct {
	Kind ScopeKind
	ID   uuid.UUID
}

// All is the unrestricted scope.
func All() Scope { return Scope{Kind: ScopeAll} }

// FacultyScope restricts to faculty member id's sections.
func FacultyScope(id uuid.UUID) Scope { return Scope{Kind: ScopeFaculty, ID: id} }

// StudentScope restricts to student id's own data.
func StudentScope(id uuid.UUID) Scope { return Scope{Kind: ScopeStudent, ID: id} }

// IsAll reports whether s is unrestricted.
func (s Scope) IsAll() bool { return s.Kind == ScopeAll }

// Actor is who performs a write: the user recorded in marked_by,
// decided_by, requested_by and the audit trail (uuid.Nil for the system),
// with the scope limiting what they may touch.
type Actor struct {
	UserID uuid.UUID
	Scope  Scope
}
