package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/campshub360/edge/backend/internal/audit"
	"github.com/campshub360/edge/backend/internal/auth"
	"github.com/campshub360/edge/backend/internal/authz"
	"github.com/campshub360/edge/backend/internal/config"
	"github.com/campshub360/edge/backend/internal/store/postgres"
)

// cliRequestID marks the audit events of account commands (their actor is
// the system: no user).
const cliRequestID = "cli:accounts-create-admin"

// maxPasswordFile bounds --password-file, in bytes (a password is at most
// auth.MaxPasswordBytes; the rest is room for a trailing newline).
const maxPasswordFile = 1024

// createAdminCmd runs `backend accounts create-admin --email ADDR
// [--password-file FILE] [--reset-password] [--dev]`, the first-run
// bootstrap of a production database: it needs only DATABASE_URL (migrated)
// and REDIS_URL when set, to publish revocations at once; no keyring. --dev
// only relaxes the bcrypt floor as serve --dev does.
//
// Without --reset-password it creates an active admin account through
// auth.Accounts.Provision, the use case behind POST /api/v1/users: the
// same e-mail checks, bcrypt cost (AUTH_BCRYPT_COST), password policy
// (AUTH_PASSWORD_MIN_LENGTH) and audit event (user.provision, no actor:
// the system). Its password is a one-time password printed once to stdout,
// to be changed at first sign-in, or the first line of --password-file
// (checked against the policy, no change required). An existing e-mail is
// refused: nothing is changed.
//
// With --reset-password the account must exist and be an admin: it gets a
// new password (one-time, or from the file) through ResetPassword or
// ReplacePassword, which clear failed sign-ins and locks and end every
// session (refresh tokens revoked, live access tokens denied), as POST
// /api/v1/users/{id}/password-reset does. The password never reaches a
// log or an error message.
func createAdminCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("accounts create-admin", flag.ContinueOnError)
	emailFlag := fs.String("email", "", "e-mail address of the administrator (required)")
	pwFile := fs.String("password-file", "", "read the password from the first line of FILE instead of printing a one-time one")
	reset := fs.Bool("reset-password", false, "give an existing admin account a new password and end its sessions")
	dev := fs.Bool("dev", false, "development database: AUTH_BCRYPT_COST may be as low as 4, as with serve --dev")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *emailFlag == "" {
		return &flagError{err: errors.New("create-admin: --email ADDRESS is required")}
	}
	email, err := auth.CheckEmail(*emailFlag)
	if err != nil {
		return &flagError{err: fmt.Errorf("create-admin: --email %q is not an e-mail address", *emailFlag)}
	}
	var password string
	if *pwFile != "" {
		if password, err = readPasswordFile(*pwFile); err != nil {
			return &flagError{err: fmt.Errorf("create-admin: --password-file: %w", err)}
		}
	}
	db, err := config.LoadDatabase(getenv)
	if err != nil {
		return err
	}
	settings, err := config.LoadAccountSettings(getenv, *dev)
	if err != nil {
		return err
	}
	var redisOpts *redis.Options
	if v := getenv("REDIS_URL"); v != "" {
		if redisOpts, err = redisOptions(v, time.Second); err != nil {
			return err
		}
	}

	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	pool, err := openMigrated(ctx, db, "campshub360-accounts")
	if err != nil {
		return err
	}
	defer pool.Close()
	// The audit events need this month's partition; on a database
	// migrated but never served it does not exist yet.
	from, to := postgres.PartitionWindow(time.Now(), time.UTC, config.DefaultPartitionMonthsAhead)
	if _, err := postgres.EnsurePartitions(ctx, pool, from, to); err != nil {
		return fmt.Errorf("create partitions: %w", err)
	}
	store := postgres.NewAuthStore(pool, time.Minute)
	hasher, err := auth.NewHasher(settings.BcryptCost, max(1, runtime.GOMAXPROCS(0)), time.Minute)
	if err != nil {
		return err
	}
	policy, err := auth.NewPolicy(settings.PasswordMinLength)
	if err != nil {
		return err
	}
	dopts := auth.DenylistOptions{Store: store, Log: log, RedisTimeout: time.Second}
	if redisOpts != nil {
		// Revocations go to PostgreSQL first; Redis, when it answers, lets
		// every instance see them at once instead of at its next sync.
		rdb := redis.NewClient(redisOpts)
		defer rdb.Close()
		dopts.Redis = rdb
	}
	deny, err := auth.NewDenylist(dopts)
	if err != nil {
		return err
	}
	auditor := audit.NewWriter(pool, audit.WriterOptions{Log: log})
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := auditor.Close(cctx); err != nil {
			log.Error("audit events still queued at exit were logged instead", "error", err.Error())
		}
	}()
	accounts, err := auth.NewAccounts(auth.AccountsOptions{Store: store, Hasher: hasher, Policy: policy, Denylist: deny,
		Audit: auditor, Log: log})
	if err != nil {
		return err
	}
	system := &authz.Principal{} // no user: audited as the system
	meta := auth.Meta{RequestID: cliRequestID}

	if !*reset {
		acct, otpw, err := accounts.Provision(ctx, system, auth.ProvisionInput{Kind: "staff", Role: authz.RoleAdmin,
			Email: email, Password: password}, meta)
		switch {
		case errors.Is(err, auth.ErrConflict):
			return fmt.Errorf("an account with e-mail %s already exists; nothing was changed (--reset-password gives an existing admin a new password)", email)
		case err != nil:
			return passwordError(err)
		}
		fmt.Fprintf(stdout, "created admin account %s (user id %s)\n", acct.Email, acct.ID)
		printPassword(stdout, otpw, *pwFile)
		return nil
	}

	acct, err := store.AccountByLogin(ctx, email)
	switch {
	case errors.Is(err, auth.ErrNotFound):
		return fmt.Errorf("no account with e-mail %s; run without --reset-password to create it", email)
	case err != nil:
		return err
	case acct.Role != authz.RoleAdmin:
		return fmt.Errorf("%s is a %s account, not an admin; --reset-password resets administrators only (others are reset by an administrator through the API)", acct.Email, acct.Role)
	}
	var otpw string
	if password != "" {
		err = accounts.ReplacePassword(ctx, system, acct.ID, password, meta)
	} else {
		otpw, err = accounts.ResetPassword(ctx, system, acct.ID, meta)
	}
	if err != nil {
		return passwordError(err)
	}
	fmt.Fprintf(stdout, "reset the password of admin account %s (user id %s); its sessions have ended\n", acct.Email, acct.ID)
	printPassword(stdout, otpw, *pwFile)
	if !acct.Active {
		fmt.Fprintln(stderr, "note: the account is deactivated and cannot sign in until an administrator activates it (PATCH /api/v1/users/{id})")
	}
	if acct.MFAEnabled {
		fmt.Fprintln(stderr, "note: two-factor sign-in stays enabled on this account: signing in still needs a code or a recovery code")
	}
	return nil
}

