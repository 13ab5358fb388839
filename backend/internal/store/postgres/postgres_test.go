package postgres_test

import (
	"context"
	"errors"
	"io/fs"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/pressly/goose/v3"

	"github.com/campshub360/edge/backend/internal/config"
	"github.com/campshub360/edge/backend/internal/domain"
	"github.com/campshub360/edge/backend/internal/seed"
	"github.com/campshub360/edge/backend/internal/store/postgres"
	"github.com/campshub360/edge/backend/internal/testdb"
	"github.com/campshub360/edge/backend/migrations"
)

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func migrator(t *testing.T, db *testdb.DB) *postgres.Migrator {
	t.Helper()
	m, err := postgres.NewMigrator(db.Pool)
	if err != nil {
		t.Fatalf("NewMigrator: %v", err)
	}
	t.Cleanup(func() { _ = m.Close() })
	return m
}

func tableExists(t *testing.T, db *testdb.DB, name string) bool {
	t.Helper()
	var reg *string
	if err := db.Pool.QueryRow(ctxT(t), `SELECT to_regclass($1)::text`, name).Scan(&reg); err != nil {
		t.Fatalf("to_regclass(%s): %v", name, err)
	}
	return reg != nil
}

func TestMigrationsUpDownUp(t *testing.T) {
	t.Parallel()
	db := testdb.NewEmpty(t)
	ctx := ctxT(t)
	m := migrator(t, db)
	newest := m.Newest()
	files, err := fs.Glob(migrations.FS, "*.sql")
	if err != nil {
		t.Fatal(err)
	}
	count := len(files) // versions need not be contiguous

	var se *postgres.SchemaError
	if err := m.Check(ctx); !errors.As(err, &se) || len(se.Pending) != count || se.Current != 0 {
		t.Fatalf("Check on an empty database: got %v, want all %d pending", err, count)
	}
	if !strings.Contains(se.Error(), "backend migrate up") {
		t.Errorf("pending message does not say what to run: %s", se.Error())
	}
	if tableExists(t, db, "goose_db_version") {
		t.Fatal("Check wrote to the database (created goose_db_version)")
	}

	res, err := m.Up(ctx)
	if err != nil || len(res) != count {
		t.Fatalf("Up: %d results, %v", len(res), err)
	}
	if err := m.Check(ctx); err != nil {
		t.Fatalf("Check after Up: %v", err)
	}
	st, err := m.Status(ctx)
	if err != nil {
		t.Fatalf("Status: %v", err)
	}
	for _, s := range st {
		if s.State != goose.StateApplied {
			t.Errorf("version %d is %s after Up", s.Source.Version, s.State)
		}
	}
	for _, table := range []string{"users", "students", "timetable_slots", "attendance_records", "audit_events", "api_keys"} {
		if !tableExists(t, db, table) {
			t.Errorf("table %s missing after Up", table)
		}
	}

	// One step down leaves exactly the newest pending.
	if _, err := m.Down(ctx); err != nil {
		t.Fatalf("Down: %v", err)
	}
	if err := m.Check(ctx); !errors.As(err, &se) || len(se.Pending) != 1 || se.Pending[0] != newest {
		t.Fatalf("Check after Down: got %v, want version %d pending", err, newest)
	}

	// All the way down removes everything the migrations created.
	if _, err := m.DownTo(ctx, 0); err != nil {
		t.Fatalf("DownTo(0): %v", err)
	}
	for _, table := range []string{"users", "students", "attendance_records", "audit_events"} {
		if tableExists(t, db, table) {
			t.Errorf("table %s still exists after DownTo(0)", table)
		}
	}
	var fn bool
	if err := db.Pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_proc WHERE proname = 'ensure_monthly_partitions')`).Scan(&fn); err != nil || fn {
		t.Errorf("ensure_monthly_partitions survives DownTo(0) (err %v)", err)
	}

	// And up again.
	if res, err := m.Up(ctx); err != nil || len(res) != count {
		t.Fatalf("Up again: %d results, %v", len(res), err)
	}
	if err := m.Check(ctx); err != nil {
		t.Fatalf("Check after Up again: %v", err)
	}
}

func TestCheckRefusesNewerSchema(t *testing.T) {
	t.Parallel()
	db := testdb.New(t)
	ctx := ctxT(t)
	m := migrator(t, db)
	future := m.Newest() + 1000
	if _, err := db.Pool.Exec(ctx, `INSERT INTO goose_db_version (version_id, is_applied) VALUES ($1, true)`, future); err != nil {
		t.Fatalf("insert future version: %v", err)
	}
	var se *postgres.SchemaError
	err := m.Check(ctx)
	if !errors.As(err, &se) || len(se.Unknown) != 1 || se.Unknown[0] != future || se.Current != future {
		t.Fatalf("Check: got %v, want unknown version %d", err, future)
	}
	if !strings.Contains(err.Error(), "newer than this binary") {
		t.Errorf("message does not explain the problem: %s", err)
	}
	if _, err := m.Up(ctx); !errors.As(err, &se) {
		t.Errorf("Up on a newer schema: got %v, want *SchemaError", err)
	}
	if _, err := m.Down(ctx); !errors.As(err, &se) {
		t.Errorf("Down on a newer schema: got %v, want *SchemaError", err)
	}
}

func TestEnsurePartitions(t *testing.T) {
	t.Parallel()
	db := testdb.New(t)
	ctx := ctxT(t)
	from := time.Date(2031, time.January, 15, 0, 0, 0, 0, time.UTC)
	to := time.Date(2031, time.March, 1, 0, 0, 0, 0, time.UTC)
	n, err := postgres.EnsurePartitions(ctx, db.Pool, from, to)
	if err != nil || n != 3*len(postgres.PartitionedTables()) {
		t.Fatalf("EnsurePartitions: created %d, %v; want %d", n, err, 3*len(postgres.PartitionedTables()))
	}
	if n, err := postgres.EnsurePartitions(ctx, db.Pool, from, to); err != nil || n != 0 {
		t.Fatalf("EnsurePartitions again: created %d, %v; want 0 (idempotent)", n, err)
	}
	for _, name := range []string{"attendance_records_y2031m01", "attendance_records_y2031m03", "audit_events_y2031m02"} {
		if !tableExists(t, db, name) {
			t.Errorf("partition %s missing", name)
		}
	}
	// timestamptz bounds are UTC months: the last instant of February lands
	// in February, midnight UTC on 1 March in March.
	var part string
	err = db.Pool.QueryRow(ctx, `INSERT INTO audit_events (at, action, entity, entity_id)
		VALUES ('2031-02-28 23:59:59.999+00', 'test.insert', 'test', 'x') RETURNING tableoid::regclass::text`).Scan(&part)
	if err != nil || part != "audit_events_y2031m02" {
		t.Fatalf("insert into February: partition %q, %v", part, err)
	}
	// No default partition: a month without one fails loudly.
	_, err = db.Pool.Exec(ctx, `INSERT INTO audit_events (at, action, entity, entity_id) VALUES ('2040-06-01', 'test.insert', 'test', 'x')`)
	if err == nil || !strings.Contains(err.Error(), "no partition") {
		t.Fatalf("insert into a month without partition: got %v, want a no-partition error", err)
	}
	// Audit events are append-only.
	if _, err := db.Pool.Exec(ctx, `UPDATE audit_events SET action = 'test.changed'`); err == nil {
		t.Fatal("UPDATE of audit_events succeeded")
	}
	if _, err := db.Pool.Exec(ctx, `DELETE FROM audit_events`); err == nil {
		t.Fatal("DELETE from audit_events succeeded")
	}
	// Misuse is an error, not a silent no-op.
	if _, err := db.Pool.Exec(ctx, `SELECT ensure_monthly_partitions('students', '2031-01-01', '2031-02-01')`); err == nil {
		t.Error("ensure_monthly_partitions accepted a table that is not partitioned")
	}
	if _, err := db.Pool.Exec(ctx, `SELECT ensure_monthly_partitions('attendance_records', '2031-05-01', '2031-02-01')`); err == nil {
		t.Error("ensure_monthly_partitions accepted from > to")
	}
}

func TestPartitionWindow(t *testing.T) {
	kolkata, err := time.LoadLocation("Asia/Kolkata")
	if err != nil {
		t.Fatal(err)
	}
	// 20:00 UTC on 31 January is already 1 February in Kolkata.
	from, to := postgres.PartitionWindow(time.Date(2031, time.January, 31, 20, 0, 0, 0, time.UTC), kolkata, 3)
	if want := time.Date(2031, time.January, 1, 0, 0, 0, 0, time.UTC); !from.Equal(want) {
		t.Errorf("from = %s, want %s", from, want)
	}
	if want := time.Date(2031, time.May, 31, 0, 0, 0, 0, time.UTC); !to.Equal(want) {
		t.Errorf("to = %s, want %s", to, want)
	}
}

func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func TestOpenUnreachable(t *testing.T) {
	t.Parallel()
	addr := closedPort(t)
	cfg := config.Database{URL: "postgres://campus:hunter2@" + addr + "/campus?sslmode=disable", MaxConns: 2,
		ConnectTimeout: 3 * time.Second, MaxConnLifetime: time.Hour, MaxConnIdleTime: time.Minute}
	start := time.Now()
	_, err := postgres.Open(context.Background(), cfg, postgres.Options{})
	var ce *postgres.ConnectError
	if !errors.As(err, &ce) || ce.Refused {
		t.Fatalf("Open: got %v, want an unreachable *ConnectError", err)
	}
	if want := "cannot reach PostgreSQL at " + addr + ": connection refused"; err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}
	if time.Since(start) > 10*time.Second {
		t.Errorf("Open took %s", time.Since(start))
	}
}

func TestOpenWrongPassword(t *testing.T) {
	t.Parallel()
	u, err := url.Parse(testdb.ServerURL(t))
	if err != nil {
		t.Skip("TEST_DATABASE_URL is not in URL form")
	}
	u.User = url.UserPassword(u.User.Username(), "definitely-wrong-hunter2")
	cfg := config.Database{URL: u.String(), MaxConns: 2, ConnectTimeout: 5 * time.Second,
		MaxConnLifetime: time.Hour, MaxConnIdleTime: time.Minute}
	_, err = postgres.Open(context.Background(), cfg, postgres.Options{})
	var ce *postgres.ConnectError
	if !errors.As(err, &ce) || !ce.Refused {
		t.Fatalf("Open: got %v, want a refused *ConnectError", err)
	}
	if strings.Contains(err.Error(), "hunter2") {
		t.Errorf("error leaks the password: %v", err)
	}
	if !strings.Contains(err.Error(), "refused the connection") {
		t.Errorf("error %q does not say the server refused", err)
	}
}

func TestStore(t *testing.T) {
	t.Parallel()
	db := testdb.New(t)
	ctx := ctxT(t)
	campus, err := seed.Generate(seed.Options{Students: 150, Weeks: 0, Seed: 7, Now: time.Now(), Location: time.UTC})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := seed.Load(ctx, db.Pool, campus, 1); err != nil {
		t.Fatal(err)
	}
	store := postgres.NewStore(db.Pool, postgres.StoreOptions{Timeout: 5 * time.Second})
	all := domain.All()

	page, err := store.ListStudents(ctx, all, domain.StudentQuery{Page: domain.PageQuery{Limit: 10}, Filter: domain.StudentFilter{Department: "MATH"}})
	if err != nil || len(page.Items) == 0 {
		t.Fatalf("ListStudents MATH: %d items, %v", len(page.Items), err)
	}
	for _, s := range page.Items {
		if s.Department != "MATH" {
			t.Errorf("student %s of %s in a MATH page", s.RollNumber, s.Department)
		}
	}

	var inv *domain.InvalidError
	_, err = store.ListStudents(ctx, all, domain.StudentQuery{Page: domain.PageQuery{Limit: 10}, Filter: domain.StudentFilter{Department: "ZZZ"}})
	if !errors.As(err, &inv) || inv.Violations[0].Field != "department" {
		t.Fatalf("unknown department: got %v, want an InvalidError on department", err)
	}
	// A known department with no students in that year is an empty page,
	// not an error.
	page, err = store.ListStudents(ctx, all, domain.StudentQuery{Page: domain.PageQuery{Limit: 10}, Filter: domain.StudentFilter{Department: "MATH", Year: 6}})
	if err != nil || len(page.Items) != 0 || page.Next != nil {
		t.Fatalf("empty filter result: %+v, %v", page, err)
	}
	if _, err := store.ListStudents(ctx, all, domain.StudentQuery{}); !errors.As(err, &inv) {
		t.Fatalf("limit 0: got %v, want InvalidError", err)
	}

	want := campus.Students[3]
	got, err := store.StudentByID(ctx, all, want.ID)
	if err != nil || got.RollNumber != want.RollNumber || got.Email != want.Email || got.YearOfStudy != want.YearOfStudy {
		t.Fatalf("StudentByID: %+v, %v; want %+v", got, err, want)
	}
	if _, err := store.StudentByID(ctx, all, uuid.New()); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("StudentByID(unknown): got %v, want ErrNotFound", err)
	}

	// A closed pool is "unavailable", not an internal error.
	db.Pool.Close()
	if _, err := store.StudentByID(ctx, all, want.ID); !errors.Is(err, domain.ErrUnavailable) {
		t.Fatalf("after Close: got %v, want ErrUnavailable", err)
	}
}
