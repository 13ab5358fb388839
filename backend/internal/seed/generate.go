// Package seed builds and loads a deterministic demo campus: departments,
// programs, terms, faculty, courses, students, sections, enrollments, a
// weekly timetable, holidays, and past weeks of attendance.
//
// Generate is pure: the same Options (including the date) give the same
// Campus, down to every UUID, because all randomness comes from PCG streams
// seeded by Options.Seed (one stream per kind of row, so changing the number
// of students does not renumber departments or courses). Load writes a
// Campus into an empty database with COPY, in one transaction.
package seed

import (
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/campshub360/edge/backend/internal/domain"
)

// Option bounds.
const (
	MinStudents     = 1
	MaxStudents     = 200000
	DefaultStudents = 2000
	MaxWeeks        = 52
	DefaultWeeks    = 2
)

// DefaultTimeZone is the institution's time zone unless told otherwise.
const DefaultTimeZone = "Asia/Kolkata"

// Options describe the campus to generate.
type Options struct {
	// Students is how many students to create, MinStudents..MaxStudents.
	Students int
	// Weeks is how many weeks of past attendance to generate (sessions on
	// the days before Now's date), 0..MaxWeeks.
	Weeks int
	// Seed seeds every pseudo-random choice.
	Seed uint64
	// Now fixes "today" (its date in Location): the current term contains
	// it, attendance ends the day before it. Required.
	Now time.Time
	// Location is the institution's time zone: slots are local times in it
	// and session instants are computed in it. Required.
	Location *time.Location
	// SectionSize is the most students in one class section (a cohort);
	// 0 means DefaultSectionSize.
	SectionSize int
	// StreamRecords leaves Campus.Records empty: Load generates the
	// attendance records while it copies them (Campus.EachRecord), so a
	// campus of ten million records needs no memory for them, and checks
	// their foreign keys once after the copy rather than row by row.
	StreamRecords bool
}

// Section size bounds, in students.
const (
	DefaultSectionSize = 60
	MaxSectionSize     = 240
)

// Validate reports every problem with o as one error, or nil.
func (o Options) Validate() error {
	var errs []error
	if o.Students < MinStudents || o.Students > MaxStudents {
		errs = append(errs, fmt.Errorf("students must be from %d to %d", MinStudents, MaxStudents))
	}
	if o.Weeks < 0 || o.Weeks > MaxWeeks {
		errs = append(errs, fmt.Errorf("weeks must be from 0 to %d", MaxWeeks))
	}
	if o.Now.IsZero() {
		errs = append(errs, errors.New("now is required"))
	}
	if o.Location == nil {
		errs = append(errs, errors.New("location is required"))
	}
	if o.SectionSize < 0 || o.SectionSize > MaxSectionSize {
		errs = append(errs, fmt.Errorf("section size must be from 1 to %d (0 for %d)", MaxSectionSize, DefaultSectionSize))
	}
	return errors.Join(errs...)
}

// Student is a student row as seeded (the domain's Student is the listed
// view; this one has the references and private fields).
type Student struct {
	ID           uuid.UUID
	RollNumber   string
	FirstName    string
	LastName     string
	Email        string
	DateOfBirth  time.Time
	Gender       domain.Gender
	DepartmentID uuid.UUID
	ProgramID    uuid.UUID
	YearOfStudy  int
	Section      string
	Status       domain.StudentStatus
	CreatedAt    time.Time
}

// Campus is a generated campus, every slice in load order. Rows reference
// each other by ID.
type Campus struct {
	// Today is the date the campus was generated for (midnight UTC of the
	// institution's date).
	Today time.Time
	// CreatedAt stamps the reference rows (the current term's first day at
	// 09:00 in the institution's time zone).
	CreatedAt time.Time
	// AttendanceFrom is the first day attendance was generated for.
	AttendanceFrom time.Time

	Departments []domain.Department
	Programs    []domain.Program
	Terms       []domain.Term
	Faculty     []domain.Faculty
	Courses     []domain.Course
	Students    []Student
	Sections    []domain.Section
	Enrollments []domain.Enrollment
	Slots       []domain.TimetableSlot
	Holidays    []domain.Holiday
	Sessions    []domain.AttendanceSession
	Records     []domain.AttendanceRecord

	// records replays the generation of the attendance records (the same
	// sequence Records holds, or would hold with StreamRecords).
	records *recordGen
	// NumRecords is how many records EachRecord yields.
	NumRecords int
}

