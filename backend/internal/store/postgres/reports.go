package postgres

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/campshub360/edge/backend/internal/domain"
)

// Reports run on the read pool (the replica when configured) under the
// report deadline. Every aggregate counts only records of closed or locked
// sessions, and bounds session_date by the window so the planner prunes
// attendance_records partitions (at plan time with custom plans, at
// executor start with generic ones).

// tallyCols aggregates marks of records r.
const tallyCols = `count(*) FILTER (WHERE r.mark = 'present') AS present, count(*) FILTER (WHERE r.mark = 'late') AS late,
	count(*) FILTER (WHERE r.mark = 'absent') AS absent, count(*) FILTER (WHERE r.mark = 'excused') AS excused`

// fillWindow completes w with the dates of the term: the given term, the
// section's term, or the current one.
func (s *Store) fillWindow(ctx context.Context, q Querier, sectionID, termID uuid.UUID, w domain.Window) (domain.Window, error) {
	if !w.From.IsZero() && !w.To.IsZero() {
		return w, w.Validate()
	}
	var (
		from, to time.Time
		err      error
	)
	switch {
	case sectionID != uuid.Nil:
		err = q.QueryRow(ctx, `SELECT t.start_date, t.end_date FROM sections sec JOIN terms t ON t.id = sec.term_id WHERE sec.id = $1`, sectionID).Scan(&from, &to)
	case termID != uuid.Nil:
		err = q.QueryRow(ctx, `SELECT start_date, end_date FROM terms WHERE id = $1`, termID).Scan(&from, &to)
	default:
		err = q.QueryRow(ctx, `SELECT start_date, end_date FROM terms WHERE is_current`).Scan(&from, &to)
		if errors.Is(err, pgx.ErrNoRows) {
			return w, domain.Invalid("from", "is required (with to) when no term is current")
		}
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return w, domain.ErrNotFound
	}
	if err != nil {
		return w, mapErr("report window", err)
	}
	if w.From.IsZero() {
		w.From = from
	}
	if w.To.IsZero() {
		w.To = to
	}
	return w, w.Validate()
}

