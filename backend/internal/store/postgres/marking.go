package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/campshub360/edge/backend/internal/domain"
)

// markSQL is bulk marking in one statement (one round trip):
//
//	sess   the session, within the actor's scope, share-locked so that a
//	       concurrent lock/cancel waits for the marks (or they for it)
//	input  the rows, with their order
//	cur    the marks before the statement (for per-row results and audit)
//	valid  rows of students ENROLLED in the section, when the session is
//	       open or closed, with the late rule applied: present written
//	       while the session is open, later than starts_at + grace, is late
//	up     the upsert; an unchanged mark and reason is not rewritten
//
// and returns one row per input row, in input order, with the session's
// status (NULL: no such session in scope).
const markSQL = `WITH sess AS (
		SELECT ses.id, ses.section_id, ses.session_date, ses.starts_at, ses.status
		FROM attendance_sessions ses JOIN sections sec ON sec.id = ses.section_id
		WHERE ses.id = $1 AND ($8::uuid IS NULL OR ses.faculty_id = $8 OR sec.faculty_id = $8)
		FOR SHARE OF ses),
	input AS (
		SELECT i.student_id, i.mark, nullif(i.reason, '') AS reason, i.ord
		FROM unnest($2::uuid[], $3::text[], $4::text[]) WITH ORDINALITY AS i(student_id, mark, reason, ord)),
	cur AS (
		SELECT r.student_id, r.mark, r.reason FROM attendance_records r JOIN sess ON r.session_id = sess.id AND r.session_date = sess.session_date
		WHERE r.student_id = ANY($2::uuid[])),
	valid AS (
		SELECT i.student_id, i.reason,
			CASE WHEN i.mark = 'present' AND sess.status = 'open' AND $6::timestamptz > sess.starts_at + $7::interval
				THEN 'late' ELSE i.mark END AS mark
		FROM input i CROSS JOIN sess
		JOIN enrollments e ON e.section_id = sess.section_id AND e.student_id = i.student_id AND e.status = 'ENROLLED'
		WHERE sess.status IN ('open', 'closed')),
	up AS (
		INSERT INTO attendance_records AS r (session_id, student_id, session_date, mark, source, marked_at, marked_by, reason)
		SELECT sess.id, v.student_id, sess.session_date, v.mark, $5, $6, $9, v.reason FROM valid v CROSS JOIN sess
		ON CONFLICT (session_id, student_id, session_date) DO UPDATE
			SET mark = EXCLUDED.mark, source = EXCLUDED.source, marked_at = EXCLUDED.marked_at,
				marked_by = EXCLUDED.marked_by, reason = EXCLUDED.reason, leave_id = NULL
			WHERE (r.mark, r.reason) IS DISTINCT FROM (EXCLUDED.mark, EXCLUDED.reason)
		RETURNING r.student_id)
	SELECT (SELECT status FROM sess), (SELECT section_id FROM sess), (SELECT session_date FROM sess),
		(SELECT starts_at FROM sess), i.student_id, coalesce(v.mark, ''), coalesce(cur.mark, ''), up.student_id IS NOT NULL
	FROM input i
	LEFT JOIN valid v ON v.student_id = i.student_id
	LEFT JOIN cur ON cur.student_id = i.student_id
	LEFT JOIN up ON up.student_id = i.student_id
	ORDER BY i.ord`

// statusConflict explains why marks cannot be written in a session.
func statusConflict(st domain.SessionStatus) error {
	switch st {
	case domain.SessionLocked:
		return domain.Conflict("session_locked", "session_id", "the session is locked; file a correction request instead")
	case domain.SessionCancelled:
		return domain.Conflict("session_cancelled", "session_id", "the session is cancelled")
	default:
		return domain.Conflict("session_not_open", "session_id", "the session is "+string(st)+"; marks can be written once it is open")
	}
}

// MarkRecords implements domain.SessionStore with markSQL. Rows must have
// distinct student ids (the API rejects duplicates as invalid input).
func (s *Store) MarkRecords(ctx context.Context, a domain.Actor, req domain.MarkRequest) (domain.MarkReply, error) {
	if a.Scope.Kind == domain.ScopeStudent {
		return domain.MarkReply{}, domain.ErrNotFound
	}
	n := len(req.Rows)
	students := make([]uuid.UUID, n)
	marks := make([]string, n)
	reasons := make([]string, n)
	for i, r := range req.Rows {
		students[i], marks[i], reasons[i] = r.StudentID, string(r.Mark), r.Reason
	}
	var faculty any
	if a.Scope.Kind == domain.ScopeFaculty {
		faculty = a.Scope.ID
	}
	now := s.now()
	ctx, cancel := s.call(ctx)
	defer cancel()
	rows, err := s.primary.Query(ctx, markSQL, req.SessionID, students, marks, reasons, string(req.Source), now,
		s.rules.Grace, faculty, nullUUID(a.UserID))
	if err != nil {
		return domain.MarkReply{}, mapErr("mark records", err)
	}
	reply := domain.MarkReply{Results: make([]domain.MarkResult, 0, n), At: now}
	var (
		status  pgtype.Text
		section pgtype.UUID
		day     pgtype.Date
		starts  pgtype.Timestamptz
	)
	for rows.Next() {
		var (
			r           domain.MarkResult
			mark, prior string
			wrote       bool
		)
		if err := rows.Scan(&status, &section, &day, &starts, &r.StudentID, &mark, &prior, &wrote); err != nil {
			rows.Close()
			return domain.MarkReply{}, mapErr("mark records", err)
		}
		r.Mark, r.Before = domain.Mark(mark), domain.Mark(prior)
		switch {
		case mark == "":
			r.Outcome = domain.OutcomeNotEnrolled
		case wrote && prior == "":
			r.Outcome = domain.OutcomeCreated
		case wrote:
			r.Outcome = domain.OutcomeUpdated
		default:
			r.Outcome, r.Mark = domain.OutcomeUnchanged, domain.Mark(prior)
		}
		reply.Results = append(reply.Results, r)
	}
	if err := rows.Err(); err != nil {
		return domain.MarkReply{}, mapErr("mark records", err)
	}
	if !status.Valid {
		return domain.MarkReply{}, domain.ErrNotFound
	}
	if st := domain.SessionStatus(status.String); !domain.MarksWritable(st) {
		return domain.MarkReply{}, statusConflict(st)
	}
	reply.Session = domain.AttendanceSession{ID: req.SessionID, SectionID: section.Bytes, Date: day.Time,
		StartsAt: starts.Time, Status: domain.SessionStatus(status.String)}
	return reply, nil
}

