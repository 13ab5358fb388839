package postgres

import (
	"context"
	"errors"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/campshub360/edge/backend/internal/domain"
)

const leaveCols = `l.id, l.student_id, l.type, l.start_date, l.end_date, l.reason, l.status, l.decided_by, l.decided_at,
	coalesce(l.note, ''), l.created_at, l.updated_at`

func scanLeave(r pgx.Row) (domain.LeaveApplication, error) {
	var (
		l           domain.LeaveApplication
		typ, status string
		decidedBy   pgtype.UUID
		decidedAt   pgtype.Timestamptz
	)
	err := r.Scan(&l.ID, &l.StudentID, &typ, &l.StartDate, &l.EndDate, &l.Reason, &status, &decidedBy, &decidedAt,
		&l.Note, &l.CreatedAt, &l.UpdatedAt)
	l.Type, l.Status = domain.LeaveType(typ), domain.RequestStatus(status)
	if decidedBy.Valid {
		l.DecidedBy = decidedBy.Bytes
	}
	if decidedAt.Valid {
		l.DecidedAt = decidedAt.Time
	}
	return l, err
}

// scopeLeave restricts leave applications l to sc: a faculty member sees
// the applications of students ENROLLED in their sections.
func scopeLeave(b *builder, sc domain.Scope) {
	switch sc.Kind {
	case domain.ScopeFaculty:
		b.w(`EXISTS (SELECT 1 FROM enrollments e JOIN sections sec ON sec.id = e.section_id
			WHERE e.student_id = l.student_id AND e.status = 'ENROLLED' AND sec.faculty_id = ?)`, sc.ID)
	case domain.ScopeStudent:
		b.w("l.student_id = ?", sc.ID)
	}
}

// FileLeave implements domain.LeaveStore.
func (s *Store) FileLeave(ctx context.Context, a domain.Actor, in domain.LeaveInput) (domain.LeaveApplication, error) {
	if err := in.Validate(); err != nil {
		return domain.LeaveApplication{}, err
	}
	if a.Scope.Kind == domain.ScopeStudent && a.Scope.ID != in.StudentID {
		return domain.LeaveApplication{}, domain.ErrNotFound
	}
	ctx, cancel := s.call(ctx)
	defer cancel()
	l, err := scanLeave(s.primary.QueryRow(ctx, `INSERT INTO leave_applications AS l (student_id, type, start_date, end_date, reason)
		VALUES ($1, $2, $3, $4, $5) RETURNING `+leaveCols, in.StudentID, in.Type, civilDate(in.StartDate), civilDate(in.EndDate), in.Reason))
	return l, mapErr("file leave", err)
}

// ListLeave implements domain.LeaveStore, newest first.
func (s *Store) ListLeave(ctx context.Context, sc domain.Scope, q domain.RequestQuery) (domain.Page[domain.LeaveApplication], error) {
	ctx, cancel := s.call(ctx)
	defer cancel()
	var b builder
	b.s("SELECT ", leaveCols, " FROM leave_applications l")
	if q.StudentID != uuid.Nil {
		b.w("l.student_id = ?", q.StudentID)
	}
	if q.Status != "" {
		b.w("l.status = ?", string(q.Status))
	}
	scopeLeave(&b, sc)
	if q.Page.After != nil {
		t, err := parseKeyTime(q.Page.After.Sort)
		if err != nil {
			return domain.Page[domain.LeaveApplication]{}, err
		}
		b.w("(l.created_at, l.id) < (?, ?)", t, q.Page.After.ID)
	}
	b.s(" ORDER BY l.created_at DESC, l.id DESC LIMIT ", b.arg(q.Page.Limit+1))
	rows, err := s.primary.Query(ctx, b.sql.String(), b.args...)
	if err != nil {
		return domain.Page[domain.LeaveApplication]{}, mapErr("list leave", err)
	}
	items, err := collect(rows, scanLeave)
	if err != nil {
		return domain.Page[domain.LeaveApplication]{}, mapErr("list leave", err)
	}
	return page(items, q.Page.Limit, func(l domain.LeaveApplication) domain.Key {
		return domain.Key{Sort: keyTime(l.CreatedAt), ID: l.ID}
	}), nil
}

