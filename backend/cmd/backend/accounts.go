package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/google/uuid"

	"github.com/campshub360/edge/backend/internal/auth"
	"github.com/campshub360/edge/backend/internal/authz"
	"github.com/campshub360/edge/backend/internal/config"
	"github.com/campshub360/edge/backend/internal/store/postgres"
)

// demoStaffDomain is the e-mail domain of the demo staff accounts.
const demoStaffDomain = "staff.campshub360.example"

// accountsCmd runs the account commands:
//
//	backend accounts create-admin --email ADDR [--password-file FILE] [--reset-password] [--dev]
//	backend accounts demo --dev --out FILE
//	backend accounts bench --dev --students N --password-file FILE --out DIR
//
// create-admin is described at createAdminCmd, bench at accountsBenchCmd.
// demo creates (or resets) one account per role plus faculty and student
// accounts linked to people who teach or attend real sections, each with a
// fresh random password, and writes FILE (mode 0600) as a JSON object
// e-mail -> password. It refuses to run without --dev: these are demo
// credentials.
func accountsCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return &flagError{err: errors.New("accounts needs an action: create-admin, demo or bench")}
	}
	switch args[0] {
	case "create-admin":
		return createAdminCmd(ctx, args[1:], getenv, stdout, stderr)
	case "bench":
		return accountsBenchCmd(ctx, args[1:], getenv, stdout)
	case "demo":
	case "-h", "-help", "--help":
		return flag.ErrHelp
	default:
		return &flagError{err: fmt.Errorf("unknown accounts action %q (want create-admin, demo or bench)", args[0])}
	}
	fs := flag.NewFlagSet("accounts demo", flag.ContinueOnError)
	dev := fs.Bool("dev", false, "required: confirms a development database")
	out := fs.String("out", "", "file to write the accounts to (JSON e-mail -> password, mode 0600)")
	nFaculty := fs.Int("faculty", 2, "faculty accounts (each teaching real sections)")
	perFaculty := fs.Int("students-per-faculty", 1, "student accounts per faculty account (enrolled in their sections)")
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	switch {
	case !*dev:
		return &flagError{err: errors.New("accounts demo writes known passwords; it runs only with --dev")}
	case *out == "":
		return &flagError{err: errors.New("--out FILE is required")}
	case *nFaculty < 2 || *nFaculty > 20 || *perFaculty < 1 || *perFaculty > 20:
		return &flagError{err: errors.New("--faculty must be 2..20 and --students-per-faculty 1..20")}
	}
	db, err := config.LoadDatabase(getenv)
	if err != nil {
		return err
	}
	cost, err := config.LoadBcryptCost(getenv, true)
	if err != nil {
		return err
	}
	pool, err := openMigrated(ctx, db, "campshub360-accounts")
	if err != nil {
		return err
	}
	defer pool.Close()
	store := postgres.NewAuthStore(pool, time.Minute)
	faculty, students, err := store.DemoPeople(ctx, *nFaculty, *perFaculty)
	if err != nil {
		return err
	}
	if len(faculty) < 2 || len(students) < 2 {
		return errors.New("the database has too few faculty teaching enrolled sections in the current term; run `backend seed` first")
	}
	hasher, err := auth.NewHasher(cost, max(1, runtime.GOMAXPROCS(0)), time.Minute)
	if err != nil {
		return err
	}
	type account struct {
		email, who   string
		role         authz.Role
		student, fac uuid.UUID
	}
	var list []account
	for _, r := range []authz.Role{authz.RoleAdmin, authz.RoleRegistrar, authz.RoleAuditor} {
		list = append(list, account{email: string(r) + "@" + demoStaffDomain, who: string(r), role: r})
	}
	for _, f := range faculty {
		list = append(list, account{email: f.Email, who: f.Name, role: authz.RoleFaculty, fac: f.ID})
	}
	for _, s := range students {
		list = append(list, account{email: s.Email, who: s.Name, role: authz.RoleStudent, student: s.ID})
	}
	creds := make(map[string]string, len(list))
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ROLE\tE-MAIL\tPASSWORD\tWHO")
	for _, a := range list {
		pw, err := auth.NewOneTimePassword(nil)
		if err != nil {
			return err
		}
		hash, err := hasher.Hash(ctx, pw)
		if err != nil {
			return err
		}
		if _, err := store.UpsertDemoAccount(ctx, a.email, a.role, hash, a.student, a.fac); err != nil {
			return fmt.Errorf("account %s: %w", a.email, err)
		}
		creds[a.email] = pw
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", a.role, a.email, pw, a.who)
	}
	if err := writeCredentials(*out, creds); err != nil {
		return err
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "demo accounts written to %s\n", *out)
	return nil
}

// writeCredentials atomically writes creds as indented JSON (keys sorted)
// with mode 0600.
func writeCredentials(path string, creds map[string]string) error {
	keys := make([]string, 0, len(creds))
	for k := range creds {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString("{\n")
	for i, k := range keys {
		kj, _ := json.Marshal(k)
		vj, _ := json.Marshal(creds[k])
		b.WriteString("  " + string(kj) + ": " + string(vj))
		if i < len(keys)-1 {
			b.WriteString(",")
		}
		b.WriteString("\n")
	}
	b.WriteString("}\n")
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, ".demo-accounts-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.WriteString(b.String()); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
