package api_test

import (
	"context"

	"github.com/campshub360/edge/backend/internal/audit"
)

type auditEvent = audit.Event

// recorderAdapter makes *recorder an audit.Recorder.
type recorderAdapter struct{ r *recorder }

func (a recorderAdapter) Record(ctx context.Context, e audit.Event) error { return a.r.Record(ctx, e) }