// recordGen is what generating the attendance records needs.
type recordGen struct {
	rs       streams
	habit    []float64
	roster   map[uuid.UUID][]int
	reasons  []string
	students []Student
	sessions []domain.AttendanceSession
}

// EachRecord yields every attendance record of the campus in load order,
// generating them on the fly (deterministically: the same records, in the
// same order, on every call).
func (c *Campus) EachRecord(yield func(domain.AttendanceRecord) bool) {
	if c.records == nil {
		return
	}
	g := c.records
	mr := g.rs.get("marks")
	for _, sess := range g.sessions {
		if sess.Status != domain.SessionClosed {
			continue
		}
		startsAt, endsAt, d := sess.StartsAt, sess.EndsAt, sess.Date
		for _, si := range g.roster[sess.SectionID] {
			r := domain.AttendanceRecord{SessionID: sess.ID, StudentID: g.students[si].ID, SessionDate: d, Source: domain.SourceManual}
			switch u := mr.Float64(); {
			case u < g.habit[si]*0.94:
				r.Mark, r.MarkedAt = domain.MarkPresent, startsAt.Add(time.Duration(1+mr.IntN(5))*time.Minute)
			case u < g.habit[si]:
				r.Mark, r.MarkedAt = domain.MarkLate, startsAt.Add(time.Duration(6+mr.IntN(15))*time.Minute)
			case mr.IntN(100) < 15:
				r.Mark, r.MarkedAt = domain.MarkExcused, startsAt.Add(time.Duration(1+mr.IntN(5))*time.Minute)
				r.Reason = g.reasons[mr.IntN(len(g.reasons))]
			default:
				// Nobody marked them: the close job did.
				r.Mark, r.Source, r.MarkedAt = domain.MarkAbsent, domain.SourceSystem, endsAt.Add(15*time.Minute)
			}
			if !yield(r) {
				return
			}
		}
	}
}

// streams hands out one PCG stream per kind of row.
type streams struct{ seed uint64 }

func (s streams) get(name string) *rand.Rand {
	h := fnv.New64a()
	h.Write([]byte(name))
	return rand.New(rand.NewPCG(s.seed, h.Sum64()))
}

// newUUID draws a version 4 (random) UUID from r (RFC 9562 §5.4).
func newUUID(r *rand.Rand) uuid.UUID {
	var u uuid.UUID
	a, b := r.Uint64(), r.Uint64()
	for i := range 8 {
		u[i] = byte(a >> (56 - 8*i))
		u[8+i] = byte(b >> (56 - 8*i))
	}
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	return u
}

// date returns the calendar date y-m-d at midnight UTC.
func date(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }

// isoWeekday returns 1 (Monday) .. 7 (Sunday).
func isoWeekday(d time.Time) int {
	w := int(d.Weekday())
	if w == 0 {
		return 7
	}
	return w
}

// cohort is the students of one program, year and section letter: they
// attend the same courses together in the same home room.
type cohort struct {
	program  int // index into programs
	year     int
	letter   string
	room     string
	students []int // indexes into Campus.Students, in roll number order
	sections []uuid.UUID
}

