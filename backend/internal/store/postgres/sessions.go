package postgres

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/campshub360/edge/backend/internal/domain"
)

const sessionCols = `ses.id, ses.section_id, ses.faculty_id, ses.slot_id, ses.session_date, ses.starts_at, ses.ends_at, ses.status,
	c.code, c.title, sec.section_code, coalesce(sl.room, ''), ses.created_at, ses.updated_at`

const sessionFrom = ` FROM attendance_sessions ses
	JOIN sections sec ON sec.id = ses.section_id
	JOIN courses c ON c.id = sec.course_id
	LEFT JOIN timetable_slots sl ON sl.id = ses.slot_id`

func scanSession(r pgx.Row) (domain.AttendanceSession, error) {
	var (
		ses    domain.AttendanceSession
		slot   pgtype.UUID
		status string
	)
	err := r.Scan(&ses.ID, &ses.SectionID, &ses.FacultyID, &slot, &ses.Date, &ses.StartsAt, &ses.EndsAt, &status,
		&ses.CourseCode, &ses.CourseTitle, &ses.SectionCode, &ses.Room, &ses.CreatedAt, &ses.UpdatedAt)
	if slot.Valid {
		ses.SlotID = slot.Bytes
	}
	ses.Status = domain.SessionStatus(status)
	return ses, err
}

// scopeSessions restricts a query over sessions ses (joined with their
// section sec) to sc. For lists a faculty member sees the sessions they
// hold (index (faculty_id, session_date)); single-session access also
// admits the section's current teacher (scopeSession).
func scopeSessions(b *builder, sc domain.Scope) {
	switch sc.Kind {
	case domain.ScopeFaculty:
		b.w("ses.faculty_id = ?", sc.ID)
	case domain.ScopeStudent:
		b.w("EXISTS (SELECT 1 FROM enrollments se WHERE se.student_id = ? AND se.section_id = ses.section_id AND se.status = 'ENROLLED')", sc.ID)
	}
}

// scopeSession restricts access to one session: its holder or the
// section's teacher for faculty, its enrolled students for students.
func scopeSession(b *builder, sc domain.Scope) {
	switch sc.Kind {
	case domain.ScopeFaculty:
		b.w("(ses.faculty_id = ? OR sec.faculty_id = ?)", sc.ID, sc.ID)
	case domain.ScopeStudent:
		scopeSessions(b, sc)
	}
}

// ListSessions implements domain.SessionStore in (starts_at, id) order.
func (s *Store) ListSessions(ctx context.Context, sc domain.Scope, q domain.SessionQuery) (domain.Page[domain.AttendanceSession], error) {
	ctx, cancel := s.call(ctx)
	defer cancel()
	var b builder
	b.s("SELECT ", sessionCols, sessionFrom)
	if q.FacultyID != uuid.Nil {
		b.w("ses.faculty_id = ?", q.FacultyID)
	}
	if q.SectionID != uuid.Nil {
		b.w("ses.section_id = ?", q.SectionID)
	}
	if !q.From.IsZero() {
		b.w("ses.session_date >= ?", civilDate(q.From))
	}
	if !q.To.IsZero() {
		b.w("ses.session_date <= ?", civilDate(q.To))
	}
	if q.Status != "" {
		b.w("ses.status = ?", string(q.Status))
	}
	scopeSessions(&b, sc)
	// (session_date, starts_at, id) is the starts_at order (the date is
	// the local date of starts_at) in the column order of the indexes, so
	// a page over a date range is one ordered index range scan.
	if q.Page.After != nil {
		d, ts, ok := strings.Cut(q.Page.After.Sort, "|")
		day, okDay := domain.ParseDate(d)
		t, err := parseKeyTime(ts)
		if !ok || !okDay || err != nil {
			return domain.Page[domain.AttendanceSession]{}, domain.Invalid("cursor", "is not a cursor this server issued")
		}
		b.w("(ses.session_date, ses.starts_at, ses.id) > (?, ?, ?)", day, t, q.Page.After.ID)
	}
	b.s(" ORDER BY ses.session_date, ses.starts_at, ses.id LIMIT ", b.arg(q.Page.Limit+1))
	rows, err := s.read.Query(ctx, b.sql.String(), b.args...)
	if err != nil {
		return domain.Page[domain.AttendanceSession]{}, mapErr("list sessions", err)
	}
	items, err := collect(rows, scanSession)
	if err != nil {
		return domain.Page[domain.AttendanceSession]{}, mapErr("list sessions", err)
	}
	return page(items, q.Page.Limit, func(x domain.AttendanceSession) domain.Key {
		return domain.Key{Sort: x.Date.Format(time.DateOnly) + "|" + keyTime(x.StartsAt), ID: x.ID}
	}), nil
}

