package postgres

import (
	"context"
	"errors"
	"net/netip"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/campshub360/edge/backend/internal/auth"
	"github.com/campshub360/edge/backend/internal/authz"
)

// AuthStore implements auth.Store on PostgreSQL (migration 00020). Every
// call runs under QueryTimeout unless the caller's deadline is sooner.
// Safe for concurrent use.
type AuthStore struct {
	pool    *pgxpool.Pool
	timeout time.Duration
}

// NewAuthStore returns an AuthStore on pool with at most timeout per call.
func NewAuthStore(pool *pgxpool.Pool, timeout time.Duration) *AuthStore {
	return &AuthStore{pool: pool, timeout: timeout}
}

var _ auth.Store = (*AuthStore)(nil)

func (s *AuthStore) ctx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.timeout)
}

// tx runs f in a transaction.
func (s *AuthStore) tx(ctx context.Context, op string, f func(pgx.Tx) error) error {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	// wrapErr keeps the use case's sentinels and typed errors matchable
	// (errors.Is/As) and marks unavailability.
	return wrapErr(op, pgx.BeginFunc(ctx, s.pool, f))
}

// accountColumns are read by scanAccount.
const accountColumns = `u.id, u.email::text, u.role, u.active, u.password_hash, u.must_change_password,
	u.mfa_enabled, u.mfa_secret_ciphertext, coalesce(u.mfa_last_step, 0),
	u.failed_login_count, u.failed_login_window_start, u.locked_until,
	s.id, f.id, coalesce(s.first_name, f.first_name, ''), coalesce(s.last_name, f.last_name, ''),
	coalesce(s.roll_number, ''), coalesce(f.employee_id, ''), u.created_at, u.last_login_at`

const accountFrom = ` FROM users u
	LEFT JOIN students s ON s.user_id = u.id
	LEFT JOIN faculty f ON f.user_id = u.id`

func scanAccount(row pgx.Row) (auth.Account, error) {
	var (
		a                        auth.Account
		role, hash               string
		windowStart, lockedUntil *time.Time
		studentID, facultyID     *uuid.UUID
		lastLogin                *time.Time
	)
	err := row.Scan(&a.ID, &a.Email, &role, &a.Active, &hash, &a.MustChangePassword,
		&a.MFAEnabled, &a.MFASecretSealed, &a.MFALastStep,
		&a.Failures.Failures, &windowStart, &lockedUntil,
		&studentID, &facultyID, &a.FirstName, &a.LastName, &a.RollNumber, &a.EmployeeID, &a.CreatedAt, &lastLogin)
	if err != nil {
		return auth.Account{}, err
	}
	a.Role = authz.Role(role)
	a.PasswordHash = []byte(hash)
	a.Failures.WindowStart = deref(windowStart)
	a.Failures.LockedUntil = deref(lockedUntil)
	a.LastLoginAt = deref(lastLogin)
	if studentID != nil {
		a.StudentID = *studentID
	}
	if facultyID != nil {
		a.FacultyID = *facultyID
	}
	return a, nil
}

func deref(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return *t
}

func nullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t
}

func nullID(id uuid.UUID) any {
	if id == uuid.Nil {
		return nil
	}
	return id
}

func nullAddr(a netip.Addr) any {
	if !a.IsValid() {
		return nil
	}
	return a
}

// AccountByLogin implements auth.Store: an address is matched against
// users.email, anything else against the linked student's roll number.
func (s *AuthStore) AccountByLogin(ctx context.Context, login string) (auth.Account, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	var row pgx.Row
	if containsAt(login) {
		row = s.pool.QueryRow(ctx, `SELECT `+accountColumns+accountFrom+` WHERE u.email = $1`, login)
	} else {
		row = s.pool.QueryRow(ctx, `SELECT `+accountColumns+accountFrom+` WHERE s.roll_number = $1`, login)
	}
	a, err := scanAccount(row)
	if errors.Is(err, pgx.ErrNoRows) {
		return auth.Account{}, auth.ErrNotFound
	}
	return a, wrapErr("account by login", err)
}

func containsAt(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == '@' {
			return true
		}
	}
	return false
}

