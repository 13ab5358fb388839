package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/campshub360/edge/backend/internal/domain"
)

// Catalogue reads run on the read pool (replica when configured); the
// writes return the row as written, read from the primary in the same
// statement.

const departmentCols = `d.id, d.code, d.name, d.created_at, d.updated_at`

func scanDepartment(r pgx.Row) (domain.Department, error) {
	var d domain.Department
	err := r.Scan(&d.ID, &d.Code, &d.Name, &d.CreatedAt, &d.UpdatedAt)
	return d, err
}

// ListDepartments implements domain.CatalogueStore, in code order.
func (s *Store) ListDepartments(ctx context.Context, q domain.CatalogueQuery) (domain.Page[domain.Department], error) {
	ctx, cancel := s.call(ctx)
	defer cancel()
	var b builder
	b.s("SELECT ", departmentCols, " FROM departments d")
	if q.Page.After != nil {
		b.w("d.code > ?", q.Page.After.Sort)
	}
	b.s(" ORDER BY d.code LIMIT ", b.arg(q.Page.Limit+1))
	rows, err := s.read.Query(ctx, b.sql.String(), b.args...)
	if err != nil {
		return domain.Page[domain.Department]{}, mapErr("list departments", err)
	}
	items, err := collect(rows, scanDepartment)
	if err != nil {
		return domain.Page[domain.Department]{}, mapErr("list departments", err)
	}
	return page(items, q.Page.Limit, func(d domain.Department) domain.Key { return domain.Key{Sort: d.Code, ID: d.ID} }), nil
}

// DepartmentByID implements domain.CatalogueStore.
func (s *Store) DepartmentByID(ctx context.Context, id uuid.UUID) (domain.Department, error) {
	ctx, cancel := s.call(ctx)
	defer cancel()
	d, err := scanDepartment(s.read.QueryRow(ctx, "SELECT "+departmentCols+" FROM departments d WHERE d.id = $1", id))
	return one(d, err, "get department")
}

// CreateDepartment implements domain.CatalogueStore.
func (s *Store) CreateDepartment(ctx context.Context, in domain.DepartmentInput) (domain.Department, error) {
	ctx, cancel := s.call(ctx)
	defer cancel()
	d, err := scanDepartment(s.primary.QueryRow(ctx, `INSERT INTO departments AS d (code, name) VALUES ($1, $2)
		RETURNING `+departmentCols, in.Code, in.Name))
	return d, mapErr("create department", err)
}

// UpdateDepartment implements domain.CatalogueStore.
func (s *Store) UpdateDepartment(ctx context.Context, id uuid.UUID, in domain.DepartmentInput) (before, after domain.Department, err error) {
	err = s.tx(ctx, func(tx pgx.Tx) error {
		before, err = found(scanDepartment(tx.QueryRow(ctx, "SELECT "+departmentCols+" FROM departments d WHERE d.id = $1 FOR UPDATE", id)))
		if err != nil {
			return err
		}
		after, err = scanDepartment(tx.QueryRow(ctx, `UPDATE departments AS d SET code = $2, name = $3, updated_at = now()
			WHERE d.id = $1 RETURNING `+departmentCols, id, in.Code, in.Name))
		return err
	})
	return before, after, mapErr("update department", err)
}

// DeleteDepartment implements domain.CatalogueStore.
func (s *Store) DeleteDepartment(ctx context.Context, id uuid.UUID) (domain.Department, error) {
	ctx, cancel := s.call(ctx)
	defer cancel()
	d, err := scanDepartment(s.primary.QueryRow(ctx, "DELETE FROM departments d WHERE d.id = $1 RETURNING "+departmentCols, id))
	return one(d, err, "delete department")
}

const programCols = `p.id, p.code, p.name, p.level, p.department_id, p.duration_years, d.code, p.created_at, p.updated_at`

func scanProgram(r pgx.Row) (domain.Program, error) {
	var (
		p     domain.Program
		level string
		years int16
	)
	err := r.Scan(&p.ID, &p.Code, &p.Name, &level, &p.DepartmentID, &years, &p.DepartmentCode, &p.CreatedAt, &p.UpdatedAt)
	p.Level, p.DurationYears = domain.ProgramLevel(level), int(years)
	return p, err
}