// SessionByID implements domain.SessionStore (primary: a transition just
// made is visible).
func (s *Store) SessionByID(ctx context.Context, sc domain.Scope, id uuid.UUID) (domain.AttendanceSession, error) {
	ctx, cancel := s.call(ctx)
	defer cancel()
	return s.sessionByID(ctx, s.primary, sc, id, "")
}

func (s *Store) sessionByID(ctx context.Context, q Querier, sc domain.Scope, id uuid.UUID, lock string) (domain.AttendanceSession, error) {
	var b builder
	b.s("SELECT ", sessionCols, sessionFrom)
	b.w("ses.id = ?", id)
	scopeSession(&b, sc)
	b.s(lock)
	ses, err := scanSession(q.QueryRow(ctx, b.sql.String(), b.args...))
	return one(ses, err, "get session")
}

// SessionDetail implements domain.SessionStore: the session, its roster
// with each student's mark, and records of students no longer enrolled.
func (s *Store) SessionDetail(ctx context.Context, sc domain.Scope, id uuid.UUID) (domain.SessionDetail, error) {
	ctx, cancel := s.call(ctx)
	defer cancel()
	ses, err := s.sessionByID(ctx, s.primary, sc, id, "")
	if err != nil {
		return domain.SessionDetail{}, err
	}
	rows, err := s.primary.Query(ctx, `SELECT st.id, st.roll_number, st.first_name, st.last_name,
			coalesce(r.mark, ''), coalesce(r.source, ''), r.marked_at, r.marked_by, coalesce(r.reason, ''), e.student_id IS NOT NULL
		FROM (SELECT student_id FROM enrollments WHERE section_id = $2 AND status = 'ENROLLED') e
		FULL JOIN (SELECT * FROM attendance_records WHERE session_id = $1 AND session_date = $3) r ON r.student_id = e.student_id
		JOIN students st ON st.id = coalesce(e.student_id, r.student_id)
		ORDER BY st.roll_number`, ses.ID, ses.SectionID, civilDate(ses.Date))
	if err != nil {
		return domain.SessionDetail{}, mapErr("session detail", err)
	}
	defer rows.Close()
	d := domain.SessionDetail{Session: ses, Roster: []domain.RosterMark{}, Others: []domain.RosterMark{}}
	for rows.Next() {
		var (
			m        domain.RosterMark
			mark, sr string
			at       pgtype.Timestamptz
			by       pgtype.UUID
			enrolled bool
		)
		if err := rows.Scan(&m.StudentID, &m.RollNumber, &m.FirstName, &m.LastName, &mark, &sr, &at, &by, &m.Reason, &enrolled); err != nil {
			return domain.SessionDetail{}, mapErr("session detail", err)
		}
		m.Mark, m.Source = domain.Mark(mark), domain.MarkSource(sr)
		if at.Valid {
			m.MarkedAt = at.Time
		}
		if by.Valid {
			m.MarkedBy = by.Bytes
		}
		if enrolled {
			d.Roster = append(d.Roster, m)
		} else {
			d.Others = append(d.Others, m)
		}
	}
	return d, mapErr("session detail", rows.Err())
}

// ensureRecordPartitions creates the attendance_records partitions the
// dates [from, to] need (idempotent; a no-op when they exist).
func ensureRecordPartitions(ctx context.Context, q Querier, from, to time.Time) error {
	_, err := q.Exec(ctx, `SELECT ensure_monthly_partitions('attendance_records', $1, $2)`, civilDate(from), civilDate(to))
	return err
}

