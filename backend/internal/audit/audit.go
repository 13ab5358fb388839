// Package audit defines the audit trail's event and the Recorder every
// writer of the backend records through (audit_events, DOMAIN.md: append
// only, partitioned by month on `at`). Recording never blocks a request on
// a database round trip: implementations buffer and write in batches.
package audit

import (
	"context"
	"encoding/json"
	"net/netip"
	"time"

	"github.com/google/uuid"
)

// Event is one audit_events row.
type Event struct {
	// At is when the action happened (UTC).
	At time.Time
	// ActorID is the acting user; uuid.Nil for the system itself.
	ActorID uuid.UUID
	// Action names what happened, lower-case dotted words:
	// "student.update", "session.lock", "auth.login_failed".
	Action string
	// Entity is the kind of thing acted on ("student", "attendance_session",
	// "user"); EntityID its id as text.
	Entity, EntityID string
	// Before and After are JSON snapshots of the changed fields (nil when
	// not applicable). They must never contain secrets (password hashes,
	// token hashes, MFA secrets) or decrypted PII.
	Before, After json.RawMessage
	// IP is the client address (zero when unknown).
	IP netip.Addr
	// RequestID links the event to the request's logs.
	RequestID string
}

// Recorder accepts audit events. Record must not block on I/O: it queues
// the event and returns; it reports an error only when the event is
// invalid or the recorder is closed or saturated (the caller logs it and
// carries on; the event is also logged so it is never silently lost).
// Implementations are safe for concurrent use.
type Recorder interface {
	Record(ctx context.Context, e Event) error
}
