package api

import (
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/valyala/fasthttp"

	"github.com/campshub360/edge/backend/internal/domain"
	"github.com/campshub360/edge/backend/internal/tags"
)

type sectionRequest struct {
	CourseID    string `json:"course_id" required:"true" format:"uuid"`
	TermID      string `json:"term_id" required:"true" format:"uuid"`
	FacultyID   string `json:"faculty_id" required:"true" format:"uuid"`
	SectionCode string `json:"section_code" required:"true" doc:"1-8 letters or digits"`
	Capacity    int    `json:"capacity" required:"true" doc:"1 to 10000"`
}

func listSections(a *API, ctx *fasthttp.RequestCtx) error {
	q := parseQuery(ctx.QueryArgs(), true, "term_id", "course_id", "faculty_id", "department")
	sq := domain.SectionQuery{TermID: q.id("term_id"), CourseID: q.id("course_id"), FacultyID: q.id("faculty_id"),
		Department: q.code("department", domain.ValidDepartmentCode, domain.DepartmentCodeMessage)}
	sq.Page = q.page("sections")
	if err := q.err(); err != nil {
		return err
	}
	pg, err := a.store.ListSections(queryContext(ctx), scopeOf(caller(ctx)), sq)
	if err != nil {
		return err
	}
	return listed(ctx, q, "sections", pg, toSection, privateCache, tags.Sections)
}

func getSection(a *API, ctx *fasthttp.RequestCtx) error {
	id, err := pathID(ctx, "id")
	if err != nil {
		return err
	}
	s, err := a.store.SectionByID(queryContext(ctx), scopeOf(caller(ctx)), id)
	if err != nil {
		return err
	}
	return writeJSON(ctx, fasthttp.StatusOK, toSection(s), privateCache, tags.Section(id))
}

func sectionInput(ctx *fasthttp.RequestCtx) (domain.SectionInput, error) {
	var req sectionRequest
	if err := decodeJSON(ctx, &req, smallBody); err != nil {
		return domain.SectionInput{}, err
	}
	var v domain.Violations
	in := domain.SectionInput{CourseID: requiredID(&v, "course_id", req.CourseID), TermID: requiredID(&v, "term_id", req.TermID),
		FacultyID: requiredID(&v, "faculty_id", req.FacultyID), Code: req.SectionCode, Capacity: req.Capacity}
	if err := v.Err(); err != nil {
		return in, err
	}
	return in, in.Validate()
}

func createSection(a *API, ctx *fasthttp.RequestCtx) error {
	in, err := sectionInput(ctx)
	if err != nil {
		return err
	}
	s, err := a.store.CreateSection(queryContext(ctx), in)
	if err != nil {
		return err
	}
	a.committed(ctx, []change{{"section.create", "section", s.ID.String(), nil, toSection(s)}}, tags.Sections)
	return created(ctx, "/api/v1/sections/"+s.ID.String(), toSection(s))
}

func updateSection(a *API, ctx *fasthttp.RequestCtx) error {
	id, err := pathID(ctx, "id")
	if err != nil {
		return err
	}
	in, err := sectionInput(ctx)
	if err != nil {
		return err
	}
	before, after, err := a.store.UpdateSection(queryContext(ctx), id, in)
	if err != nil {
		return err
	}
	a.committed(ctx, []change{{"section.update", "section", id.String(), toSection(before), toSection(after)}},
		tags.Sections, tags.Section(id), tags.Sessions, tags.Timetable)
	return writeJSON(ctx, fasthttp.StatusOK, toSection(after), noStore)
}

func deleteSection(a *API, ctx *fasthttp.RequestCtx) error {
	id, err := pathID(ctx, "id")
	if err != nil {
		return err
	}
	s, err := a.store.DeleteSection(queryContext(ctx), id)
	if err != nil {
		return err
	}
	a.committed(ctx, []change{{"section.delete", "section", id.String(), toSection(s), nil}}, tags.Sections, tags.Section(id), tags.Timetable)
	noContent(ctx)
	return nil
}