// CreateSession implements domain.SessionStore. The session belongs to the
// section's faculty member; its date is the local date of StartsAt.
func (s *Store) CreateSession(ctx context.Context, a domain.Actor, in domain.SessionInput) (ses domain.AttendanceSession, err error) {
	if err := in.Validate(); err != nil {
		return ses, err
	}
	day := domain.Today(in.StartsAt, s.rules.TimeZone)
	err = s.tx(ctx, func(tx pgx.Tx) error {
		if err := ensureRecordPartitions(ctx, tx, day, day); err != nil {
			return err
		}
		var b builder
		b.s(`INSERT INTO attendance_sessions (section_id, faculty_id, session_date, starts_at, ends_at)
			SELECT sec.id, sec.faculty_id, `, b.arg(day), ", ", b.arg(in.StartsAt), ", ", b.arg(in.EndsAt), " FROM sections sec")
		b.w("sec.id = ?", in.SectionID)
		switch a.Scope.Kind {
		case domain.ScopeFaculty:
			b.w("sec.faculty_id = ?", a.Scope.ID)
		case domain.ScopeStudent:
			b.w("false")
		}
		b.s(" RETURNING id")
		var id uuid.UUID
		if err := tx.QueryRow(ctx, b.sql.String(), b.args...).Scan(&id); err != nil {
			if errors.Is(err, pgx.ErrNoRows) {
				return domain.Invalid("section_id", "no section with this id is yours to schedule")
			}
			return err
		}
		ses, err = s.sessionByID(ctx, tx, domain.All(), id, "")
		return err
	})
	return ses, mapErr("create session", err)
}

