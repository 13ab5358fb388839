package api

import (
	"bufio"
	"context"
	"encoding/csv"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/valyala/fasthttp"

	"github.com/campshub360/edge/backend/internal/domain"
	"github.com/campshub360/edge/backend/internal/tags"
)

// window parses from/to (YYYY-MM-DD; default: the term's dates).
func window(q *query) domain.Window {
	w := domain.Window{From: q.date("from", nil), To: q.date("to", nil)}
	if !w.From.IsZero() && !w.To.IsZero() && w.From.After(w.To) {
		q.bad("from", "must not be after to")
	}
	return w
}

// summaryJSON documents a student's attendance summary (written by
// appendSummary).
type summaryJSON struct {
	StudentID string               `json:"student_id" format:"uuid"`
	From      string               `json:"from" format:"date"`
	To        string               `json:"to" format:"date"`
	Threshold domain.Percent       `json:"threshold" doc:"eligibility threshold, percent"`
	Overall   tallyJSON            `json:"overall" doc:"all sections together"`
	Sections  []sectionSummaryJSON `json:"sections"`
}

type sectionSummaryJSON struct {
	SectionID   string `json:"section_id" format:"uuid"`
	CourseCode  string `json:"course_code"`
	CourseTitle string `json:"course_title"`
	SectionCode string `json:"section_code"`
	tallyJSON
}

// appendSummary writes a summaryJSON.
func appendSummary(b []byte, s domain.StudentSummary, thr domain.Percent) []byte {
	b = appendKey(b, "student_id", true)
	b = appendUUID(b, s.StudentID)
	b = appendKey(b, "from", false)
	b = appendDate(b, s.From)
	b = appendKey(b, "to", false)
	b = appendDate(b, s.To)
	b = appendKey(b, "threshold", false)
	b = thr.Append(b)
	b = append(b, `,"overall":{`...)
	b = appendTallyMembers(b, s.Overall(), thr)
	b = append(b, `},"sections":[`...)
	for i, x := range s.Sections {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendKey(b, "section_id", true)
		b = appendUUID(b, x.SectionID)
		b = appendKey(b, "course_code", false)
		b = appendString(b, x.CourseCode)
		b = appendKey(b, "course_title", false)
		b = appendString(b, x.CourseTitle)
		b = appendKey(b, "section_code", false)
		b = appendString(b, x.SectionCode)
		b = append(b, ',')
		b = appendTallyMembers(b, x.Tally, thr)
		b = append(b, '}')
	}
	return append(b, "]}"...)
}

// summaryTags are the Surrogate-Key of a summary: the student's summary
// tag and each section's.
func summaryTags(s domain.StudentSummary) []string {
	out := make([]string, 0, len(s.Sections)+1)
	out = append(out, tags.Summary(s.StudentID))
	for _, x := range s.Sections {
		out = append(out, tags.Section(x.SectionID))
	}
	return out
}

func (a *API) sendSummary(ctx *fasthttp.RequestCtx, studentID uuid.UUID) error {
	q := parseQuery(ctx.QueryArgs(), false, "section_id", "from", "to", "threshold")
	section := q.id("section_id")
	w := window(q)
	thr := q.percent("threshold", a.rules.Threshold)
	if err := q.err(); err != nil {
		return err
	}
	s, err := a.store.StudentSummary(queryContext(ctx), scopeOf(caller(ctx)), studentID, section, w)
	if err != nil {
		return err
	}
	withBuf(func(b []byte) []byte {
		b = appendSummary(b, s, thr)
		sendJSON(ctx, fasthttp.StatusOK, b, privateCache, summaryTags(s)...)
		return b
	})
	return nil
}

// studentAttendance serves GET /api/v1/students/{id}/attendance.
func studentAttendance(a *API, ctx *fasthttp.RequestCtx) error {
	id, err := pathID(ctx, "id")
	if err != nil {
		return err
	}
	return a.sendSummary(ctx, id)
}

// myAttendance serves GET /api/v1/me/attendance (a student's own).
func myAttendance(a *API, ctx *fasthttp.RequestCtx) error {
	p := caller(ctx)
	if p == nil || p.StudentID == uuid.Nil {
		return domain.ErrNotFound
	}
	return a.sendSummary(ctx, p.StudentID)
}

