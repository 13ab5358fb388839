package api_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"
	_ "time/tzdata"

	"github.com/google/uuid"

	"github.com/campshub360/edge/backend/internal/api"
	"github.com/campshub360/edge/backend/internal/audit"
	"github.com/campshub360/edge/backend/internal/authz"
	"github.com/campshub360/edge/backend/internal/domain"
	"github.com/campshub360/edge/backend/internal/seed"
	"github.com/campshub360/edge/backend/internal/store/postgres"
	"github.com/campshub360/edge/backend/internal/testdb"
)

// campus is a seeded database with the API served over it and a principal
// of every role, shared by the subtests of a test.
type campus struct {
	db    *testdb.DB
	data  *seed.Campus
	store *postgres.Store
	srv   *server
	clock *fakeClock
	loc   *time.Location

	admin, registrar, auditor, faculty, faculty2, student, student2, anon *client
	facultyID, faculty2ID, studentID, student2ID                          uuid.UUID
	// sec is taught by faculty; student is on its roster, student2 not.
	sec    domain.Section
	roster []uuid.UUID
	days   atomic.Int32
}

// campusOpts adjust newCampus.
type campusOpts struct {
	students int
	weeks    int
	deps     func(d *api.Deps)
	// auditWriter records audit events in the database (audit.Writer)
	// instead of in memory.
	auditWriter bool
}

const testPassHash = "$2a$10$abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0"

