package api

import (
	"time"

	"github.com/google/uuid"
	"github.com/valyala/fasthttp"

	"github.com/campshub360/edge/backend/internal/domain"
	"github.com/campshub360/edge/backend/internal/tags"
)

// The public catalogue (departments, programs, courses, terms, holidays)
// is readable without credentials and cacheable by shared caches; its
// writes are the registrar's and the administrator's.

// created answers 201 with Location for a new resource at path and body.
func created(ctx *fasthttp.RequestCtx, path string, body any) error {
	ctx.Response.Header.Set(fasthttp.HeaderLocation, path)
	return writeJSON(ctx, fasthttp.StatusCreated, body, noStore)
}

// listed answers a page.
func listed[T, U any](ctx *fasthttp.RequestCtx, q *query, scope string, pg domain.Page[T], f func(T) U, pol cachePolicy, keys ...string) error {
	next, err := q.next(scope, pg.Next)
	if err != nil {
		return err
	}
	return writeJSON(ctx, fasthttp.StatusOK, pageJSON[U]{Items: mapItems(pg.Items, f), NextCursor: next}, pol, keys...)
}

type departmentRequest struct {
	Code string `json:"code" required:"true" doc:"2-10 letters or digits, starting with a letter"`
	Name string `json:"name" required:"true"`
}

func listDepartments(a *API, ctx *fasthttp.RequestCtx) error {
	q := parseQuery(ctx.QueryArgs(), true)
	pq := q.page("departments")
	if err := q.err(); err != nil {
		return err
	}
	pg, err := a.store.ListDepartments(queryContext(ctx), domain.CatalogueQuery{Page: pq})
	if err != nil {
		return err
	}
	return listed(ctx, q, "departments", pg, toDepartment, publicCache, tags.Departments)
}

func getDepartment(a *API, ctx *fasthttp.RequestCtx) error {
	id, err := pathID(ctx, "id")
	if err != nil {
		return err
	}
	d, err := a.store.DepartmentByID(queryContext(ctx), id)
	if err != nil {
		return err
	}
	return writeJSON(ctx, fasthttp.StatusOK, toDepartment(d), publicCache, tags.Departments)
}

func departmentInput(ctx *fasthttp.RequestCtx) (domain.DepartmentInput, error) {
	var req departmentRequest
	if err := decodeJSON(ctx, &req, smallBody); err != nil {
		return domain.DepartmentInput{}, err
	}
	in := domain.DepartmentInput{Code: req.Code, Name: req.Name}
	return in, in.Validate()
}

// Writes to departments also change the department codes shown in
// programs, courses, faculty and students.
var departmentTags = []string{tags.Departments, tags.Programs, tags.Courses, tags.Faculty, tags.Students}

func createDepartment(a *API, ctx *fasthttp.RequestCtx) error {
	in, err := departmentInput(ctx)
	if err != nil {
		return err
	}
	d, err := a.store.CreateDepartment(queryContext(ctx), in)
	if err != nil {
		return err
	}
	a.committed(ctx, []change{{"department.create", "department", d.ID.String(), nil, toDepartment(d)}}, departmentTags...)
	return created(ctx, "/api/v1/departments/"+d.ID.String(), toDepartment(d))
}

func updateDepartment(a *API, ctx *fasthttp.RequestCtx) error {
	id, err := pathID(ctx, "id")
	if err != nil {
		return err
	}
	in, err := departmentInput(ctx)
	if err != nil {
		return err
	}
	before, after, err := a.store.UpdateDepartment(queryContext(ctx), id, in)
	if err != nil {
		return err
	}
	a.committed(ctx, []change{{"department.update", "department", id.String(), toDepartment(before), toDepartment(after)}}, departmentTags...)
	return writeJSON(ctx, fasthttp.StatusOK, toDepartment(after), noStore)
}

func deleteDepartment(a *API, ctx *fasthttp.RequestCtx) error {
	id, err := pathID(ctx, "id")
	if err != nil {
		return err
	}
	d, err := a.store.DeleteDepartment(queryContext(ctx), id)
	if err != nil {
		return err
	}
	a.committed(ctx, []change{{"department.delete", "department", id.String(), toDepartment(d), nil}}, departmentTags...)
	noContent(ctx)
	return nil
}