type sectionReportJSON struct {
	Section   sectionJSON         `json:"section"`
	From      string              `json:"from" format:"date"`
	To        string              `json:"to" format:"date"`
	Threshold domain.Percent      `json:"threshold"`
	Sessions  int                 `json:"sessions" doc:"closed or locked sessions in the window"`
	Eligible  int                 `json:"eligible" doc:"students at or above the threshold"`
	Students  []studentReportJSON `json:"students" doc:"the roster in roll number order"`
}

type studentReportJSON struct {
	StudentID  string `json:"student_id" format:"uuid"`
	RollNumber string `json:"roll_number"`
	FirstName  string `json:"first_name"`
	LastName   string `json:"last_name"`
	tallyJSON
}

// sectionAttendance serves GET /api/v1/sections/{id}/attendance.
func sectionAttendance(a *API, ctx *fasthttp.RequestCtx) error {
	id, err := pathID(ctx, "id")
	if err != nil {
		return err
	}
	q := parseQuery(ctx.QueryArgs(), false, "from", "to", "threshold")
	w := window(q)
	thr := q.percent("threshold", a.rules.Threshold)
	if err := q.err(); err != nil {
		return err
	}
	rep, err := a.store.SectionReport(queryContext(ctx), scopeOf(caller(ctx)), id, w)
	if err != nil {
		return err
	}
	out := sectionReportJSON{Section: toSection(rep.Section), From: day(rep.From), To: day(rep.To), Threshold: thr,
		Sessions: rep.Sessions, Students: make([]studentReportJSON, len(rep.Students))}
	for i, s := range rep.Students {
		out.Students[i] = studentReportJSON{StudentID: s.StudentID.String(), RollNumber: s.RollNumber, FirstName: s.FirstName,
			LastName: s.LastName, tallyJSON: toTally(s.Tally, thr)}
		if out.Students[i].Eligible {
			out.Eligible++
		}
	}
	return writeJSON(ctx, fasthttp.StatusOK, out, privateCache, tags.Section(id))
}

// exportSection serves GET /api/v1/sections/{id}/attendance.csv: every
// record of the section in the window, streamed as CSV while the database
// produces it.
func exportSection(a *API, ctx *fasthttp.RequestCtx) error {
	id, err := pathID(ctx, "id")
	if err != nil {
		return err
	}
	q := parseQuery(ctx.QueryArgs(), false, "from", "to")
	w := window(q)
	if err := q.err(); err != nil {
		return err
	}
	sc := scopeOf(caller(ctx))
	// Check visibility before committing to a 200: the stream cannot turn
	// into a problem once it has started.
	if _, err := a.store.SectionByID(queryContext(ctx), sc, id); err != nil {
		return err
	}
	reqID := string(ctx.Response.Header.Peek("X-Request-ID"))
	ctx.Response.Header.Set(fasthttp.HeaderCacheControl, ccNoStore)
	ctx.Response.Header.Set(fasthttp.HeaderContentDisposition, `attachment; filename="attendance-`+id.String()+`.csv"`)
	ctx.SetContentType("text/csv; charset=utf-8")
	ctx.SetStatusCode(fasthttp.StatusOK)
	store, log := a.store, a.log
	ctx.SetBodyStreamWriter(func(bw *bufio.Writer) {
		cw := csv.NewWriter(bw)
		_ = cw.Write([]string{"session_id", "date", "starts_at", "session_status", "student_id", "roll_number",
			"first_name", "last_name", "mark", "source", "marked_at", "reason"})
		n := 0
		err := store.ExportSection(context.Background(), sc, id, w, func(r domain.ExportRow) error {
			n++
			if err := cw.Write([]string{r.SessionID.String(), r.Date.Format(time.DateOnly), instant(r.StartsAt), string(r.Status),
				r.StudentID.String(), r.RollNumber, csvSafe(r.FirstName), csvSafe(r.LastName), string(r.Mark), string(r.Source),
				instant(r.MarkedAt), csvSafe(r.Reason)}); err != nil {
				return err
			}
			if n%1000 == 0 {
				cw.Flush()
				if err := cw.Error(); err != nil {
					return err
				}
				return bw.Flush()
			}
			return nil
		})
		cw.Flush()
		if err != nil {
			// The status is sent; a truncated file is all we can signal.
			log.Error("section export interrupted", "request_id", reqID, "rows", n, "error", err.Error())
		}
	})
	return nil
}

