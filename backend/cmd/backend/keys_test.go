package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/campshub360/edge/backend/internal/keyring"
	"github.com/campshub360/edge/backend/internal/testdb"
)

func TestKeysCommands(t *testing.T) {
	t.Parallel()
	out, err := runCmd(t, nil, "keys", "generate", "--id", "2026-11")
	if err != nil || !strings.HasPrefix(out, "2026-11:") {
		t.Fatalf("keys generate: %v %q", err, out)
	}
	if _, err := keyring.Parse(strings.TrimSpace(out)); err != nil {
		t.Fatalf("generated keyring does not parse: %v", err)
	}

	db := testdb.New(t)
	ctx := context.Background()
	if _, err := db.Pool.Exec(ctx, `INSERT INTO departments (code, name) VALUES ('CSE', 'Computer Science')`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Pool.Exec(ctx, `INSERT INTO programs (code, name, level, department_id, duration_years)
		SELECT 'BTECH-CSE', 'B.Tech', 'UG', id, 4 FROM departments`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Pool.Exec(ctx, `INSERT INTO students (roll_number, first_name, last_name, date_of_birth, department_id, program_id, year_of_study, section)
		SELECT 'CSE2024A001', 'Asha', 'Rao', DATE '2005-01-02', d.id, p.id, 1, 'A' FROM departments d JOIN programs p ON p.department_id = d.id`); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"DATABASE_URL": db.URL, "ENCRYPTION_KEYS": "", "SIGNING_KEY_SECRETS": ""}
	if _, err := runCmd(t, env, "keys", "rotate-pii"); err == nil || !strings.Contains(err.Error(), "ENCRYPTION_KEYS: is required outside --dev") {
		t.Fatalf("rotate-pii without keys: %v", err)
	}
	dir := t.TempDir()
	out, err = runCmd(t, env, "keys", "rotate-pii", "--dev", "--runtime-dir", dir)
	if err != nil || !strings.Contains(out, "1 re-sealed") {
		t.Fatalf("rotate-pii: %v %q", err, out)
	}
	fi, err := os.Stat(filepath.Join(dir, "secrets", devEncryptionFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("dev keyring file: %v %v", fi, err)
	}
	var clear *string
	if err := db.Pool.QueryRow(ctx, `SELECT date_of_birth::text FROM students`).Scan(&clear); err != nil || clear != nil {
		t.Fatalf("date of birth still in clear: %v %v", clear, err)
	}
	// The same dev keyring is reused: nothing left to do.
	if out, err = runCmd(t, env, "keys", "rotate-pii", "--dev", "--runtime-dir", dir); err != nil || !strings.Contains(out, "0 re-sealed") {
		t.Fatalf("second rotate-pii: %v %q", err, out)
	}
	out, err = runCmd(t, env, "keys", "rotate-signing", "--dev", "--runtime-dir", dir)
	if err != nil || !strings.Contains(out, "published") {
		t.Fatalf("rotate-signing: %v %q", err, out)
	}
	var n int
	if err := db.Pool.QueryRow(ctx, `SELECT count(*) FROM signing_keys`).Scan(&n); err != nil || n != 2 {
		t.Fatalf("signing keys: %d %v", n, err)
	}
}
