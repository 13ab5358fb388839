package seed_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
	_ "time/tzdata"

	"github.com/campshub360/edge/backend/internal/seed"
	"github.com/campshub360/edge/backend/internal/testdb"
)

func options(t *testing.T, students int) seed.Options {
	t.Helper()
	loc, err := time.LoadLocation(seed.DefaultTimeZone)
	if err != nil {
		t.Fatal(err)
	}
	return seed.Options{Students: students, Weeks: 2, Seed: 1, Now: time.Date(2026, time.November, 25, 6, 30, 0, 0, time.UTC), Location: loc}
}

func load(t *testing.T, db *testdb.DB, o seed.Options) seed.Counts {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := seed.Generate(o)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	n, err := seed.Load(ctx, db.Pool, c, 3)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	t.Logf("loaded %s in %s", n, time.Since(start).Round(time.Millisecond))
	return n
}

func column(t *testing.T, db *testdb.DB, sql string) []string {
	t.Helper()
	rows, err := db.Pool.Query(context.Background(), sql)
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func count(t *testing.T, db *testdb.DB, sql string) int {
	t.Helper()
	var n int
	if err := db.Pool.QueryRow(context.Background(), sql).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

func TestLoadIsDeterministicAcrossDatabases(t *testing.T) {
	t.Parallel()
	a, b := testdb.New(t), testdb.New(t)
	o := options(t, 400)
	na, nb := load(t, a, o), load(t, b, o)
	if na != nb {
		t.Fatalf("counts differ: %s vs %s", na, nb)
	}
	for _, q := range []string{
		`SELECT id::text || ' ' || roll_number || ' ' || email FROM students ORDER BY roll_number`,
		`SELECT id::text FROM attendance_sessions ORDER BY id`,
		`SELECT session_id::text || student_id::text || mark FROM attendance_records ORDER BY 1`,
	} {
		ra, rb := column(t, a, q), column(t, b, q)
		if len(ra) == 0 || len(ra) != len(rb) {
			t.Fatalf("%s: %d vs %d rows", q, len(ra), len(rb))
		}
		for i := range ra {
			if ra[i] != rb[i] {
				t.Fatalf("%s: row %d differs: %q vs %q", q, i, ra[i], rb[i])
			}
		}
	}
}

func TestLoadInvariants(t *testing.T) {
	t.Parallel()
	db := testdb.New(t)
	n := load(t, db, options(t, seed.DefaultStudents))
	if n.Students != seed.DefaultStudents || n.Records == 0 || n.Sessions == 0 || n.Partitions == 0 {
		t.Fatalf("counts %s", n)
	}

	checks := map[string]string{
		"overlapping slots of one faculty member": `SELECT count(*) FROM timetable_slots a JOIN timetable_slots b
			ON a.faculty_id = b.faculty_id AND a.term_id = b.term_id AND a.weekday = b.weekday AND a.id < b.id
			AND a.start_time < b.end_time AND b.start_time < a.end_time`,
		"overlapping slots of one section": `SELECT count(*) FROM timetable_slots a JOIN timetable_slots b
			ON a.section_id = b.section_id AND a.weekday = b.weekday AND a.id < b.id
			AND a.start_time < b.end_time AND b.start_time < a.end_time`,
		"enrollments outside the student's department or section letter": `SELECT count(*) FROM enrollments e
			JOIN students s ON s.id = e.student_id JOIN sections x ON x.id = e.section_id JOIN courses c ON c.id = x.course_id
			WHERE c.department_id <> s.department_id OR x.section_code <> s.section`,
		"records of students not enrolled in the session's section": `SELECT count(*) FROM attendance_records r
			JOIN attendance_sessions s ON s.id = r.session_id
			LEFT JOIN enrollments e ON e.section_id = s.section_id AND e.student_id = r.student_id AND e.status = 'ENROLLED'
			WHERE e.student_id IS NULL`,
		"closed sessions missing a record of an enrolled student": `SELECT count(*) FROM attendance_sessions s
			JOIN enrollments e ON e.section_id = s.section_id AND e.status = 'ENROLLED'
			LEFT JOIN attendance_records r ON r.session_id = s.id AND r.student_id = e.student_id
			WHERE s.status = 'closed' AND r.session_id IS NULL`,
		"sessions on holidays":                  `SELECT count(*) FROM attendance_sessions s JOIN holidays h ON h.holiday_date = s.session_date`,
		"rows in the partitioned parent itself": `SELECT count(*) FROM ONLY attendance_records`,
		"current terms not containing today":    `SELECT count(*) FROM terms WHERE is_current AND NOT (DATE '2026-11-25' BETWEEN start_date AND end_date)`,
	}
	for what, q := range checks {
		if got := count(t, db, q); got != 0 {
			t.Errorf("%s: %d", what, got)
		}
	}
	parts := column(t, db, `SELECT DISTINCT tableoid::regclass::text FROM attendance_records ORDER BY 1`)
	if len(parts) == 0 || parts[0] != "attendance_records_y2026m11" {
		t.Errorf("records live in partitions %v, want attendance_records_y2026m11", parts)
	}
	if got := count(t, db, `SELECT count(*) FROM terms WHERE is_current`); got != 1 {
		t.Errorf("%d current terms", got)
	}
	// Months ahead exist for both partitioned tables.
	for _, p := range []string{"attendance_records_y2027m02", "audit_events_y2027m02"} {
		if got := count(t, db, `SELECT count(*) FROM pg_class WHERE relname = '`+p+`'`); got != 1 {
			t.Errorf("partition %s missing", p)
		}
	}
}

func TestLoadRefusesNonEmptyDatabase(t *testing.T) {
	t.Parallel()
	db := testdb.New(t)
	ctx := context.Background()
	if has, err := seed.HasStudents(ctx, db.Pool); err != nil || has {
		t.Fatalf("HasStudents on an empty database: %v, %v", has, err)
	}
	load(t, db, options(t, 50))
	if has, err := seed.HasStudents(ctx, db.Pool); err != nil || !has {
		t.Fatalf("HasStudents after Load: %v, %v", has, err)
	}
	c, err := seed.Generate(options(t, 50))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := seed.Load(ctx, db.Pool, c, 3); !errors.Is(err, seed.ErrNotEmpty) {
		t.Fatalf("second Load: got %v, want ErrNotEmpty", err)
	}
	if got := count(t, db, `SELECT count(*) FROM students`); got != 50 {
		t.Fatalf("%d students after the refused Load, want 50", got)
	}
}

func TestLoadStreamsRecords(t *testing.T) {
	t.Parallel()
	a, b := testdb.New(t), testdb.New(t)
	o := options(t, 150)
	na := load(t, a, o)
	o.StreamRecords = true
	nb := load(t, b, o)
	if na != nb || nb.Records == 0 {
		t.Fatalf("streamed load %s, materialized %s", nb, na)
	}
	q := `SELECT session_id::text || student_id::text || mark || source || marked_at::text FROM attendance_records ORDER BY 1`
	ra, rb := column(t, a, q), column(t, b, q)
	if len(ra) != len(rb) {
		t.Fatalf("%d vs %d records", len(ra), len(rb))
	}
	for i := range ra {
		if ra[i] != rb[i] {
			t.Fatalf("record %d differs: %s vs %s", i, ra[i], rb[i])
		}
	}
	// The foreign keys dropped for the copy are back, identical.
	q = `SELECT conname || ' ' || pg_get_constraintdef(oid) FROM pg_constraint
		WHERE conrelid = 'attendance_records'::regclass AND contype = 'f' ORDER BY 1`
	fa, fb := column(t, a, q), column(t, b, q)
	if len(fa) != 4 || strings.Join(fa, "\n") != strings.Join(fb, "\n") {
		t.Fatalf("foreign keys after a streamed load:\n%v\nwant\n%v", fb, fa)
	}
}