// AccountByID implements auth.Store.
func (s *AuthStore) AccountByID(ctx context.Context, id uuid.UUID) (auth.Account, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	a, err := scanAccount(s.pool.QueryRow(ctx, `SELECT `+accountColumns+accountFrom+` WHERE u.id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return auth.Account{}, auth.ErrNotFound
	}
	return a, wrapErr("account by id", err)
}

// State implements auth.Store.
func (s *AuthStore) State(ctx context.Context, id uuid.UUID) (auth.State, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	var (
		st                   auth.State
		role                 string
		studentID, facultyID *uuid.UUID
	)
	err := s.pool.QueryRow(ctx, `SELECT u.id, u.role, u.active, u.must_change_password, s.id, f.id
		FROM users u
		LEFT JOIN students s ON s.user_id = u.id
		LEFT JOIN faculty f ON f.user_id = u.id
		WHERE u.id = $1`, id).Scan(&st.UserID, &role, &st.Active, &st.MustChangePassword, &studentID, &facultyID)
	if errors.Is(err, pgx.ErrNoRows) {
		return auth.State{}, auth.ErrNotFound
	}
	if err != nil {
		return auth.State{}, wrapErr("user state", err)
	}
	st.Role = authz.Role(role)
	if studentID != nil {
		st.StudentID = *studentID
	}
	if facultyID != nil {
		st.FacultyID = *facultyID
	}
	return st, nil
}

// UpdateAccountFailures implements auth.Store.
func (s *AuthStore) UpdateAccountFailures(ctx context.Context, id uuid.UUID, f func(auth.Counter) auth.Counter) (auth.Counter, error) {
	var out auth.Counter
	err := s.tx(ctx, "update account failures", func(tx pgx.Tx) error {
		var c auth.Counter
		var ws, lu *time.Time
		err := tx.QueryRow(ctx, `SELECT failed_login_count, failed_login_window_start, locked_until
			FROM users WHERE id = $1 FOR UPDATE`, id).Scan(&c.Failures, &ws, &lu)
		if errors.Is(err, pgx.ErrNoRows) {
			return auth.ErrNotFound
		}
		if err != nil {
			return err
		}
		c.WindowStart, c.LockedUntil = deref(ws), deref(lu)
		out = f(c)
		_, err = tx.Exec(ctx, `UPDATE users SET failed_login_count = $2, failed_login_window_start = $3,
			locked_until = $4, updated_at = now() WHERE id = $1`,
			id, out.Failures, nullTime(out.WindowStart), nullTime(out.LockedUntil))
		return err
	})
	return out, err
}

// Throttles implements auth.Store.
func (s *AuthStore) Throttles(ctx context.Context, keys ...string) ([]auth.Counter, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	out := make([]auth.Counter, len(keys))
	rows, err := s.pool.Query(ctx, `SELECT key, failures, window_start, locked_until FROM login_throttle WHERE key = ANY($1)`, keys)
	if err != nil {
		return nil, wrapErr("read throttles", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			key string
			c   auth.Counter
			lu  *time.Time
		)
		if err := rows.Scan(&key, &c.Failures, &c.WindowStart, &lu); err != nil {
			return nil, wrapErr("read throttles", err)
		}
		c.LockedUntil = deref(lu)
		for i, k := range keys {
			if k == key {
				out[i] = c
			}
		}
	}
	return out, wrapErr("read throttles", rows.Err())
}

// UpdateThrottle implements auth.Store.
func (s *AuthStore) UpdateThrottle(ctx context.Context, key string, f func(auth.Counter) auth.Counter) (auth.Counter, error) {
	var out auth.Counter
	err := s.tx(ctx, "update throttle", func(tx pgx.Tx) error {
		// Make sure the row exists, then lock it.
		if _, err := tx.Exec(ctx, `INSERT INTO login_throttle (key, failures, window_start)
			VALUES ($1, 0, now()) ON CONFLICT (key) DO NOTHING`, key); err != nil {
			return err
		}
		var c auth.Counter
		var lu *time.Time
		if err := tx.QueryRow(ctx, `SELECT failures, window_start, locked_until FROM login_throttle
			WHERE key = $1 FOR UPDATE`, key).Scan(&c.Failures, &c.WindowStart, &lu); err != nil {
			return err
		}
		c.LockedUntil = deref(lu)
		if c.Failures == 0 {
			c.WindowStart = time.Time{}
		}
		out = f(c)
		ws := out.WindowStart
		if ws.IsZero() {
			ws = time.Now()
		}
		_, err := tx.Exec(ctx, `UPDATE login_throttle SET failures = $2, window_start = $3, locked_until = $4,
			updated_at = now() WHERE key = $1`, key, out.Failures, ws, nullTime(out.LockedUntil))
		return err
	})
	return out, err
}

// RecordLogin implements auth.Store.
func (s *AuthStore) RecordLogin(ctx context.Context, id uuid.UUID, at time.Time, rehash []byte) error {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	var hash any
	if rehash != nil {
		hash = string(rehash)
	}
	_, err := s.pool.Exec(ctx, `UPDATE users SET failed_login_count = 0, failed_login_window_start = NULL,
		locked_until = NULL, last_login_at = $2, password_hash = coalesce($3, password_hash), updated_at = now()
		WHERE id = $1`, id, at, hash)
	return wrapErr("record login", err)
}

// CreateSession implements auth.Store.
func (s *AuthStore) CreateSession(ctx context.Context, ss auth.Session, first auth.RefreshRecord) error {
	return s.tx(ctx, "create session", func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO auth_sessions (id, user_id, created_at, last_used_at, expires_at, mfa, user_agent, ip)
			VALUES ($1, $2, $3, $3, $4, $5, $6, $7)`,
			ss.ID, ss.UserID, ss.CreatedAt, ss.ExpiresAt, ss.MFA, nullText(ss.UserAgent), nullAddr(ss.IP)); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO refresh_tokens (token_hash, session_id, created_at, expires_at, access_jti, access_expires_at)
			VALUES ($1, $2, $3, $4, $5, $6)`, first.Hash[:], ss.ID, ss.CreatedAt, first.ExpiresAt, first.AccessJTI, first.AccessExpiresAt)
		return err
	})
}

// authSessionColumns are read by scanAuthSession.
const authSessionColumns = `a.id, a.user_id, a.created_at, a.last_used_at, a.expires_at, a.mfa, coalesce(a.user_agent, ''), a.ip`

func scanAuthSession(row pgx.Row, extra ...any) (auth.Session, error) {
	var ss auth.Session
	var ip *netip.Prefix
	dest := append([]any{&ss.ID, &ss.UserID, &ss.CreatedAt, &ss.LastUsedAt, &ss.ExpiresAt, &ss.MFA, &ss.UserAgent, &ip}, extra...)
	if err := row.Scan(dest...); err != nil {
		return auth.Session{}, err
	}
	if ip != nil {
		ss.IP = ip.Addr()
	}
	return ss, nil
}

// RotateRefresh implements auth.Store.
func (s *AuthStore) RotateRefresh(ctx context.Context, hash [32]byte, now time.Time,
	next func(auth.Session, auth.State) (auth.RefreshRecord, error)) (auth.RefreshOutcome, error) {
	var out auth.RefreshOutcome
	err := s.tx(ctx, "rotate refresh token", func(tx pgx.Tx) error {
		var (
			rotated, revoked *time.Time
			tokenExp         time.Time
		)
		ss, err := scanAuthSession(tx.QueryRow(ctx, `SELECT `+authSessionColumns+`, r.rotated_at, r.expires_at, a.revoked_at
			FROM refresh_tokens r JOIN auth_sessions a ON a.id = r.session_id
			WHERE r.token_hash = $1 FOR UPDATE OF a, r`, hash[:]), &rotated, &tokenExp, &revoked)
		if errors.Is(err, pgx.ErrNoRows) {
			return auth.ErrInvalidCredentials
		}
		if err != nil {
			return err
		}
		out.Session = ss
		if revoked != nil {
			return auth.ErrInvalidCredentials
		}
		if rotated != nil {
			out.Reused = true
			out.Denied, err = revokeSessionTx(ctx, tx, ss.UserID, ss.ID, "refresh_reuse", now)
			return err
		}
		if !now.Before(tokenExp) || !now.Before(ss.ExpiresAt) {
			return auth.ErrInvalidCredentials
		}
		st, err := stateTx(ctx, tx, ss.UserID)
		if err != nil {
			return err
		}
		out.State = st
		if !st.Active {
			return auth.ErrInvalidCredentials
		}
		rec, err := next(ss, st)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE refresh_tokens SET rotated_at = $2 WHERE token_hash = $1`, hash[:], now); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO refresh_tokens (token_hash, session_id, created_at, expires_at, access_jti, access_expires_at)
			VALUES ($1, $2, $3, $4, $5, $6)`, rec.Hash[:], ss.ID, now, rec.ExpiresAt, rec.AccessJTI, rec.AccessExpiresAt); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE auth_sessions SET last_used_at = $2 WHERE id = $1`, ss.ID, now)
		return err
	})
	if err != nil {
		return auth.RefreshOutcome{}, err
	}
	return out, nil
}

