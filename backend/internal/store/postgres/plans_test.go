package postgres_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	_ "time/tzdata"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/campshub360/edge/backend/internal/domain"
	"github.com/campshub360/edge/backend/internal/seed"
	"github.com/campshub360/edge/backend/internal/store/postgres"
	"github.com/campshub360/edge/backend/internal/testdb"
)

// tracer captures the statements a store runs, for EXPLAIN.
type tracer struct {
	mu    sync.Mutex
	calls []traced
}

type traced struct {
	sql  string
	args []any
}

func (tr *tracer) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.calls = append(tr.calls, traced{d.SQL, d.Args})
	return ctx
}

func (tr *tracer) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

// last returns the most recent captured statement containing marker.
func (tr *tracer) last(t *testing.T, marker string) traced {
	t.Helper()
	tr.mu.Lock()
	defer tr.mu.Unlock()
	for i := len(tr.calls) - 1; i >= 0; i-- {
		if strings.Contains(tr.calls[i].sql, marker) {
			return tr.calls[i]
		}
	}
	t.Fatalf("no statement containing %q was run", marker)
	return traced{}
}

// planFixture is a seeded campus whose attendance spans two months, with
// a store whose statements are captured.
type planFixture struct {
	db     *testdb.DB
	campus *seed.Campus
	store  *postgres.Store
	tr     *tracer
	loc    *time.Location
}

