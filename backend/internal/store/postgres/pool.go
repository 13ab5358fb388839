// Package postgres is the PostgreSQL side of the backend: the connection
// pool, schema migrations (goose over the embedded backend/migrations),
// partition maintenance, and the domain store implementations.
//
// Every exported function and method is safe for concurrent use unless its
// doc says otherwise. Errors that mean "the database could not answer"
// (timeouts, refused or broken connections, a closed pool, server shutdown)
// match domain.ErrUnavailable.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/campshub360/edge/backend/internal/config"
)

// Querier is the query surface shared by *pgxpool.Pool, *pgx.Conn and
// pgx.Tx, so the same code runs inside or outside a transaction.
type Querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// Options adjusts a pool for its user.
type Options struct {
	// ApplicationName is reported to the server (pg_stat_activity).
	ApplicationName string
	// StatementTimeout, when positive, is set as the server-side
	// statement_timeout of every connection, backing up client deadlines.
	StatementTimeout time.Duration
	// Lazy skips the startup check that the server answers (a read replica
	// may come up later; its reads fall back meanwhile).
	Lazy bool
}

// ParallelSetupCost is the planner's parallel_setup_cost on the backend's
// connections (PostgreSQL's default is 1000): high enough that request
// queries stay serial, low enough that term-wide reports are parallel.
const ParallelSetupCost = 10000

// ConnectError reports that the pool could not open a working connection at
// startup. Its text names the server address and the cause, never the
// password: "cannot reach PostgreSQL at 127.0.0.1:5432: connection refused".
type ConnectError struct {
	// Addr is the server address tried (host:port, or a socket path).
	Addr string
	// Reason is the cause in a few words.
	Reason string
	// Refused is true when the server answered but refused the connection
	// (authentication, unknown database...), false when it could not be
	// reached.
	Refused bool
	// Err is the underlying error (its text holds the user and database
	// names, never the password).
	Err error
}

// Error returns the one-line description.
func (e *ConnectError) Error() string {
	if e.Refused {
		return "PostgreSQL at " + e.Addr + " refused the connection: " + e.Reason
	}
	return "cannot reach PostgreSQL at " + e.Addr + ": " + e.Reason
}

// Unwrap returns the underlying error.
func (e *ConnectError) Unwrap() error { return e.Err }

// Open creates a pool from db and checks, within db.ConnectTimeout, that the
// server answers. It returns a *ConnectError when it does not (the pool is
// closed then). The caller owns the pool and must Close it.
func Open(ctx context.Context, db config.Database, opts Options) (*pgxpool.Pool, error) {
	pc, err := pgxpool.ParseConfig(db.URL)
	if err != nil {
		// config.Load validated the string already; keep the message free of it.
		return nil, errors.New("DATABASE_URL is not a valid PostgreSQL connection string")
	}
	pc.MaxConns = db.MaxConns
	pc.MinConns = db.MinConns
	pc.MaxConnLifetime = db.MaxConnLifetime
	pc.MaxConnLifetimeJitter = db.MaxConnLifetime / 10
	pc.MaxConnIdleTime = db.MaxConnIdleTime
	pc.HealthCheckPeriod = 30 * time.Second
	pc.ConnConfig.ConnectTimeout = db.ConnectTimeout
	if opts.ApplicationName != "" {
		pc.ConnConfig.RuntimeParams["application_name"] = opts.ApplicationName
	}
	if opts.StatementTimeout > 0 {
		pc.ConnConfig.RuntimeParams["statement_timeout"] = strconv.FormatInt(opts.StatementTimeout.Milliseconds(), 10)
	}
	// The API's statements are small: starting parallel workers for a
	// query costing a few thousand units (a student's summary) takes far
	// longer than the query. Reports over millions of rows still cost
	// more than this and go parallel.
	pc.ConnConfig.RuntimeParams["parallel_setup_cost"] = strconv.Itoa(ParallelSetupCost)
	mode, err := ExecMode(db.ExecMode)
	if err != nil {
		return nil, err
	}
	pc.ConnConfig.DefaultQueryExecMode = mode
	pc.AfterConnect = func(_ context.Context, conn *pgx.Conn) error {
		RegisterTypes(conn.TypeMap())
		return nil
	}
	addr := serverAddr(pc.ConnConfig.Host, pc.ConnConfig.Port)

	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, &ConnectError{Addr: addr, Reason: describeConnectFailure(err, db.ConnectTimeout), Err: err}
	}
	if opts.Lazy {
		return pool, nil
	}
	pingCtx, cancel := context.WithTimeout(ctx, db.ConnectTimeout)
	defer cancel()
	if err := pool.Ping(pingCtx); err != nil {
		pool.Close()
		var pgErr *pgconn.PgError
		return nil, &ConnectError{
			Addr:    addr,
			Reason:  describeConnectFailure(err, db.ConnectTimeout),
			Refused: errors.As(err, &pgErr),
			Err:     err,
		}
	}
	return pool, nil
}

