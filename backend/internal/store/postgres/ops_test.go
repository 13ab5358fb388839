package postgres_test

import (
	"errors"
	"fmt"
	"net"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/campshub360/edge/backend/internal/config"
	"github.com/campshub360/edge/backend/internal/domain"
	"github.com/campshub360/edge/backend/internal/seed"
	"github.com/campshub360/edge/backend/internal/store/postgres"
	"github.com/campshub360/edge/backend/internal/testdb"
)

// seeded loads a small campus into a fresh database.
func seeded(t *testing.T, students, weeks int) (*testdb.DB, *seed.Campus, *time.Location) {
	t.Helper()
	db := testdb.New(t)
	loc, _ := time.LoadLocation("Asia/Kolkata")
	c, err := seed.Generate(seed.Options{Students: students, Weeks: weeks, Seed: 5, Now: time.Now(), Location: loc})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := seed.Load(ctxT(t), db.Pool, c, 3); err != nil {
		t.Fatal(err)
	}
	return db, c, loc
}

func TestSessionJobOpensClosesAndIsExclusive(t *testing.T) {
	t.Parallel()
	db, c, loc := seeded(t, 60, 0)
	ctx := ctxT(t)
	var now atomic.Int64
	clock := func() time.Time { return time.Unix(0, now.Load()) }
	store := postgres.NewStore(db.Pool, postgres.StoreOptions{Rules: domain.Rules{TimeZone: loc, Grace: 5 * time.Minute}, Now: clock})
	// Put the seeded sessions out of the way (the job would close them).
	if _, err := db.Pool.Exec(ctx, `UPDATE attendance_sessions SET status = 'cancelled'`); err != nil {
		t.Fatal(err)
	}
	sec := c.Sections[0]
	start := time.Now().Add(30 * 24 * time.Hour).Truncate(time.Hour)
	now.Store(start.Add(-time.Hour).UnixNano())
	s, err := store.CreateSession(ctx, domain.Actor{Scope: domain.All()}, domain.SessionInput{SectionID: sec.ID, StartsAt: start, EndsAt: start.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	run := func() postgres.SessionJobResult {
		t.Helper()
		res, err := store.RunSessionJob(ctx, 100)
		if err != nil || !res.Ran {
			t.Fatalf("RunSessionJob: %+v, %v", res, err)
		}
		return res
	}
	if res := run(); len(res.Opened)+len(res.Closed) != 0 {
		t.Fatalf("before the start: %+v", res)
	}
	now.Store(start.Add(time.Second).UnixNano())
	if res := run(); len(res.Opened) != 1 || res.Opened[0].ID != s.ID {
		t.Fatalf("at the start: %+v", res)
	}
	// One student marked present; the rest are filled absent on close,
	// which waits for the end plus the grace period.
	var roster []uuid.UUID
	for _, e := range c.Enrollments {
		if e.SectionID == sec.ID && e.Status == domain.EnrollmentEnrolled {
			roster = append(roster, e.StudentID)
		}
	}
	if _, err := store.MarkRecords(ctx, domain.Actor{Scope: domain.All()}, domain.MarkRequest{SessionID: s.ID,
		Rows: []domain.MarkInput{{StudentID: roster[0], Mark: domain.MarkPresent}}, Source: domain.SourceManual}); err != nil {
		t.Fatal(err)
	}
	now.Store(start.Add(time.Hour + 4*time.Minute).UnixNano())
	if res := run(); len(res.Closed) != 0 {
		t.Fatalf("within the grace period: %+v", res)
	}
	// Another instance holding the job's lock: this run does nothing.
	tx, err := db.Pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext('campshub360.session-job'))`); err != nil {
		t.Fatal(err)
	}
	now.Store(start.Add(time.Hour + 6*time.Minute).UnixNano())
	if res, err := store.RunSessionJob(ctx, 100); err != nil || res.Ran {
		t.Fatalf("with the lock held elsewhere: %+v, %v", res, err)
	}
	_ = tx.Rollback(ctx)
	res := run()
	if len(res.Closed) != 1 || res.Absent != len(roster)-1 || len(res.Students) != len(roster) {
		t.Fatalf("after the grace period: %+v (roster %d)", res, len(roster))
	}
	var status string
	if err := db.Pool.QueryRow(ctx, `SELECT status FROM attendance_sessions WHERE id = $1`, s.ID).Scan(&status); err != nil || status != "closed" {
		t.Fatalf("status %s, %v", status, err)
	}
	// A session never opened (the backend was down) is closed the same way.
	start2 := start.Add(24 * time.Hour)
	s2, err := store.CreateSession(ctx, domain.Actor{Scope: domain.All()}, domain.SessionInput{SectionID: sec.ID, StartsAt: start2, EndsAt: start2.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	now.Store(start2.Add(3 * time.Hour).UnixNano())
	if res := run(); len(res.Closed) != 1 || res.Closed[0].ID != s2.ID || res.Absent != len(roster) {
		t.Fatalf("a missed session: %+v", res)
	}
}

func TestMaintenanceKeepsPartitionsAheadAndDropsOldAudit(t *testing.T) {
	t.Parallel()
	db := testdb.New(t)
	ctx := ctxT(t)
	now := time.Date(2031, time.June, 15, 12, 0, 0, 0, time.UTC)
	// Old audit months, and one table named like a partition that is not
	// one (never touched).
	if _, err := postgres.EnsurePartitions(ctx, db.Pool, time.Date(2028, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2029, 12, 1, 0, 0, 0, 0, time.UTC)); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Pool.Exec(ctx, `INSERT INTO audit_events (at, action, entity, entity_id) VALUES ('2028-03-05', 'test.old', 'test', 'x'), ('2029-07-01', 'test.kept', 'test', 'y')`); err != nil {
		t.Fatal(err)
	}
	res, err := postgres.RunMaintenance(ctx, db.Pool, postgres.MaintenanceOptions{Now: now, Location: time.UTC, MonthsAhead: 1, AuditRetentionMonths: 24})
	if err != nil || !res.Ran {
		t.Fatalf("RunMaintenance: %+v, %v", res, err)
	}
	// At least three months ahead, whatever was asked.
	for _, m := range []string{"2031m07", "2031m08", "2031m09"} {
		for _, table := range postgres.PartitionedTables() {
			if !tableExists(t, db, table+"_y"+m) {
				t.Errorf("%s_y%s missing", table, m)
			}
		}
	}
	// Retention: 24 whole months before June 2031 are kept (June 2029 on).
	for _, m := range []string{"2028m01", "2028m03", "2029m05"} {
		if tableExists(t, db, "audit_events_y"+m) {
			t.Errorf("audit_events_y%s survived retention", m)
		}
	}
	for _, m := range []string{"2029m06", "2029m07"} {
		if !tableExists(t, db, "audit_events_y"+m) {
			t.Errorf("audit_events_y%s dropped", m)
		}
	}
	if !tableExists(t, db, "attendance_records_y2028m01") {
		t.Error("retention touched attendance_records")
	}
	if !slices.Contains(res.Dropped, "audit_events_y2028m03") {
		t.Errorf("dropped %v", res.Dropped)
	}
	var n int
	if err := db.Pool.QueryRow(ctx, `SELECT count(*) FROM audit_events`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("%d audit events left, want the one kept (%v)", n, err)
	}
	// Leader election: with the lock held elsewhere nothing happens.
	tx, err := db.Pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext('campshub360.partition-maintenance'))`); err != nil {
		t.Fatal(err)
	}
	res, err = postgres.RunMaintenance(ctx, db.Pool, postgres.MaintenanceOptions{Now: now.AddDate(1, 0, 0), Location: time.UTC, MonthsAhead: 3})
	if err != nil || res.Ran || res.Created != 0 {
		t.Fatalf("with the lock held elsewhere: %+v, %v", res, err)
	}
}

