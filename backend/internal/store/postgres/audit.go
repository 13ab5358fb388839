package postgres

import (
	"context"
	"net/netip"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/campshub360/edge/backend/internal/domain"
)

// ListAudit implements domain.AuditStore, newest first, on the read pool.
// From/To bound `at`, so partitions outside the window are pruned.
func (s *Store) ListAudit(ctx context.Context, q domain.AuditQuery) (domain.Page[domain.AuditEvent], error) {
	ctx, cancel := s.report(ctx)
	defer cancel()
	var b builder
	b.s(`SELECT id, at, actor_id, action, entity, entity_id, before, after, ip, coalesce(request_id, '') FROM audit_events`)
	if q.Entity != "" {
		b.w("entity = ?", q.Entity)
	}
	if q.EntityID != "" {
		b.w("entity_id = ?", q.EntityID)
	}
	if q.ActorID != uuid.Nil {
		b.w("actor_id = ?", q.ActorID)
	}
	if q.Action != "" {
		b.w("action = ?", q.Action)
	}
	if !q.From.IsZero() {
		b.w("at >= ?", q.From)
	}
	if !q.To.IsZero() {
		b.w("at <= ?", q.To)
	}
	if q.Page.After != nil {
		t, err := parseKeyTime(q.Page.After.Sort)
		if err != nil {
			return domain.Page[domain.AuditEvent]{}, err
		}
		b.w("(at, id) < (?, ?)", t, q.Page.After.ID)
	}
	b.s(" ORDER BY at DESC, id DESC LIMIT ", b.arg(q.Page.Limit+1))
	rows, err := s.read.Query(ctx, b.sql.String(), b.args...)
	if err != nil {
		return domain.Page[domain.AuditEvent]{}, mapErr("list audit", err)
	}
	items, err := collect(rows, func(r pgx.Row) (domain.AuditEvent, error) {
		var (
			e             domain.AuditEvent
			actor         pgtype.UUID
			before, after []byte
			ip            *netip.Prefix
		)
		err := r.Scan(&e.ID, &e.At, &actor, &e.Action, &e.Entity, &e.EntityID, &before, &after, &ip, &e.RequestID)
		if actor.Valid {
			e.ActorID = actor.Bytes
		}
		if before != nil {
			e.Before = before
		}
		if after != nil {
			e.After = after
		}
		if ip != nil {
			e.IP = ip.Addr().String()
		}
		return e, err
	})
	if err != nil {
		return domain.Page[domain.AuditEvent]{}, mapErr("list audit", err)
	}
	return page(items, q.Page.Limit, func(e domain.AuditEvent) domain.Key {
		return domain.Key{Sort: keyTime(e.At), ID: e.ID}
	}), nil
}