type enrollRequest struct {
	StudentID string `json:"student_id" required:"true" format:"uuid"`
}

// enrollmentTags are invalidated by an enrollment change.
func enrollmentTags(section, student uuid.UUID) []string {
	return []string{tags.Section(section), tags.Summary(student), tags.Student(student), tags.Sections, tags.Timetable}
}

func enroll(a *API, ctx *fasthttp.RequestCtx) error {
	section, err := pathID(ctx, "id")
	if err != nil {
		return err
	}
	var req enrollRequest
	if err := decodeJSON(ctx, &req, smallBody); err != nil {
		return err
	}
	var v domain.Violations
	student := requiredID(&v, "student_id", req.StudentID)
	if err := v.Err(); err != nil {
		return err
	}
	e, isNew, err := a.store.Enroll(queryContext(ctx), section, student)
	if err != nil {
		return err
	}
	if !isNew {
		return writeJSON(ctx, fasthttp.StatusOK, toEnrollment(e), noStore)
	}
	a.committed(ctx, []change{{"enrollment.create", "enrollment", section.String() + ":" + student.String(), nil, toEnrollment(e)}},
		enrollmentTags(section, student)...)
	return created(ctx, "/api/v1/sections/"+section.String()+"/enrollments/"+student.String(), toEnrollment(e))
}

func dropEnrollment(a *API, ctx *fasthttp.RequestCtx) error {
	section, err := pathID(ctx, "id")
	if err != nil {
		return err
	}
	student, err := pathID(ctx, "student_id")
	if err != nil {
		return err
	}
	e, err := a.store.Drop(queryContext(ctx), section, student)
	if err != nil {
		return err
	}
	a.committed(ctx, []change{{"enrollment.drop", "enrollment", section.String() + ":" + student.String(), nil, toEnrollment(e)}},
		enrollmentTags(section, student)...)
	return writeJSON(ctx, fasthttp.StatusOK, toEnrollment(e), noStore)
}

func roster(a *API, ctx *fasthttp.RequestCtx) error {
	section, err := pathID(ctx, "id")
	if err != nil {
		return err
	}
	q := parseQuery(ctx.QueryArgs(), true)
	q.note("section", section.String())
	pq := q.page("roster")
	if err := q.err(); err != nil {
		return err
	}
	pg, err := a.store.Roster(queryContext(ctx), scopeOf(caller(ctx)), section, pq)
	if err != nil {
		return err
	}
	return listed(ctx, q, "roster", pg, func(r domain.RosterEntry) rosterEntryJSON {
		return rosterEntryJSON{studentJSON: toStudent(r.Student), EnrollmentStatus: string(r.Status), EnrolledAt: instant(r.EnrolledAt)}
	}, privateCache, tags.Section(section), tags.Students)
}

type slotRequest struct {
	Weekday   int    `json:"weekday" required:"true" doc:"ISO weekday, 1 = Monday .. 7 = Sunday"`
	StartTime string `json:"start_time" required:"true" doc:"HH:MM"`
	EndTime   string `json:"end_time" required:"true" doc:"HH:MM (24:00 for midnight)"`
	Room      string `json:"room" required:"true"`
}

// parseClock parses HH:MM (00:00 to 24:00).
func parseClock(s string) (time.Duration, bool) {
	h, m, ok := strings.Cut(s, ":")
	if !ok || len(h) != 2 || len(m) != 2 {
		return 0, false
	}
	hh, err1 := strconv.Atoi(h)
	mm, err2 := strconv.Atoi(m)
	if err1 != nil || err2 != nil || hh < 0 || hh > 24 || mm < 0 || mm > 59 || (hh == 24 && mm != 0) {
		return 0, false
	}
	return time.Duration(hh)*time.Hour + time.Duration(mm)*time.Minute, true
}