func newPlanFixture(t *testing.T) *planFixture {
	t.Helper()
	db := testdb.New(t)
	ctx := ctxT(t)
	loc, _ := time.LoadLocation("Asia/Kolkata")
	c, err := seed.Generate(seed.Options{Students: 200, Weeks: 6, Seed: 11, Now: time.Now(), Location: loc})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := seed.Load(ctx, db.Pool, c, 3); err != nil {
		t.Fatal(err)
	}
	// The planner statistics of the scale preset where the test's few
	// rows would mislead it: ~550 faculty members hold sessions (here a
	// handful, so filtering one member's day by date looks as cheap).
	if _, err := db.Pool.Exec(ctx, "ALTER TABLE attendance_sessions ALTER COLUMN faculty_id SET (n_distinct = 550)"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Pool.Exec(ctx, "ANALYZE"); err != nil {
		t.Fatal(err)
	}
	tr := &tracer{}
	pc, err := pgxpool.ParseConfig(db.URL)
	if err != nil {
		t.Fatal(err)
	}
	pc.ConnConfig.Tracer = tr
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	store := postgres.NewStore(pool, postgres.StoreOptions{Rules: domain.Rules{TimeZone: loc, Grace: 5 * time.Minute}})
	return &planFixture{db: db, campus: c, store: store, tr: tr, loc: loc}
}

// plan is an EXPLAIN (FORMAT JSON) tree, flattened.
type plan struct {
	nodes    []map[string]any
	relScans map[string]string // relation -> node type
	indexes  []string
	removed  int
}

func (p plan) String() string {
	var b strings.Builder
	for _, n := range p.nodes {
		fmt.Fprintf(&b, "%v %v %v; ", n["Node Type"], n["Relation Name"], n["Index Name"])
	}
	return b.String()
}

func explain(t *testing.T, conn *pgxpool.Conn, sql string, args ...any) plan {
	t.Helper()
	var raw []byte
	if err := conn.QueryRow(context.Background(), "EXPLAIN (FORMAT JSON) "+sql, args...).Scan(&raw); err != nil {
		t.Fatalf("EXPLAIN: %v\n%s", err, sql)
	}
	return parsePlan(t, raw)
}

func parsePlan(t *testing.T, raw []byte) plan {
	t.Helper()
	var doc []struct {
		Plan map[string]any `json:"Plan"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	p := plan{relScans: map[string]string{}}
	var walk func(n map[string]any)
	walk = func(n map[string]any) {
		p.nodes = append(p.nodes, n)
		if rel, ok := n["Relation Name"].(string); ok {
			p.relScans[rel] = n["Node Type"].(string)
		}
		if idx, ok := n["Index Name"].(string); ok {
			p.indexes = append(p.indexes, idx)
		}
		if r, ok := n["Subplans Removed"].(float64); ok {
			p.removed += int(r)
		}
		if kids, ok := n["Plans"].([]any); ok {
			for _, k := range kids {
				walk(k.(map[string]any))
			}
		}
	}
	walk(doc[0].Plan)
	return p
}

// explainAnalyze runs EXPLAIN ANALYZE of a statement in a transaction that
// is rolled back (writes leave no trace).
func explainAnalyze(t *testing.T, conn *pgxpool.Conn, sql string, args ...any) plan {
	t.Helper()
	ctx := ctxT(t)
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	var raw []byte
	if err := tx.QueryRow(ctx, "EXPLAIN (ANALYZE, FORMAT JSON) "+sql, args...).Scan(&raw); err != nil {
		t.Fatalf("EXPLAIN ANALYZE: %v\n%s", err, sql)
	}
	return parsePlan(t, raw)
}

// executedPartitions lists the attendance_records partitions an analyzed
// plan actually scanned (loops > 0).
func (p plan) executedPartitions() []string {
	seen := map[string]bool{}
	for _, n := range p.nodes {
		rel, _ := n["Relation Name"].(string)
		loops, _ := n["Actual Loops"].(float64)
		if strings.HasPrefix(rel, "attendance_records_y") && loops > 0 && n["Node Type"] != "ModifyTable" {
			seen[rel] = true
		}
	}
	var out []string
	for rel := range seen {
		out = append(out, rel)
	}
	slices.Sort(out)
	return out
}

// recordPartitions lists the attendance_records partitions a plan reads.
func (p plan) recordPartitions() []string {
	var out []string
	for rel := range p.relScans {
		if strings.HasPrefix(rel, "attendance_records_y") {
			out = append(out, rel)
		}
	}
	slices.Sort(out)
	return out
}

// sorts reports whether the plan has a Sort node.
func (p plan) sorts() bool {
	return slices.ContainsFunc(p.nodes, func(n map[string]any) bool { return n["Node Type"] == "Sort" })
}

func setAll(t *testing.T, conn *pgxpool.Conn, stmts ...string) {
	t.Helper()
	for _, s := range stmts {
		if _, err := conn.Exec(ctxT(t), s); err != nil {
			t.Fatal(err)
		}
	}
}

func (p plan) seqScans() []string {
	var out []string
	for rel, node := range p.relScans {
		if node == "Seq Scan" {
			out = append(out, rel)
		}
	}
	return out
}

// conn returns a connection with sequential scans disabled: on the test's
// small tables a sequential scan is cheaper than any index, so this asks
// whether an index exists that serves the query's shape.
func (f *planFixture) conn(t *testing.T) *pgxpool.Conn {
	t.Helper()
	conn, err := f.db.Pool.Acquire(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(conn.Release)
	if _, err := conn.Exec(ctxT(t), "SET enable_seqscan = off"); err != nil {
		t.Fatal(err)
	}
	return conn
}

func TestHotQueryPlans(t *testing.T) {
	t.Parallel()
	f := newPlanFixture(t)
	ctx := ctxT(t)
	today := domain.Today(time.Now(), f.loc)
	monthStart := time.Date(today.Year(), today.Month(), 1, 0, 0, 0, 0, time.UTC)
	thisMonth := fmt.Sprintf("attendance_records_y%04dm%02d", today.Year(), int(today.Month()))
	conn := f.conn(t)
	// Bitmap scans priced out too: on these few rows the planner is free
	// to prefer one, which reads the heap; the question is whether a
	// plain or index-only path exists.
	setAll(t, conn, "SET enable_bitmapscan = off")

	// A student's summary over this month: one partition, read through
	// its (student_id, session_date) index.
	student := f.campus.Students[0].ID
	w := domain.Window{From: monthStart, To: today}
	if _, err := f.store.StudentSummary(ctx, domain.All(), student, uuid.Nil, w); err != nil {
		t.Fatal(err)
	}
	q := f.tr.last(t, "WITH agg AS")
	p := explain(t, conn, q.sql, q.args...)
	if parts := p.recordPartitions(); !slices.Equal(parts, []string{thisMonth}) {
		t.Errorf("student summary reads partitions %v, want only %s\n%s", parts, thisMonth, p)
	}
	if !slices.ContainsFunc(p.indexes, func(i string) bool { return strings.Contains(i, "student_id_session_date") }) ||
		p.relScans[thisMonth] != "Index Only Scan" {
		t.Errorf("student summary does not read the covering (student_id, session_date) index only: %s", p)
	}
	// The same statement prepared with a generic plan prunes at executor
	// start ("Subplans Removed").
	assertRuntimePruning(t, conn, q)

	// A section's report: sessions by (section_id, session_date), records
	// by primary key, one SQL aggregate.
	sec := f.campus.Sections[0].ID
	if _, err := f.store.SectionReport(ctx, domain.All(), sec, w); err != nil {
		t.Fatal(err)
	}
	q = f.tr.last(t, "WITH ses AS")
	p = explain(t, conn, q.sql, q.args...)
	if parts := p.recordPartitions(); !slices.Equal(parts, []string{thisMonth}) {
		t.Errorf("section report reads partitions %v, want only %s\n%s", parts, thisMonth, p)
	}
	for _, want := range []string{"attendance_sessions_section_date_idx", "enrollments_roster_idx", thisMonth + "_pkey"} {
		if !slices.Contains(p.indexes, want) {
			t.Errorf("section report does not use %s: %s", want, p)
		}
	}
	if p.relScans[thisMonth] != "Index Only Scan" {
		t.Errorf("section report reads the records' heap: %s", p)
	}
	assertRuntimePruning(t, conn, q)

	// Bulk marking and check-in: no sequential scans anywhere, and of the
	// partitions, only the session's month is read (run-time pruning
	// through the session's date), as EXPLAIN ANALYZE shows in a
	// transaction rolled back.
	var ses domain.AttendanceSession
	for _, s := range f.campus.Sessions {
		if s.Status == domain.SessionClosed && s.SectionID == f.campus.Sections[0].ID {
			ses = s
		}
	}
	sesMonth := fmt.Sprintf("attendance_records_y%04dm%02d", ses.Date.Year(), int(ses.Date.Month()))
	rows := []domain.MarkInput{{StudentID: f.campus.Students[0].ID, Mark: domain.MarkPresent}}
	if _, err := f.store.MarkRecords(ctx, domain.Actor{Scope: domain.All()}, domain.MarkRequest{SessionID: ses.ID, Rows: rows, Source: domain.SourceManual}); err != nil {
		t.Fatal(err)
	}
	q = f.tr.last(t, "INSERT INTO attendance_records AS r")
	p = explainAnalyze(t, conn, q.sql, q.args...)
	if s := p.seqScans(); len(s) > 0 {
		t.Errorf("bulk marking scans %v sequentially: %s", s, p)
	}
	if parts := p.executedPartitions(); !slices.Equal(parts, []string{sesMonth}) {
		t.Errorf("bulk marking reads partitions %v, want %s", parts, sesMonth)
	}
	_, _ = f.store.CheckIn(ctx, domain.Actor{}, ses.ID, f.campus.Students[0].ID)
	q = f.tr.last(t, "'qr'")
	p = explainAnalyze(t, conn, q.sql, q.args...)
	if s := p.seqScans(); len(s) > 0 {
		t.Errorf("check-in scans %v sequentially: %s", s, p)
	}
	// Lists: with sorts and bitmap scans priced out, a plan without a Sort
	// node proves an index delivers the page in keyset order, and the
	// index chosen is the one for the filter.
	setAll(t, conn, "SET enable_sort = off")
	// A busy day: the date of the last seeded session.
	busy := f.campus.Sessions[len(f.campus.Sessions)-1]
	fac := busy.FacultyID
	if _, err := f.store.ListSessions(ctx, domain.FacultyScope(fac), domain.SessionQuery{From: busy.Date, To: busy.Date, Page: domain.PageQuery{Limit: 50}}); err != nil {
		t.Fatal(err)
	}
	q = f.tr.last(t, "FROM attendance_sessions ses")
	p = explain(t, conn, q.sql, q.args...)
	if !slices.Contains(p.indexes, "attendance_sessions_faculty_date_idx") || p.sorts() {
		t.Errorf("a faculty member's day does not come ordered from attendance_sessions_faculty_date_idx: %s", p)
	}
	if _, err := f.store.ListSessions(ctx, domain.All(), domain.SessionQuery{SectionID: sec, From: monthStart, To: today, Page: domain.PageQuery{Limit: 50}}); err != nil {
		t.Fatal(err)
	}
	q = f.tr.last(t, "FROM attendance_sessions ses")
	p = explain(t, conn, q.sql, q.args...)
	if !slices.Contains(p.indexes, "attendance_sessions_section_date_idx") || p.sorts() {
		t.Errorf("a section's sessions do not come ordered from attendance_sessions_section_date_idx: %s", p)
	}
	for _, tc := range []struct {
		filter domain.StudentFilter
		index  string
	}{
		{domain.StudentFilter{}, "students_roll_number_key"},
		{domain.StudentFilter{Department: "CSE"}, "students_department_roll_idx"},
		{domain.StudentFilter{Department: "CSE", Year: 2}, "students_department_year_roll_idx"},
		{domain.StudentFilter{Program: "BTECH-CSE", Year: 2, Section: "A"}, "students_program_year_section_roll_idx"},
	} {
		if _, err := f.store.ListStudents(ctx, domain.All(), domain.StudentQuery{Filter: tc.filter, Page: domain.PageQuery{Limit: 50}}); err != nil {
			t.Fatal(err)
		}
		q = f.tr.last(t, "FROM students s")
		p = explain(t, conn, q.sql, q.args...)
		if !slices.Contains(p.indexes, tc.index) || p.sorts() {
			t.Errorf("student list %+v does not come ordered from %s: %s", tc.filter, tc.index, p)
		}
	}
	// Search: the trigram index finds the matches of q (plain index scans
	// priced out: a bitmap scan needs an index whose condition is the LIKE).
	setAll(t, conn, "RESET enable_sort", "RESET enable_bitmapscan", "SET enable_indexscan = off")
	if _, err := f.store.ListStudents(ctx, domain.All(), domain.StudentQuery{Filter: domain.StudentFilter{Q: "qzxjv"}, Page: domain.PageQuery{Limit: 500}}); err != nil {
		t.Fatal(err)
	}
	q = f.tr.last(t, "FROM students s")
	p = explain(t, conn, q.sql, q.args...)
	if !slices.Contains(p.indexes, "students_search_trgm_idx") {
		t.Errorf("search does not use students_search_trgm_idx: %s", p)
	}
	setAll(t, conn, "RESET enable_indexscan")

	// The audit trail within a window prunes audit_events partitions.
	from := time.Now().Add(-time.Hour)
	if _, err := f.store.ListAudit(ctx, domain.AuditQuery{From: from, To: time.Now(), Page: domain.PageQuery{Limit: 50}}); err != nil {
		t.Fatal(err)
	}
	q = f.tr.last(t, "FROM audit_events")
	p = explain(t, conn, q.sql, q.args...)
	var auditParts []string
	for rel := range p.relScans {
		if strings.HasPrefix(rel, "audit_events_y") {
			auditParts = append(auditParts, rel)
		}
	}
	if len(auditParts) > 2 {
		t.Errorf("an hour of audit events reads partitions %v", auditParts)
	}
}

// assertRuntimePruning prepares q with a forced generic plan and checks
// that EXPLAIN EXECUTE removes attendance_records partitions at executor
// start.
func assertRuntimePruning(t *testing.T, conn *pgxpool.Conn, q traced) {
	t.Helper()
	ctx := ctxT(t)
	name := "p" + strings.ReplaceAll(uuid.NewString(), "-", "")
	if _, err := conn.Exec(ctx, "SET plan_cache_mode = force_generic_plan"); err != nil {
		t.Fatal(err)
	}
	defer conn.Exec(ctx, "RESET plan_cache_mode")
	if _, err := conn.Exec(ctx, "PREPARE "+name+" AS "+q.sql); err != nil {
		t.Fatalf("PREPARE: %v", err)
	}
	defer conn.Exec(ctx, "DEALLOCATE "+name)
	lits := make([]string, len(q.args))
	for i, a := range q.args {
		lits[i] = literal(t, a)
	}
	var raw []byte
	if err := conn.QueryRow(ctx, "EXPLAIN (FORMAT JSON) EXECUTE "+name+"("+strings.Join(lits, ", ")+")").Scan(&raw); err != nil {
		t.Fatalf("EXPLAIN EXECUTE: %v", err)
	}
	if p := parsePlan(t, raw); p.removed == 0 {
		t.Errorf("generic plan prunes no partition at run time: %s", p)
	}
}

// literal renders a captured argument as SQL.
func literal(t *testing.T, a any) string {
	t.Helper()
	switch v := a.(type) {
	case uuid.UUID:
		return "'" + v.String() + "'"
	case time.Time:
		return "'" + v.UTC().Format(time.RFC3339Nano) + "'"
	case string:
		return "'" + strings.ReplaceAll(v, "'", "''") + "'"
	case int, int16, int32, int64:
		return fmt.Sprint(v)
	}
	t.Fatalf("cannot render %T", a)
	return ""
}

func TestPercentageFunctionMatchesGo(t *testing.T) {
	t.Parallel()
	db := testdb.New(t)
	var ps, es, ts []int64
	for total := int64(0); total <= 40; total++ {
		for p := int64(0); p <= total; p++ {
			for e := int64(0); p+e <= total; e++ {
				ps, es, ts = append(ps, p), append(es, e), append(ts, total)
			}
		}
	}
	rows, err := db.Pool.Query(ctxT(t), `SELECT attendance_pct_hundredths(p, e, t) FROM unnest($1::bigint[], $2::bigint[], $3::bigint[]) AS x(p, e, t)`, ps, es, ts)
	if err != nil {
		t.Fatal(err)
	}
	got, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		t.Fatal(err)
	}
	for i := range got {
		if want := int64(domain.Percentage(ps[i], es[i], ts[i])); got[i] != want {
			t.Fatalf("p=%d e=%d t=%d: SQL %d, Go %d", ps[i], es[i], ts[i], got[i], want)
		}
	}
	if len(got) < 10000 {
		t.Fatalf("only %d cases", len(got))
	}
}