// LeaveByID implements domain.LeaveStore.
func (s *Store) LeaveByID(ctx context.Context, sc domain.Scope, id uuid.UUID) (domain.LeaveApplication, error) {
	ctx, cancel := s.call(ctx)
	defer cancel()
	return s.leaveByID(ctx, s.primary, sc, id, "")
}

func (s *Store) leaveByID(ctx context.Context, q Querier, sc domain.Scope, id uuid.UUID, lock string) (domain.LeaveApplication, error) {
	var b builder
	b.s("SELECT ", leaveCols, " FROM leave_applications l")
	b.w("l.id = ?", id)
	scopeLeave(&b, sc)
	b.s(lock)
	l, err := scanLeave(q.QueryRow(ctx, b.sql.String(), b.args...))
	return one(l, err, "get leave")
}

// allowedFrom reports whether st is one of from.
func allowedFrom(st domain.RequestStatus, from []domain.RequestStatus) bool {
	for _, f := range from {
		if st == f {
			return true
		}
	}
	return false
}

// DecideLeave implements domain.LeaveStore. Effects never touch locked
// sessions (they change only through corrections). Approval turns the
// student's absent marks within the dates into excused, tagged with the
// leave; cancelling an approved leave turns the records still tagged back
// into absent (closed sessions) or removes them (sessions not yet held,
// where generation created them).
func (s *Store) DecideLeave(ctx context.Context, a domain.Actor, in domain.DecisionInput) (before, after domain.LeaveApplication, fx domain.Effects, err error) {
	from, to, ok := domain.LeaveTransition(in.Decision)
	if !ok {
		return before, after, fx, domain.Invalid("decision", "must be approve, reject or cancel")
	}
	err = s.tx(ctx, func(tx pgx.Tx) error {
		before, err = s.leaveByID(ctx, tx, a.Scope, in.ID, " FOR UPDATE")
		if err != nil {
			return err
		}
		if !allowedFrom(before.Status, from) {
			return domain.Conflict("illegal_transition", "status", "cannot "+string(in.Decision)+" a leave application that is "+string(before.Status))
		}
		now := s.now()
		var changes pgx.Rows
		switch {
		case to == domain.RequestApproved:
			changes, err = tx.Query(ctx, `UPDATE attendance_records r SET mark = 'excused', source = 'system', leave_id = $1,
					reason = 'approved leave', marked_at = $5, marked_by = $6
				FROM attendance_sessions ses
				WHERE r.student_id = $2 AND r.session_date BETWEEN $3 AND $4 AND r.mark = 'absent'
					AND ses.id = r.session_id AND ses.session_date = r.session_date AND ses.status <> 'locked'
				RETURNING r.session_id, ses.section_id, 'absent', 'excused'`,
				before.ID, before.StudentID, civilDate(before.StartDate), civilDate(before.EndDate), now, nullUUID(a.UserID))
		case to == domain.RequestCancelled && before.Status == domain.RequestApproved:
			changes, err = tx.Query(ctx, `WITH del AS (
					DELETE FROM attendance_records r USING attendance_sessions ses
					WHERE r.leave_id = $1 AND r.session_date BETWEEN $2 AND $3 AND ses.id = r.session_id
						AND ses.session_date = r.session_date AND ses.status IN ('scheduled', 'open')
					RETURNING r.session_id, ses.section_id, 'excused'::text AS before, ''::text AS after),
				upd AS (
					UPDATE attendance_records r SET mark = 'absent', source = 'system', leave_id = NULL, reason = NULL,
						marked_at = $4, marked_by = $5
					FROM attendance_sessions ses
					WHERE r.leave_id = $1 AND r.session_date BETWEEN $2 AND $3 AND r.mark = 'excused'
						AND ses.id = r.session_id AND ses.session_date = r.session_date AND ses.status = 'closed'
					RETURNING r.session_id, ses.section_id, 'excused'::text, 'absent'::text)
				SELECT * FROM del UNION ALL SELECT * FROM upd`,
				before.ID, civilDate(before.StartDate), civilDate(before.EndDate), now, nullUUID(a.UserID))
		}
		if err != nil {
			return err
		}
		if changes != nil {
			if fx, err = collectEffects(changes, before.StudentID); err != nil {
				return err
			}
		}
		after, err = scanLeave(tx.QueryRow(ctx, `UPDATE leave_applications AS l SET status = $2, decided_by = $3, decided_at = $4,
				note = coalesce($5, l.note), updated_at = $4
			WHERE l.id = $1 RETURNING `+leaveCols, in.ID, string(to), nullUUID(a.UserID), now, nullText(strings.TrimSpace(in.Note))))
		return err
	})
	return before, after, fx, mapErr("decide leave", err)
}

