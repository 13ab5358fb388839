// Command storebench measures the campus store's hot operations against a
// real PostgreSQL holding the scale preset (backend seed --preset scale),
// through the same code the API runs (internal/store/postgres), and prints
// a Markdown table of latency percentiles against the targets:
//
//	student summary     p99 < 20 ms
//	section report      p99 < 20 ms
//	bulk mark 70        p99 < 30 ms (a 70-student roster, one statement)
//	QR check-in         p99 < 5 ms
//	student list page   p99 < 10 ms
//
// It reads DATABASE_URL (and the other DATABASE_* variables of
// internal/config). It adds its own rows (a BENCH course, section, faculty
// member, 70 enrollments and future sessions) and leaves the seeded data
// as it was. scripts/bench-backend.sh (make bench-backend) runs it on a
// freshly loaded scale database.
//
//	storebench [--iterations 1000] [--workers 1] [--seed 1]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/campshub360/edge/backend/internal/config"
	"github.com/campshub360/edge/backend/internal/domain"
	"github.com/campshub360/edge/backend/internal/store/postgres"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "storebench: "+err.Error())
		os.Exit(1)
	}
}

// op is one measured operation: run is called with the iteration number.
type op struct {
	name   string
	target time.Duration
	run    func(ctx context.Context, i int) error
}

func run(ctx context.Context, args []string, getenv func(string) string, out io.Writer) error {
	fs := flag.NewFlagSet("storebench", flag.ContinueOnError)
	iterations := fs.Int("iterations", 1000, "measured calls per operation")
	workers := fs.Int("workers", 1, "concurrent callers per operation")
	seedVal := fs.Uint64("seed", 1, "pseudo-random seed of the inputs")
	if err := fs.Parse(args); err != nil {
		return err
	}
	db, err := config.LoadDatabase(getenv)
	if err != nil {
		return err
	}
	db.MaxConns = max(db.MaxConns, int32(*workers)+2)
	pool, err := postgres.Open(ctx, db, postgres.Options{ApplicationName: "campshub360-storebench"})
	if err != nil {
		return err
	}
	defer pool.Close()
	loc, _ := time.LoadLocation(config.DefaultTimeZone)
	store := postgres.NewStore(pool, postgres.StoreOptions{Timeout: 10 * time.Second,
		Rules: domain.Rules{TimeZone: loc, Grace: 5 * time.Minute, Threshold: domain.DefaultThreshold, CorrectionWindowDays: 7}})

	f, err := setup(ctx, pool, store, *iterations, *workers, *seedVal)
	if err != nil {
		return fmt.Errorf("setup: %w", err)
	}
	fmt.Fprintf(out, "dataset: %s\n\n", f.describe)
	ops := f.ops(store)
	fmt.Fprintln(out, "| operation | calls | p50 | p95 | p99 | max | target (p99) | |")
	fmt.Fprintln(out, "|---|---:|---:|---:|---:|---:|---:|---|")
	failed := 0
	for _, o := range ops {
		lat, err := measure(ctx, o, *iterations, *workers)
		if err != nil {
			return fmt.Errorf("%s: %w", o.name, err)
		}
		p := func(q float64) time.Duration { return lat[min(len(lat)-1, int(q*float64(len(lat))))] }
		verdict := "ok"
		if p(0.99) >= o.target {
			verdict = "over"
			failed++
		}
		fmt.Fprintf(out, "| %s | %d | %s | %s | %s | %s | < %s | %s |\n", o.name, len(lat), ms(p(0.50)), ms(p(0.95)), ms(p(0.99)),
			ms(lat[len(lat)-1]), ms(o.target), verdict)
	}
	if failed > 0 {
		return fmt.Errorf("%d operations over their target", failed)
	}
	return nil
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d.Microseconds())/1000) }

