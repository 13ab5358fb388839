package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/campshub360/edge/backend/internal/domain"
	"github.com/campshub360/edge/backend/internal/pii"
)

// PIIStore implements pii.Store on PostgreSQL (students' sealed columns,
// migration 00021; users' TOTP secrets). Safe for concurrent use.
type PIIStore struct {
	pool    *pgxpool.Pool
	timeout time.Duration
}

// NewPIIStore returns a PIIStore on pool with at most timeout per call.
func NewPIIStore(pool *pgxpool.Pool, timeout time.Duration) *PIIStore {
	return &PIIStore{pool: pool, timeout: timeout}
}

var _ pii.Store = (*PIIStore)(nil)

// StudentPII implements pii.Store.
func (s *PIIStore) StudentPII(ctx context.Context, id uuid.UUID) (pii.StudentRow, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	r := pii.StudentRow{ID: id}
	var dob *time.Time
	err := s.pool.QueryRow(ctx, `SELECT phone_ciphertext, date_of_birth_ciphertext, address_ciphertext, date_of_birth
		FROM students WHERE id = $1`, id).Scan(&r.Phone, &r.DOB, &r.Address, &dob)
	if errors.Is(err, pgx.ErrNoRows) {
		return pii.StudentRow{}, domain.ErrNotFound
	}
	r.ClearDOB = deref(dob)
	return r, wrapErr("read student PII", err)
}

// SetStudentPII implements pii.Store.
func (s *PIIStore) SetStudentPII(ctx context.Context, r pii.StudentRow) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	tag, err := s.pool.Exec(ctx, `UPDATE students SET phone_ciphertext = $2, date_of_birth_ciphertext = $3,
		address_ciphertext = $4, date_of_birth = NULL, updated_at = now() WHERE id = $1`, r.ID, r.Phone, r.DOB, r.Address)
	if err == nil && tag.RowsAffected() == 0 {
		return domain.ErrNotFound
	}
	return wrapErr("write student PII", err)
}

// StudentPIIBatch implements pii.Store.
func (s *PIIStore) StudentPIIBatch(ctx context.Context, after uuid.UUID, limit int) ([]pii.StudentRow, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	rows, err := s.pool.Query(ctx, `SELECT id, phone_ciphertext, date_of_birth_ciphertext, address_ciphertext, date_of_birth
		FROM students
		WHERE id > $1 AND (phone_ciphertext IS NOT NULL OR date_of_birth_ciphertext IS NOT NULL
			OR address_ciphertext IS NOT NULL OR date_of_birth IS NOT NULL)
		ORDER BY id LIMIT $2`, after, limit)
	if err != nil {
		return nil, wrapErr("read student PII batch", err)
	}
	defer rows.Close()
	var out []pii.StudentRow
	for rows.Next() {
		var r pii.StudentRow
		var dob *time.Time
		if err := rows.Scan(&r.ID, &r.Phone, &r.DOB, &r.Address, &dob); err != nil {
			return nil, wrapErr("read student PII batch", err)
		}
		r.ClearDOB = deref(dob)
		out = append(out, r)
	}
	return out, wrapErr("read student PII batch", rows.Err())
}

// UpdateStudentPII implements pii.Store: one statement per batch, each row
// written only if its sealed columns are still the ones read.
func (s *PIIStore) UpdateStudentPII(ctx context.Context, rs []pii.StudentRow) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	n := len(rs)
	ids := make([]uuid.UUID, n)
	phone, dob, addr := make([][]byte, n), make([][]byte, n), make([][]byte, n)
	oldPhone, oldDOB, oldAddr := make([][]byte, n), make([][]byte, n), make([][]byte, n)
	for i, r := range rs {
		ids[i], phone[i], dob[i], addr[i] = r.ID, r.Phone, r.DOB, r.Address
		oldPhone[i], oldDOB[i], oldAddr[i] = r.OldPhone, r.OldDOB, r.OldAddress
	}
	tag, err := s.pool.Exec(ctx, `UPDATE students s SET phone_ciphertext = v.phone, date_of_birth_ciphertext = v.dob,
			address_ciphertext = v.addr, date_of_birth = NULL
		FROM unnest($1::uuid[], $2::bytea[], $3::bytea[], $4::bytea[], $5::bytea[], $6::bytea[], $7::bytea[])
			AS v(id, phone, dob, addr, old_phone, old_dob, old_addr)
		WHERE s.id = v.id AND s.phone_ciphertext IS NOT DISTINCT FROM v.old_phone
			AND s.date_of_birth_ciphertext IS NOT DISTINCT FROM v.old_dob
			AND s.address_ciphertext IS NOT DISTINCT FROM v.old_addr`,
		ids, phone, dob, addr, oldPhone, oldDOB, oldAddr)
	if err != nil {
		return 0, wrapErr("update student PII", err)
	}
	return int(tag.RowsAffected()), nil
}

// MFASecretBatch implements pii.Store.
func (s *PIIStore) MFASecretBatch(ctx context.Context, after uuid.UUID, limit int) ([]pii.UserRow, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	rows, err := s.pool.Query(ctx, `SELECT id, mfa_secret_ciphertext FROM users
		WHERE id > $1 AND mfa_secret_ciphertext IS NOT NULL ORDER BY id LIMIT $2`, after, limit)
	if err != nil {
		return nil, wrapErr("read MFA secret batch", err)
	}
	defer rows.Close()
	var out []pii.UserRow
	for rows.Next() {
		var r pii.UserRow
		if err := rows.Scan(&r.ID, &r.Secret); err != nil {
			return nil, wrapErr("read MFA secret batch", err)
		}
		out = append(out, r)
	}
	return out, wrapErr("read MFA secret batch", rows.Err())
}

// UpdateMFASecrets implements pii.Store.
func (s *PIIStore) UpdateMFASecrets(ctx context.Context, rs []pii.UserRow) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	ids := make([]uuid.UUID, len(rs))
	secrets, olds := make([][]byte, len(rs)), make([][]byte, len(rs))
	for i, r := range rs {
		ids[i], secrets[i], olds[i] = r.ID, r.Secret, r.OldSecret
	}
	tag, err := s.pool.Exec(ctx, `UPDATE users u SET mfa_secret_ciphertext = v.secret
		FROM unnest($1::uuid[], $2::bytea[], $3::bytea[]) AS v(id, secret, old)
		WHERE u.id = v.id AND u.mfa_secret_ciphertext = v.old`, ids, secrets, olds)
	if err != nil {
		return 0, wrapErr("update MFA secrets", err)
	}
	return int(tag.RowsAffected()), nil
}