func stateTx(ctx context.Context, tx pgx.Tx, id uuid.UUID) (auth.State, error) {
	var (
		st                   auth.State
		role                 string
		studentID, facultyID *uuid.UUID
	)
	err := tx.QueryRow(ctx, `SELECT u.id, u.role, u.active, u.must_change_password, s.id, f.id
		FROM users u LEFT JOIN students s ON s.user_id = u.id LEFT JOIN faculty f ON f.user_id = u.id
		WHERE u.id = $1`, id).Scan(&st.UserID, &role, &st.Active, &st.MustChangePassword, &studentID, &facultyID)
	if err != nil {
		return auth.State{}, err
	}
	st.Role = authz.Role(role)
	if studentID != nil {
		st.StudentID = *studentID
	}
	if facultyID != nil {
		st.FacultyID = *facultyID
	}
	return st, nil
}

// revokeSessionTx revokes one live family and returns its live access
// tokens, also stored as denied; ErrNotFound when it is not live.
func revokeSessionTx(ctx context.Context, tx pgx.Tx, user, session uuid.UUID, reason string, now time.Time) ([]auth.Revoked, error) {
	tag, err := tx.Exec(ctx, `UPDATE auth_sessions SET revoked_at = $3, revoked_reason = $4
		WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL`, session, user, now, reason)
	if err != nil {
		return nil, err
	}
	if tag.RowsAffected() == 0 {
		return nil, auth.ErrNotFound
	}
	return denyFamiliesTx(ctx, tx, []uuid.UUID{session}, user, now)
}