// measure runs o iterations times over workers goroutines (after a short
// warm-up that fills the connections' statement caches) and returns the
// sorted latencies.
func measure(ctx context.Context, o op, iterations, workers int) ([]time.Duration, error) {
	warm := min(iterations/10, 50)
	for i := range warm {
		if err := o.run(ctx, iterations+i); err != nil {
			return nil, err
		}
	}
	lat := make([]time.Duration, iterations)
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
		next  = make(chan int)
	)
	for range workers {
		wg.Go(func() {
			for i := range next {
				start := time.Now()
				err := o.run(ctx, i)
				lat[i] = time.Since(start)
				if err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
				}
			}
		})
	}
	for i := range iterations {
		if ctx.Err() != nil {
			break
		}
		next <- i
	}
	close(next)
	wg.Wait()
	if first != nil {
		return nil, first
	}
	slices.Sort(lat)
	return lat, nil
}

// fixture holds the benchmark's inputs.
type fixture struct {
	describe   string
	rng        *rand.Rand
	term       domain.Term
	students   []uuid.UUID
	sections   []uuid.UUID
	roster     []uuid.UUID            // 70 students of the bench section
	markSes    []uuid.UUID            // open sessions for bulk marking
	checkInSes []uuid.UUID            // open sessions for check-ins
	depts      []string               // department codes
	classes    []domain.StudentFilter // program/year/section filters
	rolls      []string               // roll numbers to page after
	names      []string               // search fragments
}

const rosterSize = 70

func setup(ctx context.Context, pool *pgxpool.Pool, store *postgres.Store, iterations, workers int, seed uint64) (*fixture, error) {
	f := &fixture{rng: rand.New(rand.NewPCG(seed, 7))}
	var err error
	if f.term, err = store.CurrentTerm(ctx); err != nil {
		return nil, fmt.Errorf("current term: %w (load the scale preset first)", err)
	}
	var nStudents, nSections, nSessions, nRecords int64
	if err := pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM students), (SELECT count(*) FROM sections),
		(SELECT count(*) FROM attendance_sessions), (SELECT reltuples::bigint FROM pg_class WHERE oid = 'attendance_records'::regclass)`).
		Scan(&nStudents, &nSections, &nSessions, &nRecords); err != nil {
		return nil, err
	}
	if nRecords <= 0 {
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM attendance_records`).Scan(&nRecords); err != nil {
			return nil, err
		}
	}
	f.describe = fmt.Sprintf("%d students, %d sections, %d sessions, ~%d attendance records", nStudents, nSections, nSessions, nRecords)
	collect := func(sql string, args ...any) ([]uuid.UUID, error) {
		rows, err := pool.Query(ctx, sql, args...)
		if err != nil {
			return nil, err
		}
		return pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
	}
	if f.students, err = collect(`SELECT e.student_id FROM enrollments e JOIN sections s ON s.id = e.section_id
		WHERE s.term_id = $1 AND e.status = 'ENROLLED' GROUP BY e.student_id ORDER BY md5(e.student_id::text) LIMIT 2000`, f.term.ID); err != nil {
		return nil, err
	}
	if f.sections, err = collect(`SELECT id FROM sections WHERE term_id = $1 AND section_code <> 'BENCH' ORDER BY md5(id::text) LIMIT 1000`, f.term.ID); err != nil {
		return nil, err
	}
	if len(f.students) == 0 || len(f.sections) == 0 {
		return nil, errors.New("no enrolled students in the current term: load the scale preset first")
	}
	rows, err := pool.Query(ctx, `SELECT DISTINCT p.code, s.year_of_study, s.section FROM students s JOIN programs p ON p.id = s.program_id`)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var c domain.StudentFilter
		var y int16
		if err := rows.Scan(&c.Program, &y, &c.Section); err != nil {
			return nil, err
		}
		c.Year = int(y)
		f.classes = append(f.classes, c)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if err := pool.QueryRow(ctx, `SELECT array_agg(code) FROM departments`).Scan(&f.depts); err != nil {
		return nil, err
	}
	if err := pool.QueryRow(ctx, `SELECT array_agg(roll_number ORDER BY md5(roll_number)) FROM (SELECT roll_number FROM students ORDER BY md5(roll_number) LIMIT 500) x`).Scan(&f.rolls); err != nil {
		return nil, err
	}
	if err := pool.QueryRow(ctx, `SELECT array_agg(DISTINCT lower(left(last_name, 4))) FROM students`).Scan(&f.names); err != nil {
		return nil, err
	}

	// The bench section: its own course, faculty member and 70 students.
	section, err := benchSection(ctx, pool, store, f)
	if err != nil {
		return nil, err
	}
	// Open sessions in the future, after any earlier run's.
	var last time.Time
	if err := pool.QueryRow(ctx, `SELECT coalesce(max(ends_at), now() + interval '30 days') FROM attendance_sessions WHERE section_id = $1`, section).Scan(&last); err != nil {
		return nil, err
	}
	start := last.Truncate(time.Hour).Add(time.Hour)
	all := domain.Actor{Scope: domain.All()}
	mk := func(n int) ([]uuid.UUID, error) {
		var ids []uuid.UUID
		for range n {
			s, err := store.CreateSession(ctx, all, domain.SessionInput{SectionID: section, StartsAt: start, EndsAt: start.Add(50 * time.Minute)})
			if err != nil {
				return nil, err
			}
			if _, err := store.Transition(ctx, all, s.ID, domain.ActionOpen); err != nil {
				return nil, err
			}
			start = start.Add(time.Hour)
			ids = append(ids, s.ID)
		}
		return ids, nil
	}
	warm := min(iterations/10, 50)
	if f.markSes, err = mk(iterations + warm); err != nil {
		return nil, err
	}
	if f.checkInSes, err = mk((iterations+warm)/rosterSize + 2); err != nil {
		return nil, err
	}
	if _, err := pool.Exec(ctx, `ANALYZE attendance_sessions`); err != nil {
		return nil, err
	}
	return f, nil
}