// printPassword tells where the password came from: the one-time password
// itself (shown once) or the file.
func printPassword(w io.Writer, otpw, file string) {
	if otpw == "" {
		fmt.Fprintf(w, "its password is the one in %s\n", file)
		return
	}
	fmt.Fprintf(w, "one-time password (shown once; it must be changed at first sign-in):\n%s\n", otpw)
}

// passwordError turns a policy refusal of --password-file into a usage
// error listing the failed rules (never the password).
func passwordError(err error) error {
	var pe *auth.PolicyError
	if errors.As(err, &pe) {
		return &flagError{err: fmt.Errorf("create-admin: --password-file: the password is refused: it %s", strings.Join(pe.Reasons, "; it "))}
	}
	return err
}

// readPasswordFile returns the first line of path (without its line
// ending). Errors never include the file's contents.
func readPasswordFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return "", fmt.Errorf("cannot read %s: %w", path, err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxPasswordFile+1))
	if err != nil {
		return "", fmt.Errorf("cannot read %s: %w", path, err)
	}
	if len(b) > maxPasswordFile {
		return "", fmt.Errorf("%s is larger than %d bytes; it must hold the password on its first line", path, maxPasswordFile)
	}
	line, _, _ := bytes.Cut(b, []byte("\n"))
	line = bytes.TrimSuffix(line, []byte("\r"))
	if len(line) == 0 {
		return "", fmt.Errorf("%s holds no password on its first line", path)
	}
	return string(line), nil
}