// denyFamiliesTx stores the live access tokens of sessions as denied and
// returns them.
func denyFamiliesTx(ctx context.Context, tx pgx.Tx, sessions []uuid.UUID, user uuid.UUID, now time.Time) ([]auth.Revoked, error) {
	rows, err := tx.Query(ctx, `INSERT INTO revoked_tokens (jti, user_id, expires_at, revoked_at)
		SELECT access_jti, $2, access_expires_at, $3 FROM refresh_tokens
		WHERE session_id = ANY($1) AND access_expires_at > $3
		ON CONFLICT (jti) DO UPDATE SET revoked_at = revoked_tokens.revoked_at
		RETURNING jti, expires_at`, sessions, user, now)
	if err != nil {
		return nil, err
	}
	var out []auth.Revoked
	for rows.Next() {
		r := auth.Revoked{UserID: user}
		if err := rows.Scan(&r.JTI, &r.ExpiresAt); err != nil {
			rows.Close()
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// SessionOfAccessToken implements auth.Store.
func (s *AuthStore) SessionOfAccessToken(ctx context.Context, jti string) (uuid.UUID, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	var id uuid.UUID
	err := s.pool.QueryRow(ctx, `SELECT session_id FROM refresh_tokens WHERE access_jti = $1`, jti).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return uuid.Nil, auth.ErrNotFound
	}
	return id, wrapErr("session of access token", err)
}

// RevokeSession implements auth.Store.
func (s *AuthStore) RevokeSession(ctx context.Context, user, session uuid.UUID, reason string, now time.Time) ([]auth.Revoked, error) {
	var out []auth.Revoked
	err := s.tx(ctx, "revoke session", func(tx pgx.Tx) error {
		var err error
		out, err = revokeSessionTx(ctx, tx, user, session, reason, now)
		return err
	})
	return out, err
}

// RevokeSessions implements auth.Store.
func (s *AuthStore) RevokeSessions(ctx context.Context, user, keep uuid.UUID, reason string, now time.Time) ([]auth.Revoked, error) {
	var out []auth.Revoked
	err := s.tx(ctx, "revoke sessions", func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `UPDATE auth_sessions SET revoked_at = $3, revoked_reason = $4
			WHERE user_id = $1 AND revoked_at IS NULL AND id <> $2 RETURNING id`, user, keep, now, reason)
		if err != nil {
			return err
		}
		ids, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
		if err != nil || len(ids) == 0 {
			return err
		}
		out, err = denyFamiliesTx(ctx, tx, ids, user, now)
		return err
	})
	return out, err
}

// Sessions implements auth.Store.
func (s *AuthStore) Sessions(ctx context.Context, user uuid.UUID, now time.Time) ([]auth.Session, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	rows, err := s.pool.Query(ctx, `SELECT `+authSessionColumns+` FROM auth_sessions a
		WHERE a.user_id = $1 AND a.revoked_at IS NULL AND a.expires_at > $2
		AND EXISTS (SELECT 1 FROM refresh_tokens r WHERE r.session_id = a.id AND r.rotated_at IS NULL AND r.expires_at > $2)
		ORDER BY a.created_at DESC LIMIT 200`, user, now)
	if err != nil {
		return nil, wrapErr("list sessions", err)
	}
	defer rows.Close()
	var out []auth.Session
	for rows.Next() {
		ss, err := scanAuthSession(rows)
		if err != nil {
			return nil, wrapErr("list sessions", err)
		}
		out = append(out, ss)
	}
	return out, wrapErr("list sessions", rows.Err())
}