// Generate builds the campus o describes. It fails only for invalid
// Options or when the timetable cannot be built (which the sizing rules
// prevent for every valid Options).
func Generate(o Options) (*Campus, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	rs := streams{seed: o.Seed}
	local := o.Now.In(o.Location)
	today := date(local.Year(), local.Month(), local.Day())
	c := &Campus{Today: today}

	// Terms: the academic year starts in July; ODD runs July-December,
	// EVEN January-June. The current term contains today.
	ay := today.Year()
	if today.Month() < time.July {
		ay--
	}
	terms := []domain.Term{
		termFor(ay-1, false), termFor(ay, true), termFor(ay, false), termFor(ay+1, true),
	}
	cur := 1
	if today.Month() < time.July {
		cur = 2
	}
	terms = terms[cur-1 : cur+2]
	tr := rs.get("terms")
	for i := range terms {
		terms[i].ID = newUUID(tr)
		terms[i].IsCurrent = i == 1
	}
	c.Terms = terms
	term := terms[1]
	c.CreatedAt = time.Date(term.StartDate.Year(), term.StartDate.Month(), term.StartDate.Day(), 9, 0, 0, 0, o.Location)

	// Departments and programs.
	dr := rs.get("departments")
	deptIndex := map[string]int{}
	for i, d := range departmentSpecs() {
		c.Departments = append(c.Departments, domain.Department{ID: newUUID(dr), Code: d.code, Name: d.name})
		deptIndex[d.code] = i
	}
	specs := programSpecs()
	pr := rs.get("programs")
	for _, p := range specs {
		c.Programs = append(c.Programs, domain.Program{
			ID: newUUID(pr), Code: p.code, Name: p.name, Level: p.level,
			DepartmentID: c.Departments[deptIndex[p.dept]].ID, DurationYears: p.years,
		})
	}

	// Courses: five per program year.
	cr := rs.get("courses")
	courseIdx := make([][]int, len(specs)) // [program][year-1] -> first course index
	for pi, p := range specs {
		courseIdx[pi] = make([]int, p.years)
		for y := 1; y <= p.years; y++ {
			courseIdx[pi][y-1] = len(c.Courses)
			for k, title := range p.titles[y-1] {
				c.Courses = append(c.Courses, domain.Course{
					ID:           newUUID(cr),
					Code:         fmt.Sprintf("%s%d%02d", p.coursePrefix, p.firstLevel+y-1, k+1),
					Title:        title,
					Credits:      courseCredits()[k],
					DepartmentID: c.Departments[deptIndex[p.dept]].ID,
				})
			}
		}
	}

	// Students, by program and year, split into sections of at most 60.
	cohorts := generateStudents(c, o, rs, specs, deptIndex, ay)

	// Faculty, sized to the teaching load of each department (about 9
	// contact hours a week each), then sections and the timetable.
	if err := generateTeaching(c, rs, specs, deptIndex, courseIdx, cohorts, term); err != nil {
		return nil, err
	}

	// Enrollments: every student of a cohort in each of its sections;
	// students who are not ACTIVE have their enrollment DROPPED.
	roster := generateEnrollments(c, cohorts)

	// Holidays, then sessions and records.
	generateHolidays(c, o, rs, today)
	generateAttendance(c, o, rs, today, term, roster)
	return c, nil
}

// termFor returns the ODD (July-December of year) or EVEN (January-June of
// year+1) term of academic year year.
func termFor(year int, odd bool) domain.Term {
	name := fmt.Sprintf("%d-%02d", year, (year+1)%100)
	if odd {
		return domain.Term{Name: name + " ODD", StartDate: date(year, time.July, 1), EndDate: date(year, time.December, 31)}
	}
	return domain.Term{Name: name + " EVEN", StartDate: date(year+1, time.January, 1), EndDate: date(year+1, time.June, 30)}
}

// shares splits total into parts proportional to weights (largest
// remainder method, ties to the earlier part).
func shares(total int, weights []int) []int {
	sum := 0
	for _, w := range weights {
		sum += w
	}
	out := make([]int, len(weights))
	rem := make([]int, len(weights))
	given := 0
	for i, w := range weights {
		out[i] = total * w / sum
		rem[i] = total * w % sum
		given += out[i]
	}
	order := make([]int, len(weights))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return rem[b] - rem[a] })
	for k := 0; given < total; k++ {
		out[order[k%len(order)]]++
		given++
	}
	return out
}

