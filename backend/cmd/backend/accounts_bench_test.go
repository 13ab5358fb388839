package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/campshub360/edge/backend/internal/testdb"
)

func TestAccountsBench(t *testing.T) {
	t.Parallel()
	db := testdb.New(t)
	env := map[string]string{"DATABASE_URL": db.URL, "AUTH_BCRYPT_COST": "4"}
	if out, err := runCmd(t, env, "seed", "--students", "150", "--weeks", "1", "--seed", "3"); err != nil {
		t.Fatalf("seed: %v\n%s", err, out)
	}
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "secret", "password")
	out := filepath.Join(dir, "users")
	if _, err := runCmd(t, env, "accounts", "bench", "--password-file", pwFile, "--out", out); err == nil || !strings.Contains(err.Error(), "only with --dev") {
		t.Fatalf("without --dev: %v", err)
	}
	if _, err := os.Stat(pwFile); !os.IsNotExist(err) {
		t.Fatalf("a refused run wrote the password file: %v", err)
	}
	msg, err := runCmd(t, env, "accounts", "bench", "--dev", "--students", "40", "--staff", "2", "--password-file", pwFile, "--out", out)
	if err != nil || !strings.Contains(msg, "bench accounts:") || !strings.Contains(msg, "bcrypt cost 4") {
		t.Fatalf("accounts bench: %v\n%s", err, msg)
	}
	pw, err := os.ReadFile(pwFile)
	if err != nil {
		t.Fatal(err)
	}
	password := strings.TrimSpace(string(pw))
	read := func(name string) []map[string]string {
		t.Helper()
		path := filepath.Join(out, name)
		fi, err := os.Stat(path)
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("%s: %v mode %v", name, err, fi.Mode().Perm())
		}
		b, _ := os.ReadFile(path)
		var list []map[string]string
		if err := json.Unmarshal(b, &list); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if strings.Contains(string(b), password) {
			t.Fatalf("%s holds the password", name)
		}
		return list
	}
	students, faculty, staff := read("students.json"), read("faculty.json"), read("staff.json")
	if len(students) < 40 || len(faculty) == 0 || len(staff) != 2 {
		t.Fatalf("%d students, %d faculty, %d staff", len(students), len(faculty), len(staff))
	}
	sections := map[string]bool{}
	for _, f := range faculty {
		var marks []struct {
			StudentID string `json:"student_id"`
			Mark      string `json:"mark"`
		}
		if err := json.Unmarshal([]byte(f["marks"]), &marks); err != nil || len(marks) == 0 || marks[0].Mark != "present" {
			t.Fatalf("faculty entry %v: %v", f, err)
		}
		if sections[f["section_id"]] {
			t.Fatalf("section %s twice", f["section_id"])
		}
		sections[f["section_id"]] = true
	}
	ctx := context.Background()
	for _, s := range students {
		if !sections[s["section_id"]] {
			t.Fatalf("student %v in a section without a faculty entry", s)
		}
		// The account is the student's: linked, with the bench password.
		var hash, role string
		err := db.Pool.QueryRow(ctx, `SELECT u.password_hash, u.role FROM users u JOIN students st ON st.user_id = u.id
			WHERE st.id = $1 AND u.email = $2`, s["student_id"], s["username"]).Scan(&hash, &role)
		if err != nil || role != "student" || bcrypt.CompareHashAndPassword([]byte(hash), []byte(password)) != nil {
			t.Fatalf("student %v: %v role %q", s, err, role)
		}
	}
	var linked int
	if err := db.Pool.QueryRow(ctx, `SELECT count(*) FROM faculty f JOIN users u ON u.id = f.user_id AND u.role = 'faculty'`).Scan(&linked); err != nil || linked != len(faculty) {
		t.Fatalf("linked faculty %d, want %d: %v", linked, len(faculty), err)
	}
	// Again: the same password file, the accounts reset, nothing duplicated.
	if _, err := runCmd(t, env, "accounts", "bench", "--dev", "--students", "40", "--staff", "2", "--password-file", pwFile, "--out", out); err != nil {
		t.Fatal(err)
	}
	var users int
	if err := db.Pool.QueryRow(ctx, `SELECT count(*) FROM users`).Scan(&users); err != nil || users != len(students)+len(faculty)+2 {
		t.Fatalf("users %d, want %d: %v", users, len(students)+len(faculty)+2, err)
	}
}
