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
//	SHUTDOWN_DRAIN_DELAY         Go duration, 0..5m: on SIGTERM, how long /ready and /health/ answer
//	                             503 "draining" (responses carry Connection: close) while requests
//	                             are still served, before the listener closes (default 5s)
//	READY_TIMEOUT                Go duration, 10ms..30s (default 1s)
//	PARTITION_MONTHS_AHEAD       months of partitions kept ahead, 3..24 (default 3)
//	DATABASE_REPLICA_URL         read replica for lists and reports (optional; primary when unset)
//	DATABASE_QUERY_EXEC_MODE     cache_statement (default), cache_describe, describe_exec,
//	                             exec or simple_protocol (pgx QueryExecMode; the last four
//	                             work behind pgbouncer in transaction pooling mode)
//	DATABASE_REPORT_TIMEOUT      Go duration, 100ms..10m: deadline of report queries (default 30s)
//	INSTITUTION_TIMEZONE         IANA time zone of timetables and session dates (default Asia/Kolkata)
//	ATTENDANCE_GRACE_PERIOD      Go duration, 0..2h: present after starts_at + this is late (default 5m)
//	ATTENDANCE_THRESHOLD         percentage 0..100, up to 2 decimals: exam eligibility (default 75)
//	CORRECTION_WINDOW_DAYS       days after a session a correction may be filed, 1..365 (default 7)
//	QR_TOKEN_TTL                 Go duration, 10s..10m: lifetime of a QR check-in token (default 60s)
//	QR_SIGNING_KEY               base64 HMAC key of QR check-in tokens, >= 32 bytes, the same on
//	                             every instance (required outside --dev; QR_SIGNING_KEY_FILE
//	                             reads it from a file; with --dev and no key one is generated
//	                             under --runtime-dir/secrets/)
//	SESSION_JOB_INTERVAL         Go duration, 1s..10m: how often sessions are opened/closed (default 15s)
//	MAINTENANCE_INTERVAL         Go duration, 1m..24h: partition maintenance period (default 1h)
//	AUDIT_RETENTION_MONTHS       whole months of audit events kept, 0 = forever, else 3..600 (default 24)
//	CACHE_TTL                    Go duration, 1s..24h: Redis read-through entry lifetime (default 5m)
//	INSTANCE_ID                  origin of published invalidations (default host-pid)
//
// and the authentication and secret settings listed in auth.go.
package config

import (
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/campshub360/edge/backend/internal/domain"
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
	// ReportTimeout is the deadline of report queries (section reports,
	// overview, shortages, exports), which scan more rows.
	ReportTimeout time.Duration
	// ReplicaURL, when not empty, is a read replica used for lists and
	// reports; reads that must see a just-made write use URL. It may hold
	// a password.
	ReplicaURL string
	// ExecMode is the pgx query execution mode: one of ExecModes.
	ExecMode string
}

// ExecModes are the accepted DATABASE_QUERY_EXEC_MODE values, after pgx's
// QueryExecMode names. cache_statement prepares each statement once per
// connection (fastest, needs session pooling); cache_describe and
// describe_exec describe without keeping prepared statements, exec and
// simple_protocol need no prepared statements at all (pgbouncer
// transaction pooling).
var ExecModes = []string{"cache_statement", "cache_describe", "describe_exec", "exec", "simple_protocol"}

// Attendance holds the institution's attendance rules (DOMAIN.md "Rules").
type Attendance struct {
	// TimeZone is the institution's time zone (timetables, session dates,
	// "today").
	TimeZone *time.Location
	// GracePeriod: a student marked present later than starts_at +
	// GracePeriod becomes late.
	GracePeriod time.Duration
	// ThresholdHundredths is the eligibility threshold in hundredths of a
	// percent (7500 = 75.00%).
	ThresholdHundredths int64
	// CorrectionWindowDays is how many days after a session a correction
	// request may be filed.
	CorrectionWindowDays int
	// QRTokenTTL is the lifetime of a QR check-in token.
	QRTokenTTL time.Duration
	// QRSigningKey is the HMAC-SHA256 key of QR tokens; nil when --dev
	// should generate one.
	QRSigningKey []byte
}

