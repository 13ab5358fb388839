package postgres

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/puddle/v2"

	"github.com/campshub360/edge/backend/internal/domain"
)

// StoreOptions configure a Store. Zero durations take the defaults noted.
type StoreOptions struct {
	// Replica, when not nil, serves lists and reports; reads that must see
	// a just-made write, and every write, use the primary. When the
	// replica cannot be reached a read falls back to the primary.
	Replica *pgxpool.Pool
	// Timeout is the deadline of each call (default 5s); ReportTimeout of
	// report calls (default 30s). A caller's sooner deadline wins.
	Timeout       time.Duration
	ReportTimeout time.Duration
	// Rules are the institution's attendance rules. A nil TimeZone is UTC.
	Rules domain.Rules
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// OnReplicaFallback, when set, is called each time a read meant for
	// the replica ran on the primary instead (a metric).
	OnReplicaFallback func()
}

// Store implements domain.Store on PostgreSQL. Every call runs under a
// deadline (StoreOptions.Timeout, or ReportTimeout for reports). Safe for
// concurrent use.
type Store struct {
	primary       *pgxpool.Pool
	read          Querier
	timeout       time.Duration
	reportTimeout time.Duration
	rules         domain.Rules
	now           func() time.Time
}

var _ domain.Store = (*Store)(nil)

// NewStore returns a Store on the primary pool (and the replica in o).
func NewStore(primary *pgxpool.Pool, o StoreOptions) *Store {
	if o.Timeout <= 0 {
		o.Timeout = 5 * time.Second
	}
	if o.ReportTimeout <= 0 {
		o.ReportTimeout = 30 * time.Second
	}
	if o.Rules.TimeZone == nil {
		o.Rules.TimeZone = time.UTC
	}
	if o.Rules.Threshold == 0 {
		o.Rules.Threshold = domain.DefaultThreshold
	}
	if o.Rules.CorrectionWindowDays == 0 {
		o.Rules.CorrectionWindowDays = 7
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	var read Querier = primary
	if o.Replica != nil && o.Replica != primary {
		read = &replicaReader{replica: o.Replica, primary: primary, onFallback: o.OnReplicaFallback}
	}
	return &Store{primary: primary, read: read, timeout: o.Timeout, reportTimeout: o.ReportTimeout, rules: o.Rules, now: o.Now}
}

// Rules returns the attendance rules the store applies.
func (s *Store) Rules() domain.Rules { return s.rules }

// call returns ctx bounded by the store's per-call deadline.
func (s *Store) call(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.timeout)
}

// report returns ctx bounded by the report deadline.
func (s *Store) report(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.reportTimeout)
}

// tx runs f in a transaction on the primary under the per-call deadline.
func (s *Store) tx(ctx context.Context, f func(tx pgx.Tx) error) error {
	ctx, cancel := s.call(ctx)
	defer cancel()
	return pgx.BeginFunc(ctx, s.primary, f)
}

// today is the institution's current date.
func (s *Store) today() time.Time { return domain.Today(s.now(), s.rules.TimeZone) }

// replicaReader sends reads to the replica and, when it cannot be reached
// (connection refused or lost, pool closed, server shutting down), once
// more to the primary. Timeouts are not retried: the deadline is shared.
type replicaReader struct {
	replica, primary *pgxpool.Pool
	onFallback       func()
}

func (r *replicaReader) fellBack() {
	if r.onFallback != nil {
		r.onFallback()
	}
}

// Exec implements Querier.
func (r *replicaReader) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	tag, err := r.replica.Exec(ctx, sql, args...)
	if err != nil && replicaDown(err) && ctx.Err() == nil {
		r.fellBack()
		return r.primary.Exec(ctx, sql, args...)
	}
	return tag, err
}

// Query implements Querier.
func (r *replicaReader) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	rows, err := r.replica.Query(ctx, sql, args...)
	if err != nil && replicaDown(err) && ctx.Err() == nil {
		r.fellBack()
		return r.primary.Query(ctx, sql, args...)
	}
	return rows, err
}

// QueryRow implements Querier through Query, so that it can fall back.
func (r *replicaReader) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	rows, err := r.Query(ctx, sql, args...)
	return &rowsRow{rows: rows, err: err}
}

