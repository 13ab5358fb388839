package postgres

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/campshub360/edge/backend/internal/domain"
)

// Store implements the domain store interfaces on PostgreSQL. Every call
// runs under a deadline: the caller's, or QueryTimeout from now when that is
// sooner or the caller has none. Safe for concurrent use.
type Store struct {
	q       Querier
	timeout time.Duration
}

// NewStore returns a Store running its queries on q (usually a
// *pgxpool.Pool) with at most timeout per call (timeout must be positive).
func NewStore(q Querier, timeout time.Duration) *Store {
	return &Store{q: q, timeout: timeout}
}

var _ domain.StudentStore = (*Store)(nil)

// studentColumns are the columns of a listed student, in scanStudent order.
const studentColumns = `s.id, s.roll_number, s.first_name, s.last_name, coalesce(s.email::text, ''),
	d.code, p.code, s.year_of_study, s.section, s.status, s.created_at, s.updated_at`

const studentFrom = ` FROM students s
	JOIN departments d ON d.id = s.department_id
	JOIN programs p ON p.id = s.program_id`

// ListStudents implements domain.StudentStore with keyset pagination: it
// reads q.Limit+1 rows in (roll_number, id) order from the index matching
// the filters, so it knows whether another page follows without counting.
func (s *Store) ListStudents(ctx context.Context, q domain.StudentQuery) (domain.StudentPage, error) {
	if err := q.Validate(); err != nil {
		return domain.StudentPage{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()

	var sql strings.Builder
	sql.Grow(512)
	sql.WriteString("SELECT ")
	sql.WriteString(studentColumns)
	sql.WriteString(studentFrom)
	args := make([]any, 0, 5)
	where := func(cond string, vals ...any) {
		if len(args) == 0 {
			sql.WriteString(" WHERE ")
		} else {
			sql.WriteString(" AND ")
		}
		for _, v := range vals {
			args = append(args, v)
			cond = strings.Replace(cond, "$?", "$"+strconv.Itoa(len(args)), 1)
		}
		sql.WriteString(cond)
	}
	f := q.Filter
	if f.Department != "" {
		// A scalar subquery, so the planner picks the (department_id, ...)
		// index with a known value.
		where("s.department_id = (SELECT id FROM departments WHERE code = $?)", f.Department)
	}
	if f.Year != 0 {
		where("s.year_of_study = $?", int16(f.Year))
	}
	if q.After != nil {
		where("(s.roll_number, s.id) > ($?, $?)", q.After.RollNumber, q.After.ID)
	}
	args = append(args, q.Limit+1)
	sql.WriteString(" ORDER BY s.roll_number, s.id LIMIT $" + strconv.Itoa(len(args)))

	rows, err := s.q.Query(ctx, sql.String(), args...)
	if err != nil {
		return domain.StudentPage{}, wrapErr("list students", err)
	}
	items := make([]domain.Student, 0, min(q.Limit+1, 64))
	for rows.Next() {
		st, err := scanStudent(rows)
		if err != nil {
			rows.Close()
			return domain.StudentPage{}, wrapErr("list students", err)
		}
		items = append(items, st)
	}
	if err := rows.Err(); err != nil {
		return domain.StudentPage{}, wrapErr("list students", err)
	}

	if len(items) == 0 && f.Department != "" {
		// An empty page: tell "no such department" from "no students".
		var exists bool
		err := s.q.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM departments WHERE code = $1)`, f.Department).Scan(&exists)
		if err != nil {
			return domain.StudentPage{}, wrapErr("look up department", err)
		}
		if !exists {
			return domain.StudentPage{}, domain.Invalid("department", domain.UnknownDepartmentMessage)
		}
	}

	page := domain.StudentPage{Items: items}
	if len(items) > q.Limit {
		page.Items = items[:q.Limit]
		last := page.Items[q.Limit-1]
		page.Next = &domain.StudentKey{RollNumber: last.RollNumber, ID: last.ID}
	}
	return page, nil
}

// StudentByID implements domain.StudentStore.
func (s *Store) StudentByID(ctx context.Context, id uuid.UUID) (domain.Student, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	row := s.q.QueryRow(ctx, "SELECT "+studentColumns+studentFrom+" WHERE s.id = $1", id)
	st, err := scanStudent(row)
	if errors.Is(err, pgx.ErrNoRows) {
		return domain.Student{}, domain.ErrNotFound
	}
	if err != nil {
		return domain.Student{}, wrapErr("get student", err)
	}
	return st, nil
}

func scanStudent(row pgx.Row) (domain.Student, error) {
	var (
		st     domain.Student
		year   int16
		status string
	)
	err := row.Scan(&st.ID, &st.RollNumber, &st.FirstName, &st.LastName, &st.Email,
		&st.Department, &st.Program, &year, &st.Section, &status, &st.CreatedAt, &st.UpdatedAt)
	st.YearOfStudy = int(year)
	st.Status = domain.StudentStatus(status)
	return st, err
}
