// Command backend is the CampsHub360 campus API server and its tooling.
//
//	backend serve   [--listen 127.0.0.1:9001] [--dev] [--runtime-dir DIR] [--check-config]
//	backend migrate up | down [--to VERSION] | status
//	backend seed    [--preset demo|scale] [--students 2000] [--weeks 2] [--section-size 60] [--seed 1]
//	                [--if-empty] [--timezone Asia/Kolkata]
//	backend accounts create-admin --email ADDR [--password-file FILE] [--reset-password] [--dev]
//	backend accounts demo --dev --out FILE
//	backend accounts bench --dev --students N --password-file FILE --out DIR
//	backend keys    generate [--id ID] | rotate-pii [--batch 500] | rotate-signing [--now]
//	backend healthcheck [--listen 127.0.0.1:9001] [--ready] [--timeout 2s]
//
// Every subcommand reads DATABASE_URL; serve also reads REDIS_URL and the
// variables listed in internal/config. On failure the command prints one
// line, "backend: <what went wrong>", to standard error and exits non-zero
// (2 for usage errors, 1 otherwise).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	_ "time/tzdata" // the institution's time zone must resolve on minimal images
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "backend: "+oneLine(err.Error()))
		var ue *usageError
		if errors.As(err, &ue) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

// usageError is a command-line mistake (unknown command or flag).
type usageError struct{ msg string }

// Error returns the message.
func (e *usageError) Error() string { return e.msg }

const usage = `usage: backend <command> [flags]

commands:
  serve     run the HTTP API
            --listen HOST:PORT   listen address (default 127.0.0.1:9001)
            --dev                development: text logs at debug level; unset secrets generated
                                 under --runtime-dir/secrets
            --runtime-dir DIR    write DIR/backend-<port>.json (pid, address) while serving
            --check-config       validate the configuration and exit
  migrate   up | down [--to VERSION] | status
  seed      load a deterministic demo campus into an empty database
            --preset demo|scale  (scale: 50,000 students, ~1,500 sections, ~10 million records)
            --students N (2000)  --weeks N (2)  --section-size N (60)  --seed N (1)
            --if-empty  --timezone TZ (Asia/Kolkata)
  accounts  create-admin --email ADDR: create the first admin account (production: no --dev);
            prints a one-time password (changed at first sign-in) once, or with
            --password-file FILE uses the first line of FILE; an existing e-mail is refused
            --reset-password     instead give the existing admin ADDR a new password and end
                                 its sessions (lockout recovery)
            --dev                allow serve --dev's bcrypt costs (AUTH_BCRYPT_COST from 4)
            demo --dev --out FILE: create or reset demo accounts (admin, registrar, auditor,
            faculty and students with real sections), random passwords written to FILE (0600)
            bench --dev --students N (2000) --staff N (4) --password-file FILE --out DIR:
            load-test accounts (whole sections' students, their faculty, registrars), all with
            the one password in FILE (created when missing), user files for loadgen in DIR
  keys      generate [--id ID]: print a new keyring entry kid:base64key
            rotate-pii [--batch 500]: re-seal personal data under the primary ENCRYPTION_KEYS key
            rotate-signing [--now]: new token signing key, published before it signs
            (rotate-*: --dev --runtime-dir DIR use the development keyrings)
  healthcheck  probe a running server; exit 0 when healthy (container health checks)
            --listen HOST:PORT   address the server listens on (default 127.0.0.1:9001)
            --ready              probe /ready (PostgreSQL; Redis down only degrades) instead of /health/
            --timeout D          give up after D (default 2s)

environment:
  DATABASE_URL (required), DATABASE_REPLICA_URL, DATABASE_QUERY_EXEC_MODE, DATABASE_MAX_CONNS,
  DATABASE_MIN_CONNS, DATABASE_CONNECT_TIMEOUT, DATABASE_QUERY_TIMEOUT, DATABASE_REPORT_TIMEOUT,
  DATABASE_MAX_CONN_LIFETIME, DATABASE_MAX_CONN_IDLE_TIME, REDIS_URL, CACHE_TTL, INSTANCE_ID,
  LOG_LEVEL, LOG_FORMAT, SHUTDOWN_TIMEOUT, READY_TIMEOUT, PARTITION_MONTHS_AHEAD,
  INSTITUTION_TIMEZONE, ATTENDANCE_GRACE_PERIOD, ATTENDANCE_THRESHOLD, CORRECTION_WINDOW_DAYS,
  QR_TOKEN_TTL, SESSION_JOB_INTERVAL, MAINTENANCE_INTERVAL, AUDIT_RETENTION_MONTHS,
  ENCRYPTION_KEYS, SIGNING_KEY_SECRETS and QR_SIGNING_KEY (required outside --dev; or *_FILE for
  the first two), TRUSTED_PROXIES, AUTH_ISSUER, AUTH_AUDIENCE, AUTH_ACCESS_TOKEN_TTL,
  AUTH_REFRESH_TOKEN_TTL, AUTH_SESSION_MAX_AGE, AUTH_BCRYPT_COST, AUTH_PASSWORD_MIN_LENGTH,
  AUTH_LOCKOUT_THRESHOLD, AUTH_IP_LOCKOUT_THRESHOLD, AUTH_LOCKOUT_WINDOW, AUTH_LOCKOUT_BASE,
  AUTH_LOCKOUT_MAX, AUTH_SIGNING_KEY_ROTATION, AUTH_KEY_PUBLISH_DELAY, AUTH_KEY_REFRESH_INTERVAL,
  AUTH_STATE_CACHE_TTL (see internal/config for each)
`

// run executes the command line args (without the program name), reading
// the environment through getenv. It returns nil on success, including
// after a graceful shutdown when ctx is cancelled. A panic is reported as an
// error, never as a stack trace.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("internal error: %v", v)
		}
	}()
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return &usageError{msg: "no command given (serve, migrate, seed, accounts, keys or healthcheck)"}
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "serve":
		err = serve(ctx, rest, getenv, stdout, stderr)
	case "migrate":
		err = migrate(ctx, rest, getenv, stdout)
	case "seed":
		err = seedCmd(ctx, rest, getenv, stdout)
	case "accounts":
		err = accountsCmd(ctx, rest, getenv, stdout, stderr)
	case "keys":
		err = keysCmd(ctx, rest, getenv, stdout, stderr)
	case "healthcheck":
		err = healthcheck(ctx, rest, stdout)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		fmt.Fprint(stderr, usage)
		return &usageError{msg: fmt.Sprintf("unknown command %q (want serve, migrate, seed, accounts, keys or healthcheck)", cmd)}
	}
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stdout, usage)
		return nil
	}
	if err != nil && isFlagError(err) {
		return &usageError{msg: cmd + ": " + err.Error()}
	}
	return err
}

// flagError marks errors from parsing a subcommand's flags.
type flagError struct{ err error }

// Error returns the flag parser's message.
func (e *flagError) Error() string { return e.err.Error() }

// Unwrap returns the flag parser's error.
func (e *flagError) Unwrap() error { return e.err }

func isFlagError(err error) bool {
	var fe *flagError
	return errors.As(err, &fe)
}

// parseFlags parses args into fs, marking failures as flag errors.
func parseFlags(fs *flag.FlagSet, args []string) error {
	fs.SetOutput(io.Discard)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return &flagError{err: err}
	}
	if fs.NArg() > 0 {
		return &flagError{err: fmt.Errorf("unexpected argument %q", fs.Arg(0))}
	}
	return nil
}

// oneLine folds a message onto a single line.
func oneLine(s string) string {
	s = strings.TrimSpace(s)
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", " ")), " ")
}