// benchSection finds or creates the BENCH section with rosterSize ENROLLED
// students, and fills f.roster.
func benchSection(ctx context.Context, pool *pgxpool.Pool, store *postgres.Store, f *fixture) (uuid.UUID, error) {
	var section uuid.UUID
	err := pool.QueryRow(ctx, `SELECT s.id FROM sections s JOIN courses c ON c.id = s.course_id WHERE c.code = 'BENCH101' AND s.term_id = $1`, f.term.ID).Scan(&section)
	if errors.Is(err, pgx.ErrNoRows) {
		dept := f.depts[0]
		course, err := store.CreateCourse(ctx, domain.CourseInput{Code: "BENCH101", Title: "Benchmark Section", Credits: 1, Department: dept})
		if err != nil && !errors.Is(err, domain.ErrConflict) {
			return section, err
		}
		if errors.Is(err, domain.ErrConflict) {
			if err := pool.QueryRow(ctx, `SELECT id FROM courses WHERE code = 'BENCH101'`).Scan(&course.ID); err != nil {
				return section, err
			}
		}
		fac, err := store.CreateFaculty(ctx, domain.FacultyInput{EmployeeID: "EMPBENCH1", FirstName: "Bench", LastName: "Mark",
			Email: "bench.mark@faculty.campshub360.example", Designation: "Professor", Department: dept, Active: true})
		if err != nil {
			return section, err
		}
		sec, err := store.CreateSection(ctx, domain.SectionInput{CourseID: course.ID, TermID: f.term.ID, FacultyID: fac.ID, Code: "BENCH", Capacity: 100})
		if err != nil {
			return section, err
		}
		section = sec.ID
		for _, st := range f.students[:rosterSize] {
			if _, _, err := store.Enroll(ctx, section, st); err != nil {
				return section, err
			}
		}
	} else if err != nil {
		return section, err
	}
	rows, err := pool.Query(ctx, `SELECT student_id FROM enrollments WHERE section_id = $1 AND status = 'ENROLLED' ORDER BY student_id`, section)
	if err != nil {
		return section, err
	}
	if f.roster, err = pgx.CollectRows(rows, pgx.RowTo[uuid.UUID]); err != nil {
		return section, err
	}
	if len(f.roster) != rosterSize {
		return section, fmt.Errorf("the bench section has %d students, want %d", len(f.roster), rosterSize)
	}
	return section, nil
}