// StudentSummary implements domain.ReportStore with one aggregate over the
// student's records in the window (index (student_id, session_date) of
// each surviving partition), joined to the sections the student is
// enrolled in or has records in. A faculty scope keeps their own sections.
func (s *Store) StudentSummary(ctx context.Context, sc domain.Scope, studentID, sectionID uuid.UUID, w domain.Window) (domain.StudentSummary, error) {
	ctx, cancel := s.call(ctx)
	defer cancel()
	if sc.Kind == domain.ScopeStudent && sc.ID != studentID {
		return domain.StudentSummary{}, domain.ErrNotFound
	}
	// One round trip for "does the student exist" and the default window
	// (the section's term, or the current one).
	var (
		exists   bool
		from, to pgtype.Date
		termSQL  = `SELECT start_date, end_date FROM terms WHERE is_current`
		args     = []any{studentID}
	)
	if sectionID != uuid.Nil {
		termSQL = `SELECT t.start_date, t.end_date FROM sections sec JOIN terms t ON t.id = sec.term_id WHERE sec.id = $2`
		args = append(args, sectionID)
	}
	// A faculty member sees only students who are (or were) on a roster
	// of theirs: any other student does not exist for them.
	visible := ""
	if sc.Kind == domain.ScopeFaculty {
		args = append(args, sc.ID)
		visible = ` AND EXISTS (SELECT 1 FROM enrollments e JOIN sections sec ON sec.id = e.section_id
			WHERE e.student_id = students.id AND sec.faculty_id = $` + strconv.Itoa(len(args)) + `)`
	}
	err := s.read.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM students WHERE id = $1`+visible+`), w.start_date, w.end_date
		FROM (SELECT 1) one LEFT JOIN (`+termSQL+`) w ON true`, args...).Scan(&exists, &from, &to)
	if err != nil {
		return domain.StudentSummary{}, mapErr("student summary", err)
	}
	if !exists {
		return domain.StudentSummary{}, domain.ErrNotFound
	}
	if w.From.IsZero() || w.To.IsZero() {
		switch {
		case !from.Valid && sectionID != uuid.Nil:
			return domain.StudentSummary{}, domain.ErrNotFound
		case !from.Valid:
			return domain.StudentSummary{}, domain.Invalid("from", "is required (with to) when no term is current")
		}
		if w.From.IsZero() {
			w.From = from.Time
		}
		if w.To.IsZero() {
			w.To = to.Time
		}
	}
	if err := w.Validate(); err != nil {
		return domain.StudentSummary{}, err
	}
	var b builder
	b.s(`WITH agg AS (
		SELECT ses.section_id, `, tallyCols, `
		FROM attendance_records r JOIN attendance_sessions ses ON ses.id = r.session_id AND ses.session_date = r.session_date`)
	b.w("r.student_id = ?", studentID)
	b.w("r.session_date BETWEEN ? AND ?", civilDate(w.From), civilDate(w.To))
	b.w("ses.status IN ('closed', 'locked')")
	if sectionID != uuid.Nil {
		b.w("ses.section_id = ?", sectionID)
	}
	b.s(` GROUP BY ses.section_id)
		SELECT sec.id, c.code, c.title, sec.section_code, coalesce(agg.present, 0), coalesce(agg.late, 0),
			coalesce(agg.absent, 0), coalesce(agg.excused, 0)
		FROM sections sec JOIN courses c ON c.id = sec.course_id JOIN terms t ON t.id = sec.term_id
		LEFT JOIN agg ON agg.section_id = sec.id`)
	b.where = 0
	stu := b.arg(studentID)
	if sectionID != uuid.Nil {
		// The one section asked for, whenever the student is (or was) on
		// its roster, even with nothing in the window.
		b.w("sec.id = ?", sectionID)
		b.w(`(agg.section_id IS NOT NULL OR EXISTS (SELECT 1 FROM enrollments e WHERE e.student_id = ` + stu + `
			AND e.section_id = sec.id))`)
	} else {
		// The sections with records in the window, and those the student
		// is enrolled in whose term overlaps it.
		b.w(`(agg.section_id IS NOT NULL OR EXISTS (SELECT 1 FROM enrollments e WHERE e.student_id = ` + stu + `
			AND e.section_id = sec.id AND e.status <> 'DROPPED' AND t.start_date <= ` + b.arg(civilDate(w.To)) + `
			AND t.end_date >= ` + b.arg(civilDate(w.From)) + `))`)
	}
	if sc.Kind == domain.ScopeFaculty {
		b.w("sec.faculty_id = ?", sc.ID)
	}
	b.s(" ORDER BY c.code, sec.section_code")
	rows, err := s.read.Query(ctx, b.sql.String(), b.args...)
	if err != nil {
		return domain.StudentSummary{}, mapErr("student summary", err)
	}
	secs, err := collect(rows, func(r pgx.Row) (domain.SectionTally, error) {
		var t domain.SectionTally
		err := r.Scan(&t.SectionID, &t.CourseCode, &t.CourseTitle, &t.SectionCode,
			&t.Tally.Present, &t.Tally.Late, &t.Tally.Absent, &t.Tally.Excused)
		return t, err
	})
	if err != nil {
		return domain.StudentSummary{}, mapErr("student summary", err)
	}
	if secs == nil {
		secs = []domain.SectionTally{}
		if sectionID != uuid.Nil {
			// The section exists (fillWindow found it) but is not the
			// student's, or not the faculty member's.
			return domain.StudentSummary{}, domain.ErrNotFound
		}
	}
	return domain.StudentSummary{StudentID: studentID, From: w.From, To: w.To, Sections: secs}, nil
}

// sectionReportSQL aggregates a section's records per roster student in
// one statement: the counted sessions of the window (index (section_id,
// session_date)), their records (primary key prefix session_id, partition
// pruned by the window), grouped per student, joined to the roster.
const sectionReportSQL = `WITH ses AS (
		SELECT id, session_date FROM attendance_sessions
		WHERE section_id = $1 AND session_date BETWEEN $2 AND $3 AND status IN ('closed', 'locked')),
	agg AS (
		SELECT r.student_id, ` + tallyCols + `
		FROM ses JOIN attendance_records r ON r.session_id = ses.id AND r.session_date = ses.session_date
		WHERE r.session_date BETWEEN $2 AND $3
		GROUP BY r.student_id)
	SELECT (SELECT count(*) FROM ses), st.id, st.roll_number, st.first_name, st.last_name,
		coalesce(agg.present, 0), coalesce(agg.late, 0), coalesce(agg.absent, 0), coalesce(agg.excused, 0)
	FROM enrollments e JOIN students st ON st.id = e.student_id
	LEFT JOIN agg ON agg.student_id = e.student_id
	WHERE e.section_id = $1 AND e.status = 'ENROLLED'
	ORDER BY st.roll_number`

// SectionReport implements domain.ReportStore with sectionReportSQL.
func (s *Store) SectionReport(ctx context.Context, sc domain.Scope, sectionID uuid.UUID, w domain.Window) (domain.SectionReport, error) {
	ctx, cancel := s.report(ctx)
	defer cancel()
	// The section (within scope) and its term's dates in one round trip.
	var b builder
	b.s("SELECT ", sectionCols, ", t.start_date, t.end_date", sectionFrom)
	b.w("sec.id = ?", sectionID)
	scopeSections(&b, sc)
	var (
		sec      domain.Section
		from, to time.Time
	)
	err := b.scanRow(ctx, s.read, func(r pgx.Row) error {
		var capacity int32
		var enrolled int64
		err := r.Scan(&sec.ID, &sec.CourseID, &sec.TermID, &sec.FacultyID, &sec.Code, &capacity,
			&sec.CourseCode, &sec.CourseTitle, &sec.TermName, &sec.FacultyName, &enrolled, &sec.CreatedAt, &sec.UpdatedAt, &from, &to)
		sec.Capacity, sec.Enrolled = int(capacity), int(enrolled)
		return err
	})
	if err != nil {
		_, err = one(0, err, "section report")
		return domain.SectionReport{}, err
	}
	if w.From.IsZero() {
		w.From = from
	}
	if w.To.IsZero() {
		w.To = to
	}
	if err := w.Validate(); err != nil {
		return domain.SectionReport{}, err
	}
	rows, err := s.read.Query(ctx, sectionReportSQL, sectionID, civilDate(w.From), civilDate(w.To))
	if err != nil {
		return domain.SectionReport{}, mapErr("section report", err)
	}
	rep := domain.SectionReport{Section: sec, From: w.From, To: w.To, Students: []domain.StudentTally{}}
	defer rows.Close()
	for rows.Next() {
		var (
			t        domain.StudentTally
			sessions int64
		)
		if err := rows.Scan(&sessions, &t.StudentID, &t.RollNumber, &t.FirstName, &t.LastName,
			&t.Tally.Present, &t.Tally.Late, &t.Tally.Absent, &t.Tally.Excused); err != nil {
			return domain.SectionReport{}, mapErr("section report", err)
		}
		rep.Sessions = int(sessions)
		rep.Students = append(rep.Students, t)
	}
	if err := rows.Err(); err != nil {
		return domain.SectionReport{}, mapErr("section report", err)
	}
	if len(rep.Students) == 0 {
		var n int64
		if err := s.read.QueryRow(ctx, `SELECT count(*) FROM attendance_sessions WHERE section_id = $1
			AND session_date BETWEEN $2 AND $3 AND status IN ('closed', 'locked')`, sectionID, civilDate(w.From), civilDate(w.To)).Scan(&n); err != nil {
			return domain.SectionReport{}, mapErr("section report", err)
		}
		rep.Sessions = int(n)
	}
	return rep, nil
}

// termFor returns the given or the current term.
func (s *Store) termFor(ctx context.Context, id uuid.UUID) (domain.Term, error) {
	var (
		t   domain.Term
		err error
	)
	if id != uuid.Nil {
		t, err = scanTerm(s.read.QueryRow(ctx, "SELECT "+termCols+" FROM terms t WHERE t.id = $1", id))
	} else {
		t, err = scanTerm(s.read.QueryRow(ctx, "SELECT "+termCols+" FROM terms t WHERE t.is_current"))
	}
	if errors.Is(err, pgx.ErrNoRows) {
		if id == uuid.Nil {
			return t, domain.Invalid("term_id", "is required when no term is current")
		}
		return t, domain.Invalid("term_id", "no term has this id")
	}
	return t, mapErr("term", err)
}

// pairTallies is the per (student, section) aggregate of a term's counted
// records, as a CTE named pairs; scope and filters go into its WHERE.
func pairTallies(b *builder, term domain.Term, sc domain.Scope, sectionID uuid.UUID) {
	b.s(`WITH pairs AS (
		SELECT ses.section_id, r.student_id, `, tallyCols, `
		FROM attendance_records r
		JOIN attendance_sessions ses ON ses.id = r.session_id AND ses.session_date = r.session_date
		JOIN sections sec ON sec.id = ses.section_id`)
	b.w("sec.term_id = ?", term.ID)
	b.w("r.session_date BETWEEN ? AND ?", civilDate(term.StartDate), civilDate(term.EndDate))
	b.w("ses.session_date BETWEEN ? AND ?", civilDate(term.StartDate), civilDate(term.EndDate))
	b.w("ses.status IN ('closed', 'locked')")
	if sectionID != uuid.Nil {
		b.w("ses.section_id = ?", sectionID)
	}
	if sc.Kind == domain.ScopeFaculty {
		b.w("sec.faculty_id = ?", sc.ID)
	}
	b.s(` GROUP BY ses.section_id, r.student_id),
	pct AS (
		SELECT pairs.*, attendance_pct_hundredths(present + late, excused, present + late + absent + excused) AS hundredths
		FROM pairs)`)
	b.where = 0
}

// Overview implements domain.ReportStore: sessions by status, and the
// term's counted records per (student, section) pair rolled up by the
// students' departments.
func (s *Store) Overview(ctx context.Context, sc domain.Scope, q domain.OverviewQuery) (domain.Overview, error) {
	ctx, cancel := s.report(ctx)
	defer cancel()
	if sc.Kind == domain.ScopeStudent {
		return domain.Overview{}, domain.ErrNotFound
	}
	term, err := s.termFor(ctx, q.TermID)
	if err != nil {
		return domain.Overview{}, err
	}
	ov := domain.Overview{Term: term, Threshold: q.Threshold, SessionsByStatus: map[domain.SessionStatus]int{}, Departments: []domain.DepartmentOverview{}}
	var b builder
	b.s(`SELECT coalesce(ses.status, ''), count(DISTINCT sec.id), count(ses.id) FROM sections sec
		LEFT JOIN attendance_sessions ses ON ses.section_id = sec.id`)
	b.w("sec.term_id = ?", term.ID)
	if sc.Kind == domain.ScopeFaculty {
		b.w("sec.faculty_id = ?", sc.ID)
	}
	b.s(" GROUP BY ROLLUP (ses.status)")
	rows, err := s.read.Query(ctx, b.sql.String(), b.args...)
	if err != nil {
		return domain.Overview{}, mapErr("overview", err)
	}
	for rows.Next() {
		var (
			status         string
			sections, sess int64
		)
		if err := rows.Scan(&status, &sections, &sess); err != nil {
			rows.Close()
			return domain.Overview{}, mapErr("overview", err)
		}
		// ROLLUP's grand total row has a NULL status; rows of sections
		// without sessions have an empty one too but count 0 sessions.
		if st, ok := domain.ParseSessionStatus(status); ok {
			ov.SessionsByStatus[st] = int(sess)
		} else if sections > int64(ov.Sections) {
			ov.Sections = int(sections)
		}
	}
	if err := rows.Err(); err != nil {
		return domain.Overview{}, mapErr("overview", err)
	}

	b = builder{}
	pairTallies(&b, term, sc, uuid.Nil)
	thr := b.arg(int64(q.Threshold))
	b.s(` SELECT d.code, d.name, sum(pct.present), sum(pct.late), sum(pct.absent), sum(pct.excused),
			count(DISTINCT pct.student_id), count(*) FILTER (WHERE pct.hundredths < `, thr, `)
		FROM pct JOIN students st ON st.id = pct.student_id JOIN departments d ON d.id = st.department_id
		GROUP BY d.code, d.name ORDER BY d.code`)
	rows, err = s.read.Query(ctx, b.sql.String(), b.args...)
	if err != nil {
		return domain.Overview{}, mapErr("overview", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			d               domain.DepartmentOverview
			students, below int64
		)
		if err := rows.Scan(&d.Code, &d.Name, &d.Tally.Present, &d.Tally.Late, &d.Tally.Absent, &d.Tally.Excused, &students, &below); err != nil {
			return domain.Overview{}, mapErr("overview", err)
		}
		d.Students, d.Below = int(students), int(below)
		ov.Tally = ov.Tally.Add(d.Tally)
		ov.Students += d.Students
		ov.Below += d.Below
		ov.Departments = append(ov.Departments, d)
	}
	return ov, mapErr("overview", rows.Err())
}

// shortageKey renders the keyset sort value of a shortage row.
func shortageKey(h domain.Percent, roll string) string { return fmt.Sprintf("%05d|%s", int64(h), roll) }

// Shortages implements domain.ReportStore: every ENROLLED (student,
// section) pair of the term below the threshold, lowest first.
func (s *Store) Shortages(ctx context.Context, sc domain.Scope, q domain.ShortageQuery) (domain.Page[domain.Shortage], error) {
	ctx, cancel := s.report(ctx)
	defer cancel()
	if sc.Kind == domain.ScopeStudent {
		return domain.Page[domain.Shortage]{}, domain.ErrNotFound
	}
	term, err := s.termFor(ctx, q.TermID)
	if err != nil {
		return domain.Page[domain.Shortage]{}, err
	}
	var b builder
	pairTallies(&b, term, sc, q.SectionID)
	b.s(` SELECT pct.student_id, st.roll_number, st.first_name, st.last_name, pct.section_id, c.code, sec.section_code,
			pct.present, pct.late, pct.absent, pct.excused
		FROM pct JOIN students st ON st.id = pct.student_id
		JOIN sections sec ON sec.id = pct.section_id JOIN courses c ON c.id = sec.course_id
		JOIN enrollments e ON e.student_id = pct.student_id AND e.section_id = pct.section_id AND e.status = 'ENROLLED'`)
	b.w("pct.hundredths < ?", int64(q.Threshold))
	if q.Department != "" {
		b.w("st.department_id = (SELECT id FROM departments WHERE code = ?)", q.Department)
	}
	if q.Page.After != nil {
		h, roll, ok := strings.Cut(q.Page.After.Sort, "|")
		n, err := strconv.ParseInt(h, 10, 64)
		if !ok || err != nil {
			return domain.Page[domain.Shortage]{}, domain.Invalid("cursor", "is not a cursor this server issued")
		}
		b.w("(pct.hundredths, st.roll_number, pct.section_id) > (?, ?, ?)", n, roll, q.Page.After.ID)
	}
	b.s(" ORDER BY pct.hundredths, st.roll_number, pct.section_id LIMIT ", b.arg(q.Page.Limit+1))
	rows, err := s.read.Query(ctx, b.sql.String(), b.args...)
	if err != nil {
		return domain.Page[domain.Shortage]{}, mapErr("shortages", err)
	}
	items, err := collect(rows, func(r pgx.Row) (domain.Shortage, error) {
		var x domain.Shortage
		err := r.Scan(&x.StudentID, &x.RollNumber, &x.FirstName, &x.LastName, &x.SectionID, &x.CourseCode, &x.SectionCode,
			&x.Tally.Present, &x.Tally.Late, &x.Tally.Absent, &x.Tally.Excused)
		return x, err
	})
	if err != nil {
		return domain.Page[domain.Shortage]{}, mapErr("shortages", err)
	}
	if len(items) == 0 && q.Department != "" {
		if err := s.knownDepartment(ctx, q.Department); err != nil {
			return domain.Page[domain.Shortage]{}, err
		}
	}
	return page(items, q.Page.Limit, func(x domain.Shortage) domain.Key {
		return domain.Key{Sort: shortageKey(x.Tally.Percentage(), x.RollNumber), ID: x.SectionID}
	}), nil
}

// ExportSection implements domain.ReportStore, streaming rows as they
// arrive from the server (no buffering of the whole export).
func (s *Store) ExportSection(ctx context.Context, sc domain.Scope, sectionID uuid.UUID, w domain.Window, emit func(domain.ExportRow) error) error {
	ctx, cancel := s.report(ctx)
	defer cancel()
	if _, err := s.sectionByID(ctx, s.read, sc, sectionID); err != nil {
		return err
	}
	w, err := s.fillWindow(ctx, s.read, sectionID, uuid.Nil, w)
	if err != nil {
		return err
	}
	rows, err := s.read.Query(ctx, `SELECT ses.id, ses.session_date, ses.starts_at, ses.status, st.id, st.roll_number,
			st.first_name, st.last_name, r.mark, r.source, r.marked_at, coalesce(r.reason, '')
		FROM attendance_sessions ses
		JOIN attendance_records r ON r.session_id = ses.id AND r.session_date = ses.session_date
		JOIN students st ON st.id = r.student_id
		WHERE ses.section_id = $1 AND ses.session_date BETWEEN $2 AND $3 AND r.session_date BETWEEN $2 AND $3
		ORDER BY ses.starts_at, ses.id, st.roll_number`, sectionID, civilDate(w.From), civilDate(w.To))
	if err != nil {
		return mapErr("export section", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			x                    domain.ExportRow
			status, mark, source string
		)
		if err := rows.Scan(&x.SessionID, &x.Date, &x.StartsAt, &status, &x.StudentID, &x.RollNumber, &x.FirstName,
			&x.LastName, &mark, &source, &x.MarkedAt, &x.Reason); err != nil {
			return mapErr("export section", err)
		}
		x.Status, x.Mark, x.Source = domain.SessionStatus(status), domain.Mark(mark), domain.MarkSource(source)
		if err := emit(x); err != nil {
			return err
		}
	}
	return mapErr("export section", rows.Err())
}