// rowsRow adapts Rows to Row with pgx's QueryRow semantics.
type rowsRow struct {
	rows pgx.Rows
	err  error
}

// Scan implements pgx.Row.
func (r *rowsRow) Scan(dest ...any) error {
	if r.err != nil {
		return r.err
	}
	defer r.rows.Close()
	if !r.rows.Next() {
		if err := r.rows.Err(); err != nil {
			return err
		}
		return pgx.ErrNoRows
	}
	if err := r.rows.Scan(dest...); err != nil {
		return err
	}
	r.rows.Close()
	return r.rows.Err()
}

// replicaDown reports errors that mean the replica could not be used at
// all, as opposed to a query that failed or ran out of time.
func replicaDown(err error) bool {
	var connErr *pgconn.ConnectError
	var netErr *net.OpError
	var pgErr *pgconn.PgError
	switch {
	case errors.As(err, &connErr), errors.Is(err, puddle.ErrClosedPool), errors.Is(err, net.ErrClosed):
		return true
	case errors.As(err, &pgErr):
		return strings.HasPrefix(pgErr.Code, "08") || pgErr.Code == "57P01" || pgErr.Code == "57P02" || pgErr.Code == "57P03" || pgErr.Code == "53300"
	case errors.As(err, &netErr):
		return !netErr.Timeout()
	}
	return false
}

// constraintError describes how a violated constraint is reported.
type constraintError struct {
	invalid bool // *InvalidError instead of *ConflictError
	code    string
	field   string
	message string
}

// constraints maps constraint and index names to client-safe errors.
var constraints = map[string]constraintError{
	"students_roll_number_key":               {code: "duplicate", field: "roll_number", message: "a student with this roll number already exists"},
	"students_email_key":                     {code: "duplicate", field: "email", message: "a student with this e-mail address already exists"},
	"students_program_fk":                    {invalid: true, field: "department", message: "must be the program's department"},
	"faculty_employee_id_key":                {code: "duplicate", field: "employee_id", message: "a faculty member with this employee id already exists"},
	"faculty_email_key":                      {code: "duplicate", field: "email", message: "a faculty member with this e-mail address already exists"},
	"departments_code_key":                   {code: "duplicate", field: "code", message: "a department with this code already exists"},
	"programs_code_key":                      {code: "duplicate", field: "code", message: "a program with this code already exists"},
	"courses_code_key":                       {code: "duplicate", field: "code", message: "a course with this code already exists"},
	"terms_name_key":                         {code: "duplicate", field: "name", message: "a term with this name already exists"},
	"terms_one_current":                      {code: "duplicate", field: "is_current", message: "another term is current"},
	"holidays_pkey":                          {code: "duplicate", field: "date", message: "this date is already a holiday"},
	"sections_course_term_code_key":          {code: "duplicate", field: "section_code", message: "the course already has a section with this code in the term"},
	"sections_course_id_fkey":                {invalid: true, field: "course_id", message: "no course has this id"},
	"sections_term_id_fkey":                  {invalid: true, field: "term_id", message: "no term has this id"},
	"sections_faculty_id_fkey":               {invalid: true, field: "faculty_id", message: "no faculty member has this id"},
	"timetable_slots_no_section_overlap":     {code: "double_booked", field: "start_time", message: "the section already has a slot overlapping this time"},
	"timetable_slots_no_faculty_overlap":     {code: "double_booked", field: "start_time", message: "the section's faculty member already teaches in a slot overlapping this time"},
	"timetable_slots_no_room_overlap":        {code: "double_booked", field: "room", message: "the room is already booked in a slot overlapping this time"},
	"attendance_sessions_slot_date_key":      {code: "duplicate", field: "starts_at", message: "the slot already has a session on this date"},
	"attendance_sessions_no_section_overlap": {code: "double_booked", field: "starts_at", message: "the section already has a session overlapping this time"},
	"attendance_sessions_no_faculty_overlap": {code: "double_booked", field: "starts_at", message: "the faculty member already has a session overlapping this time"},
	"leave_applications_no_overlap":          {code: "overlap", field: "start_date", message: "the dates overlap another pending or approved leave application"},
	"correction_requests_one_pending":        {code: "pending_exists", field: "session_id", message: "a correction request for this record is already pending"},
}