// ops are the measured operations.
func (f *fixture) ops(store *postgres.Store) []op {
	var mu sync.Mutex
	pick := func(n int) int {
		mu.Lock()
		defer mu.Unlock()
		return f.rng.IntN(n)
	}
	all := domain.Actor{Scope: domain.All()}
	// A 4-cycle: shifting by one changes every row's mark.
	marks := []domain.Mark{domain.MarkPresent, domain.MarkLate, domain.MarkAbsent, domain.MarkExcused}
	rows := func(i, shift int) []domain.MarkInput {
		out := make([]domain.MarkInput, rosterSize)
		for k, st := range f.roster {
			out[k] = domain.MarkInput{StudentID: st, Mark: marks[(i+k+shift)%len(marks)]}
		}
		return out
	}
	return []op{
		{name: "student summary (all sections, term)", target: 20 * time.Millisecond, run: func(ctx context.Context, i int) error {
			_, err := store.StudentSummary(ctx, domain.All(), f.students[pick(len(f.students))], uuid.Nil, domain.Window{})
			return err
		}},
		{name: "section report (roster, term)", target: 20 * time.Millisecond, run: func(ctx context.Context, i int) error {
			_, err := store.SectionReport(ctx, domain.All(), f.sections[pick(len(f.sections))], domain.Window{})
			return err
		}},
		{name: "bulk mark 70 (insert)", target: 30 * time.Millisecond, run: func(ctx context.Context, i int) error {
			rep, err := store.MarkRecords(ctx, all, domain.MarkRequest{SessionID: f.markSes[i], Rows: rows(i, 0), Source: domain.SourceBulk})
			if err == nil && rep.Results[0].Outcome != domain.OutcomeCreated {
				err = fmt.Errorf("outcome %s, want created", rep.Results[0].Outcome)
			}
			return err
		}},
		{name: "bulk mark 70 (update)", target: 30 * time.Millisecond, run: func(ctx context.Context, i int) error {
			rep, err := store.MarkRecords(ctx, all, domain.MarkRequest{SessionID: f.markSes[i], Rows: rows(i, 1), Source: domain.SourceBulk})
			if err == nil && rep.Results[0].Outcome != domain.OutcomeUpdated {
				err = fmt.Errorf("outcome %s, want updated", rep.Results[0].Outcome)
			}
			return err
		}},
		{name: "QR check-in", target: 5 * time.Millisecond, run: func(ctx context.Context, i int) error {
			res, err := store.CheckIn(ctx, all, f.checkInSes[i/rosterSize], f.roster[i%rosterSize])
			if err == nil && res.Outcome != domain.OutcomeCreated {
				err = fmt.Errorf("outcome %s, want created", res.Outcome)
			}
			return err
		}},
		{name: "student list page (50, filters and search)", target: 10 * time.Millisecond, run: func(ctx context.Context, i int) error {
			q := domain.StudentQuery{Page: domain.PageQuery{Limit: 50}}
			switch i % 5 {
			case 0:
				q.Page.After = &domain.Key{Sort: f.rolls[pick(len(f.rolls))]}
			case 1:
				q.Filter.Department = f.depts[pick(len(f.depts))]
				q.Page.After = &domain.Key{Sort: f.rolls[pick(len(f.rolls))]}
			case 2:
				q.Filter.Department, q.Filter.Year = f.depts[pick(len(f.depts))], 1+pick(4)
			case 3:
				q.Filter = f.classes[pick(len(f.classes))]
			case 4:
				q.Filter.Q = f.names[pick(len(f.names))]
				if len([]rune(q.Filter.Q)) < domain.MinSearchLen {
					q.Filter.Q = "shar"
				}
			}
			_, err := store.ListStudents(ctx, domain.All(), q)
			var inv *domain.InvalidError
			if errors.As(err, &inv) && strings.Contains(inv.Error(), "department") {
				return nil
			}
			return err
		}},
	}
}