func generateStudents(c *Campus, o Options, rs streams, specs []programSpec, deptIndex map[string]int, ay int) []*cohort {
	weights := make([]int, len(specs))
	for i, p := range specs {
		weights[i] = p.weight
	}
	perProgram := shares(o.Students, weights)
	ids := rs.get("students")
	people := rs.get("student-people")
	status := rs.get("student-status")
	females, males, lasts := femaleNames(), maleNames(), lastNames()
	emails := map[string]int{}
	roomsPerDept := map[string]int{}

	var cohorts []*cohort
	for pi, p := range specs {
		even := make([]int, p.years)
		for i := range even {
			even[i] = 1
		}
		perYear := shares(perProgram[pi], even)
		for y := 1; y <= p.years; y++ {
			n := perYear[y-1]
			if n == 0 {
				continue
			}
			size := o.SectionSize
			if size == 0 {
				size = DefaultSectionSize
			}
			sections := min((n+size-1)/size, 26)
			sizes := shares(n, slices.Repeat([]int{1}, sections))
			admission := ay - (y - 1)
			for s := range sections {
				letter := string(rune('A' + s))
				roomsPerDept[p.dept]++
				co := &cohort{program: pi, year: y, letter: letter,
					room: fmt.Sprintf("%s-%d%02d", p.dept, 1+(roomsPerDept[p.dept]-1)/20, 1+(roomsPerDept[p.dept]-1)%20)}
				for k := 1; k <= sizes[s]; k++ {
					st := Student{
						ID:           newUUID(ids),
						RollNumber:   fmt.Sprintf("%s%d%s%03d", p.rollPrefix, admission, letter, k),
						DepartmentID: c.Departments[deptIndex[p.dept]].ID,
						ProgramID:    c.Programs[pi].ID,
						YearOfStudy:  y,
						Section:      letter,
						Status:       domain.StudentActive,
						CreatedAt:    time.Date(admission, time.July, 1, 10, 0, 0, 0, o.Location).Add(time.Duration(k) * time.Minute),
					}
					switch g := people.IntN(100); {
					case g < 48:
						st.Gender, st.FirstName = domain.GenderFemale, females[people.IntN(len(females))]
					case g < 98:
						st.Gender, st.FirstName = domain.GenderMale, males[people.IntN(len(males))]
					case g < 99:
						st.Gender, st.FirstName = domain.GenderOther, females[people.IntN(len(females))]
					default:
						st.Gender, st.FirstName = domain.GenderUndisclosed, males[people.IntN(len(males))]
					}
					st.LastName = lasts[people.IntN(len(lasts))]
					st.Email = uniqueEmail(emails, st.FirstName, st.LastName, "students.campshub360.example")
					ageAtAdmission := 18
					if p.level != domain.LevelUG {
						ageAtAdmission = 22
					}
					st.DateOfBirth = date(admission-ageAtAdmission, time.July, 1).AddDate(0, 0, -people.IntN(730))
					switch u := status.IntN(100); {
					case u == 0:
						st.Status = domain.StudentInactive
					case u == 1:
						st.Status = domain.StudentSuspended
					case u == 2:
						st.Status = domain.StudentDropped
					}
					co.students = append(co.students, len(c.Students))
					c.Students = append(c.Students, st)
				}
				cohorts = append(cohorts, co)
			}
		}
	}
	return cohorts
}

// uniqueEmail returns first.last@domain, numbered from 2 on repeats.
func uniqueEmail(seen map[string]int, first, last, domainName string) string {
	local := emailPart(first) + "." + emailPart(last)
	seen[local]++
	if n := seen[local]; n > 1 {
		local += strconv.Itoa(n)
	}
	return local + "@" + domainName
}