// collectEffects reads (session_id, section_id, before, after) rows of one
// student's records into Effects.
func collectEffects(rows pgx.Rows, student uuid.UUID) (domain.Effects, error) {
	defer rows.Close()
	fx := domain.Effects{Students: []uuid.UUID{student}}
	seen := map[uuid.UUID]bool{}
	for rows.Next() {
		var (
			ch            domain.RecordChange
			sec           uuid.UUID
			before, after string
		)
		if err := rows.Scan(&ch.SessionID, &sec, &before, &after); err != nil {
			return fx, err
		}
		ch.StudentID, ch.Before, ch.After = student, domain.Mark(before), domain.Mark(after)
		fx.Records = append(fx.Records, ch)
		if !seen[ch.SessionID] {
			seen[ch.SessionID] = true
			fx.Sessions = append(fx.Sessions, domain.SessionRef{ID: ch.SessionID, SectionID: sec})
		}
	}
	return fx, rows.Err()
}

const correctionCols = `cr.id, cr.session_id, cr.student_id, cr.session_date, cr.from_mark, cr.to_mark, cr.reason, cr.status,
	cr.requested_by, cr.decided_by, cr.decided_at, coalesce(cr.note, ''), cr.created_at, cr.updated_at`

func scanCorrection(r pgx.Row) (domain.CorrectionRequest, error) {
	var (
		c                      domain.CorrectionRequest
		from, to, status       string
		requestedBy, decidedBy pgtype.UUID
		decidedAt              pgtype.Timestamptz
	)
	err := r.Scan(&c.ID, &c.SessionID, &c.StudentID, &c.SessionDate, &from, &to, &c.Reason, &status,
		&requestedBy, &decidedBy, &decidedAt, &c.Note, &c.CreatedAt, &c.UpdatedAt)
	c.FromMark, c.ToMark, c.Status = domain.Mark(from), domain.Mark(to), domain.RequestStatus(status)
	if requestedBy.Valid {
		c.RequestedBy = requestedBy.Bytes
	}
	if decidedBy.Valid {
		c.DecidedBy = decidedBy.Bytes
	}
	if decidedAt.Valid {
		c.DecidedAt = decidedAt.Time
	}
	return c, err
}

// scopeCorrections restricts correction requests cr to sc: a faculty
// member sees requests about sessions of their sections (or held by them).
func scopeCorrections(b *builder, sc domain.Scope) {
	switch sc.Kind {
	case domain.ScopeFaculty:
		b.w(`EXISTS (SELECT 1 FROM attendance_sessions ses JOIN sections sec ON sec.id = ses.section_id
			WHERE ses.id = cr.session_id AND (sec.faculty_id = ? OR ses.faculty_id = ?))`, sc.ID, sc.ID)
	case domain.ScopeStudent:
		b.w("cr.student_id = ?", sc.ID)
	}
}