type programRequest struct {
	Code          string `json:"code" required:"true"`
	Name          string `json:"name" required:"true"`
	Level         string `json:"level" required:"true" enum:"UG,PG,PHD,DIPLOMA"`
	Department    string `json:"department" required:"true" doc:"department code"`
	DurationYears int    `json:"duration_years" required:"true" doc:"1 to 7"`
}

func listPrograms(a *API, ctx *fasthttp.RequestCtx) error {
	q := parseQuery(ctx.QueryArgs(), true, "department", "level")
	dept := q.code("department", domain.ValidDepartmentCode, domain.DepartmentCodeMessage)
	level := q.enum("level", domain.ProgramLevelValues())
	pq := q.page("programs")
	if err := q.err(); err != nil {
		return err
	}
	pg, err := a.store.ListPrograms(queryContext(ctx), domain.CatalogueQuery{Department: dept, Level: domain.ProgramLevel(level), Page: pq})
	if err != nil {
		return err
	}
	return listed(ctx, q, "programs", pg, toProgram, publicCache, tags.Programs)
}

func getProgram(a *API, ctx *fasthttp.RequestCtx) error {
	id, err := pathID(ctx, "id")
	if err != nil {
		return err
	}
	p, err := a.store.ProgramByID(queryContext(ctx), id)
	if err != nil {
		return err
	}
	return writeJSON(ctx, fasthttp.StatusOK, toProgram(p), publicCache, tags.Programs)
}

func programInput(ctx *fasthttp.RequestCtx) (domain.ProgramInput, error) {
	var req programRequest
	if err := decodeJSON(ctx, &req, smallBody); err != nil {
		return domain.ProgramInput{}, err
	}
	in := domain.ProgramInput{Code: req.Code, Name: req.Name, Level: req.Level, Department: req.Department, DurationYears: req.DurationYears}
	return in, in.Validate()
}

func createProgram(a *API, ctx *fasthttp.RequestCtx) error {
	in, err := programInput(ctx)
	if err != nil {
		return err
	}
	p, err := a.store.CreateProgram(queryContext(ctx), in)
	if err != nil {
		return err
	}
	a.committed(ctx, []change{{"program.create", "program", p.ID.String(), nil, toProgram(p)}}, tags.Programs)
	return created(ctx, "/api/v1/programs/"+p.ID.String(), toProgram(p))
}

func updateProgram(a *API, ctx *fasthttp.RequestCtx) error {
	id, err := pathID(ctx, "id")
	if err != nil {
		return err
	}
	in, err := programInput(ctx)
	if err != nil {
		return err
	}
	before, after, err := a.store.UpdateProgram(queryContext(ctx), id, in)
	if err != nil {
		return err
	}
	a.committed(ctx, []change{{"program.update", "program", id.String(), toProgram(before), toProgram(after)}}, tags.Programs, tags.Students)
	return writeJSON(ctx, fasthttp.StatusOK, toProgram(after), noStore)
}

func deleteProgram(a *API, ctx *fasthttp.RequestCtx) error {
	id, err := pathID(ctx, "id")
	if err != nil {
		return err
	}
	p, err := a.store.DeleteProgram(queryContext(ctx), id)
	if err != nil {
		return err
	}
	a.committed(ctx, []change{{"program.delete", "program", id.String(), toProgram(p), nil}}, tags.Programs)
	noContent(ctx)
	return nil
}

type courseRequest struct {
	Code       string  `json:"code" required:"true"`
	Title      string  `json:"title" required:"true"`
	Credits    float64 `json:"credits" required:"true" doc:"greater than 0, at most 20, in steps of 0.1"`
	Department string  `json:"department" required:"true" doc:"department code"`
}

func listCourses(a *API, ctx *fasthttp.RequestCtx) error {
	q := parseQuery(ctx.QueryArgs(), true, "department")
	dept := q.code("department", domain.ValidDepartmentCode, domain.DepartmentCodeMessage)
	pq := q.page("courses")
	if err := q.err(); err != nil {
		return err
	}
	pg, err := a.store.ListCourses(queryContext(ctx), domain.CatalogueQuery{Department: dept, Page: pq})
	if err != nil {
		return err
	}
	return listed(ctx, q, "courses", pg, toCourse, publicCache, tags.Courses)
}

func getCourse(a *API, ctx *fasthttp.RequestCtx) error {
	id, err := pathID(ctx, "id")
	if err != nil {
		return err
	}
	c, err := a.store.CourseByID(queryContext(ctx), id)
	if err != nil {
		return err
	}
	return writeJSON(ctx, fasthttp.StatusOK, toCourse(c), publicCache, tags.Courses)
}