// TestExecModes runs the hot paths under every query exec mode, as behind
// pgbouncer in transaction mode (no prepared statements kept).
func TestExecModes(t *testing.T) {
	t.Parallel()
	db, c, loc := seeded(t, 40, 1)
	sec := c.Sections[0]
	var roster []uuid.UUID
	for _, e := range c.Enrollments {
		if e.SectionID == sec.ID && e.Status == domain.EnrollmentEnrolled {
			roster = append(roster, e.StudentID)
		}
	}
	for i, mode := range config.ExecModes {
		t.Run(mode, func(t *testing.T) {
			ctx := ctxT(t)
			cfg := db.Config()
			cfg.ExecMode = mode
			pool, err := postgres.Open(ctx, cfg, postgres.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer pool.Close()
			start := time.Now().Add(time.Duration(40+i) * 24 * time.Hour).Truncate(time.Hour)
			clock := func() time.Time { return start.Add(time.Minute) }
			store := postgres.NewStore(pool, postgres.StoreOptions{Rules: domain.Rules{TimeZone: loc, Grace: 5 * time.Minute}, Now: clock})
			all := domain.Actor{Scope: domain.All()}
			s, err := store.CreateSession(ctx, all, domain.SessionInput{SectionID: sec.ID, StartsAt: start, EndsAt: start.Add(time.Hour)})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := store.Transition(ctx, all, s.ID, domain.ActionOpen); err != nil {
				t.Fatal(err)
			}
			rows := []domain.MarkInput{{StudentID: roster[0], Mark: domain.MarkPresent, Reason: "on time"}, {StudentID: roster[1], Mark: domain.MarkAbsent}}
			reply, err := store.MarkRecords(ctx, all, domain.MarkRequest{SessionID: s.ID, Rows: rows, Source: domain.SourceBulk})
			if err != nil || reply.Results[0].Outcome != domain.OutcomeCreated {
				t.Fatalf("MarkRecords: %+v, %v", reply, err)
			}
			in, err := store.CheckIn(ctx, domain.Actor{}, s.ID, roster[1])
			if err != nil || in.Outcome != domain.OutcomeUpdated {
				t.Fatalf("CheckIn: %+v, %v", in, err)
			}
			if _, err := store.Transition(ctx, all, s.ID, domain.ActionClose); err != nil {
				t.Fatal(err)
			}
			sum, err := store.StudentSummary(ctx, domain.All(), roster[0], sec.ID, domain.Window{From: s.Date, To: s.Date})
			if err != nil || sum.Overall().Present != 1 {
				t.Fatalf("StudentSummary: %+v, %v", sum, err)
			}
			if _, err := store.SectionReport(ctx, domain.All(), sec.ID, domain.Window{}); err != nil {
				t.Fatal(err)
			}
			page, err := store.ListStudents(ctx, domain.All(), domain.StudentQuery{Filter: domain.StudentFilter{Q: "a", Department: "CSE"}, Page: domain.PageQuery{Limit: 5}})
			if err == nil && len(page.Items) == 0 {
				t.Fatal("no students")
			}
			var inv *domain.InvalidError
			if err != nil && !errors.As(err, &inv) {
				t.Fatal(err)
			}
		})
	}
}

func TestReplicaFallsBackToPrimary(t *testing.T) {
	t.Parallel()
	db, _, _ := seeded(t, 20, 0)
	ctx := ctxT(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()
	cfg := db.Config()
	cfg.URL = fmt.Sprintf("postgres://campus:x@%s/campus?sslmode=disable&connect_timeout=2", dead)
	replica, err := postgres.Open(ctx, cfg, postgres.Options{Lazy: true})
	if err != nil {
		t.Fatal(err)
	}
	defer replica.Close()
	var fallbacks atomic.Int64
	store := postgres.NewStore(db.Pool, postgres.StoreOptions{Replica: replica, OnReplicaFallback: func() { fallbacks.Add(1) }})
	page, err := store.ListCourses(ctx, domain.CatalogueQuery{Page: domain.PageQuery{Limit: 5}})
	if err != nil || len(page.Items) != 5 {
		t.Fatalf("ListCourses with the replica down: %+v, %v", page, err)
	}
	if _, err := store.CurrentTerm(ctx); err != nil {
		t.Fatalf("CurrentTerm (QueryRow) with the replica down: %v", err)
	}
	if fallbacks.Load() < 2 {
		t.Fatalf("%d fallbacks counted", fallbacks.Load())
	}
	// A working replica serves the reads (here: the same database).
	replica2, err := postgres.Open(ctx, db.Config(), postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer replica2.Close()
	fallbacks.Store(0)
	store = postgres.NewStore(db.Pool, postgres.StoreOptions{Replica: replica2, OnReplicaFallback: func() { fallbacks.Add(1) }})
	if _, err := store.ListCourses(ctx, domain.CatalogueQuery{Page: domain.PageQuery{Limit: 5}}); err != nil || fallbacks.Load() != 0 {
		t.Fatalf("with a replica: %v, %d fallbacks", err, fallbacks.Load())
	}
	if replica2.Stat().AcquireCount() == 0 {
		t.Fatal("the replica pool served nothing")
	}
}