// FileCorrection implements domain.CorrectionStore.
func (s *Store) FileCorrection(ctx context.Context, a domain.Actor, in domain.CorrectionInput) (c domain.CorrectionRequest, err error) {
	if err := in.Validate(); err != nil {
		return c, err
	}
	if a.Scope.Kind == domain.ScopeStudent && a.Scope.ID != in.StudentID {
		return c, domain.ErrNotFound
	}
	err = s.tx(ctx, func(tx pgx.Tx) error {
		var b builder
		b.s(`SELECT r.mark, r.session_date, ses.status FROM attendance_records r
			JOIN attendance_sessions ses ON ses.id = r.session_id AND ses.session_date = r.session_date
			JOIN sections sec ON sec.id = ses.section_id`)
		b.w("r.session_id = ?", in.SessionID)
		b.w("r.student_id = ?", in.StudentID)
		if a.Scope.Kind == domain.ScopeFaculty {
			b.w("(sec.faculty_id = ? OR ses.faculty_id = ?)", a.Scope.ID, a.Scope.ID)
		}
		b.s(" FOR SHARE OF r")
		var (
			mark, status string
			day          pgtype.Date
		)
		if err := tx.QueryRow(ctx, b.sql.String(), b.args...).Scan(&mark, &day, &status); err != nil {
			if errors.Is(err, pgx.ErrNoRows) {
				return domain.Conflict("no_record", "session_id", "the student has no mark in this session to correct")
			}
			return err
		}
		today := s.today()
		switch {
		case status == string(domain.SessionCancelled):
			return domain.Conflict("session_cancelled", "session_id", "the session is cancelled")
		case today.Sub(day.Time).Hours()/24 > float64(s.rules.CorrectionWindowDays):
			return domain.Conflict("window_closed", "session_id",
				"corrections must be filed within "+itoa(s.rules.CorrectionWindowDays)+" days of the session")
		case in.FromMark != "" && string(in.FromMark) != mark:
			return domain.Conflict("stale_mark", "from_mark", "the current mark is "+mark)
		case string(in.ToMark) == mark:
			return domain.Conflict("no_change", "to_mark", "the mark is already "+mark)
		}
		c, err = scanCorrection(tx.QueryRow(ctx, `INSERT INTO correction_requests AS cr (session_id, student_id, session_date,
				from_mark, to_mark, reason, requested_by)
			VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING `+correctionCols,
			in.SessionID, in.StudentID, day.Time, mark, string(in.ToMark), in.Reason, nullUUID(a.UserID)))
		return err
	})
	return c, mapErr("file correction", err)
}

// ListCorrections implements domain.CorrectionStore, newest first.
func (s *Store) ListCorrections(ctx context.Context, sc domain.Scope, q domain.RequestQuery) (domain.Page[domain.CorrectionRequest], error) {
	ctx, cancel := s.call(ctx)
	defer cancel()
	var b builder
	b.s("SELECT ", correctionCols, " FROM correction_requests cr")
	if q.StudentID != uuid.Nil {
		b.w("cr.student_id = ?", q.StudentID)
	}
	if q.SessionID != uuid.Nil {
		b.w("cr.session_id = ?", q.SessionID)
	}
	if q.Status != "" {
		b.w("cr.status = ?", string(q.Status))
	}
	scopeCorrections(&b, sc)
	if q.Page.After != nil {
		t, err := parseKeyTime(q.Page.After.Sort)
		if err != nil {
			return domain.Page[domain.CorrectionRequest]{}, err
		}
		b.w("(cr.created_at, cr.id) < (?, ?)", t, q.Page.After.ID)
	}
	b.s(" ORDER BY cr.created_at DESC, cr.id DESC LIMIT ", b.arg(q.Page.Limit+1))
	rows, err := s.primary.Query(ctx, b.sql.String(), b.args...)
	if err != nil {
		return domain.Page[domain.CorrectionRequest]{}, mapErr("list corrections", err)
	}
	items, err := collect(rows, scanCorrection)
	if err != nil {
		return domain.Page[domain.CorrectionRequest]{}, mapErr("list corrections", err)
	}
	return page(items, q.Page.Limit, func(c domain.CorrectionRequest) domain.Key {
		return domain.Key{Sort: keyTime(c.CreatedAt), ID: c.ID}
	}), nil
}