// ListPrograms implements domain.CatalogueStore, in code order, filtered by
// department code and level.
func (s *Store) ListPrograms(ctx context.Context, q domain.CatalogueQuery) (domain.Page[domain.Program], error) {
	ctx, cancel := s.call(ctx)
	defer cancel()
	var b builder
	b.s("SELECT ", programCols, " FROM programs p JOIN departments d ON d.id = p.department_id")
	if q.Department != "" {
		b.w("d.code = ?", q.Department)
	}
	if q.Level != "" {
		b.w("p.level = ?", string(q.Level))
	}
	if q.Page.After != nil {
		b.w("p.code > ?", q.Page.After.Sort)
	}
	b.s(" ORDER BY p.code LIMIT ", b.arg(q.Page.Limit+1))
	rows, err := s.read.Query(ctx, b.sql.String(), b.args...)
	if err != nil {
		return domain.Page[domain.Program]{}, mapErr("list programs", err)
	}
	items, err := collect(rows, scanProgram)
	if err != nil {
		return domain.Page[domain.Program]{}, mapErr("list programs", err)
	}
	if len(items) == 0 && q.Department != "" {
		if err := s.knownDepartment(ctx, q.Department); err != nil {
			return domain.Page[domain.Program]{}, err
		}
	}
	return page(items, q.Page.Limit, func(p domain.Program) domain.Key { return domain.Key{Sort: p.Code, ID: p.ID} }), nil
}

