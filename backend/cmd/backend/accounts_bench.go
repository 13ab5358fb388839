package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/campshub360/edge/backend/internal/auth"
	"github.com/campshub360/edge/backend/internal/authz"
	"github.com/campshub360/edge/backend/internal/config"
	"github.com/campshub360/edge/backend/internal/store/postgres"
)

// benchStaffDomain is the e-mail domain of the benchmark staff accounts.
const benchStaffDomain = "bench.campshub360.example"

// accountsBenchCmd runs `backend accounts bench --dev --students N
// --password-file F --out DIR`: load-test accounts on a development or
// benchmark database. It picks sections of the current term (one per
// faculty member, largest first) until their enrolled students number at
// least N, creates or resets an account for each of those students and
// faculty members and for --staff registrar accounts, all with the one
// password in F (created with a random password when missing, mode
// 0600), and writes the load generator's user files (JSON lists, mode
// 0600, no passwords) to DIR:
//
//	students.json  {"username", "student_id", "section_id"}  one per student
//	faculty.json   {"username", "faculty_id", "section_id", "marks"}  one per section;
//	               marks is the section's roster as a JSON array of
//	               {"student_id","mark":"present"} (a bulk-marking body)
//	staff.json     {"username"}  registrar accounts
//
// The password is hashed once and that hash stored for every account (one
// bcrypt cost, AUTH_BCRYPT_COST, which --dev allows as low as 4). It
// refuses to run without --dev: a shared known password belongs on no
// other database.
func accountsBenchCmd(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	fs := flag.NewFlagSet("accounts bench", flag.ContinueOnError)
	dev := fs.Bool("dev", false, "required: confirms a development or benchmark database")
	students := fs.Int("students", 2000, "at least this many student accounts (whole sections), 1..200000")
	staff := fs.Int("staff", 4, "registrar accounts, 0..100")
	pwFile := fs.String("password-file", "", "file holding the one password of every bench account (created when missing)")
	out := fs.String("out", "", "directory for students.json, faculty.json and staff.json")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	switch {
	case !*dev:
		return &flagError{err: errors.New("accounts bench gives every account one known password; it runs only with --dev")}
	case *out == "" || *pwFile == "":
		return &flagError{err: errors.New("--password-file FILE and --out DIR are required")}
	case *students < 1 || *students > 200000 || *staff < 0 || *staff > 100:
		return &flagError{err: errors.New("--students must be 1..200000 and --staff 0..100")}
	}
	password, err := benchPassword(*pwFile)
	if err != nil {
		return err
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
	store := postgres.NewAuthStore(pool, 5*time.Minute)
	sections, err := store.BenchSections(ctx, *students)
	if err != nil {
		return err
	}
	if len(sections) == 0 {
		return errors.New("the database has no section with enrolled students in the current term; run `backend seed` first")
	}
	hasher, err := auth.NewHasher(cost, max(1, runtime.GOMAXPROCS(0)), time.Minute)
	if err != nil {
		return err
	}
	hash, err := hasher.Hash(ctx, password)
	if err != nil {
		return err
	}

	var accounts []postgres.BenchAccount
	var studentList, facultyList, staffList []map[string]string
	seen := map[string]bool{}
	type mark struct {
		StudentID string `json:"student_id"`
		Mark      string `json:"mark"`
	}
	for _, sec := range sections {
		marks := make([]mark, 0, len(sec.Students))
		for _, st := range sec.Students {
			marks = append(marks, mark{StudentID: st.ID.String(), Mark: "present"})
			if seen[st.Email] {
				continue // enrolled in an earlier section too: one account, one section
			}
			seen[st.Email] = true
			accounts = append(accounts, postgres.BenchAccount{Email: st.Email, Role: authz.RoleStudent, Student: st.ID})
			studentList = append(studentList, map[string]string{"username": st.Email, "student_id": st.ID.String(), "section_id": sec.ID.String()})
		}
		body, err := json.Marshal(marks)
		if err != nil {
			return err
		}
		accounts = append(accounts, postgres.BenchAccount{Email: sec.FacultyEmail, Role: authz.RoleFaculty, Faculty: sec.FacultyID})
		facultyList = append(facultyList, map[string]string{"username": sec.FacultyEmail, "faculty_id": sec.FacultyID.String(),
			"section_id": sec.ID.String(), "marks": string(body)})
	}
	for i := 1; i <= *staff; i++ {
		email := fmt.Sprintf("registrar%02d@%s", i, benchStaffDomain)
		accounts = append(accounts, postgres.BenchAccount{Email: email, Role: authz.RoleRegistrar})
		staffList = append(staffList, map[string]string{"username": email})
	}
	if err := store.UpsertBenchAccounts(ctx, hash, accounts); err != nil {
		return err
	}
	for name, list := range map[string][]map[string]string{"students.json": studentList, "faculty.json": facultyList, "staff.json": staffList} {
		if err := writeUserList(filepath.Join(*out, name), list); err != nil {
			return err
		}
	}
	fmt.Fprintf(stdout, "bench accounts: %d students in %d sections, %d faculty, %d registrars (bcrypt cost %d); user files in %s\n",
		len(studentList), len(sections), len(facultyList), len(staffList), cost, *out)
	return nil
}

// benchPassword reads the bench password from path, or creates the file
// (mode 0600) with a new random password when it does not exist.
func benchPassword(path string) (string, error) {
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		pw := strings.TrimSpace(string(b))
		if len(pw) < 12 {
			return "", fmt.Errorf("%s: the bench password must be at least 12 characters", path)
		}
		return pw, nil
	case !errors.Is(err, fs.ErrNotExist):
		return "", err
	}
	pw, err := auth.NewOneTimePassword(nil)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", err
	}
	if _, err := f.WriteString(pw + "\n"); err != nil {
		f.Close()
		return "", err
	}
	return pw, f.Close()
}

// writeUserList writes list as a JSON array, one object per line, mode
// 0600.
func writeUserList(path string, list []map[string]string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	var b strings.Builder
	b.WriteString("[\n")
	for i, m := range list {
		line, err := json.Marshal(m)
		if err != nil {
			return err
		}
		b.Write(line)
		if i < len(list)-1 {
			b.WriteString(",")
		}
		b.WriteString("\n")
	}
	b.WriteString("]\n")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		return err
	}
	return os.Chmod(path, 0o600)
}