// GenerateSessions implements domain.SessionStore in one transaction: one
// INSERT ... SELECT over the slots and the days of the window (in the
// institution's time zone, skipping holidays and days outside the slot's
// term), ON CONFLICT DO NOTHING so reruns and sessions that would overlap
// an existing one are skipped; then the students on approved leave get an
// excused record in the new sessions.
func (s *Store) GenerateSessions(ctx context.Context, in domain.GenerateInput) (res domain.GenerateResult, err error) {
	if err := in.Validate(); err != nil {
		return res, err
	}
	err = s.tx(ctx, func(tx pgx.Tx) error {
		if err := ensureRecordPartitions(ctx, tx, in.From, in.To); err != nil {
			return err
		}
		var b builder
		b.s(`WITH cand AS (
			SELECT sl.id AS slot_id, sl.section_id, sl.faculty_id, g.d::date AS day, sl.start_time, sl.end_time
			FROM timetable_slots sl JOIN terms t ON t.id = sl.term_id
			CROSS JOIN LATERAL generate_series(greatest(`, b.arg(civilDate(in.From)), `::date, t.start_date),
				least(`, b.arg(civilDate(in.To)), `::date, t.end_date), interval '1 day') AS g(d)`)
		b.w("extract(isodow FROM g.d) = sl.weekday")
		b.w("NOT EXISTS (SELECT 1 FROM holidays h WHERE h.holiday_date = g.d::date)")
		if in.SectionID != uuid.Nil {
			b.w("sl.section_id = ?", in.SectionID)
		}
		if in.TermID != uuid.Nil {
			b.w("sl.term_id = ?", in.TermID)
		}
		tz := b.arg(s.rules.TimeZone.String())
		b.s(`), ins AS (
			INSERT INTO attendance_sessions (section_id, faculty_id, slot_id, session_date, starts_at, ends_at)
			SELECT section_id, faculty_id, slot_id, day, (day + start_time) AT TIME ZONE `, tz, `, (day + end_time) AT TIME ZONE `, tz, `
			FROM cand ON CONFLICT DO NOTHING
			RETURNING id, section_id)
		SELECT NULL::uuid, NULL::uuid, (SELECT count(*) FROM cand) UNION ALL SELECT id, section_id, NULL FROM ins`)
		rows, err := tx.Query(ctx, b.sql.String(), b.args...)
		if err != nil {
			return err
		}
		var candidates int64
		var ids []uuid.UUID
		for rows.Next() {
			var id, sec pgtype.UUID
			var n pgtype.Int8
			if err := rows.Scan(&id, &sec, &n); err != nil {
				rows.Close()
				return err
			}
			if n.Valid {
				candidates = n.Int64
				continue
			}
			res.Sessions = append(res.Sessions, domain.SessionRef{ID: id.Bytes, SectionID: sec.Bytes})
			ids = append(ids, id.Bytes)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		res.Created = len(ids)
		res.Existing = int(candidates) - res.Created
		if len(ids) == 0 {
			return nil
		}
		tag, err := tx.Exec(ctx, `INSERT INTO attendance_records (session_id, student_id, session_date, mark, source, marked_at, leave_id, reason)
			SELECT ses.id, e.student_id, ses.session_date, 'excused', 'system', $2, l.id, 'approved leave'
			FROM attendance_sessions ses
			JOIN enrollments e ON e.section_id = ses.section_id AND e.status = 'ENROLLED'
			JOIN LATERAL (SELECT l.id FROM leave_applications l WHERE l.student_id = e.student_id AND l.status = 'approved'
				AND ses.session_date BETWEEN l.start_date AND l.end_date LIMIT 1) l ON true
			WHERE ses.id = ANY($1)
			ON CONFLICT DO NOTHING`, ids, s.now())
		if err != nil {
			return err
		}
		res.Excused = int(tag.RowsAffected())
		return nil
	})
	return res, mapErr("generate sessions", err)
}

// Transition implements domain.SessionStore: the session row is locked,
// its status compared with the action's sources, and updated, in one
// transaction; closing fills in the unmarked enrolled students.
func (s *Store) Transition(ctx context.Context, a domain.Actor, id uuid.UUID, action domain.SessionAction) (res domain.TransitionResult, err error) {
	from, to, ok := action.Transition()
	if !ok {
		return res, domain.Invalid("action", "must be open, close, lock or cancel")
	}
	err = s.tx(ctx, func(tx pgx.Tx) error {
		ses, err := s.sessionByID(ctx, tx, a.Scope, id, " FOR UPDATE OF ses")
		if err != nil {
			return err
		}
		res.Before = ses.Status
		allowed := false
		for _, f := range from {
			allowed = allowed || ses.Status == f
		}
		if !allowed {
			return domain.Conflict("illegal_transition", "status",
				"cannot "+string(action)+" a session that is "+string(ses.Status))
		}
		if _, err := tx.Exec(ctx, `UPDATE attendance_sessions SET status = $2, updated_at = $3 WHERE id = $1`, id, string(to), s.now()); err != nil {
			return err
		}
		if to == domain.SessionClosed {
			abs, exc, err := s.fillUnmarked(ctx, tx, []uuid.UUID{id})
			if err != nil {
				return err
			}
			res.Absent, res.Excused = abs, exc
		}
		if res.Session, err = s.sessionByID(ctx, tx, domain.All(), id, ""); err != nil {
			return err
		}
		res.Students, err = sessionStudents(ctx, tx, id, ses.Date)
		return err
	})
	return res, mapErr("transition session", err)
}

// fillUnmarked gives every ENROLLED student without a record in the
// sessions an `absent` (source system), or `excused` with the leave's id
// when an approved leave covers the date, and counts both.
func (s *Store) fillUnmarked(ctx context.Context, q Querier, ids []uuid.UUID) (absent, excused int, err error) {
	rows, err := q.Query(ctx, `INSERT INTO attendance_records (session_id, student_id, session_date, mark, source, marked_at, leave_id, reason)
		SELECT ses.id, e.student_id, ses.session_date, CASE WHEN l.id IS NULL THEN 'absent' ELSE 'excused' END, 'system', $2, l.id,
			CASE WHEN l.id IS NULL THEN NULL ELSE 'approved leave' END
		FROM attendance_sessions ses
		JOIN enrollments e ON e.section_id = ses.section_id AND e.status = 'ENROLLED'
		LEFT JOIN LATERAL (SELECT l.id FROM leave_applications l WHERE l.student_id = e.student_id AND l.status = 'approved'
			AND ses.session_date BETWEEN l.start_date AND l.end_date LIMIT 1) l ON true
		WHERE ses.id = ANY($1)
		ON CONFLICT (session_id, student_id, session_date) DO NOTHING
		RETURNING mark`, ids, s.now())
	if err != nil {
		return 0, 0, err
	}
	defer rows.Close()
	for rows.Next() {
		var m string
		if err := rows.Scan(&m); err != nil {
			return 0, 0, err
		}
		if m == string(domain.MarkExcused) {
			excused++
		} else {
			absent++
		}
	}
	return absent, excused, rows.Err()
}

// sessionStudents lists the students with a record in a session.
func sessionStudents(ctx context.Context, q Querier, id uuid.UUID, day time.Time) ([]uuid.UUID, error) {
	rows, err := q.Query(ctx, `SELECT student_id FROM attendance_records WHERE session_id = $1 AND session_date = $2`, id, civilDate(day))
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
}

// SessionJobResult is what one run of the session job did.
type SessionJobResult struct {
	// Ran is false when another instance held the job's lock.
	Ran bool
	// Opened and Closed are the sessions transitioned.
	Opened, Closed []domain.SessionRef
	// Absent and Excused count the marks closing filled in.
	Absent, Excused int
	// Students are the students with records in the closed sessions
	// (their summaries changed).
	Students []uuid.UUID
}

// sessionJobLock is the advisory lock key of the session job.
const sessionJobLock = "campshub360.session-job"

// RunSessionJob opens scheduled sessions whose start has come and closes
// open (or never-opened) sessions whose end plus the grace period has
// passed, filling absent/excused marks, at most batch sessions of each per
// run. Only one instance runs it at a time: the run holds a transaction
// advisory lock and returns Ran false when another holds it.
func (s *Store) RunSessionJob(ctx context.Context, batch int) (res SessionJobResult, err error) {
	ctx, cancel := s.report(ctx)
	defer cancel()
	now := s.now()
	err = pgx.BeginFunc(ctx, s.primary, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `SELECT pg_try_advisory_xact_lock(hashtext($1))`, sessionJobLock).Scan(&res.Ran); err != nil || !res.Ran {
			return err
		}
		scan := func(rows pgx.Rows) ([]domain.SessionRef, error) {
			return pgx.CollectRows(rows, func(r pgx.CollectableRow) (domain.SessionRef, error) {
				var ref domain.SessionRef
				err := r.Scan(&ref.ID, &ref.SectionID)
				return ref, err
			})
		}
		rows, err := tx.Query(ctx, `UPDATE attendance_sessions SET status = 'closed', updated_at = $1
			WHERE id IN (SELECT id FROM attendance_sessions
				WHERE status IN ('scheduled', 'open') AND starts_at <= $1 AND ends_at + $2::interval <= $1
				ORDER BY starts_at LIMIT $3 FOR UPDATE SKIP LOCKED)
			RETURNING id, section_id`, now, s.rules.Grace, batch)
		if err != nil {
			return err
		}
		if res.Closed, err = scan(rows); err != nil {
			return err
		}
		if len(res.Closed) > 0 {
			ids := make([]uuid.UUID, len(res.Closed))
			for i, r := range res.Closed {
				ids[i] = r.ID
			}
			if res.Absent, res.Excused, err = s.fillUnmarked(ctx, tx, ids); err != nil {
				return err
			}
			rows, err := tx.Query(ctx, `SELECT DISTINCT r.student_id FROM attendance_records r
				JOIN attendance_sessions ses ON ses.id = r.session_id AND ses.session_date = r.session_date
				WHERE ses.id = ANY($1)`, ids)
			if err != nil {
				return err
			}
			if res.Students, err = pgx.CollectRows(rows, pgx.RowTo[uuid.UUID]); err != nil {
				return err
			}
		}
		rows, err = tx.Query(ctx, `UPDATE attendance_sessions SET status = 'open', updated_at = $1
			WHERE id IN (SELECT id FROM attendance_sessions
				WHERE status = 'scheduled' AND starts_at <= $1 AND ends_at + $2::interval > $1
				ORDER BY starts_at LIMIT $3 FOR UPDATE SKIP LOCKED)
			RETURNING id, section_id`, now, s.rules.Grace, batch)
		if err != nil {
			return err
		}
		res.Opened, err = scan(rows)
		return err
	})
	return res, mapErr("session job", err)
}
