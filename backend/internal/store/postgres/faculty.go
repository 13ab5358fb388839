package postgres

import (
	"context"
	"errors"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/campshub360/edge/backend/internal/domain"
)

const facultyCols = `f.id, f.employee_id, f.first_name, f.last_name, f.email::text, f.designation, f.department_id, f.active,
	d.code, f.created_at, f.updated_at`

func scanFaculty(r pgx.Row) (domain.Faculty, error) {
	var f domain.Faculty
	err := r.Scan(&f.ID, &f.EmployeeID, &f.FirstName, &f.LastName, &f.Email, &f.Designation, &f.DepartmentID, &f.Active,
		&f.DepartmentCode, &f.CreatedAt, &f.UpdatedAt)
	return f, err
}

// ListFaculty implements domain.FacultyStore in employee id order.
func (s *Store) ListFaculty(ctx context.Context, q domain.FacultyQuery) (domain.Page[domain.Faculty], error) {
	ctx, cancel := s.call(ctx)
	defer cancel()
	var b builder
	b.s("SELECT ", facultyCols, " FROM faculty f JOIN departments d ON d.id = f.department_id")
	if q.Department != "" {
		b.w("d.code = ?", q.Department)
	}
	if q.Active != nil {
		b.w("f.active = ?", *q.Active)
	}
	if q.Q != "" {
		b.w("lower(f.employee_id || ' ' || f.first_name || ' ' || f.last_name || ' ' || f.email::text) LIKE ?", likePattern(q.Q))
	}
	if q.Page.After != nil {
		b.w("f.employee_id > ?", q.Page.After.Sort)
	}
	b.s(" ORDER BY f.employee_id LIMIT ", b.arg(q.Page.Limit+1))
	rows, err := s.read.Query(ctx, b.sql.String(), b.args...)
	if err != nil {
		return domain.Page[domain.Faculty]{}, mapErr("list faculty", err)
	}
	items, err := collect(rows, scanFaculty)
	if err != nil {
		return domain.Page[domain.Faculty]{}, mapErr("list faculty", err)
	}
	if len(items) == 0 && q.Department != "" {
		if err := s.knownDepartment(ctx, q.Department); err != nil {
			return domain.Page[domain.Faculty]{}, err
		}
	}
	return page(items, q.Page.Limit, func(f domain.Faculty) domain.Key { return domain.Key{Sort: f.EmployeeID, ID: f.ID} }), nil
}

// FacultyByID implements domain.FacultyStore (primary: read-your-writes).
func (s *Store) FacultyByID(ctx context.Context, id uuid.UUID) (domain.Faculty, error) {
	ctx, cancel := s.call(ctx)
	defer cancel()
	f, err := scanFaculty(s.primary.QueryRow(ctx, "SELECT "+facultyCols+" FROM faculty f JOIN departments d ON d.id = f.department_id WHERE f.id = $1", id))
	return one(f, err, "get faculty")
}

// CreateFaculty implements domain.FacultyStore.
func (s *Store) CreateFaculty(ctx context.Context, in domain.FacultyInput) (domain.Faculty, error) {
	in.Normalize()
	if err := in.Validate(); err != nil {
		return domain.Faculty{}, err
	}
	ctx, cancel := s.call(ctx)
	defer cancel()
	f, err := scanFaculty(s.primary.QueryRow(ctx, `WITH d AS (SELECT id, code FROM departments WHERE code = $6),
		f AS (INSERT INTO faculty (employee_id, first_name, last_name, email, designation, department_id, active)
			SELECT $1, $2, $3, $4, $5, d.id, $7 FROM d RETURNING *)
		SELECT `+facultyCols+` FROM f JOIN d ON d.id = f.department_id`,
		in.EmployeeID, in.FirstName, in.LastName, in.Email, in.Designation, in.Department, in.Active))
	if errors.Is(err, pgx.ErrNoRows) {
		return domain.Faculty{}, domain.Invalid("department", domain.UnknownDepartmentMessage)
	}
	return f, mapErr("create faculty", err)
}

// UpdateFaculty implements domain.FacultyStore.
func (s *Store) UpdateFaculty(ctx context.Context, id uuid.UUID, p domain.FacultyPatch) (before, after domain.Faculty, err error) {
	err = s.tx(ctx, func(tx pgx.Tx) error {
		before, err = found(scanFaculty(tx.QueryRow(ctx, "SELECT "+facultyCols+" FROM faculty f JOIN departments d ON d.id = f.department_id WHERE f.id = $1 FOR UPDATE OF f", id)))
		if err != nil {
			return err
		}
		in := p.Apply(before)
		if err := in.Validate(); err != nil {
			return err
		}
		after, err = scanFaculty(tx.QueryRow(ctx, `WITH d AS (SELECT id, code FROM departments WHERE code = $6),
			f AS (UPDATE faculty SET employee_id = $1, first_name = $2, last_name = $3, email = $4, designation = $5,
					department_id = d.id, active = $7, updated_at = now()
				FROM d WHERE faculty.id = $8 RETURNING faculty.*)
			SELECT `+facultyCols+` FROM f JOIN d ON d.id = f.department_id`,
			in.EmployeeID, in.FirstName, in.LastName, in.Email, in.Designation, in.Department, in.Active, id))
		if errors.Is(err, pgx.ErrNoRows) {
			return domain.Invalid("department", domain.UnknownDepartmentMessage)
		}
		return err
	})
	return before, after, mapErr("update faculty", err)
}

// DeleteFaculty implements domain.FacultyStore.
func (s *Store) DeleteFaculty(ctx context.Context, id uuid.UUID) (domain.Faculty, error) {
	ctx, cancel := s.call(ctx)
	defer cancel()
	f, err := scanFaculty(s.primary.QueryRow(ctx, `WITH f AS (DELETE FROM faculty WHERE id = $1 RETURNING *)
		SELECT `+facultyCols+` FROM f JOIN departments d ON d.id = f.department_id`, id))
	if err != nil && errors.Is(mapErr("", err), domain.ErrConflict) {
		return domain.Faculty{}, domain.Conflict("in_use", "", "the faculty member teaches sections or holds sessions; reassign them or set active to false")
	}
	return one(f, err, "delete faculty")
}