// RegisterTypes teaches a connection's type map the Go types the stores
// pass as parameters, so that every exec mode can encode them without
// asking the server for parameter types (exec and simple_protocol do not
// describe statements): uuid.UUID and []uuid.UUID as uuid and uuid[].
func RegisterTypes(tm *pgtype.Map) {
	tm.RegisterDefaultPgType(uuid.UUID{}, "uuid")
	tm.RegisterDefaultPgType([]uuid.UUID{}, "_uuid")
}

// ExecMode maps a DATABASE_QUERY_EXEC_MODE name (config.ExecModes; "" is
// cache_statement) to pgx's QueryExecMode:
//
//	cache_statement  prepare once per connection, cache the statement (default)
//	cache_describe   describe once per connection, cache the description;
//	                 no named prepared statements survive (pgbouncer transaction mode)
//	describe_exec    describe every time, unnamed statements
//	exec             extended protocol, parameter types from Go types
//	simple_protocol  simple protocol, client-side parameter interpolation
func ExecMode(name string) (pgx.QueryExecMode, error) {
	switch name {
	case "", "cache_statement":
		return pgx.QueryExecModeCacheStatement, nil
	case "cache_describe":
		return pgx.QueryExecModeCacheDescribe, nil
	case "describe_exec":
		return pgx.QueryExecModeDescribeExec, nil
	case "exec":
		return pgx.QueryExecModeExec, nil
	case "simple_protocol":
		return pgx.QueryExecModeSimpleProtocol, nil
	}
	return 0, fmt.Errorf("unknown query exec mode %q", name)
}

// serverAddr formats the address pgx dials: host:port for TCP, the socket
// file for a Unix-domain socket directory.
func serverAddr(host string, port uint16) string {
	p := strconv.Itoa(int(port))
	if strings.HasPrefix(host, "/") {
		return filepath.Join(host, ".s.PGSQL."+p)
	}
	return net.JoinHostPort(host, p)
}

// describeConnectFailure reduces a connection error to a short cause.
func describeConnectFailure(err error, timeout time.Duration) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Message + " (SQLSTATE " + pgErr.Code + ")"
	}
	if errors.Is(err, context.DeadlineExceeded) || pgconn.Timeout(err) {
		return "no answer within " + timeout.String()
	}
	var netErr net.Error
	if errors.As(err, &netErr) && netErr.Timeout() {
		return "no answer within " + timeout.String()
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		if dnsErr.IsNotFound {
			return "host name " + dnsErr.Name + " not found"
		}
		return "cannot resolve host name " + dnsErr.Name
	}
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return errno.Error()
	}
	var sysErr *os.SyscallError
	if errors.As(err, &sysErr) {
		return sysErr.Err.Error()
	}
	if errors.Is(err, context.Canceled) {
		return "interrupted"
	}
	// Innermost cause: pgx wraps it with the user and database names, which
	// say nothing new here.
	for {
		next := errors.Unwrap(err)
		if next == nil {
			break
		}
		err = next
	}
	return fmt.Sprint(err)
}