// DenyTokens implements auth.Store.
func (s *AuthStore) DenyTokens(ctx context.Context, r []auth.Revoked) error {
	if len(r) == 0 {
		return nil
	}
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	jtis := make([]string, len(r))
	users := make([]*uuid.UUID, len(r))
	exps := make([]time.Time, len(r))
	for i, t := range r {
		jtis[i], exps[i] = t.JTI, t.ExpiresAt
		if t.UserID != uuid.Nil {
			u := t.UserID
			users[i] = &u
		}
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO revoked_tokens (jti, user_id, expires_at)
		SELECT * FROM unnest($1::text[], $2::uuid[], $3::timestamptz[])
		ON CONFLICT (jti) DO NOTHING`, jtis, users, exps)
	return wrapErr("deny tokens", err)
}

// TokenDenied implements auth.Store.
func (s *AuthStore) TokenDenied(ctx context.Context, jti string) (bool, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	var denied bool
	err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM revoked_tokens WHERE jti = $1)`, jti).Scan(&denied)
	return denied, wrapErr("check denylist", err)
}

// DeniedSince implements auth.Store.
func (s *AuthStore) DeniedSince(ctx context.Context, since, now time.Time) ([]auth.Revoked, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	rows, err := s.pool.Query(ctx, `SELECT jti, coalesce(user_id, '00000000-0000-0000-0000-000000000000'::uuid), expires_at
		FROM revoked_tokens WHERE revoked_at >= $1 AND expires_at > $2`, since, now)
	if err != nil {
		return nil, wrapErr("list denied tokens", err)
	}
	defer rows.Close()
	var out []auth.Revoked
	for rows.Next() {
		var r auth.Revoked
		if err := rows.Scan(&r.JTI, &r.UserID, &r.ExpiresAt); err != nil {
			return nil, wrapErr("list denied tokens", err)
		}
		out = append(out, r)
	}
	return out, wrapErr("list denied tokens", rows.Err())
}

// SetPassword implements auth.Store.
func (s *AuthStore) SetPassword(ctx context.Context, id uuid.UUID, hash []byte, mustChange bool, at time.Time) error {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	tag, err := s.pool.Exec(ctx, `UPDATE users SET password_hash = $2, must_change_password = $3,
		password_changed_at = $4, failed_login_count = 0, failed_login_window_start = NULL, locked_until = NULL,
		updated_at = now() WHERE id = $1`, id, string(hash), mustChange, at)
	if err == nil && tag.RowsAffected() == 0 {
		return auth.ErrNotFound
	}
	return wrapErr("set password", err)
}

// SetActive implements auth.Store.
func (s *AuthStore) SetActive(ctx context.Context, id uuid.UUID, active bool) error {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	tag, err := s.pool.Exec(ctx, `UPDATE users SET active = $2, updated_at = now() WHERE id = $1`, id, active)
	if err == nil && tag.RowsAffected() == 0 {
		return auth.ErrNotFound
	}
	return wrapErr("set active", err)
}

// CreateAccount implements auth.Store.
func (s *AuthStore) CreateAccount(ctx context.Context, a auth.NewAccount) (auth.Account, error) {
	var id uuid.UUID
	err := s.tx(ctx, "create account", func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `INSERT INTO users (email, password_hash, role, must_change_password)
			VALUES ($1, $2, $3, $4) RETURNING id`, a.Email, string(a.PasswordHash), string(a.Role), a.MustChangePassword).Scan(&id)
		if isUniqueViolation(err) {
			return auth.ErrConflict
		}
		if err != nil {
			return err
		}
		var tag pgconn.CommandTag
		switch {
		case a.StudentID != uuid.Nil:
			tag, err = tx.Exec(ctx, `UPDATE students SET user_id = $2, updated_at = now() WHERE id = $1 AND user_id IS NULL`, a.StudentID, id)
		case a.FacultyID != uuid.Nil:
			tag, err = tx.Exec(ctx, `UPDATE faculty SET user_id = $2, updated_at = now() WHERE id = $1 AND user_id IS NULL`, a.FacultyID, id)
		default:
			return nil
		}
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return auth.ErrConflict
		}
		return nil
	})
	if err != nil {
		return auth.Account{}, err
	}
	return s.AccountByID(ctx, id)
}