// csvSafe defuses spreadsheet formula injection: a cell starting with =,
// +, - or @ is prefixed with an apostrophe.
func csvSafe(s string) string {
	if s != "" && (s[0] == '=' || s[0] == '+' || s[0] == '-' || s[0] == '@') {
		return "'" + s
	}
	return s
}

type overviewJSON struct {
	Term             termJSON               `json:"term"`
	Threshold        domain.Percent         `json:"threshold"`
	Sections         int                    `json:"sections"`
	SessionsByStatus map[string]int         `json:"sessions_by_status"`
	Overall          tallyJSON              `json:"overall" doc:"records of closed and locked sessions"`
	Pairs            int                    `json:"pairs" doc:"(student, section) pairs with records"`
	BelowThreshold   int                    `json:"below_threshold" doc:"pairs below the threshold"`
	Departments      []departmentReportJSON `json:"departments" doc:"by the students' departments"`
}

type departmentReportJSON struct {
	Code           string `json:"code"`
	Name           string `json:"name"`
	Pairs          int    `json:"pairs"`
	BelowThreshold int    `json:"below_threshold"`
	tallyJSON
}

// overview serves GET /api/v1/attendance/overview (a faculty member's
// covers their sections).
func overview(a *API, ctx *fasthttp.RequestCtx) error {
	q := parseQuery(ctx.QueryArgs(), false, "term_id", "threshold")
	oq := domain.OverviewQuery{TermID: q.id("term_id"), Threshold: q.percent("threshold", a.rules.Threshold)}
	if err := q.err(); err != nil {
		return err
	}
	ov, err := a.store.Overview(queryContext(ctx), scopeOf(caller(ctx)), oq)
	if err != nil {
		return err
	}
	out := overviewJSON{Term: toTerm(ov.Term), Threshold: ov.Threshold, Sections: ov.Sections, SessionsByStatus: map[string]int{},
		Overall: toTally(ov.Tally, ov.Threshold), Pairs: ov.Students, BelowThreshold: ov.Below, Departments: []departmentReportJSON{}}
	for _, st := range domain.SessionStatusValues() {
		out.SessionsByStatus[st] = ov.SessionsByStatus[domain.SessionStatus(st)]
	}
	for _, d := range ov.Departments {
		out.Departments = append(out.Departments, departmentReportJSON{Code: d.Code, Name: d.Name, Pairs: d.Students,
			BelowThreshold: d.Below, tallyJSON: toTally(d.Tally, ov.Threshold)})
	}
	return writeJSON(ctx, fasthttp.StatusOK, out, privateCache, tags.Terms, tags.Sections)
}

type shortageJSON struct {
	StudentID   string `json:"student_id" format:"uuid"`
	RollNumber  string `json:"roll_number"`
	FirstName   string `json:"first_name"`
	LastName    string `json:"last_name"`
	SectionID   string `json:"section_id" format:"uuid"`
	CourseCode  string `json:"course_code"`
	SectionCode string `json:"section_code"`
	tallyJSON
}

// shortages serves GET /api/v1/attendance/shortages: every ENROLLED
// (student, section) of the term below the threshold, lowest first.
func shortages(a *API, ctx *fasthttp.RequestCtx) error {
	q := parseQuery(ctx.QueryArgs(), true, "term_id", "section_id", "department", "threshold")
	sq := domain.ShortageQuery{TermID: q.id("term_id"), SectionID: q.id("section_id"),
		Department: q.code("department", domain.ValidDepartmentCode, domain.DepartmentCodeMessage),
		Threshold:  q.percent("threshold", a.rules.Threshold)}
	sq.Page = q.page("shortages")
	if err := q.err(); err != nil {
		return err
	}
	pg, err := a.store.Shortages(queryContext(ctx), scopeOf(caller(ctx)), sq)
	if err != nil {
		return err
	}
	return listed(ctx, q, "shortages", pg, func(x domain.Shortage) shortageJSON {
		return shortageJSON{StudentID: x.StudentID.String(), RollNumber: x.RollNumber, FirstName: x.FirstName, LastName: x.LastName,
			SectionID: x.SectionID.String(), CourseCode: x.CourseCode, SectionCode: x.SectionCode, tallyJSON: toTally(x.Tally, sq.Threshold)}
	}, privateCache, tags.Terms, tags.Sections)
}

// itoa is strconv.Itoa, for brevity in messages.
func itoa(n int) string { return strconv.Itoa(n) }