func courseInput(ctx *fasthttp.RequestCtx) (domain.CourseInput, error) {
	var req courseRequest
	if err := decodeJSON(ctx, &req, smallBody); err != nil {
		return domain.CourseInput{}, err
	}
	in := domain.CourseInput{Code: req.Code, Title: req.Title, Credits: req.Credits, Department: req.Department}
	return in, in.Validate()
}

func createCourse(a *API, ctx *fasthttp.RequestCtx) error {
	in, err := courseInput(ctx)
	if err != nil {
		return err
	}
	c, err := a.store.CreateCourse(queryContext(ctx), in)
	if err != nil {
		return err
	}
	a.committed(ctx, []change{{"course.create", "course", c.ID.String(), nil, toCourse(c)}}, tags.Courses)
	return created(ctx, "/api/v1/courses/"+c.ID.String(), toCourse(c))
}

func updateCourse(a *API, ctx *fasthttp.RequestCtx) error {
	id, err := pathID(ctx, "id")
	if err != nil {
		return err
	}
	in, err := courseInput(ctx)
	if err != nil {
		return err
	}
	before, after, err := a.store.UpdateCourse(queryContext(ctx), id, in)
	if err != nil {
		return err
	}
	// Course codes and titles appear in sections, sessions and summaries.
	a.committed(ctx, []change{{"course.update", "course", id.String(), toCourse(before), toCourse(after)}},
		tags.Courses, tags.Sections, tags.Sessions, tags.Timetable)
	return writeJSON(ctx, fasthttp.StatusOK, toCourse(after), noStore)
}

func deleteCourse(a *API, ctx *fasthttp.RequestCtx) error {
	id, err := pathID(ctx, "id")
	if err != nil {
		return err
	}
	c, err := a.store.DeleteCourse(queryContext(ctx), id)
	if err != nil {
		return err
	}
	a.committed(ctx, []change{{"course.delete", "course", id.String(), toCourse(c), nil}}, tags.Courses)
	noContent(ctx)
	return nil
}

type termRequest struct {
	Name      string `json:"name" required:"true" doc:"e.g. 2026-27 ODD"`
	StartDate string `json:"start_date" required:"true" format:"date"`
	EndDate   string `json:"end_date" required:"true" format:"date"`
	IsCurrent bool   `json:"is_current" doc:"true moves the current-term flag to this term"`
}

func listTerms(a *API, ctx *fasthttp.RequestCtx) error {
	q := parseQuery(ctx.QueryArgs(), true)
	pq := q.page("terms")
	if err := q.err(); err != nil {
		return err
	}
	pg, err := a.store.ListTerms(queryContext(ctx), domain.CatalogueQuery{Page: pq})
	if err != nil {
		return err
	}
	return listed(ctx, q, "terms", pg, toTerm, publicCache, tags.Terms)
}

func currentTerm(a *API, ctx *fasthttp.RequestCtx) error {
	if err := parseQuery(ctx.QueryArgs(), false).err(); err != nil {
		return err
	}
	t, err := a.store.CurrentTerm(queryContext(ctx))
	if err != nil {
		return err
	}
	return writeJSON(ctx, fasthttp.StatusOK, toTerm(t), publicCache, tags.Terms)
}

func getTerm(a *API, ctx *fasthttp.RequestCtx) error {
	id, err := pathID(ctx, "id")
	if err != nil {
		return err
	}
	t, err := a.store.TermByID(queryContext(ctx), id)
	if err != nil {
		return err
	}
	return writeJSON(ctx, fasthttp.StatusOK, toTerm(t), publicCache, tags.Terms)
}

// requiredDate parses a required YYYY-MM-DD body field.
func requiredDate(v *domain.Violations, field, s string) time.Time {
	d, ok := domain.ParseDate(s)
	if !ok {
		v.Add(field, domain.DateRangeMessage)
	}
	return d
}

func termInput(ctx *fasthttp.RequestCtx) (domain.TermInput, error) {
	var req termRequest
	if err := decodeJSON(ctx, &req, smallBody); err != nil {
		return domain.TermInput{}, err
	}
	var v domain.Violations
	in := domain.TermInput{Name: req.Name, IsCurrent: req.IsCurrent,
		StartDate: requiredDate(&v, "start_date", req.StartDate), EndDate: requiredDate(&v, "end_date", req.EndDate)}
	if err := v.Err(); err != nil {
		return in, err
	}
	return in, in.Validate()
}