func emailPart(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		if r >= 'a' && r <= 'z' {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// teachingPlan is one section to staff and schedule.
type teachingPlan struct {
	cohort *cohort
	course int // index into Campus.Courses
	hours  int
}

func generateTeaching(c *Campus, rs streams, specs []programSpec, deptIndex map[string]int,
	courseIdx [][]int, cohorts []*cohort, term domain.Term) error {
	// Plans, grouped by department.
	plans := make([][]teachingPlan, len(c.Departments))
	hours := make([]int, len(c.Departments))
	for _, co := range cohorts {
		p := specs[co.program]
		d := deptIndex[p.dept]
		first := courseIdx[co.program][co.year-1]
		for k := range 5 {
			h := int(courseCredits()[k])
			plans[d] = append(plans[d], teachingPlan{cohort: co, course: first + k, hours: h})
			hours[d] += h
		}
	}

	// Faculty.
	fr := rs.get("faculty")
	fp := rs.get("faculty-people")
	females, males, lasts, titles := femaleNames(), maleNames(), lastNames(), designations()
	emails := map[string]int{}
	deptFaculty := make([][]int, len(c.Departments))
	for d, dept := range c.Departments {
		n := max(2, (hours[d]+8)/9)
		for range n {
			f := domain.Faculty{ID: newUUID(fr), DepartmentID: dept.ID, Active: true,
				EmployeeID: fmt.Sprintf("EMP%05d", 10001+len(c.Faculty))}
			if fp.IntN(2) == 0 {
				f.FirstName = females[fp.IntN(len(females))]
			} else {
				f.FirstName = males[fp.IntN(len(males))]
			}
			f.LastName = lasts[fp.IntN(len(lasts))]
			f.Email = uniqueEmail(emails, f.FirstName, f.LastName, "faculty.campshub360.example")
			switch u := fp.IntN(10); {
			case u < 2:
				f.Designation = titles[0]
			case u < 5:
				f.Designation = titles[1]
			default:
				f.Designation = titles[2]
			}
			deptFaculty[d] = append(deptFaculty[d], len(c.Faculty))
			c.Faculty = append(c.Faculty, f)
		}
	}

	// Sections and slots: each section goes to the least loaded faculty
	// member of its department who can take all its hours without a clash;
	// its hours go to distinct days where possible, in periods free for the
	// cohort (and so its room) and the faculty member.
	sr := rs.get("sections")
	tr := rs.get("timetable")
	type cell struct{ day, period int }
	var grid []cell
	for day := 1; day <= 6; day++ {
		n := len(periods())
		if day == 6 {
			n = saturdayPeriods
		}
		for p := range n {
			grid = append(grid, cell{day, p})
		}
	}
	busyCohort := map[*cohort]map[cell]bool{}
	busyFaculty := make([]map[cell]bool, len(c.Faculty))
	load := make([]int, len(c.Faculty))
	for i := range busyFaculty {
		busyFaculty[i] = map[cell]bool{}
	}
	for d := range plans {
		for _, plan := range plans[d] {
			co := plan.cohort
			if busyCohort[co] == nil {
				busyCohort[co] = map[cell]bool{}
			}
			candidates := slices.Clone(deptFaculty[d])
			slices.SortStableFunc(candidates, func(a, b int) int { return load[a] - load[b] })
			order := slices.Clone(grid)
			tr.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
			placed := false
			for _, f := range candidates {
				var picked []cell
				days := map[int]bool{}
				// First pass: one hour per day; second pass: any free cell.
				for pass := 0; pass < 2 && len(picked) < plan.hours; pass++ {
					for _, cl := range order {
						if len(picked) == plan.hours {
							break
						}
						if busyCohort[co][cl] || busyFaculty[f][cl] || slices.Contains(picked, cl) || (pass == 0 && days[cl.day]) {
							continue
						}
						picked = append(picked, cl)
						days[cl.day] = true
					}
				}
				if len(picked) < plan.hours {
					continue
				}
				sec := domain.Section{
					ID: newUUID(sr), CourseID: c.Courses[plan.course].ID, TermID: term.ID,
					FacultyID: c.Faculty[f].ID, Code: co.letter, Capacity: (len(co.students) + 5 + 9) / 10 * 10,
				}
				c.Sections = append(c.Sections, sec)
				co.sections = append(co.sections, sec.ID)
				slices.SortFunc(picked, func(a, b cell) int {
					if a.day != b.day {
						return a.day - b.day
					}
					return a.period - b.period
				})
				for _, cl := range picked {
					busyCohort[co][cl] = true
					busyFaculty[f][cl] = true
					pp := periods()[cl.period]
					c.Slots = append(c.Slots, domain.TimetableSlot{
						ID: newUUID(sr), SectionID: sec.ID, TermID: term.ID, FacultyID: sec.FacultyID,
						Weekday: cl.day, Start: time.Duration(pp.start) * time.Minute, End: time.Duration(pp.end) * time.Minute,
						Room: co.room,
					})
				}
				load[f] += plan.hours
				placed = true
				break
			}
			if !placed {
				return fmt.Errorf("cannot schedule %s for section %s: no faculty member of %s has %d free periods",
					c.Courses[plan.course].Code, co.letter, c.Departments[d].Code, plan.hours)
			}
		}
	}
	return nil
}

// generateEnrollments enrolls each cohort in its sections and returns each
// section's roster (indexes into Campus.Students of ENROLLED students, in
// roll number order).
func generateEnrollments(c *Campus, cohorts []*cohort) map[uuid.UUID][]int {
	roster := make(map[uuid.UUID][]int, len(c.Sections))
	for _, co := range cohorts {
		for _, sec := range co.sections {
			for _, si := range co.students {
				st := c.Students[si]
				e := domain.Enrollment{StudentID: st.ID, SectionID: sec, Status: domain.EnrollmentEnrolled, EnrolledAt: c.CreatedAt}
				if st.Status != domain.StudentActive {
					e.Status = domain.EnrollmentDropped
				} else {
					roster[sec] = append(roster[sec], si)
				}
				c.Enrollments = append(c.Enrollments, e)
			}
		}
	}
	return roster
}

func generateHolidays(c *Campus, o Options, rs streams, today time.Time) {
	from, to := c.Terms[0].StartDate, c.Terms[len(c.Terms)-1].EndDate
	seen := map[time.Time]bool{}
	for y := from.Year(); y <= to.Year(); y++ {
		for _, h := range fixedHolidays() {
			d := date(y, time.Month(h.month), h.day)
			if d.Before(from) || d.After(to) {
				continue
			}
			seen[d] = true
			c.Holidays = append(c.Holidays, domain.Holiday{Date: d, Name: h.name})
		}
	}
	// The institute's foundation day falls inside the attendance window, so
	// the demo shows a skipped day.
	if o.Weeks > 0 {
		hr := rs.get("holidays")
		var days []time.Time
		for d := today.AddDate(0, 0, -7*o.Weeks); d.Before(today); d = d.AddDate(0, 0, 1) {
			if isoWeekday(d) <= 5 && !seen[d] {
				days = append(days, d)
			}
		}
		if len(days) > 0 {
			c.Holidays = append(c.Holidays, domain.Holiday{Date: days[hr.IntN(len(days))], Name: "Institute Foundation Day"})
		}
	}
	slices.SortFunc(c.Holidays, func(a, b domain.Holiday) int { return a.Date.Compare(b.Date) })
}

func generateAttendance(c *Campus, o Options, rs streams, today time.Time, term domain.Term, roster map[uuid.UUID][]int) {
	holiday := map[time.Time]bool{}
	for _, h := range c.Holidays {
		holiday[h.Date] = true
	}
	slotsByDay := make([][]domain.TimetableSlot, 8)
	for _, s := range c.Slots {
		slotsByDay[s.Weekday] = append(slotsByDay[s.Weekday], s)
	}
	for _, day := range slotsByDay {
		slices.SortStableFunc(day, func(a, b domain.TimetableSlot) int { return int(a.Start - b.Start) })
	}

	// Each student's attendance habit: most attend 80-97% of classes, some
	// 45-75% (they show up in shortage reports).
	hr := rs.get("attendance-habits")
	habit := make([]float64, len(c.Students))
	for i := range habit {
		if hr.IntN(100) < 85 {
			habit[i] = 0.80 + 0.17*hr.Float64()
		} else {
			habit[i] = 0.45 + 0.30*hr.Float64()
		}
	}
	sr := rs.get("sessions")
	reasons := excuseReasons()

	start := today.AddDate(0, 0, -7*o.Weeks)
	if start.Before(term.StartDate) {
		start = term.StartDate
	}
	c.AttendanceFrom = start
	// Sessions first (stream "sessions"), then the records of the past
	// ones in the same order (stream "marks"): the two streams are
	// independent, so this is the interleaved generation, unrolled.
	for d := start; !d.After(today) && !d.After(term.EndDate); d = d.AddDate(0, 0, 1) {
		if holiday[d] {
			continue
		}
		past := d.Before(today)
		for _, slot := range slotsByDay[isoWeekday(d)] {
			startsAt := time.Date(d.Year(), d.Month(), d.Day(), 0, 0, 0, 0, o.Location).Add(slot.Start).UTC()
			endsAt := time.Date(d.Year(), d.Month(), d.Day(), 0, 0, 0, 0, o.Location).Add(slot.End).UTC()
			sess := domain.AttendanceSession{
				ID: newUUID(sr), SectionID: slot.SectionID, FacultyID: slot.FacultyID, SlotID: slot.ID,
				Date: d, StartsAt: startsAt, EndsAt: endsAt, Status: domain.SessionScheduled,
			}
			if past {
				sess.Status = domain.SessionClosed
				c.NumRecords += len(roster[slot.SectionID])
			}
			c.Sessions = append(c.Sessions, sess)
		}
	}
	c.records = &recordGen{rs: rs, habit: habit, roster: roster, reasons: reasons, students: c.Students, sessions: c.Sessions}
	if !o.StreamRecords {
		c.Records = make([]domain.AttendanceRecord, 0, c.NumRecords)
		for r := range c.EachRecord {
			c.Records = append(c.Records, r)
		}
	}
}