func slotInput(ctx *fasthttp.RequestCtx) (domain.SlotInput, error) {
	var req slotRequest
	if err := decodeJSON(ctx, &req, smallBody); err != nil {
		return domain.SlotInput{}, err
	}
	var v domain.Violations
	start, ok1 := parseClock(req.StartTime)
	end, ok2 := parseClock(req.EndTime)
	if !ok1 {
		v.Add("start_time", "must be a time of day HH:MM")
	}
	if !ok2 {
		v.Add("end_time", "must be a time of day HH:MM")
	}
	if err := v.Err(); err != nil {
		return domain.SlotInput{}, err
	}
	in := domain.SlotInput{Weekday: req.Weekday, Start: start, End: end, Room: req.Room}
	return in, in.Validate()
}

func sectionSlots(a *API, ctx *fasthttp.RequestCtx) error {
	section, err := pathID(ctx, "id")
	if err != nil {
		return err
	}
	if err := parseQuery(ctx.QueryArgs(), false).err(); err != nil {
		return err
	}
	slots, err := a.store.SectionSlots(queryContext(ctx), scopeOf(caller(ctx)), section)
	if err != nil {
		return err
	}
	return writeJSON(ctx, fasthttp.StatusOK, itemsJSON[slotJSON]{Items: mapItems(slots, toSlot)}, privateCache, tags.Section(section), tags.Timetable)
}

// itemsJSON is an unpaged list.
type itemsJSON[T any] struct {
	Items []T `json:"items"`
}

func createSlot(a *API, ctx *fasthttp.RequestCtx) error {
	section, err := pathID(ctx, "id")
	if err != nil {
		return err
	}
	in, err := slotInput(ctx)
	if err != nil {
		return err
	}
	sl, err := a.store.CreateSlot(queryContext(ctx), section, in)
	if err != nil {
		return err
	}
	a.committed(ctx, []change{{"timetable_slot.create", "timetable_slot", sl.ID.String(), nil, toSlot(sl)}}, tags.Section(section), tags.Timetable)
	return created(ctx, "/api/v1/slots/"+sl.ID.String(), toSlot(sl))
}

func updateSlot(a *API, ctx *fasthttp.RequestCtx) error {
	id, err := pathID(ctx, "id")
	if err != nil {
		return err
	}
	in, err := slotInput(ctx)
	if err != nil {
		return err
	}
	before, after, err := a.store.UpdateSlot(queryContext(ctx), id, in)
	if err != nil {
		return err
	}
	a.committed(ctx, []change{{"timetable_slot.update", "timetable_slot", id.String(), toSlot(before), toSlot(after)}},
		tags.Section(after.SectionID), tags.Timetable)
	return writeJSON(ctx, fasthttp.StatusOK, toSlot(after), noStore)
}

func deleteSlot(a *API, ctx *fasthttp.RequestCtx) error {
	id, err := pathID(ctx, "id")
	if err != nil {
		return err
	}
	sl, err := a.store.DeleteSlot(queryContext(ctx), id)
	if err != nil {
		return err
	}
	a.committed(ctx, []change{{"timetable_slot.delete", "timetable_slot", id.String(), toSlot(sl), nil}}, tags.Section(sl.SectionID), tags.Timetable)
	noContent(ctx)
	return nil
}

// myTimetable serves GET /api/v1/me/timetable: a student's enrolled
// sections' slots, or a faculty member's own, for the current term (or
// term_id).
func myTimetable(a *API, ctx *fasthttp.RequestCtx) error {
	q := parseQuery(ctx.QueryArgs(), false, "term_id")
	term := q.id("term_id")
	if err := q.err(); err != nil {
		return err
	}
	p := caller(ctx)
	slots, err := a.store.Timetable(queryContext(ctx), scopeOf(p), term)
	if err != nil {
		return err
	}
	return writeJSON(ctx, fasthttp.StatusOK, itemsJSON[slotJSON]{Items: mapItems(slots, toSlot)}, privateCache, tags.Timetable)
}