// knownDepartment fails with an *InvalidError naming "department" when no
// department has code.
func (s *Store) knownDepartment(ctx context.Context, code string) error {
	var exists bool
	if err := s.read.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM departments WHERE code = $1)`, code).Scan(&exists); err != nil {
		return mapErr("look up department", err)
	}
	if !exists {
		return domain.Invalid("department", domain.UnknownDepartmentMessage)
	}
	return nil
}

// ProgramByID implements domain.CatalogueStore.
func (s *Store) ProgramByID(ctx context.Context, id uuid.UUID) (domain.Program, error) {
	ctx, cancel := s.call(ctx)
	defer cancel()
	p, err := scanProgram(s.read.QueryRow(ctx, "SELECT "+programCols+" FROM programs p JOIN departments d ON d.id = p.department_id WHERE p.id = $1", id))
	return one(p, err, "get program")
}

// CreateProgram implements domain.CatalogueStore.
func (s *Store) CreateProgram(ctx context.Context, in domain.ProgramInput) (domain.Program, error) {
	ctx, cancel := s.call(ctx)
	defer cancel()
	p, err := scanProgram(s.primary.QueryRow(ctx, `WITH d AS (SELECT id, code FROM departments WHERE code = $4),
		p AS (INSERT INTO programs (code, name, level, department_id, duration_years)
			SELECT $1, $2, $3, d.id, $5 FROM d RETURNING *)
		SELECT `+programCols+` FROM p JOIN d ON d.id = p.department_id`,
		in.Code, in.Name, in.Level, in.Department, int16(in.DurationYears)))
	if errors.Is(err, pgx.ErrNoRows) {
		return domain.Program{}, domain.Invalid("department", domain.UnknownDepartmentMessage)
	}
	return p, mapErr("create program", err)
}

// UpdateProgram implements domain.CatalogueStore.
func (s *Store) UpdateProgram(ctx context.Context, id uuid.UUID, in domain.ProgramInput) (before, after domain.Program, err error) {
	err = s.tx(ctx, func(tx pgx.Tx) error {
		before, err = found(scanProgram(tx.QueryRow(ctx, "SELECT "+programCols+" FROM programs p JOIN departments d ON d.id = p.department_id WHERE p.id = $1 FOR UPDATE OF p", id)))
		if err != nil {
			return err
		}
		after, err = scanProgram(tx.QueryRow(ctx, `WITH d AS (SELECT id, code FROM departments WHERE code = $5),
			p AS (UPDATE programs SET code = $2, name = $3, level = $4, department_id = d.id, duration_years = $6, updated_at = now()
				FROM d WHERE programs.id = $1 RETURNING programs.*)
			SELECT `+programCols+` FROM p JOIN d ON d.id = p.department_id`,
			id, in.Code, in.Name, in.Level, in.Department, int16(in.DurationYears)))
		if errors.Is(err, pgx.ErrNoRows) {
			return domain.Invalid("department", domain.UnknownDepartmentMessage)
		}
		return err
	})
	return before, after, mapErr("update program", err)
}

// DeleteProgram implements domain.CatalogueStore.
func (s *Store) DeleteProgram(ctx context.Context, id uuid.UUID) (domain.Program, error) {
	ctx, cancel := s.call(ctx)
	defer cancel()
	p, err := scanProgram(s.primary.QueryRow(ctx, `WITH p AS (DELETE FROM programs WHERE id = $1 RETURNING *)
		SELECT `+programCols+` FROM p JOIN departments d ON d.id = p.department_id`, id))
	return one(p, err, "delete program")
}

const courseCols = `c.id, c.code, c.title, c.credits::float8, c.department_id, d.code, c.created_at, c.updated_at`

func scanCourse(r pgx.Row) (domain.Course, error) {
	var c domain.Course
	err := r.Scan(&c.ID, &c.Code, &c.Title, &c.Credits, &c.DepartmentID, &c.DepartmentCode, &c.CreatedAt, &c.UpdatedAt)
	return c, err
}

// ListCourses implements domain.CatalogueStore, in code order, filtered by
// department code.
func (s *Store) ListCourses(ctx context.Context, q domain.CatalogueQuery) (domain.Page[domain.Course], error) {
	ctx, cancel := s.call(ctx)
	defer cancel()
	var b builder
	b.s("SELECT ", courseCols, " FROM courses c JOIN departments d ON d.id = c.department_id")
	if q.Department != "" {
		b.w("d.code = ?", q.Department)
	}
	if q.Page.After != nil {
		b.w("c.code > ?", q.Page.After.Sort)
	}
	b.s(" ORDER BY c.code LIMIT ", b.arg(q.Page.Limit+1))
	rows, err := s.read.Query(ctx, b.sql.String(), b.args...)
	if err != nil {
		return domain.Page[domain.Course]{}, mapErr("list courses", err)
	}
	items, err := collect(rows, scanCourse)
	if err != nil {
		return domain.Page[domain.Course]{}, mapErr("list courses", err)
	}
	if len(items) == 0 && q.Department != "" {
		if err := s.knownDepartment(ctx, q.Department); err != nil {
			return domain.Page[domain.Course]{}, err
		}
	}
	return page(items, q.Page.Limit, func(c domain.Course) domain.Key { return domain.Key{Sort: c.Code, ID: c.ID} }), nil
}

// CourseByID implements domain.CatalogueStore.
func (s *Store) CourseByID(ctx context.Context, id uuid.UUID) (domain.Course, error) {
	ctx, cancel := s.call(ctx)
	defer cancel()
	c, err := scanCourse(s.read.QueryRow(ctx, "SELECT "+courseCols+" FROM courses c JOIN departments d ON d.id = c.department_id WHERE c.id = $1", id))
	return one(c, err, "get course")
}

// CreateCourse implements domain.CatalogueStore.
func (s *Store) CreateCourse(ctx context.Context, in domain.CourseInput) (domain.Course, error) {
	ctx, cancel := s.call(ctx)
	defer cancel()
	c, err := scanCourse(s.primary.QueryRow(ctx, `WITH d AS (SELECT id, code FROM departments WHERE code = $4),
		c AS (INSERT INTO courses (code, title, credits, department_id) SELECT $1, $2, $3, d.id FROM d RETURNING *)
		SELECT `+courseCols+` FROM c JOIN d ON d.id = c.department_id`, in.Code, in.Title, in.Credits, in.Department))
	if errors.Is(err, pgx.ErrNoRows) {
		return domain.Course{}, domain.Invalid("department", domain.UnknownDepartmentMessage)
	}
	return c, mapErr("create course", err)
}

// UpdateCourse implements domain.CatalogueStore.
func (s *Store) UpdateCourse(ctx context.Context, id uuid.UUID, in domain.CourseInput) (before, after domain.Course, err error) {
	err = s.tx(ctx, func(tx pgx.Tx) error {
		before, err = found(scanCourse(tx.QueryRow(ctx, "SELECT "+courseCols+" FROM courses c JOIN departments d ON d.id = c.department_id WHERE c.id = $1 FOR UPDATE OF c", id)))
		if err != nil {
			return err
		}
		after, err = scanCourse(tx.QueryRow(ctx, `WITH d AS (SELECT id, code FROM departments WHERE code = $5),
			c AS (UPDATE courses SET code = $2, title = $3, credits = $4, department_id = d.id, updated_at = now()
				FROM d WHERE courses.id = $1 RETURNING courses.*)
			SELECT `+courseCols+` FROM c JOIN d ON d.id = c.department_id`, id, in.Code, in.Title, in.Credits, in.Department))
		if errors.Is(err, pgx.ErrNoRows) {
			return domain.Invalid("department", domain.UnknownDepartmentMessage)
		}
		return err
	})
	return before, after, mapErr("update course", err)
}

// DeleteCourse implements domain.CatalogueStore.
func (s *Store) DeleteCourse(ctx context.Context, id uuid.UUID) (domain.Course, error) {
	ctx, cancel := s.call(ctx)
	defer cancel()
	c, err := scanCourse(s.primary.QueryRow(ctx, `WITH c AS (DELETE FROM courses WHERE id = $1 RETURNING *)
		SELECT `+courseCols+` FROM c JOIN departments d ON d.id = c.department_id`, id))
	return one(c, err, "delete course")
}

const termCols = `t.id, t.name, t.start_date, t.end_date, t.is_current, t.created_at, t.updated_at`

func scanTerm(r pgx.Row) (domain.Term, error) {
	var t domain.Term
	err := r.Scan(&t.ID, &t.Name, &t.StartDate, &t.EndDate, &t.IsCurrent, &t.CreatedAt, &t.UpdatedAt)
	return t, err
}

// ListTerms implements domain.CatalogueStore, newest start date first
// (Key.Sort is the start date YYYY-MM-DD).
func (s *Store) ListTerms(ctx context.Context, q domain.CatalogueQuery) (domain.Page[domain.Term], error) {
	ctx, cancel := s.call(ctx)
	defer cancel()
	var b builder
	b.s("SELECT ", termCols, " FROM terms t")
	if q.Page.After != nil {
		d, ok := domain.ParseDate(q.Page.After.Sort)
		if !ok {
			return domain.Page[domain.Term]{}, domain.Invalid("cursor", "is not a cursor this server issued")
		}
		b.w("(t.start_date, t.id) < (?, ?)", d, q.Page.After.ID)
	}
	b.s(" ORDER BY t.start_date DESC, t.id DESC LIMIT ", b.arg(q.Page.Limit+1))
	rows, err := s.read.Query(ctx, b.sql.String(), b.args...)
	if err != nil {
		return domain.Page[domain.Term]{}, mapErr("list terms", err)
	}
	items, err := collect(rows, scanTerm)
	if err != nil {
		return domain.Page[domain.Term]{}, mapErr("list terms", err)
	}
	return page(items, q.Page.Limit, func(t domain.Term) domain.Key {
		return domain.Key{Sort: t.StartDate.Format(time.DateOnly), ID: t.ID}
	}), nil
}

// TermByID implements domain.CatalogueStore.
func (s *Store) TermByID(ctx context.Context, id uuid.UUID) (domain.Term, error) {
	ctx, cancel := s.call(ctx)
	defer cancel()
	t, err := scanTerm(s.read.QueryRow(ctx, "SELECT "+termCols+" FROM terms t WHERE t.id = $1", id))
	return one(t, err, "get term")
}

// CurrentTerm implements domain.CatalogueStore.
func (s *Store) CurrentTerm(ctx context.Context) (domain.Term, error) {
	ctx, cancel := s.call(ctx)
	defer cancel()
	t, err := scanTerm(s.read.QueryRow(ctx, "SELECT "+termCols+" FROM terms t WHERE t.is_current"))
	return one(t, err, "get current term")
}

// CreateTerm implements domain.CatalogueStore.
func (s *Store) CreateTerm(ctx context.Context, in domain.TermInput) (t domain.Term, err error) {
	err = s.tx(ctx, func(tx pgx.Tx) error {
		if in.IsCurrent {
			if _, err := tx.Exec(ctx, `UPDATE terms SET is_current = false, updated_at = now() WHERE is_current`); err != nil {
				return err
			}
		}
		t, err = scanTerm(tx.QueryRow(ctx, `INSERT INTO terms AS t (name, start_date, end_date, is_current) VALUES ($1, $2, $3, $4)
			RETURNING `+termCols, in.Name, civilDate(in.StartDate), civilDate(in.EndDate), in.IsCurrent))
		return err
	})
	return t, mapErr("create term", err)
}

// UpdateTerm implements domain.CatalogueStore.
func (s *Store) UpdateTerm(ctx context.Context, id uuid.UUID, in domain.TermInput) (before, after domain.Term, err error) {
	err = s.tx(ctx, func(tx pgx.Tx) error {
		before, err = found(scanTerm(tx.QueryRow(ctx, "SELECT "+termCols+" FROM terms t WHERE t.id = $1 FOR UPDATE", id)))
		if err != nil {
			return err
		}
		if in.IsCurrent && !before.IsCurrent {
			if _, err := tx.Exec(ctx, `UPDATE terms SET is_current = false, updated_at = now() WHERE is_current`); err != nil {
				return err
			}
		}
		after, err = scanTerm(tx.QueryRow(ctx, `UPDATE terms AS t SET name = $2, start_date = $3, end_date = $4, is_current = $5, updated_at = now()
			WHERE t.id = $1 RETURNING `+termCols, id, in.Name, civilDate(in.StartDate), civilDate(in.EndDate), in.IsCurrent))
		return err
	})
	return before, after, mapErr("update term", err)
}

// DeleteTerm implements domain.CatalogueStore.
func (s *Store) DeleteTerm(ctx context.Context, id uuid.UUID) (domain.Term, error) {
	ctx, cancel := s.call(ctx)
	defer cancel()
	t, err := scanTerm(s.primary.QueryRow(ctx, "DELETE FROM terms t WHERE t.id = $1 RETURNING "+termCols, id))
	return one(t, err, "delete term")
}

func scanHoliday(r pgx.Row) (domain.Holiday, error) {
	var h domain.Holiday
	err := r.Scan(&h.Date, &h.Name)
	return h, err
}

// ListHolidays implements domain.CatalogueStore, in date order within
// [From, To] (Key.Sort is the date).
func (s *Store) ListHolidays(ctx context.Context, q domain.CatalogueQuery) (domain.Page[domain.Holiday], error) {
	ctx, cancel := s.call(ctx)
	defer cancel()
	var b builder
	b.s("SELECT holiday_date, name FROM holidays")
	if !q.From.IsZero() {
		b.w("holiday_date >= ?", civilDate(q.From))
	}
	if !q.To.IsZero() {
		b.w("holiday_date <= ?", civilDate(q.To))
	}
	if q.Page.After != nil {
		d, ok := domain.ParseDate(q.Page.After.Sort)
		if !ok {
			return domain.Page[domain.Holiday]{}, domain.Invalid("cursor", "is not a cursor this server issued")
		}
		b.w("holiday_date > ?", d)
	}
	b.s(" ORDER BY holiday_date LIMIT ", b.arg(q.Page.Limit+1))
	rows, err := s.read.Query(ctx, b.sql.String(), b.args...)
	if err != nil {
		return domain.Page[domain.Holiday]{}, mapErr("list holidays", err)
	}
	items, err := collect(rows, scanHoliday)
	if err != nil {
		return domain.Page[domain.Holiday]{}, mapErr("list holidays", err)
	}
	return page(items, q.Page.Limit, func(h domain.Holiday) domain.Key { return domain.Key{Sort: h.Date.Format(time.DateOnly)} }), nil
}

// CreateHoliday implements domain.CatalogueStore.
func (s *Store) CreateHoliday(ctx context.Context, in domain.HolidayInput) (domain.Holiday, error) {
	ctx, cancel := s.call(ctx)
	defer cancel()
	h, err := scanHoliday(s.primary.QueryRow(ctx, `INSERT INTO holidays (holiday_date, name) VALUES ($1, $2) RETURNING holiday_date, name`,
		civilDate(in.Date), in.Name))
	return h, mapErr("create holiday", err)
}

// DeleteHoliday implements domain.CatalogueStore.
func (s *Store) DeleteHoliday(ctx context.Context, d time.Time) (domain.Holiday, error) {
	ctx, cancel := s.call(ctx)
	defer cancel()
	h, err := scanHoliday(s.primary.QueryRow(ctx, `DELETE FROM holidays WHERE holiday_date = $1 RETURNING holiday_date, name`, civilDate(d)))
	return one(h, err, "delete holiday")
}
