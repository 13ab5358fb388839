package seed

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/campshub360/edge/backend/internal/domain"
	"github.com/campshub360/edge/backend/internal/store/postgres"
)

// ErrNotEmpty reports that the database already holds a campus; Load only
// fills an empty one.
var ErrNotEmpty = errors.New("the database already holds campus data")

// Counts are the rows Load wrote, per table.
type Counts struct {
	Departments, Programs, Terms, Faculty, Courses, Students, Sections int
	Enrollments, Slots, Holidays, Sessions, Records, Partitions        int
}

// String is a one-line summary.
func (n Counts) String() string {
	return fmt.Sprintf("%d departments, %d programs, %d terms, %d faculty, %d courses, %d students, "+
		"%d sections, %d enrollments, %d timetable slots, %d holidays, %d sessions, %d attendance records "+
		"(%d partitions created)",
		n.Departments, n.Programs, n.Terms, n.Faculty, n.Courses, n.Students,
		n.Sections, n.Enrollments, n.Slots, n.Holidays, n.Sessions, n.Records, n.Partitions)
}

// advisoryKey serialises concurrent seeds of one database.
const advisoryKey = "campshub360.seed"

// HasStudents reports whether any student exists (what --if-empty checks).
func HasStudents(ctx context.Context, q postgres.Querier) (bool, error) {
	var exists bool
	err := q.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM students)`).Scan(&exists)
	return exists, err
}

// Load writes c into the database behind pool in one transaction, table by
// table with COPY, after creating the monthly partitions its attendance
// needs plus partitionMonthsAhead months after today. It fails with
// ErrNotEmpty, writing nothing, when departments, terms or students already
// exist. Concurrent Loads of one database are serialised by an advisory
// lock; the loser sees ErrNotEmpty.
func Load(ctx context.Context, pool *pgxpool.Pool, c *Campus, partitionMonthsAhead int) (Counts, error) {
	var n Counts
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext($1))`, advisoryKey); err != nil {
			return fmt.Errorf("lock: %w", err)
		}
		var used bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM departments) OR EXISTS (SELECT 1 FROM terms)
			OR EXISTS (SELECT 1 FROM students)`).Scan(&used); err != nil {
			return fmt.Errorf("check for existing data: %w", err)
		}
		if used {
			return ErrNotEmpty
		}
		to := time.Date(c.Today.Year(), c.Today.Month(), 1, 0, 0, 0, 0, time.UTC).AddDate(0, partitionMonthsAhead+1, -1)
		parts, err := postgres.EnsurePartitions(ctx, tx, c.AttendanceFrom, to)
		if err != nil {
			return err
		}
		n.Partitions = parts
		return copyAll(ctx, tx, c, &n)
	})
	if err != nil {
		return Counts{}, err
	}
	return n, nil
}

// dropForeignKeys drops table's foreign keys (inside the load's
// transaction) and returns the function that adds them back with their
// exact definitions, read from the catalog, which validates every row in
// one pass per key. The DDL is composed by the server (format with %I and
// the catalog's own definitions), so the statements sent are constant.
func dropForeignKeys(ctx context.Context, tx pgx.Tx, table string) (restore func() error, err error) {
	if _, err := tx.Exec(ctx, `CREATE TEMP TABLE IF NOT EXISTS seed_dropped_fks (tbl regclass, name text, def text)
		ON COMMIT DROP`); err != nil {
		return nil, fmt.Errorf("drop foreign keys of %s: %w", table, err)
	}
	if _, err := tx.Exec(ctx, `SELECT set_config('campshub.seed_table', $1, true)`, table); err != nil {
		return nil, fmt.Errorf("drop foreign keys of %s: %w", table, err)
	}
	if _, err := tx.Exec(ctx, `DO $$
		DECLARE k record;
		BEGIN
			FOR k IN SELECT conrelid::regclass AS tbl, conname, pg_get_constraintdef(oid) AS def FROM pg_constraint
				WHERE conrelid = current_setting('campshub.seed_table')::regclass AND contype = 'f' AND conparentid = 0
				ORDER BY conname
			LOOP
				INSERT INTO seed_dropped_fks VALUES (k.tbl, k.conname, k.def);
				EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', k.tbl, k.conname);
			END LOOP;
		END $$`); err != nil {
		return nil, fmt.Errorf("drop foreign keys of %s: %w", table, err)
	}
	return func() error {
		if _, err := tx.Exec(ctx, `SELECT set_config('campshub.seed_table', $1, true)`, table); err != nil {
			return fmt.Errorf("restore foreign keys of %s: %w", table, err)
		}
		if _, err := tx.Exec(ctx, `DO $$
			DECLARE k record;
			BEGIN
				FOR k IN DELETE FROM seed_dropped_fks WHERE tbl = current_setting('campshub.seed_table')::regclass
					RETURNING tbl, name, def
				LOOP
					EXECUTE format('ALTER TABLE %s ADD CONSTRAINT %I %s', k.tbl, k.name, k.def);
				END LOOP;
			END $$`); err != nil {
			return fmt.Errorf("restore foreign keys of %s: %w", table, err)
		}
		return nil
	}, nil
}

// copyAll copies every table of c, parents before children.
func copyAll(ctx context.Context, tx pgx.Tx, c *Campus, n *Counts) (err error) {
	at := c.CreatedAt
	steps := []struct {
		table string
		cols  []string
		rows  int
		row   func(i int) []any
		count *int
	}{
		{"departments", []string{"id", "code", "name", "created_at", "updated_at"}, len(c.Departments),
			func(i int) []any {
				d := c.Departments[i]
				return []any{d.ID, d.Code, d.Name, at, at}
			}, &n.Departments},
		{"programs", []string{"id", "code", "name", "level", "department_id", "duration_years", "created_at", "updated_at"}, len(c.Programs),
			func(i int) []any {
				p := c.Programs[i]
				return []any{p.ID, p.Code, p.Name, string(p.Level), p.DepartmentID, int16(p.DurationYears), at, at}
			}, &n.Programs},
		{"terms", []string{"id", "name", "start_date", "end_date", "is_current", "created_at", "updated_at"}, len(c.Terms),
			func(i int) []any {
				t := c.Terms[i]
				return []any{t.ID, t.Name, t.StartDate, t.EndDate, t.IsCurrent, at, at}
			}, &n.Terms},
		{"faculty", []string{"id", "employee_id", "first_name", "last_name", "email", "designation", "department_id", "active", "created_at", "updated_at"}, len(c.Faculty),
			func(i int) []any {
				f := c.Faculty[i]
				return []any{f.ID, f.EmployeeID, f.FirstName, f.LastName, f.Email, f.Designation, f.DepartmentID, f.Active, at, at}
			}, &n.Faculty},
		{"courses", []string{"id", "code", "title", "credits", "department_id", "created_at", "updated_at"}, len(c.Courses),
			func(i int) []any {
				cr := c.Courses[i]
				return []any{cr.ID, cr.Code, cr.Title, cr.Credits, cr.DepartmentID, at, at}
			}, &n.Courses},
		{"students", []string{"id", "roll_number", "first_name", "last_name", "email", "date_of_birth", "gender",
			"department_id", "program_id", "year_of_study", "section", "status", "created_at", "updated_at"}, len(c.Students),
			func(i int) []any {
				s := c.Students[i]
				return []any{s.ID, s.RollNumber, s.FirstName, s.LastName, s.Email, s.DateOfBirth, string(s.Gender),
					s.DepartmentID, s.ProgramID, int16(s.YearOfStudy), s.Section, string(s.Status), s.CreatedAt, s.CreatedAt}
			}, &n.Students},
		{"sections", []string{"id", "course_id", "term_id", "faculty_id", "section_code", "capacity", "created_at", "updated_at"}, len(c.Sections),
			func(i int) []any {
				s := c.Sections[i]
				return []any{s.ID, s.CourseID, s.TermID, s.FacultyID, s.Code, int32(s.Capacity), at, at}
			}, &n.Sections},
		{"enrollments", []string{"student_id", "section_id", "status", "enrolled_at", "updated_at"}, len(c.Enrollments),
			func(i int) []any {
				e := c.Enrollments[i]
				return []any{e.StudentID, e.SectionID, string(e.Status), e.EnrolledAt, e.EnrolledAt}
			}, &n.Enrollments},
		{"timetable_slots", []string{"id", "section_id", "term_id", "faculty_id", "weekday", "start_time", "end_time", "room", "created_at", "updated_at"}, len(c.Slots),
			func(i int) []any {
				s := c.Slots[i]
				return []any{s.ID, s.SectionID, s.TermID, s.FacultyID, int16(s.Weekday), timeOfDay(s.Start), timeOfDay(s.End), s.Room, at, at}
			}, &n.Slots},
		{"holidays", []string{"holiday_date", "name", "created_at"}, len(c.Holidays),
			func(i int) []any {
				h := c.Holidays[i]
				return []any{h.Date, h.Name, at}
			}, &n.Holidays},
		{"attendance_sessions", []string{"id", "section_id", "faculty_id", "slot_id", "session_date", "starts_at", "ends_at", "status", "created_at", "updated_at"}, len(c.Sessions),
			func(i int) []any {
				s := c.Sessions[i]
				updated := at
				if s.Status == domain.SessionClosed {
					updated = s.EndsAt.Add(15 * time.Minute) // closed by the close job
				}
				return []any{s.ID, s.SectionID, s.FacultyID, nullUUID(s.SlotID), s.Date, s.StartsAt, s.EndsAt, string(s.Status), at, updated}
			}, &n.Sessions},
		{"attendance_records", []string{"session_id", "student_id", "session_date", "mark", "source", "marked_at", "marked_by", "reason"}, len(c.Records),
			func(i int) []any { return recordRow(c.Records[i]) }, &n.Records},
	}
	for _, st := range steps {
		if st.table == "attendance_records" && c.Records == nil && c.NumRecords > 0 {
			// Streamed (large) loads: foreign keys are otherwise checked
			// once per row at the end of COPY (millions of queued trigger
			// events); one validating join per key is far cheaper.
			restore, err := dropForeignKeys(ctx, tx, st.table)
			if err != nil {
				return err
			}
			defer func() {
				if err == nil {
					err = restore()
				}
			}()
		}
		rows := pgx.CopyFromSlice(st.rows, func(i int) ([]any, error) { return st.row(i), nil })
		if st.table == "attendance_records" && c.Records == nil {
			// Streamed: generated while copied.
			next, stop := iter.Pull(c.EachRecord)
			defer stop()
			rows = pgx.CopyFromFunc(func() ([]any, error) {
				r, ok := next()
				if !ok {
					return nil, nil
				}
				return recordRow(r), nil
			})
		}
		got, err := tx.CopyFrom(ctx, pgx.Identifier{st.table}, st.cols, rows)
		if err != nil {
			return fmt.Errorf("copy %s: %w", st.table, err)
		}
		*st.count = int(got)
	}
	return nil
}

// recordRow is an attendance record's COPY row.
func recordRow(r domain.AttendanceRecord) []any {
	return []any{r.SessionID, r.StudentID, r.SessionDate, string(r.Mark), string(r.Source), r.MarkedAt, nullUUID(r.MarkedBy), nullText(r.Reason)}
}

// timeOfDay converts a duration since midnight to a PostgreSQL time.
func timeOfDay(d time.Duration) pgtype.Time {
	return pgtype.Time{Microseconds: d.Microseconds(), Valid: true}
}

func nullUUID(id uuid.UUID) any {
	if id == uuid.Nil {
		return nil
	}
	return id
}

func nullText(s string) any {
	if s == "" {
		return nil
	}
	return s
}
