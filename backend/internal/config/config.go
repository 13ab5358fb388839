// Package config loads and validates the backend's configuration from
// command-line flags and environment variables. Loading reports every
// problem at once, each with its path (the flag or variable name); nothing
// falls back to a default silently later.
//
// Environment variables (an empty value counts as unset):
//
//	DATABASE_URL                 PostgreSQL connection string (required)
//	DATABASE_MAX_CONNS           pool size, 1..1000 (default 10)
//	DATABASE_MIN_CONNS           idle connections kept open, 0..max (default 0)
//	DATABASE_MAX_CONN_LIFETIME   Go duration, >= 1m (default 30m)
//	DATABASE_MAX_CONN_IDLE_TIME  Go duration, >= 10s (default 5m)
//	DATABASE_CONNECT_TIMEOUT     Go duration, 100ms..1m (default 5s)
//	DATABASE_QUERY_TIMEOUT       Go duration, 10ms..5m (default 5s)
//	REDIS_URL                    redis:// or rediss:// URL (optional)
//	LOG_LEVEL                    debug, info, warn, error (default info; debug with --dev)
//	LOG_FORMAT                   json or text (default json; text with --dev)
//	SHUTDOWN_TIMEOUT             Go duration, 1s..10m (default 15s)
//	READY_TIMEOUT                Go duration, 10ms..30s (default 1s)
//	PARTITION_MONTHS_AHEAD       months of partitions kept ahead, 1..24 (default 3)
//
// and the authentication and secret settings listed in auth.go.
package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"
)

// Problem is one configuration error: Path names the flag ("--listen") or
// environment variable ("DATABASE_URL"); Message says what is wrong without
// repeating secrets.
type Problem struct {
	Path    string
	Message string
}

// Error lists every configuration problem found.
type Error struct {
	Problems []Problem
}

// Error returns the problems on one line: "invalid configuration: PATH:
// MESSAGE; PATH: MESSAGE".
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("invalid configuration: ")
	for i, p := range e.Problems {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(p.Path)
		b.WriteString(": ")
		b.WriteString(p.Message)
	}
	return b.String()
}

// Database configures the PostgreSQL connection pool.
type Database struct {
	// URL is the connection string (URL or keyword/value form). It holds
	// the password: never log or print it.
	URL string
	// MaxConns and MinConns bound the pool, in connections.
	MaxConns int32
	MinConns int32
	// MaxConnLifetime and MaxConnIdleTime recycle connections.
	MaxConnLifetime time.Duration
	MaxConnIdleTime time.Duration
	// ConnectTimeout bounds establishing one connection, and the startup
	// check that the server answers.
	ConnectTimeout time.Duration
	// QueryTimeout is the deadline of every query made while serving a
	// request (also applied server-side as statement_timeout).
	QueryTimeout time.Duration
}

// Serve is the configuration of `backend serve`.
type Serve struct {
	// Listen is the host:port of the HTTP listener (API, health, metrics).
	Listen string
	// Dev selects developer defaults: text logs at debug level.
	Dev bool
	// RuntimeDir, when not empty, receives a state file
	// backend-<port>.json (pid, listen address, start time) while serving.
	RuntimeDir string
	// CheckConfig asks to validate the configuration and exit.
	CheckConfig bool
	// LogLevel and LogFormat configure shared/logging.
	LogLevel  string
	LogFormat string
	// Database configures PostgreSQL.
	Database Database
	// RedisURL is "" when Redis is not used. It may hold a password.
	RedisURL string
	// ShutdownTimeout bounds the graceful shutdown: in-flight requests that
	// have not finished by then are abandoned.
	ShutdownTimeout time.Duration
	// ReadyTimeout bounds each dependency check of GET /ready.
	ReadyTimeout time.Duration
	// PartitionMonthsAhead is how many months after the current one must
	// have partitions (attendance records, audit events).
	PartitionMonthsAhead int
	// Auth configures authentication and data protection (auth.go).
	Auth Auth
}

// DefaultListen is the default HTTP listen address.
const DefaultListen = "127.0.0.1:9001"

// DefaultPartitionMonthsAhead is the default PARTITION_MONTHS_AHEAD.
const DefaultPartitionMonthsAhead = 3