func isUniqueViolation(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23505"
}

// PersonEmail implements auth.Store.
func (s *AuthStore) PersonEmail(ctx context.Context, id uuid.UUID, faculty bool) (string, bool, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	var (
		email  string
		linked bool
		err    error
	)
	if faculty {
		err = s.pool.QueryRow(ctx, `SELECT email::text, user_id IS NOT NULL FROM faculty WHERE id = $1`, id).Scan(&email, &linked)
	} else {
		err = s.pool.QueryRow(ctx, `SELECT coalesce(email::text, ''), user_id IS NOT NULL FROM students WHERE id = $1`, id).Scan(&email, &linked)
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return "", false, auth.ErrNotFound
	}
	return email, linked, wrapErr("person email", err)
}

// SetPendingMFA implements auth.Store.
func (s *AuthStore) SetPendingMFA(ctx context.Context, id uuid.UUID, sealed []byte) error {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	tag, err := s.pool.Exec(ctx, `UPDATE users SET mfa_secret_ciphertext = $2, updated_at = now()
		WHERE id = $1 AND NOT mfa_enabled`, id, sealed)
	if err == nil && tag.RowsAffected() == 0 {
		return auth.ErrConflict
	}
	return wrapErr("set pending MFA", err)
}

// EnableMFA implements auth.Store.
func (s *AuthStore) EnableMFA(ctx context.Context, id uuid.UUID, step int64, codeHashes [][32]byte) error {
	return s.tx(ctx, "enable MFA", func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE users SET mfa_enabled = true, mfa_last_step = $2, updated_at = now()
			WHERE id = $1 AND NOT mfa_enabled AND mfa_secret_ciphertext IS NOT NULL`, id, step)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return auth.ErrConflict
		}
		if _, err := tx.Exec(ctx, `DELETE FROM mfa_recovery_codes WHERE user_id = $1`, id); err != nil {
			return err
		}
		hashes := make([][]byte, len(codeHashes))
		for i := range codeHashes {
			hashes[i] = codeHashes[i][:]
		}
		_, err = tx.Exec(ctx, `INSERT INTO mfa_recovery_codes (user_id, code_hash) SELECT $1, unnest($2::bytea[])`, id, hashes)
		return err
	})
}

// DisableMFA implements auth.Store.
func (s *AuthStore) DisableMFA(ctx context.Context, id uuid.UUID) error {
	return s.tx(ctx, "disable MFA", func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `UPDATE users SET mfa_enabled = false, mfa_secret_ciphertext = NULL,
			mfa_last_step = NULL, updated_at = now() WHERE id = $1`, id); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `DELETE FROM mfa_recovery_codes WHERE user_id = $1`, id)
		return err
	})
}

// AcceptTOTPStep implements auth.Store.
func (s *AuthStore) AcceptTOTPStep(ctx context.Context, id uuid.UUID, step int64) (bool, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	tag, err := s.pool.Exec(ctx, `UPDATE users SET mfa_last_step = $2
		WHERE id = $1 AND (mfa_last_step IS NULL OR mfa_last_step < $2)`, id, step)
	if err != nil {
		return false, wrapErr("accept TOTP step", err)
	}
	return tag.RowsAffected() == 1, nil
}

// UseRecoveryCode implements auth.Store.
func (s *AuthStore) UseRecoveryCode(ctx context.Context, id uuid.UUID, hash [32]byte, at time.Time) (bool, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	tag, err := s.pool.Exec(ctx, `UPDATE mfa_recovery_codes SET used_at = $3
		WHERE user_id = $1 AND code_hash = $2 AND used_at IS NULL`, id, hash[:], at)
	if err != nil {
		return false, wrapErr("use recovery code", err)
	}
	return tag.RowsAffected() == 1, nil
}

// CreateChallenge implements auth.Store.
func (s *AuthStore) CreateChallenge(ctx context.Context, hash [32]byte, user uuid.UUID, expires time.Time) error {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	_, err := s.pool.Exec(ctx, `INSERT INTO mfa_challenges (token_hash, user_id, expires_at) VALUES ($1, $2, $3)`,
		hash[:], user, expires)
	return wrapErr("create MFA challenge", err)
}

// UseChallenge implements auth.Store.
func (s *AuthStore) UseChallenge(ctx context.Context, hash [32]byte, now time.Time, maxAttempts int,
	check func(uuid.UUID) (bool, error)) (uuid.UUID, error) {
	var user uuid.UUID
	var failed bool
	err := s.tx(ctx, "use MFA challenge", func(tx pgx.Tx) error {
		var (
			expires  time.Time
			attempts int
			used     *time.Time
		)
		err := tx.QueryRow(ctx, `SELECT user_id, expires_at, attempts, used_at FROM mfa_challenges
			WHERE token_hash = $1 FOR UPDATE`, hash[:]).Scan(&user, &expires, &attempts, &used)
		if errors.Is(err, pgx.ErrNoRows) {
			return auth.ErrInvalidCredentials
		}
		if err != nil {
			return err
		}
		if used != nil || !now.Before(expires) || attempts >= maxAttempts {
			return auth.ErrInvalidCredentials
		}
		ok, err := check(user)
		if err != nil {
			return err
		}
		if !ok {
			failed = true
			_, err = tx.Exec(ctx, `UPDATE mfa_challenges SET attempts = attempts + 1 WHERE token_hash = $1`, hash[:])
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE mfa_challenges SET used_at = $2, attempts = attempts + 1 WHERE token_hash = $1`, hash[:], now)
		return err
	})
	if err != nil {
		return uuid.Nil, err
	}
	if failed {
		return user, auth.ErrInvalidCredentials
	}
	return user, nil
}