// checkInSQL is a QR check-in in one statement: the session must be open
// and the student ENROLLED; present becomes late after starts_at + grace;
// an existing present or late mark is kept (idempotent), any other is
// replaced. It returns the session's status (no row: no such session),
// whether the student is enrolled, and the marks before and written.
const checkInSQL = `WITH sess AS (
		SELECT id, section_id, session_date, starts_at, status FROM attendance_sessions WHERE id = $1),
	ok AS (
		SELECT sess.* FROM sess WHERE sess.status = 'open' AND EXISTS (
			SELECT 1 FROM enrollments e WHERE e.section_id = sess.section_id AND e.student_id = $2 AND e.status = 'ENROLLED')),
	cur AS (
		SELECT r.mark FROM attendance_records r JOIN ok ON r.session_id = ok.id AND r.session_date = ok.session_date
		WHERE r.student_id = $2),
	up AS (
		INSERT INTO attendance_records AS r (session_id, student_id, session_date, mark, source, marked_at, marked_by)
		SELECT ok.id, $2, ok.session_date,
			CASE WHEN $3::timestamptz > ok.starts_at + $4::interval THEN 'late' ELSE 'present' END, 'qr', $3, $5
		FROM ok
		ON CONFLICT (session_id, student_id, session_date) DO UPDATE
			SET mark = EXCLUDED.mark, source = 'qr', marked_at = EXCLUDED.marked_at, marked_by = EXCLUDED.marked_by,
				reason = NULL, leave_id = NULL
			WHERE r.mark NOT IN ('present', 'late')
		RETURNING r.mark)
	SELECT sess.status, sess.section_id, sess.session_date, sess.starts_at, EXISTS (SELECT 1 FROM ok),
		coalesce((SELECT mark FROM cur), ''), coalesce((SELECT mark FROM up), '')
	FROM sess`

// CheckIn implements domain.SessionStore with checkInSQL (one round trip).
func (s *Store) CheckIn(ctx context.Context, a domain.Actor, sessionID, studentID uuid.UUID) (domain.CheckInResult, error) {
	now := s.now()
	ctx, cancel := s.call(ctx)
	defer cancel()
	var (
		res                domain.CheckInResult
		status, prior, out string
		enrolled           bool
	)
	err := s.primary.QueryRow(ctx, checkInSQL, sessionID, studentID, now, s.rules.Grace, nullUUID(a.UserID)).
		Scan(&status, &res.Session.SectionID, &res.Session.Date, &res.Session.StartsAt, &enrolled, &prior, &out)
	if errors.Is(err, pgx.ErrNoRows) {
		return domain.CheckInResult{}, domain.ErrNotFound
	}
	if err != nil {
		return domain.CheckInResult{}, mapErr("check in", err)
	}
	res.Session.ID, res.Session.Status, res.At = sessionID, domain.SessionStatus(status), now
	switch {
	case res.Session.Status != domain.SessionOpen:
		return domain.CheckInResult{}, domain.Conflict("session_not_open", "token", "the session is "+status+"; check-in is possible only while it is open")
	case !enrolled:
		return domain.CheckInResult{}, &domain.ForbiddenError{Code: "not_enrolled", Message: "you are not enrolled in this session's section"}
	case out == "":
		res.Outcome, res.Mark, res.Before = domain.OutcomeUnchanged, domain.Mark(prior), domain.Mark(prior)
	case prior == "":
		res.Outcome, res.Mark = domain.OutcomeCreated, domain.Mark(out)
	default:
		res.Outcome, res.Mark, res.Before = domain.OutcomeUpdated, domain.Mark(out), domain.Mark(prior)
	}
	return res, nil
}

// OpenForQR implements domain.SessionStore.
func (s *Store) OpenForQR(ctx context.Context, sc domain.Scope, id uuid.UUID) (domain.AttendanceSession, error) {
	ctx, cancel := s.call(ctx)
	defer cancel()
	ses, err := s.sessionByID(ctx, s.primary, sc, id, "")
	if err != nil {
		return ses, err
	}
	if ses.Status != domain.SessionOpen {
		return domain.AttendanceSession{}, domain.Conflict("session_not_open", "session_id",
			fmt.Sprintf("the session is %s; QR tokens are issued only while it is open", ses.Status))
	}
	return ses, nil
}
