package postgres

import (
	"context"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/campshub360/edge/backend/internal/authz"
)

// DemoPerson is a student or faculty member chosen for a demo account.
type DemoPerson struct {
	ID    uuid.UUID
	Email string
	Name  string
}

// DemoPeople picks, deterministically, nFaculty faculty members teaching
// sections with enrolled students in the current term, and for each of
// them up to perFaculty of those students (with an e-mail), so demo
// accounts see real sections.
func (s *AuthStore) DemoPeople(ctx context.Context, nFaculty, perFaculty int) (faculty, students []DemoPerson, err error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	rows, err := s.pool.Query(ctx, `SELECT f.id, f.email::text, f.first_name || ' ' || f.last_name
		FROM faculty f
		WHERE f.active AND EXISTS (
			SELECT 1 FROM sections sec JOIN terms t ON t.id = sec.term_id AND t.is_current
			JOIN enrollments e ON e.section_id = sec.id AND e.status = 'ENROLLED'
			WHERE sec.faculty_id = f.id)
		ORDER BY f.employee_id LIMIT $1`, nFaculty)
	if err != nil {
		return nil, nil, wrapErr("pick demo faculty", err)
	}
	faculty, err = pgx.CollectRows(rows, pgx.RowToStructByPos[DemoPerson])
	if err != nil {
		return nil, nil, wrapErr("pick demo faculty", err)
	}
	seen := map[uuid.UUID]bool{}
	for _, f := range faculty {
		rows, err := s.pool.Query(ctx, `SELECT DISTINCT ON (st.roll_number) st.id, st.email::text, st.first_name || ' ' || st.last_name
			FROM students st
			JOIN enrollments e ON e.student_id = st.id AND e.status = 'ENROLLED'
			JOIN sections sec ON sec.id = e.section_id AND sec.faculty_id = $1
			JOIN terms t ON t.id = sec.term_id AND t.is_current
			WHERE st.email IS NOT NULL AND st.status = 'ACTIVE'
			ORDER BY st.roll_number LIMIT $2`, f.ID, perFaculty+len(seen))
		if err != nil {
			return nil, nil, wrapErr("pick demo students", err)
		}
		list, err := pgx.CollectRows(rows, pgx.RowToStructByPos[DemoPerson])
		if err != nil {
			return nil, nil, wrapErr("pick demo students", err)
		}
		n := 0
		for _, st := range list {
			if n < perFaculty && !seen[st.ID] {
				seen[st.ID] = true
				students = append(students, st)
				n++
			}
		}
	}
	return faculty, students, nil
}

// UpsertDemoAccount creates or resets the account with email: role, the
// password hash, active, no forced change, no lockout, MFA off, and links
// it to the student or faculty member given (uuid.Nil: none). It returns
// the account id.
func (s *AuthStore) UpsertDemoAccount(ctx context.Context, email string, role authz.Role, hash []byte, student, faculty uuid.UUID) (uuid.UUID, error) {
	var id uuid.UUID
	err := s.tx(ctx, "upsert demo account", func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `INSERT INTO users (email, password_hash, role)
			VALUES ($1, $2, $3)
			ON CONFLICT (email) DO UPDATE SET password_hash = EXCLUDED.password_hash, role = EXCLUDED.role,
				active = true, must_change_password = false, failed_login_count = 0,
				failed_login_window_start = NULL, locked_until = NULL, mfa_enabled = false,
				mfa_secret_ciphertext = NULL, updated_at = now()
			RETURNING id`, email, string(hash), string(role)).Scan(&id)
		if err != nil {
			return err
		}
		if student != uuid.Nil {
			if _, err := tx.Exec(ctx, `UPDATE students SET user_id = NULL WHERE user_id = $1 AND id <> $2`, id, student); err != nil {
				return err
			}
			_, err = tx.Exec(ctx, `UPDATE students SET user_id = $2 WHERE id = $1`, student, id)
			return err
		}
		if faculty != uuid.Nil {
			if _, err := tx.Exec(ctx, `UPDATE faculty SET user_id = NULL WHERE user_id = $1 AND id <> $2`, id, faculty); err != nil {
				return err
			}
			_, err = tx.Exec(ctx, `UPDATE faculty SET user_id = $2 WHERE id = $1`, faculty, id)
			return err
		}
		return nil
	})
	return id, err
}
