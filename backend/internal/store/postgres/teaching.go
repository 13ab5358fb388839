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

const sectionCols = `sec.id, sec.course_id, sec.term_id, sec.faculty_id, sec.section_code, sec.capacity,
	c.code, c.title, t.name, f.first_name || ' ' || f.last_name,
	(SELECT count(*) FROM enrollments e WHERE e.section_id = sec.id AND e.status = 'ENROLLED'),
	sec.created_at, sec.updated_at`

const sectionFrom = ` FROM sections sec
	JOIN courses c ON c.id = sec.course_id
	JOIN terms t ON t.id = sec.term_id
	JOIN faculty f ON f.id = sec.faculty_id`

func scanSection(r pgx.Row) (domain.Section, error) {
	var (
		sec      domain.Section
		capacity int32
		enrolled int64
	)
	err := r.Scan(&sec.ID, &sec.CourseID, &sec.TermID, &sec.FacultyID, &sec.Code, &capacity,
		&sec.CourseCode, &sec.CourseTitle, &sec.TermName, &sec.FacultyName, &enrolled, &sec.CreatedAt, &sec.UpdatedAt)
	sec.Capacity, sec.Enrolled = int(capacity), int(enrolled)
	return sec, err
}

// scopeSections restricts a query over sections sec to sc: a faculty
// member's own sections, or the sections a student is ENROLLED in.
func scopeSections(b *builder, sc domain.Scope) {
	switch sc.Kind {
	case domain.ScopeFaculty:
		b.w("sec.faculty_id = ?", sc.ID)
	case domain.ScopeStudent:
		b.w("EXISTS (SELECT 1 FROM enrollments se WHERE se.student_id = ? AND se.section_id = sec.id AND se.status = 'ENROLLED')", sc.ID)
	}
}

// ListSections implements domain.TeachingStore in (course code, section
// code, id) order (Key.Sort is "<course code> <section code>").
func (s *Store) ListSections(ctx context.Context, sc domain.Scope, q domain.SectionQuery) (domain.Page[domain.Section], error) {
	ctx, cancel := s.call(ctx)
	defer cancel()
	var b builder
	b.s("SELECT ", sectionCols, sectionFrom)
	if q.TermID != uuid.Nil {
		b.w("sec.term_id = ?", q.TermID)
	}
	if q.CourseID != uuid.Nil {
		b.w("sec.course_id = ?", q.CourseID)
	}
	if q.FacultyID != uuid.Nil {
		b.w("sec.faculty_id = ?", q.FacultyID)
	}
	if q.Department != "" {
		b.w("c.department_id = (SELECT id FROM departments WHERE code = ?)", q.Department)
	}
	scopeSections(&b, sc)
	if q.Page.After != nil {
		course, code, ok := strings.Cut(q.Page.After.Sort, " ")
		if !ok {
			return domain.Page[domain.Section]{}, domain.Invalid("cursor", "is not a cursor this server issued")
		}
		b.w("(c.code, sec.section_code, sec.id) > (?, ?, ?)", course, code, q.Page.After.ID)
	}
	b.s(" ORDER BY c.code, sec.section_code, sec.id LIMIT ", b.arg(q.Page.Limit+1))
	rows, err := s.read.Query(ctx, b.sql.String(), b.args...)
	if err != nil {
		return domain.Page[domain.Section]{}, mapErr("list sections", err)
	}
	items, err := collect(rows, scanSection)
	if err != nil {
		return domain.Page[domain.Section]{}, mapErr("list sections", err)
	}
	if len(items) == 0 && q.Department != "" {
		if err := s.knownDepartment(ctx, q.Department); err != nil {
			return domain.Page[domain.Section]{}, err
		}
	}
	return page(items, q.Page.Limit, func(x domain.Section) domain.Key {
		return domain.Key{Sort: x.CourseCode + " " + x.Code, ID: x.ID}
	}), nil
}