const apiKeyColumns = `id, owner_id, name, prefix, secret_hash, scopes, created_at, last_used_at, expires_at, revoked_at`

func scanAPIKey(row pgx.Row, extra ...any) (auth.APIKey, error) {
	var (
		k              auth.APIKey
		hash           []byte
		last, exp, rev *time.Time
	)
	dest := append([]any{&k.ID, &k.OwnerID, &k.Name, &k.Prefix, &hash, &k.Scopes, &k.CreatedAt, &last, &exp, &rev}, extra...)
	if err := row.Scan(dest...); err != nil {
		return auth.APIKey{}, err
	}
	copy(k.SecretHash[:], hash)
	k.LastUsedAt, k.ExpiresAt, k.RevokedAt = deref(last), deref(exp), deref(rev)
	return k, nil
}

// CreateAPIKey implements auth.Store.
func (s *AuthStore) CreateAPIKey(ctx context.Context, k auth.APIKey) error {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	_, err := s.pool.Exec(ctx, `INSERT INTO api_keys (id, owner_id, name, prefix, secret_hash, scopes, created_at, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, k.ID, k.OwnerID, k.Name, k.Prefix, k.SecretHash[:], k.Scopes, k.CreatedAt, nullTime(k.ExpiresAt))
	if isUniqueViolation(err) {
		return auth.ErrConflict
	}
	return wrapErr("create API key", err)
}

// APIKeys implements auth.Store.
func (s *AuthStore) APIKeys(ctx context.Context, owner uuid.UUID) ([]auth.APIKey, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	rows, err := s.pool.Query(ctx, `SELECT `+apiKeyColumns+` FROM api_keys
		WHERE ($1::uuid IS NULL OR owner_id = $1) ORDER BY created_at DESC, id LIMIT 500`, nullID(owner))
	if err != nil {
		return nil, wrapErr("list API keys", err)
	}
	defer rows.Close()
	var out []auth.APIKey
	for rows.Next() {
		k, err := scanAPIKey(rows)
		if err != nil {
			return nil, wrapErr("list API keys", err)
		}
		out = append(out, k)
	}
	return out, wrapErr("list API keys", rows.Err())
}

// RevokeAPIKey implements auth.Store.
func (s *AuthStore) RevokeAPIKey(ctx context.Context, id, owner uuid.UUID, at time.Time) error {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	tag, err := s.pool.Exec(ctx, `UPDATE api_keys SET revoked_at = $3
		WHERE id = $1 AND ($2::uuid IS NULL OR owner_id = $2) AND revoked_at IS NULL`, id, nullID(owner), at)
	if err == nil && tag.RowsAffected() == 0 {
		return auth.ErrNotFound
	}
	return wrapErr("revoke API key", err)
}

// APIKeyByPrefix implements auth.Store.
func (s *AuthStore) APIKeyByPrefix(ctx context.Context, prefix string) (auth.APIKey, auth.State, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	var (
		st                   auth.State
		role                 string
		studentID, facultyID *uuid.UUID
	)
	k, err := scanAPIKey(s.pool.QueryRow(ctx, `SELECT k.id, k.owner_id, k.name, k.prefix, k.secret_hash, k.scopes,
		k.created_at, k.last_used_at, k.expires_at, k.revoked_at, u.role, u.active, u.must_change_password, s.id, f.id
		FROM api_keys k JOIN users u ON u.id = k.owner_id
		LEFT JOIN students s ON s.user_id = u.id LEFT JOIN faculty f ON f.user_id = u.id
		WHERE k.prefix = $1`, prefix), &role, &st.Active, &st.MustChangePassword, &studentID, &facultyID)
	if errors.Is(err, pgx.ErrNoRows) {
		return auth.APIKey{}, auth.State{}, auth.ErrNotFound
	}
	if err != nil {
		return auth.APIKey{}, auth.State{}, wrapErr("API key by prefix", err)
	}
	st.UserID, st.Role = k.OwnerID, authz.Role(role)
	if studentID != nil {
		st.StudentID = *studentID
	}
	if facultyID != nil {
		st.FacultyID = *facultyID
	}
	return k, st, nil
}

// TouchAPIKey implements auth.Store.
func (s *AuthStore) TouchAPIKey(ctx context.Context, id uuid.UUID, at time.Time) error {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	_, err := s.pool.Exec(ctx, `UPDATE api_keys SET last_used_at = $2 WHERE id = $1`, id, at)
	return wrapErr("touch API key", err)
}

// SigningKeys implements auth.Store.
func (s *AuthStore) SigningKeys(ctx context.Context) ([]auth.SealedSigningKey, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	rows, err := s.pool.Query(ctx, `SELECT kid, public_key, private_key_sealed, created_at, activates_at
		FROM signing_keys ORDER BY activates_at, kid`)
	if err != nil {
		return nil, wrapErr("load signing keys", err)
	}
	defer rows.Close()
	var out []auth.SealedSigningKey
	for rows.Next() {
		var k auth.SealedSigningKey
		if err := rows.Scan(&k.KID, &k.Public, &k.Sealed, &k.CreatedAt, &k.ActivatesAt); err != nil {
			return nil, wrapErr("load signing keys", err)
		}
		out = append(out, k)
	}
	return out, wrapErr("load signing keys", rows.Err())
}

// AddSigningKey implements auth.Store: the decision runs under a
// transaction-scoped advisory lock, so concurrent instances make one key.
func (s *AuthStore) AddSigningKey(ctx context.Context, decide func([]auth.SealedSigningKey) (*auth.SealedSigningKey, error)) error {
	return s.tx(ctx, "add signing key", func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext('campshub360.signing_keys'))`); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT kid, public_key, private_key_sealed, created_at, activates_at FROM signing_keys`)
		if err != nil {
			return err
		}
		var current []auth.SealedSigningKey
		for rows.Next() {
			var k auth.SealedSigningKey
			if err := rows.Scan(&k.KID, &k.Public, &k.Sealed, &k.CreatedAt, &k.ActivatesAt); err != nil {
				rows.Close()
				return err
			}
			current = append(current, k)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		k, err := decide(current)
		if err != nil || k == nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO signing_keys (kid, public_key, private_key_sealed, created_at, activates_at)
			VALUES ($1, $2, $3, $4, $5)`, k.KID, k.Public, k.Sealed, k.CreatedAt, k.ActivatesAt)
		return err
	})
}

// DeleteSigningKeys implements auth.Store.
func (s *AuthStore) DeleteSigningKeys(ctx context.Context, kids []string) error {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	_, err := s.pool.Exec(ctx, `DELETE FROM signing_keys WHERE kid = ANY($1)`, kids)
	return wrapErr("delete signing keys", err)
}

// Cleanup implements auth.Store.
func (s *AuthStore) Cleanup(ctx context.Context, before time.Time) (int64, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	var total int64
	for _, q := range []string{
		`DELETE FROM auth_sessions WHERE expires_at < $1 OR revoked_at < $1`,
		`DELETE FROM refresh_tokens WHERE expires_at < $1`,
		`DELETE FROM revoked_tokens WHERE expires_at < $1`,
		`DELETE FROM mfa_challenges WHERE expires_at < $1`,
		`DELETE FROM login_throttle WHERE updated_at < $1 AND (locked_until IS NULL OR locked_until < $1)`,
	} {
		tag, err := s.pool.Exec(ctx, q, before)
		if err != nil {
			return total, wrapErr("auth cleanup", err)
		}
		total += tag.RowsAffected()
	}
	return total, nil
}