func newCampus(t testing.TB, o campusOpts) *campus {
	t.Helper()
	if o.students == 0 {
		o.students = 120
	}
	db := testdb.New(t)
	loc, err := time.LoadLocation(seed.DefaultTimeZone)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	data, err := seed.Generate(seed.Options{Students: o.students, Weeks: o.weeks, Seed: 3, Now: now, Location: loc})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := seed.Load(ctx, db.Pool, data, 3); err != nil {
		t.Fatal(err)
	}
	c := &campus{db: db, data: data, clock: newClock(now), loc: loc}
	rules := domain.Rules{TimeZone: loc, Grace: 5 * time.Minute, Threshold: domain.DefaultThreshold, CorrectionWindowDays: 7}
	c.store = postgres.NewStore(db.Pool, postgres.StoreOptions{Timeout: 10 * time.Second, Rules: rules, Now: c.clock.Now})
	deps := api.Deps{Store: c.store, Rules: rules, Now: c.clock.Now,
		Checks: []api.Check{{Name: "postgres", Ping: db.Pool.Ping}}}
	if o.auditWriter {
		w := audit.NewWriter(db.Pool, audit.WriterOptions{FlushInterval: 20 * time.Millisecond})
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_ = w.Close(ctx)
		})
		deps.Audit = w
	}
	if o.deps != nil {
		o.deps(&deps)
	}
	c.srv = start(t, deps)

	// The section with the largest roster, its teacher, an outsider of
	// each kind.
	rosters := map[uuid.UUID][]uuid.UUID{}
	for _, e := range data.Enrollments {
		if e.Status == domain.EnrollmentEnrolled {
			rosters[e.SectionID] = append(rosters[e.SectionID], e.StudentID)
		}
	}
	sec := data.Sections[0]
	for _, x := range data.Sections {
		if len(rosters[x.ID]) > len(rosters[sec.ID]) {
			sec = x
		}
	}
	c.facultyID = sec.FacultyID
	c.roster = rosters[sec.ID]
	if len(c.roster) < 2 {
		t.Fatalf("section roster too small: %d", len(c.roster))
	}
	c.studentID = c.roster[0]
	inRoster := map[uuid.UUID]bool{}
	for _, id := range c.roster {
		inRoster[id] = true
	}
	for _, e := range data.Enrollments {
		if !inRoster[e.StudentID] && e.Status == domain.EnrollmentEnrolled {
			c.student2ID = e.StudentID
			break
		}
	}
	for _, f := range data.Faculty {
		if f.ID != c.facultyID {
			c.faculty2ID = f.ID
			break
		}
	}
	user := func(name string, role authz.Role) uuid.UUID {
		var id uuid.UUID
		err := db.Pool.QueryRow(ctx, `INSERT INTO users (email, password_hash, role) VALUES ($1, $2, $3) RETURNING id`,
			name+"@test.campshub360.example", testPassHash, string(role)).Scan(&id)
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	principal := func(name string, p *authz.Principal) *client {
		p.UserID = user(name, p.Role)
		return c.srv.as(c.srv.tokens.Add("tok-"+name, p))
	}
	c.admin = principal("admin", &authz.Principal{Role: authz.RoleAdmin})
	c.registrar = principal("registrar", &authz.Principal{Role: authz.RoleRegistrar})
	c.auditor = principal("auditor", &authz.Principal{Role: authz.RoleAuditor})
	c.faculty = principal("faculty", &authz.Principal{Role: authz.RoleFaculty, FacultyID: c.facultyID})
	c.faculty2 = principal("faculty2", &authz.Principal{Role: authz.RoleFaculty, FacultyID: c.faculty2ID})
	c.student = principal("student", &authz.Principal{Role: authz.RoleStudent, StudentID: c.studentID})
	c.student2 = principal("student2", &authz.Principal{Role: authz.RoleStudent, StudentID: c.student2ID})
	c.anon = c.srv.as("")
	c.sec, err = c.store.SectionByID(ctx, domain.All(), sec.ID)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// localDay returns the date days after the institution's today at hh:mm
// local time, as an instant.
func (c *campus) at(days, hh, mm int) time.Time {
	d := domain.Today(c.clock.Now(), c.loc)
	return time.Date(d.Year(), d.Month(), d.Day(), hh, mm, 0, 0, c.loc).AddDate(0, 0, days)
}

// newSession creates an extra session of c.sec as its faculty member on a
// future day no other test session uses, 10:00-11:00 local, and returns it.
func (c *campus) newSession(t *testing.T) sessionView {
	t.Helper()
	n := int(c.days.Add(1))
	starts := c.at(7+n, 10, 0)
	var s sessionView
	ok(t, c.faculty.send(t, "POST", "/api/v1/sessions", map[string]any{
		"section_id": c.sec.ID.String(), "starts_at": starts.UTC().Format(time.RFC3339), "ends_at": starts.Add(time.Hour).UTC().Format(time.RFC3339),
	}), 201, &s)
	return s
}

// openSession creates a session and opens it with the clock at its start.
func (c *campus) openSession(t *testing.T) sessionView {
	t.Helper()
	s := c.newSession(t)
	c.clock.Set(s.starts())
	ok(t, c.faculty.send(t, "POST", "/api/v1/sessions/"+s.ID+"/open", nil), 200, &s)
	return s
}

type sessionView struct {
	ID        string  `json:"id"`
	SectionID string  `json:"section_id"`
	Status    string  `json:"status"`
	StartsAt  string  `json:"starts_at"`
	EndsAt    string  `json:"ends_at"`
	Date      string  `json:"date"`
	SlotID    *string `json:"slot_id"`
}

func (s sessionView) starts() time.Time {
	t, err := time.Parse(time.RFC3339Nano, s.StartsAt)
	if err != nil {
		panic(err)
	}
	return t
}

// mark PUTs records for the session as the faculty member.
func (c *campus) mark(t *testing.T, session string, rows ...[2]string) marksReply {
	t.Helper()
	var recs []map[string]string
	for _, r := range rows {
		recs = append(recs, map[string]string{"student_id": r[0], "mark": r[1]})
	}
	var out marksReply
	ok(t, c.faculty.send(t, "PUT", "/api/v1/sessions/"+session+"/records", map[string]any{"records": recs}), 200, &out)
	return out
}

type marksReply struct {
	SessionID string `json:"session_id"`
	Status    string `json:"status"`
	Counts    struct {
		Created, Updated, Unchanged, Errors int
	} `json:"counts"`
	Results []struct {
		StudentID string  `json:"student_id"`
		Result    string  `json:"result"`
		Mark      *string `json:"mark"`
		Previous  *string `json:"previous"`
		Error     *string `json:"error"`
	} `json:"results"`
}

func str(s *string) string {
	if s == nil {
		return "<nil>"
	}
	return *s
}

func (c *campus) markOf(t *testing.T, session, student string) string {
	t.Helper()
	var m string
	err := c.db.Pool.QueryRow(context.Background(), `SELECT coalesce((SELECT mark FROM attendance_records WHERE session_id = $1 AND student_id = $2), '')`,
		session, student).Scan(&m)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func (c *campus) exec(t *testing.T, sql string, args ...any) {
	t.Helper()
	if _, err := c.db.Pool.Exec(context.Background(), sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

func id(u uuid.UUID) string { return u.String() }