// Jobs configures the background jobs.
type Jobs struct {
	// SessionInterval is the period of the session open/close job.
	SessionInterval time.Duration
	// MaintenanceInterval is the period of partition maintenance.
	MaintenanceInterval time.Duration
	// AuditRetentionMonths is how many whole months of audit events are
	// kept before their partitions are dropped (0 keeps them forever).
	AuditRetentionMonths int
}

// Serve is the configuration of `backend serve`.
type Serve struct {
	// Listen is the host:port of the HTTP listener (API, health, metrics).
	Listen string
	// Dev selects developer defaults: text logs at debug level, and the
	// secrets left unset (ENCRYPTION_KEYS, SIGNING_KEY_SECRETS,
	// QR_SIGNING_KEY) generated under the runtime dir.
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
	// ShutdownDrainDelay is how long the instance keeps serving after the
	// stop signal while failing its health endpoints (draining), so that
	// load balancers take it out before its listener closes; then the
	// ShutdownTimeout applies. 0: close at once.
	ShutdownDrainDelay time.Duration
	// ReadyTimeout bounds each dependency check of GET /ready.
	ReadyTimeout time.Duration
	// PartitionMonthsAhead is how many months after the current one must
	// have partitions (attendance records, audit events).
	PartitionMonthsAhead int
	// Attendance holds the attendance rules.
	Attendance Attendance
	// Jobs configures the background jobs.
	Jobs Jobs
	// CacheTTL is the lifetime of Redis read-through cache entries.
	CacheTTL time.Duration
	// InstanceID names this process as the origin of published cache
	// invalidations.
	InstanceID string
	// Auth configures authentication and data protection (auth.go).
	Auth Auth
}

// DefaultListen is the default HTTP listen address.
const DefaultListen = "127.0.0.1:9001"

// DefaultPartitionMonthsAhead is the default PARTITION_MONTHS_AHEAD (and its
// minimum: the maintenance job keeps at least three months ahead).
const DefaultPartitionMonthsAhead = 3

// DefaultTimeZone is the default INSTITUTION_TIMEZONE.
const DefaultTimeZone = "Asia/Kolkata"

// MinQRKeyBytes is the shortest accepted QR_SIGNING_KEY, in bytes.
const MinQRKeyBytes = 32

// LoadServe parses the flags of `backend serve` (args excludes the
// subcommand name) and reads the environment through getenv. It returns an
// *Error listing every problem, flag.ErrHelp when -h/--help was given, or
// another error for unparsable flags.
func LoadServe(args []string, getenv func(string) string) (Serve, error) {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	cfg := Serve{}
	fs.StringVar(&cfg.Listen, "listen", DefaultListen, "HTTP listen address host:port")
	fs.BoolVar(&cfg.Dev, "dev", false, "developer mode: text logs at debug level, secrets generated under --runtime-dir")
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
	cfg.ShutdownDrainDelay = ps.duration(getenv, "SHUTDOWN_DRAIN_DELAY", 5*time.Second, 0, 5*time.Minute)
	cfg.ReadyTimeout = ps.duration(getenv, "READY_TIMEOUT", time.Second, 10*time.Millisecond, 30*time.Second)
	cfg.PartitionMonthsAhead = int(ps.integer(getenv, "PARTITION_MONTHS_AHEAD", DefaultPartitionMonthsAhead, DefaultPartitionMonthsAhead, 24))
	cfg.Attendance = loadAttendance(getenv, &ps, cfg.Dev)
	cfg.Auth = loadAuth(getenv, cfg.Dev, &ps)
	cfg.Jobs = Jobs{
		SessionInterval:      ps.duration(getenv, "SESSION_JOB_INTERVAL", 15*time.Second, time.Second, 10*time.Minute),
		MaintenanceInterval:  ps.duration(getenv, "MAINTENANCE_INTERVAL", time.Hour, time.Minute, 24*time.Hour),
		AuditRetentionMonths: int(ps.integer(getenv, "AUDIT_RETENTION_MONTHS", 24, 0, 600)),
	}
	if m := cfg.Jobs.AuditRetentionMonths; m != 0 && m < 3 {
		ps.add("AUDIT_RETENTION_MONTHS", "must be 0 (keep forever) or from 3 to 600")
	}
	cfg.CacheTTL = ps.duration(getenv, "CACHE_TTL", 5*time.Minute, time.Second, 24*time.Hour)
	cfg.InstanceID = getenv("INSTANCE_ID")
	if cfg.InstanceID != "" && (len(cfg.InstanceID) > 64 || strings.ContainsAny(cfg.InstanceID, " \t\r\n\"")) {
		ps.add("INSTANCE_ID", "must be at most 64 characters without spaces or quotes")
	}
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
	db.ReportTimeout = ps.duration(getenv, "DATABASE_REPORT_TIMEOUT", 30*time.Second, 100*time.Millisecond, 10*time.Minute)
	if v := getenv("DATABASE_REPLICA_URL"); v != "" {
		if _, err := pgxpool.ParseConfig(v); err != nil {
			ps.add("DATABASE_REPLICA_URL", "not a valid PostgreSQL connection string: "+safeParseMessage(err))
		}
		db.ReplicaURL = v
	}
	db.ExecMode = "cache_statement"
	if v := getenv("DATABASE_QUERY_EXEC_MODE"); v != "" {
		ok := false
		for _, m := range ExecModes {
			ok = ok || v == m
		}
		if !ok {
			ps.add("DATABASE_QUERY_EXEC_MODE", "must be one of "+strings.Join(ExecModes, ", "))
		} else {
			db.ExecMode = v
		}
	}
	return db
}