// mapErr turns constraint violations into domain errors and wraps the
// rest like wrapErr.
func mapErr(op string, err error) error {
	if err == nil {
		return nil
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		if c, ok := constraints[pgErr.ConstraintName]; ok {
			if c.invalid {
				return domain.Invalid(c.field, c.message)
			}
			return domain.Conflict(c.code, c.field, c.message)
		}
		switch pgErr.Code {
		case "23503": // foreign_key_violation
			if strings.Contains(pgErr.Detail, "is still referenced") {
				return domain.Conflict("in_use", "", "it is still referenced by "+strings.ReplaceAll(pgErr.TableName, "_", " ")+"; remove or reassign those first")
			}
			// A reference to a missing row: constraints are named
			// <table>_<column>_fkey.
			field := strings.TrimSuffix(strings.TrimPrefix(pgErr.ConstraintName, pgErr.TableName+"_"), "_fkey")
			return domain.Invalid(field, "refers to nothing: no such "+strings.TrimSuffix(field, "_id"))
		case "40001", "40P01": // serialization_failure, deadlock_detected
			return fmt.Errorf("%s: %w: %w", op, domain.ErrUnavailable, err)
		}
	}
	return wrapErr(op, err)
}

// builder assembles a statement with numbered parameters.
type builder struct {
	sql   strings.Builder
	args  []any
	where int
}

// arg adds v and returns its placeholder ($n).
func (b *builder) arg(v any) string {
	b.args = append(b.args, v)
	return "$" + strconv.Itoa(len(b.args))
}

// w appends a condition, joined with WHERE/AND; "?" in cond is replaced by
// the placeholders of vals in order.
func (b *builder) w(cond string, vals ...any) {
	if b.where == 0 {
		b.sql.WriteString(" WHERE ")
	} else {
		b.sql.WriteString(" AND ")
	}
	b.where++
	for _, v := range vals {
		cond = strings.Replace(cond, "?", b.arg(v), 1)
	}
	b.sql.WriteString(cond)
}

// s appends raw SQL.
func (b *builder) s(parts ...string) {
	for _, p := range parts {
		b.sql.WriteString(p)
	}
}

// scanRow runs the built statement on q and scans its one row with scan.
func (b *builder) scanRow(ctx context.Context, q Querier, scan func(pgx.Row) error) error {
	return scan(q.QueryRow(ctx, b.sql.String(), b.args...))
}

// page trims a result of limit+1 rows to limit and computes the next key.
func page[T any](items []T, limit int, key func(T) domain.Key) domain.Page[T] {
	p := domain.Page[T]{Items: items}
	if len(items) > limit {
		p.Items = items[:limit]
		k := key(p.Items[limit-1])
		p.Next = &k
	}
	if p.Items == nil {
		p.Items = []T{}
	}
	return p
}

// collect scans every row with scan.
func collect[T any](rows pgx.Rows, scan func(pgx.Row) (T, error)) ([]T, error) {
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// one maps pgx.ErrNoRows to domain.ErrNotFound.
func one[T any](v T, err error, op string) (T, error) {
	if errors.Is(err, pgx.ErrNoRows) {
		var zero T
		return zero, domain.ErrNotFound
	}
	if err != nil {
		var zero T
		return zero, mapErr(op, err)
	}
	return v, nil
}

// nullUUID is NULL for uuid.Nil.
func nullUUID(id [16]byte) any {
	if id == ([16]byte{}) {
		return nil
	}
	return id
}

// nullText is NULL for "".
func nullText(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// keyTime renders an instant as a keyset sort value.
func keyTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// parseKeyTime parses a keyset sort value written by keyTime.
func parseKeyTime(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, domain.Invalid("cursor", "is not a cursor this server issued; use next_cursor from a previous page unchanged")
	}
	return t, nil
}

// found maps pgx.ErrNoRows to domain.ErrNotFound, leaving other errors for
// the caller to map.
func found[T any](v T, err error) (T, error) {
	if errors.Is(err, pgx.ErrNoRows) {
		return v, domain.ErrNotFound
	}
	return v, err
}
