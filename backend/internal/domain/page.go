package domain

import "github.com/google/uuid"

// Paging bounds of every list, in items per page.
const (
	DefaultPageLimit = 50
	MinPageLimit     = 1
	MaxPageLimit     = 500
)

// Key is a keyset position: the sort value and the id of the last row of a
// page. Lists document what Sort holds for them.
type Key struct {
	Sort string
	ID   uuid.UUID
}

// PageQuery asks for at most Limit items after After (from the start when
// After is nil).
type PageQuery struct {
	Limit int
	After *Key
}

// Page is one page of a list. Next is the key to continue after, nil on the
// last page.
type Page[T any] struct {
	Items []T
	Next  *Key
}

// ValidLimit reports whether n is an accepted page size.
func ValidLimit(n int) bool { return n >= MinPageLimit && n <= MaxPageLimit }