func loadAttendance(getenv func(string) string, ps *problems, dev bool) Attendance {
	a := Attendance{}
	tz := getenv("INSTITUTION_TIMEZONE")
	if tz == "" {
		tz = DefaultTimeZone
	}
	loc, err := time.LoadLocation(tz)
	if err != nil || tz == "Local" {
		ps.add("INSTITUTION_TIMEZONE", "must be an IANA time zone name (e.g. Asia/Kolkata)")
		loc = time.UTC
	}
	a.TimeZone = loc
	a.GracePeriod = ps.duration(getenv, "ATTENDANCE_GRACE_PERIOD", 5*time.Minute, 0, 2*time.Hour)
	a.ThresholdHundredths = 7500
	if v := getenv("ATTENDANCE_THRESHOLD"); v != "" {
		h, ok := domain.ParsePercent(v)
		if !ok {
			ps.add("ATTENDANCE_THRESHOLD", "must be a percentage from 0 to 100 with at most 2 decimals (e.g. 75)")
		} else {
			a.ThresholdHundredths = int64(h)
		}
	}
	a.CorrectionWindowDays = int(ps.integer(getenv, "CORRECTION_WINDOW_DAYS", 7, 1, 365))
	a.QRTokenTTL = ps.duration(getenv, "QR_TOKEN_TTL", time.Minute, 10*time.Second, 10*time.Minute)
	a.QRSigningKey = loadQRKey(getenv, ps, dev)
	return a
}

// loadQRKey reads QR_SIGNING_KEY, or the file named by QR_SIGNING_KEY_FILE
// (a mounted secret), as base64 of at least MinQRKeyBytes bytes; outside
// dev it is required. Messages never include the value.
func loadQRKey(getenv func(string) string, ps *problems, dev bool) []byte {
	name := "QR_SIGNING_KEY"
	v, file := getenv(name), getenv(name+"_FILE")
	switch {
	case v != "" && file != "":
		ps.add(name, "set either "+name+" or "+name+"_FILE, not both")
		return nil
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			ps.add(name+"_FILE", "cannot read the file: "+describeFileError(err))
			return nil
		}
		v, name = strings.TrimSpace(string(b)), name+"_FILE"
	}
	if v == "" {
		if !dev {
			ps.add(name, fmt.Sprintf("is required outside --dev: base64 of at least %d random bytes, the same on every instance (e.g. openssl rand -base64 32)", MinQRKeyBytes))
		}
		return nil
	}
	key, err := decodeKey(v)
	if err != nil || len(key) < MinQRKeyBytes {
		ps.add(name, fmt.Sprintf("must be base64 of at least %d random bytes (e.g. openssl rand -base64 32)", MinQRKeyBytes))
		return nil
	}
	return key
}

// decodeKey accepts standard or URL-safe base64, padded or not.
func decodeKey(v string) ([]byte, error) {
	v = strings.TrimSpace(v)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(v); err == nil {
			return b, nil
		}
	}
	return nil, errors.New("not base64")
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