// SectionByID implements domain.TeachingStore.
func (s *Store) SectionByID(ctx context.Context, sc domain.Scope, id uuid.UUID) (domain.Section, error) {
	ctx, cancel := s.call(ctx)
	defer cancel()
	return s.sectionByID(ctx, s.primary, sc, id)
}

func (s *Store) sectionByID(ctx context.Context, q Querier, sc domain.Scope, id uuid.UUID) (domain.Section, error) {
	var b builder
	b.s("SELECT ", sectionCols, sectionFrom)
	b.w("sec.id = ?", id)
	scopeSections(&b, sc)
	sec, err := scanSection(q.QueryRow(ctx, b.sql.String(), b.args...))
	return one(sec, err, "get section")
}

// CreateSection implements domain.TeachingStore.
func (s *Store) CreateSection(ctx context.Context, in domain.SectionInput) (sec domain.Section, err error) {
	err = s.tx(ctx, func(tx pgx.Tx) error {
		var id uuid.UUID
		if err := tx.QueryRow(ctx, `INSERT INTO sections (course_id, term_id, faculty_id, section_code, capacity)
			VALUES ($1, $2, $3, $4, $5) RETURNING id`, in.CourseID, in.TermID, in.FacultyID, in.Code, int32(in.Capacity)).Scan(&id); err != nil {
			return err
		}
		sec, err = s.sectionByID(ctx, tx, domain.All(), id)
		return err
	})
	return sec, mapErr("create section", err)
}

