package postgres

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/campshub360/edge/backend/internal/authz"
)

// BenchSection is a section of the current term picked for benchmark
// accounts: its faculty member and its ENROLLED, ACTIVE students with an
// e-mail, in roll number order.
type BenchSection struct {
	ID           uuid.UUID
	FacultyID    uuid.UUID
	FacultyEmail string
	Students     []DemoPerson
}

// BenchSections picks, deterministically, sections of the current term
// with enrolled students, at most one per faculty member (so that each
// faculty member can hold one session at a time for all of them), largest
// first, until their students (each counted once) number at least
// students or the sections run out. It reads only.
func (s *AuthStore) BenchSections(ctx context.Context, students int) ([]BenchSection, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	rows, err := s.pool.Query(ctx, `SELECT DISTINCT ON (sec.faculty_id) sec.id, sec.faculty_id, f.email::text
		FROM sections sec
		JOIN terms t ON t.id = sec.term_id AND t.is_current
		JOIN faculty f ON f.id = sec.faculty_id AND f.active
		JOIN LATERAL (SELECT count(*) AS n FROM enrollments e JOIN students st ON st.id = e.student_id
			WHERE e.section_id = sec.id AND e.status = 'ENROLLED' AND st.status = 'ACTIVE' AND st.email IS NOT NULL) c ON c.n > 0
		ORDER BY sec.faculty_id, c.n DESC, sec.id`)
	if err != nil {
		return nil, wrapErr("pick bench sections", err)
	}
	type pick struct {
		ID, Faculty uuid.UUID
		Email       string
	}
	picks, err := pgx.CollectRows(rows, pgx.RowToStructByPos[pick])
	if err != nil {
		return nil, wrapErr("pick bench sections", err)
	}
	seen := map[uuid.UUID]bool{}
	var out []BenchSection
	for _, p := range picks {
		if len(seen) >= students {
			break
		}
		rows, err := s.pool.Query(ctx, `SELECT st.id, st.email::text, st.first_name || ' ' || st.last_name
			FROM enrollments e JOIN students st ON st.id = e.student_id
			WHERE e.section_id = $1 AND e.status = 'ENROLLED' AND st.status = 'ACTIVE' AND st.email IS NOT NULL
			ORDER BY st.roll_number`, p.ID)
		if err != nil {
			return nil, wrapErr("read bench roster", err)
		}
		list, err := pgx.CollectRows(rows, pgx.RowToStructByPos[DemoPerson])
		if err != nil {
			return nil, wrapErr("read bench roster", err)
		}
		for _, st := range list {
			seen[st.ID] = true
		}
		out = append(out, BenchSection{ID: p.ID, FacultyID: p.Faculty, FacultyEmail: p.Email, Students: list})
	}
	return out, nil
}

// BenchAccount is one account UpsertBenchAccounts creates or resets:
// linked to a student or a faculty member, or a staff account (both nil).
type BenchAccount struct {
	Email   string
	Role    authz.Role
	Student uuid.UUID
	Faculty uuid.UUID
}

// UpsertBenchAccounts creates or resets every account in one transaction,
// all with the same password hash (active, no MFA, no lockout), and links
// students and faculty members to theirs. Development and benchmark
// databases only: the command that calls it refuses to run without --dev.
func (s *AuthStore) UpsertBenchAccounts(ctx context.Context, hash []byte, accounts []BenchAccount) error {
	emails := make([]string, len(accounts))
	roles := make([]string, len(accounts))
	for i, a := range accounts {
		emails[i], roles[i] = a.Email, string(a.Role)
	}
	return s.tx(ctx, "upsert bench accounts", func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `INSERT INTO users (email, password_hash, role)
			SELECT e, $2, r FROM unnest($1::text[], $3::text[]) AS a (e, r)
			ON CONFLICT (email) DO UPDATE SET password_hash = EXCLUDED.password_hash, role = EXCLUDED.role,
				active = true, must_change_password = false, failed_login_count = 0,
				failed_login_window_start = NULL, locked_until = NULL, mfa_enabled = false,
				mfa_secret_ciphertext = NULL, updated_at = now()
			RETURNING id, email::text`, emails, string(hash), roles)
		if err != nil {
			return err
		}
		ids := map[string]uuid.UUID{}
		for rows.Next() {
			var id uuid.UUID
			var email string
			if err := rows.Scan(&id, &email); err != nil {
				rows.Close()
				return err
			}
			ids[email] = id
		}
		if err := rows.Err(); err != nil {
			return err
		}
		var stUsers, stIDs, facUsers, facIDs []uuid.UUID
		for _, a := range accounts {
			id, ok := ids[a.Email]
			if !ok {
				return fmt.Errorf("account %s was not written", a.Email)
			}
			switch {
			case a.Student != uuid.Nil:
				stUsers, stIDs = append(stUsers, id), append(stIDs, a.Student)
			case a.Faculty != uuid.Nil:
				facUsers, facIDs = append(facUsers, id), append(facIDs, a.Faculty)
			}
		}
		// Unlink the accounts from anyone else first (user_id is unique),
		// then link them.
		if len(stUsers) > 0 {
			if _, err := tx.Exec(ctx, `UPDATE students SET user_id = NULL WHERE user_id = ANY($1) AND NOT (id = ANY($2))`, stUsers, stIDs); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `UPDATE students p SET user_id = l.uid FROM unnest($1::uuid[], $2::uuid[]) AS l (uid, pid)
				WHERE p.id = l.pid`, stUsers, stIDs); err != nil {
				return err
			}
		}
		if len(facUsers) > 0 {
			if _, err := tx.Exec(ctx, `UPDATE faculty SET user_id = NULL WHERE user_id = ANY($1) AND NOT (id = ANY($2))`, facUsers, facIDs); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `UPDATE faculty p SET user_id = l.uid FROM unnest($1::uuid[], $2::uuid[]) AS l (uid, pid)
				WHERE p.id = l.pid`, facUsers, facIDs); err != nil {
				return err
			}
		}
		return nil
	})
}