// CorrectionByID implements domain.CorrectionStore.
func (s *Store) CorrectionByID(ctx context.Context, sc domain.Scope, id uuid.UUID) (domain.CorrectionRequest, error) {
	ctx, cancel := s.call(ctx)
	defer cancel()
	return s.correctionByID(ctx, s.primary, sc, id, "")
}

func (s *Store) correctionByID(ctx context.Context, q Querier, sc domain.Scope, id uuid.UUID, lock string) (domain.CorrectionRequest, error) {
	var b builder
	b.s("SELECT ", correctionCols, " FROM correction_requests cr")
	b.w("cr.id = ?", id)
	scopeCorrections(&b, sc)
	b.s(lock)
	c, err := scanCorrection(q.QueryRow(ctx, b.sql.String(), b.args...))
	return one(c, err, "get correction")
}

// DecideCorrection implements domain.CorrectionStore. Approval rewrites
// the record (whatever the session's status, locked included) only while
// it still holds from_mark.
func (s *Store) DecideCorrection(ctx context.Context, a domain.Actor, in domain.DecisionInput) (before, after domain.CorrectionRequest, fx domain.Effects, err error) {
	from, to, ok := domain.CorrectionTransition(in.Decision)
	if !ok {
		return before, after, fx, domain.Invalid("decision", "must be approve, reject or cancel")
	}
	err = s.tx(ctx, func(tx pgx.Tx) error {
		before, err = s.correctionByID(ctx, tx, a.Scope, in.ID, " FOR UPDATE")
		if err != nil {
			return err
		}
		if !allowedFrom(before.Status, from) {
			return domain.Conflict("illegal_transition", "status", "cannot "+string(in.Decision)+" a correction request that is "+string(before.Status))
		}
		now := s.now()
		if to == domain.RequestApproved {
			rows, err := tx.Query(ctx, `UPDATE attendance_records r SET mark = $4, source = 'manual', marked_at = $5, marked_by = $6,
					reason = 'correction ' || $7::text, leave_id = NULL
				FROM attendance_sessions ses
				WHERE r.session_id = $1 AND r.student_id = $2 AND r.session_date = $3 AND r.mark = $8
					AND ses.id = r.session_id AND ses.session_date = r.session_date
				RETURNING r.session_id, ses.section_id, $8::text, r.mark`,
				before.SessionID, before.StudentID, civilDate(before.SessionDate), string(before.ToMark), now,
				nullUUID(a.UserID), before.ID.String(), string(before.FromMark))
			if err != nil {
				return err
			}
			if fx, err = collectEffects(rows, before.StudentID); err != nil {
				return err
			}
			if len(fx.Records) == 0 {
				return domain.Conflict("stale_mark", "from_mark", "the mark is no longer "+string(before.FromMark)+"; reject this request and file a new one")
			}
		}
		after, err = scanCorrection(tx.QueryRow(ctx, `UPDATE correction_requests AS cr SET status = $2, decided_by = $3, decided_at = $4,
				note = coalesce($5, cr.note), updated_at = $4
			WHERE cr.id = $1 RETURNING `+correctionCols, in.ID, string(to), nullUUID(a.UserID), now, nullText(strings.TrimSpace(in.Note))))
		return err
	})
	return before, after, fx, mapErr("decide correction", err)
}

// itoa formats a small non-negative integer.
func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b [20]byte
	i := len(b)
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	return string(b[i:])
}