// UpdateSection implements domain.TeachingStore. Handing a section to
// another faculty member moves its slots (ON UPDATE CASCADE, re-checked
// for double booking) and its scheduled sessions.
func (s *Store) UpdateSection(ctx context.Context, id uuid.UUID, in domain.SectionInput) (before, after domain.Section, err error) {
	err = s.tx(ctx, func(tx pgx.Tx) error {
		before, err = s.sectionByID(ctx, tx, domain.All(), id)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE sections SET course_id = $2, term_id = $3, faculty_id = $4, section_code = $5,
			capacity = $6, updated_at = now() WHERE id = $1`, id, in.CourseID, in.TermID, in.FacultyID, in.Code, int32(in.Capacity)); err != nil {
			return err
		}
		if in.FacultyID != before.FacultyID {
			if _, err := tx.Exec(ctx, `UPDATE attendance_sessions SET faculty_id = $2, updated_at = now()
				WHERE section_id = $1 AND status = 'scheduled'`, id, in.FacultyID); err != nil {
				return err
			}
		}
		after, err = s.sectionByID(ctx, tx, domain.All(), id)
		return err
	})
	return before, after, mapErr("update section", err)
}

// DeleteSection implements domain.TeachingStore: only a section without
// enrollments or sessions (its slots go with it).
func (s *Store) DeleteSection(ctx context.Context, id uuid.UUID) (sec domain.Section, err error) {
	err = s.tx(ctx, func(tx pgx.Tx) error {
		sec, err = s.sectionByID(ctx, tx, domain.All(), id)
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `DELETE FROM sections WHERE id = $1`, id)
		return err
	})
	if err != nil && errors.Is(mapErr("", err), domain.ErrConflict) {
		return domain.Section{}, domain.Conflict("in_use", "", "the section has enrollments or sessions; it cannot be deleted")
	}
	return sec, mapErr("delete section", err)
}

// Enroll implements domain.TeachingStore. The section row is locked so
// that concurrent enrollments respect its capacity.
func (s *Store) Enroll(ctx context.Context, sectionID, studentID uuid.UUID) (e domain.Enrollment, created bool, err error) {
	err = s.tx(ctx, func(tx pgx.Tx) error {
		var capacity, enrolled int64
		err := tx.QueryRow(ctx, `SELECT capacity, (SELECT count(*) FROM enrollments WHERE section_id = $1 AND status = 'ENROLLED')
			FROM sections WHERE id = $1 FOR UPDATE`, sectionID).Scan(&capacity, &enrolled)
		if errors.Is(err, pgx.ErrNoRows) {
			return domain.ErrNotFound
		}
		if err != nil {
			return err
		}
		var status, current string
		err = tx.QueryRow(ctx, `SELECT st.status, coalesce((SELECT e.status FROM enrollments e WHERE e.student_id = st.id AND e.section_id = $2), '')
			FROM students st WHERE st.id = $1`, studentID, sectionID).Scan(&status, &current)
		if errors.Is(err, pgx.ErrNoRows) {
			return domain.Invalid("student_id", "no student has this id")
		}
		if err != nil {
			return err
		}
		if current == string(domain.EnrollmentEnrolled) {
			e, err = scanEnrollment(tx.QueryRow(ctx, `SELECT student_id, section_id, status, enrolled_at FROM enrollments
				WHERE student_id = $1 AND section_id = $2`, studentID, sectionID))
			return err
		}
		if status != string(domain.StudentActive) {
			return domain.Conflict("student_not_active", "student_id", "only ACTIVE students can be enrolled (this one is "+status+")")
		}
		if enrolled >= capacity {
			return domain.Conflict("section_full", "section_id", "the section is at capacity")
		}
		e, err = scanEnrollment(tx.QueryRow(ctx, `INSERT INTO enrollments (student_id, section_id) VALUES ($1, $2)
			ON CONFLICT (student_id, section_id) DO UPDATE SET status = 'ENROLLED', enrolled_at = now(), updated_at = now()
			RETURNING student_id, section_id, status, enrolled_at`, studentID, sectionID))
		created = true
		return err
	})
	return e, created, mapErr("enroll", err)
}

func scanEnrollment(r pgx.Row) (domain.Enrollment, error) {
	var (
		e      domain.Enrollment
		status string
	)
	err := r.Scan(&e.StudentID, &e.SectionID, &status, &e.EnrolledAt)
	e.Status = domain.EnrollmentStatus(status)
	return e, err
}

// Drop implements domain.TeachingStore (idempotent: dropping a dropped
// enrollment returns it unchanged).
func (s *Store) Drop(ctx context.Context, sectionID, studentID uuid.UUID) (domain.Enrollment, error) {
	ctx, cancel := s.call(ctx)
	defer cancel()
	e, err := scanEnrollment(s.primary.QueryRow(ctx, `WITH u AS (UPDATE enrollments SET status = 'DROPPED', updated_at = now()
			WHERE student_id = $1 AND section_id = $2 AND status = 'ENROLLED' RETURNING student_id, section_id, status, enrolled_at)
		SELECT * FROM u UNION ALL
		SELECT student_id, section_id, status, enrolled_at FROM enrollments WHERE student_id = $1 AND section_id = $2 AND NOT EXISTS (SELECT 1 FROM u)`,
		studentID, sectionID))
	return one(e, err, "drop enrollment")
}

// Roster implements domain.TeachingStore, in roll number order.
func (s *Store) Roster(ctx context.Context, sc domain.Scope, sectionID uuid.UUID, q domain.PageQuery) (domain.Page[domain.RosterEntry], error) {
	ctx, cancel := s.call(ctx)
	defer cancel()
	if err := s.visibleSection(ctx, s.read, sc, sectionID); err != nil {
		return domain.Page[domain.RosterEntry]{}, err
	}
	var b builder
	b.s("SELECT ", studentColumns, ", e.status, e.enrolled_at FROM enrollments e JOIN students s ON s.id = e.student_id",
		" JOIN departments d ON d.id = s.department_id JOIN programs p ON p.id = s.program_id")
	b.w("e.section_id = ?", sectionID)
	b.w("e.status = 'ENROLLED'")
	if q.After != nil {
		b.w("s.roll_number > ?", q.After.Sort)
	}
	b.s(" ORDER BY s.roll_number LIMIT ", b.arg(q.Limit+1))
	rows, err := s.read.Query(ctx, b.sql.String(), b.args...)
	if err != nil {
		return domain.Page[domain.RosterEntry]{}, mapErr("roster", err)
	}
	items, err := collect(rows, func(r pgx.Row) (domain.RosterEntry, error) {
		var (
			re             domain.RosterEntry
			year           int16
			status, gender string
			est            string
		)
		st := &re.Student
		err := r.Scan(&st.ID, &st.RollNumber, &st.FirstName, &st.LastName, &st.Email, &gender,
			&st.Department, &st.Program, &year, &st.Section, &status, &st.CreatedAt, &st.UpdatedAt, &est, &re.EnrolledAt)
		st.YearOfStudy, st.Status, st.Gender = int(year), domain.StudentStatus(status), domain.Gender(gender)
		re.Status = domain.EnrollmentStatus(est)
		return re, err
	})
	if err != nil {
		return domain.Page[domain.RosterEntry]{}, mapErr("roster", err)
	}
	return page(items, q.Limit, func(re domain.RosterEntry) domain.Key {
		return domain.Key{Sort: re.Student.RollNumber, ID: re.Student.ID}
	}), nil
}

// visibleSection returns ErrNotFound unless the section exists within sc.
func (s *Store) visibleSection(ctx context.Context, q Querier, sc domain.Scope, sectionID uuid.UUID) error {
	var b builder
	b.s("SELECT EXISTS (SELECT 1 FROM sections sec")
	b.w("sec.id = ?", sectionID)
	scopeSections(&b, sc)
	b.s(")")
	var ok bool
	if err := q.QueryRow(ctx, b.sql.String(), b.args...).Scan(&ok); err != nil {
		return mapErr("look up section", err)
	}
	if !ok {
		return domain.ErrNotFound
	}
	return nil
}

const slotCols = `sl.id, sl.section_id, sl.term_id, sl.faculty_id, sl.weekday, sl.start_time, sl.end_time, sl.room,
	c.code, c.title, sec.section_code`

const slotFrom = ` FROM timetable_slots sl JOIN sections sec ON sec.id = sl.section_id JOIN courses c ON c.id = sec.course_id`

func scanSlot(r pgx.Row) (domain.TimetableSlot, error) {
	var (
		sl         domain.TimetableSlot
		weekday    int16
		start, end pgtype.Time
	)
	err := r.Scan(&sl.ID, &sl.SectionID, &sl.TermID, &sl.FacultyID, &weekday, &start, &end, &sl.Room,
		&sl.CourseCode, &sl.CourseTitle, &sl.SectionCode)
	sl.Weekday = int(weekday)
	sl.Start = time.Duration(start.Microseconds) * time.Microsecond
	sl.End = time.Duration(end.Microseconds) * time.Microsecond
	return sl, err
}

func timeOfDay(d time.Duration) pgtype.Time {
	return pgtype.Time{Microseconds: d.Microseconds(), Valid: true}
}

// SectionSlots implements domain.TeachingStore.
func (s *Store) SectionSlots(ctx context.Context, sc domain.Scope, sectionID uuid.UUID) ([]domain.TimetableSlot, error) {
	ctx, cancel := s.call(ctx)
	defer cancel()
	if err := s.visibleSection(ctx, s.read, sc, sectionID); err != nil {
		return nil, err
	}
	rows, err := s.read.Query(ctx, "SELECT "+slotCols+slotFrom+" WHERE sl.section_id = $1 ORDER BY sl.weekday, sl.start_time", sectionID)
	if err != nil {
		return nil, mapErr("section slots", err)
	}
	out, err := collect(rows, scanSlot)
	if out == nil {
		out = []domain.TimetableSlot{}
	}
	return out, mapErr("section slots", err)
}

// CreateSlot implements domain.TeachingStore.
func (s *Store) CreateSlot(ctx context.Context, sectionID uuid.UUID, in domain.SlotInput) (domain.TimetableSlot, error) {
	ctx, cancel := s.call(ctx)
	defer cancel()
	sl, err := scanSlot(s.primary.QueryRow(ctx, `WITH sl AS (INSERT INTO timetable_slots (section_id, term_id, faculty_id, weekday, start_time, end_time, room)
			SELECT id, term_id, faculty_id, $2, $3, $4, $5 FROM sections WHERE id = $1 RETURNING *)
		SELECT `+slotCols+` FROM sl JOIN sections sec ON sec.id = sl.section_id JOIN courses c ON c.id = sec.course_id`,
		sectionID, int16(in.Weekday), timeOfDay(in.Start), timeOfDay(in.End), in.Room))
	return one(sl, err, "create slot")
}

// UpdateSlot implements domain.TeachingStore. Sessions already generated
// from the slot keep their times.
func (s *Store) UpdateSlot(ctx context.Context, id uuid.UUID, in domain.SlotInput) (before, after domain.TimetableSlot, err error) {
	err = s.tx(ctx, func(tx pgx.Tx) error {
		before, err = found(scanSlot(tx.QueryRow(ctx, "SELECT "+slotCols+slotFrom+" WHERE sl.id = $1 FOR UPDATE OF sl", id)))
		if err != nil {
			return err
		}
		after, err = scanSlot(tx.QueryRow(ctx, `WITH sl AS (UPDATE timetable_slots SET weekday = $2, start_time = $3, end_time = $4, room = $5,
				updated_at = now() WHERE id = $1 RETURNING *)
			SELECT `+slotCols+` FROM sl JOIN sections sec ON sec.id = sl.section_id JOIN courses c ON c.id = sec.course_id`,
			id, int16(in.Weekday), timeOfDay(in.Start), timeOfDay(in.End), in.Room))
		return err
	})
	return before, after, mapErr("update slot", err)
}

// DeleteSlot implements domain.TeachingStore; its sessions stay (their
// slot becomes NULL).
func (s *Store) DeleteSlot(ctx context.Context, id uuid.UUID) (sl domain.TimetableSlot, err error) {
	err = s.tx(ctx, func(tx pgx.Tx) error {
		sl, err = found(scanSlot(tx.QueryRow(ctx, "SELECT "+slotCols+slotFrom+" WHERE sl.id = $1 FOR UPDATE OF sl", id)))
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `DELETE FROM timetable_slots WHERE id = $1`, id)
		return err
	})
	return sl, mapErr("delete slot", err)
}

// Timetable implements domain.TeachingStore, by weekday and start time.
func (s *Store) Timetable(ctx context.Context, sc domain.Scope, termID uuid.UUID) ([]domain.TimetableSlot, error) {
	ctx, cancel := s.call(ctx)
	defer cancel()
	var b builder
	b.s("SELECT ", slotCols, slotFrom)
	if termID != uuid.Nil {
		b.w("sl.term_id = ?", termID)
	} else {
		b.w("sl.term_id = (SELECT id FROM terms WHERE is_current)")
	}
	switch sc.Kind {
	case domain.ScopeFaculty:
		b.w("sl.faculty_id = ?", sc.ID)
	case domain.ScopeStudent:
		b.w("EXISTS (SELECT 1 FROM enrollments e WHERE e.student_id = ? AND e.section_id = sl.section_id AND e.status = 'ENROLLED')", sc.ID)
	}
	b.s(" ORDER BY sl.weekday, sl.start_time, c.code")
	rows, err := s.read.Query(ctx, b.sql.String(), b.args...)
	if err != nil {
		return nil, mapErr("timetable", err)
	}
	out, err := collect(rows, scanSlot)
	if out == nil {
		out = []domain.TimetableSlot{}
	}
	return out, mapErr("timetable", err)
}