func createTerm(a *API, ctx *fasthttp.RequestCtx) error {
	in, err := termInput(ctx)
	if err != nil {
		return err
	}
	t, err := a.store.CreateTerm(queryContext(ctx), in)
	if err != nil {
		return err
	}
	a.committed(ctx, []change{{"term.create", "term", t.ID.String(), nil, toTerm(t)}}, tags.Terms)
	return created(ctx, "/api/v1/terms/"+t.ID.String(), toTerm(t))
}

func updateTerm(a *API, ctx *fasthttp.RequestCtx) error {
	id, err := pathID(ctx, "id")
	if err != nil {
		return err
	}
	in, err := termInput(ctx)
	if err != nil {
		return err
	}
	before, after, err := a.store.UpdateTerm(queryContext(ctx), id, in)
	if err != nil {
		return err
	}
	a.committed(ctx, []change{{"term.update", "term", id.String(), toTerm(before), toTerm(after)}}, tags.Terms, tags.Sections, tags.Timetable)
	return writeJSON(ctx, fasthttp.StatusOK, toTerm(after), noStore)
}

func deleteTerm(a *API, ctx *fasthttp.RequestCtx) error {
	id, err := pathID(ctx, "id")
	if err != nil {
		return err
	}
	t, err := a.store.DeleteTerm(queryContext(ctx), id)
	if err != nil {
		return err
	}
	a.committed(ctx, []change{{"term.delete", "term", id.String(), toTerm(t), nil}}, tags.Terms)
	noContent(ctx)
	return nil
}

type holidayRequest struct {
	Date string `json:"date" required:"true" format:"date"`
	Name string `json:"name" required:"true"`
}

func listHolidays(a *API, ctx *fasthttp.RequestCtx) error {
	q := parseQuery(ctx.QueryArgs(), true, "from", "to")
	from, to := q.date("from", nil), q.date("to", nil)
	if !from.IsZero() && !to.IsZero() && from.After(to) {
		q.bad("from", "must not be after to")
	}
	pq := q.page("holidays")
	if err := q.err(); err != nil {
		return err
	}
	pg, err := a.store.ListHolidays(queryContext(ctx), domain.CatalogueQuery{From: from, To: to, Page: pq})
	if err != nil {
		return err
	}
	return listed(ctx, q, "holidays", pg, toHoliday, publicCache, tags.Holidays)
}

func createHoliday(a *API, ctx *fasthttp.RequestCtx) error {
	var req holidayRequest
	if err := decodeJSON(ctx, &req, smallBody); err != nil {
		return err
	}
	var v domain.Violations
	in := domain.HolidayInput{Date: requiredDate(&v, "date", req.Date), Name: domain.CheckName(&v, "name", req.Name)}
	if err := v.Err(); err != nil {
		return err
	}
	h, err := a.store.CreateHoliday(queryContext(ctx), in)
	if err != nil {
		return err
	}
	a.committed(ctx, []change{{"holiday.create", "holiday", day(h.Date), nil, toHoliday(h)}}, tags.Holidays)
	return created(ctx, "/api/v1/holidays/"+day(h.Date), toHoliday(h))
}

func deleteHoliday(a *API, ctx *fasthttp.RequestCtx) error {
	raw, err := pathParam(ctx, "date")
	if err != nil {
		return err
	}
	d, ok := domain.ParseDate(raw)
	if !ok {
		return domain.Invalid("date", domain.DateRangeMessage)
	}
	h, err := a.store.DeleteHoliday(queryContext(ctx), d)
	if err != nil {
		return err
	}
	a.committed(ctx, []change{{"holiday.delete", "holiday", day(h.Date), toHoliday(h), nil}}, tags.Holidays)
	noContent(ctx)
	return nil
}

// idOrNil returns uuid.Nil for "" and parses anything else as a UUID body
// field.
func idOrNil(v *domain.Violations, field, s string) uuid.UUID {
	if s == "" {
		return uuid.Nil
	}
	id, ok := parseUUID(s)
	if !ok {
		v.Add(field, uuidMessage)
	}
	return id
}

// requiredID parses a required UUID body field.
func requiredID(v *domain.Violations, field, s string) uuid.UUID {
	if s == "" {
		v.Add(field, "is required")
		return uuid.Nil
	}
	return idOrNil(v, field, s)
}