// LoadServe parses the flags of `backend serve` (args excludes the
// subcommand name) and reads the environment through getenv. It returns an
// *Error listing every problem, flag.ErrHelp when -h/--help was given, or
// another error for unparsable flags.
func LoadServe(args []string, getenv func(string) string) (Serve, error) {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	cfg := Serve{}
	fs.StringVar(&cfg.Listen, "listen", DefaultListen, "HTTP listen address host:port")
	fs.BoolVar(&cfg.Dev, "dev", false, "developer mode: text logs at debug level")
	fs.StringVar(&cfg.RuntimeDir, "runtime-dir", "", "directory for the backend-<port>.json state file")
	fs.BoolVar(&cfg.CheckConfig, "check-config", false, "validate the configuration and exit")
	if err := fs.Parse(args); err != nil {
		return Serve{}, err
	}
	if fs.NArg() > 0 {
		return Serve{}, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}

	var ps problems
	if err := validateListen(cfg.Listen); err != nil {
		ps.add("--listen", err.Error())
	}
	if cfg.RuntimeDir != "" && strings.ContainsRune(cfg.RuntimeDir, 0) {
		ps.add("--runtime-dir", "must be a directory path")
	}
	cfg.LogLevel, cfg.LogFormat = "info", "json"
	if cfg.Dev {
		cfg.LogLevel, cfg.LogFormat = "debug", "text"
	}
	if v := getenv("LOG_LEVEL"); v != "" {
		switch strings.ToLower(v) {
		case "debug", "info", "warn", "warning", "error":
			cfg.LogLevel = v
		default:
			ps.add("LOG_LEVEL", "must be debug, info, warn or error")
		}
	}
	if v := getenv("LOG_FORMAT"); v != "" {
		switch strings.ToLower(v) {
		case "json", "text":
			cfg.LogFormat = v
		default:
			ps.add("LOG_FORMAT", "must be json or text")
		}
	}
	cfg.Database = loadDatabase(getenv, &ps)
	if v := getenv("REDIS_URL"); v != "" {
		if _, err := redis.ParseURL(v); err != nil {
			ps.add("REDIS_URL", "not a valid Redis URL: "+safeParseMessage(err))
		}
		cfg.RedisURL = v
	}
	cfg.ShutdownTimeout = ps.duration(getenv, "SHUTDOWN_TIMEOUT", 15*time.Second, time.Second, 10*time.Minute)
	cfg.ReadyTimeout = ps.duration(getenv, "READY_TIMEOUT", time.Second, 10*time.Millisecond, 30*time.Second)
	cfg.PartitionMonthsAhead = int(ps.integer(getenv, "PARTITION_MONTHS_AHEAD", DefaultPartitionMonthsAhead, 1, 24))
	cfg.Auth = loadAuth(getenv, cfg.Dev, &ps)
	if len(ps) > 0 {
		return Serve{}, &Error{Problems: ps}
	}
	return cfg, nil
}

// LoadDatabase reads the Database configuration from the environment, for
// subcommands that only need PostgreSQL (migrate, seed). It returns an
// *Error listing every problem.
func LoadDatabase(getenv func(string) string) (Database, error) {
	var ps problems
	db := loadDatabase(getenv, &ps)
	if len(ps) > 0 {
		return Database{}, &Error{Problems: ps}
	}
	return db, nil
}

func loadDatabase(getenv func(string) string, ps *problems) Database {
	db := Database{URL: getenv("DATABASE_URL")}
	if db.URL == "" {
		ps.add("DATABASE_URL", "is required (e.g. postgres://user:password@127.0.0.1:5432/campus)")
	} else if _, err := pgxpool.ParseConfig(db.URL); err != nil {
		ps.add("DATABASE_URL", "not a valid PostgreSQL connection string: "+safeParseMessage(err))
	}
	db.MaxConns = int32(ps.integer(getenv, "DATABASE_MAX_CONNS", 10, 1, 1000))
	db.MinConns = int32(ps.integer(getenv, "DATABASE_MIN_CONNS", 0, 0, 1000))
	if db.MinConns > db.MaxConns && db.MaxConns > 0 {
		ps.add("DATABASE_MIN_CONNS", "must not exceed DATABASE_MAX_CONNS")
	}
	db.MaxConnLifetime = ps.duration(getenv, "DATABASE_MAX_CONN_LIFETIME", 30*time.Minute, time.Minute, 24*time.Hour)
	db.MaxConnIdleTime = ps.duration(getenv, "DATABASE_MAX_CONN_IDLE_TIME", 5*time.Minute, 10*time.Second, 24*time.Hour)
	db.ConnectTimeout = ps.duration(getenv, "DATABASE_CONNECT_TIMEOUT", 5*time.Second, 100*time.Millisecond, time.Minute)
	db.QueryTimeout = ps.duration(getenv, "DATABASE_QUERY_TIMEOUT", 5*time.Second, 10*time.Millisecond, 5*time.Minute)
	return db
}

// problems accumulates configuration problems.
type problems []Problem

func (ps *problems) add(path, msg string) { *ps = append(*ps, Problem{Path: path, Message: msg}) }

// duration reads a Go duration from the environment, within [lo, hi].
func (ps *problems) duration(getenv func(string) string, name string, def, lo, hi time.Duration) time.Duration {
	v := getenv(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < lo || d > hi {
		ps.add(name, fmt.Sprintf("must be a duration from %s to %s (e.g. %s)", lo, hi, def))
		return def
	}
	return d
}

// integer reads a decimal integer from the environment, within [lo, hi].
func (ps *problems) integer(getenv func(string) string, name string, def, lo, hi int64) int64 {
	v := getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < lo || n > hi {
		ps.add(name, fmt.Sprintf("must be an integer from %d to %d", lo, hi))
		return def
	}
	return n
}

// validateListen checks a host:port listen address (port 0 picks a free
// port).
func validateListen(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return errors.New("must be host:port (e.g. " + DefaultListen + ")")
	}
	if host != "" && net.ParseIP(host) == nil && !validHostname(host) {
		return errors.New("host must be an IP address or a host name")
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 0 || n > 65535 {
		return errors.New("port must be a number from 0 to 65535")
	}
	return nil
}

func validHostname(h string) bool {
	if len(h) > 253 {
		return false
	}
	for _, c := range h {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '.':
		default:
			return false
		}
	}
	return true
}

// safeParseMessage returns a parse error's reason without the input it was
// parsing, which may hold a password: url.Error carries the whole URL, so
// only its inner error is kept; a connection string parser's own message is
// replaced by its innermost cause for the same reason.
func safeParseMessage(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err.Error()
	}
	inner := err
	for {
		next := errors.Unwrap(inner)
		if next == nil {
			break
		}
		inner = next
	}
	if inner != err {
		return inner.Error()
	}
	msg := err.Error()
	if strings.Contains(msg, "://") || strings.Contains(msg, "password") {
		return "malformed"
	}
	return msg
}
