package api

import (
	"slices"
	"strings"

	"github.com/campshub360/edge/shared/problem"
	"github.com/fasthttp/router"
	"github.com/valyala/fasthttp"

	"github.com/campshub360/edge/backend/internal/auth"
	"github.com/campshub360/edge/backend/internal/authz"
	"github.com/campshub360/edge/backend/internal/domain"
)

// routeSpec declares one route: method, path template (fasthttp/router
// syntax), who may call it, its handler and its documentation (the
// OpenAPI document is generated from these). Every GET is also served for
// HEAD.
type routeSpec struct {
	method string
	path   string
	access authz.Access
	handle handler
	raw    fasthttp.RequestHandler // instead of handle: probes, metrics, authentication
	quiet  bool
	// passwordChange admits accounts that must change their password
	// (authz.Principal.MustChangePassword); every other route answers
	// them 403 password-change-required.
	passwordChange bool
	// maxBody bounds the request body in bytes (default smallBody).
	maxBody int
	// csv also accepts a text/csv body (the bulk import).
	csv bool
	doc opDoc
}

// route describes one registered route for the chain (chain.go).
type route struct {
	method string
	// template is the metric label and log field, never the raw path.
	template string
	// access is who may call the route, enforced by the chain.
	access authz.Access
	// quiet demotes access log lines to debug (probes and scrapes).
	quiet bool
	// passwordChange: see routeSpec.
	passwordChange bool
	// maxBody bounds the request body in bytes (0: the server's limit).
	maxBody int
	// csv also accepts text/csv bodies.
	csv bool
	// scope is what an API key needs (auth.RouteScope; "" refuses keys).
	scope string
}

// opDoc documents an operation.
type opDoc struct {
	summary string
	tag     string
	paged   bool
	query   []paramDoc
	body    any // request body type (a zero value), nil for none
	resp    any // 2xx response body type, nil for none
	status  int // success status (default 200)
	media   string
}

// paramDoc documents a query parameter.
type paramDoc struct {
	name, typ, format, desc string
	enum                    []string
}

func qp(name, typ, desc string) paramDoc { return paramDoc{name: name, typ: typ, desc: desc} }
func qid(name, desc string) paramDoc {
	return paramDoc{name: name, typ: "string", format: "uuid", desc: desc}
}
func qdate(name, desc string) paramDoc {
	return paramDoc{name: name, typ: "string", format: "date", desc: desc}
}
func qenum(name, desc string, values []string) paramDoc {
	return paramDoc{name: name, typ: "string", desc: desc, enum: values}
}

// RouteInfo describes a served route, for tests and documentation (the
// route x role matrix, the OpenAPI check).
type RouteInfo struct {
	// Method is GET, POST, PUT, PATCH or DELETE (HEAD is implied by GET).
	Method string
	// Path is the router template, e.g. /api/v1/students/{id}.
	Path string
	// Access is who may call it.
	Access authz.Access
	// Summary is its one-line description.
	Summary string
}

// Routes returns every route the API serves, in declaration order (the
// authentication and account routes only when Deps.Auth is set). The
// slice is a copy; the routes themselves are fixed at New.
func (a *API) Routes() []RouteInfo {
	out := make([]RouteInfo, len(a.table))
	for i, r := range a.table {
		out[i] = RouteInfo{Method: r.method, Path: r.path, Access: r.access, Summary: r.doc.summary}
	}
	return out
}

// OpenAPI returns the OpenAPI 3.1 document served at
// /api/v1/openapi.json (a copy).
func (a *API) OpenAPI() []byte { return slices.Clone(a.openapi) }

// routeTable is every route of the API (DOMAIN.md "Who may do what"):
// admin everything; registrar people, academic structure and timetables;
// faculty their own sections' sessions, marks and reports, and decisions
// on their students' leave and corrections; students their own profile,
// timetable, records and summaries, their leave and corrections, and QR
// check-in; auditors the audit trail and reports. Ownership is scoped in
// the store queries. The authentication and account routes (authRoutes)
// follow when the API has an auth.Service.
func (a *API) routeTable() []routeSpec {
	const (
		admin     = authz.RoleAdmin
		registrar = authz.RoleRegistrar
		faculty   = authz.RoleFaculty
		student   = authz.RoleStudent
		auditor   = authz.RoleAuditor
	)
	pub := authz.Public()
	roles := authz.Roles
	staff := roles(admin, registrar)
	deptQ := qp("department", "string", "department code (case-insensitive)")
	windowQ := []paramDoc{qdate("from", "first session date counted (default: the term's start)"),
		qdate("to", "last session date counted (default: the term's end)")}
	threshold := qp("threshold", "number", "eligibility threshold in percent (default: the configured one, 75)")
	sessionFilters := []paramDoc{qp("date", "string", "YYYY-MM-DD or today (shorthand for from = to = date)"),
		qdate("from", "first session date"), qdate("to", "last session date"),
		qenum("status", "session status", domain.SessionStatusValues())}
	requestFilters := []paramDoc{qid("student_id", "only this student's"), qenum("status", "request status", domain.RequestStatusValues())}

	table := []routeSpec{
		// Operations.
		{method: "GET", path: "/health/", access: pub, raw: a.health, quiet: true,
			doc: opDoc{summary: "Liveness: the process serves requests", tag: "operations", resp: healthJSON{}}},
		{method: "GET", path: "/ready", access: pub, raw: a.readyHandler, quiet: true,
			doc: opDoc{summary: "Readiness: PostgreSQL answers (Redis is reported, optional)", tag: "operations", resp: readyBody{}}},
		{method: "GET", path: "/metrics", access: pub, raw: a.metricsHandler(), quiet: true,
			doc: opDoc{summary: "Prometheus metrics (text exposition format)", tag: "operations", media: "text/plain"}},
		{method: "GET", path: "/api/v1/openapi.json", access: pub, handle: serveOpenAPI,
			doc: opDoc{summary: "This OpenAPI 3.1 document", tag: "operations", media: "application/json"}},

		// Catalogue: public reads.
		{method: "GET", path: "/api/v1/departments", access: pub, handle: listDepartments,
			doc: opDoc{summary: "List departments by code", tag: "catalogue", paged: true, resp: pageJSON[departmentJSON]{}}},
		{method: "POST", path: "/api/v1/departments", access: staff, handle: createDepartment,
			doc: opDoc{summary: "Create a department", tag: "catalogue", body: departmentRequest{}, resp: departmentJSON{}, status: 201}},
		{method: "GET", path: "/api/v1/departments/{id}", access: pub, handle: getDepartment,
			doc: opDoc{summary: "Get a department", tag: "catalogue", resp: departmentJSON{}}},
		{method: "PUT", path: "/api/v1/departments/{id}", access: staff, handle: updateDepartment,
			doc: opDoc{summary: "Replace a department", tag: "catalogue", body: departmentRequest{}, resp: departmentJSON{}}},
		{method: "DELETE", path: "/api/v1/departments/{id}", access: staff, handle: deleteDepartment,
			doc: opDoc{summary: "Delete a department nothing refers to", tag: "catalogue", status: 204}},

		{method: "GET", path: "/api/v1/programs", access: pub, handle: listPrograms,
			doc: opDoc{summary: "List programs by code", tag: "catalogue", paged: true, resp: pageJSON[programJSON]{},
				query: []paramDoc{deptQ, qenum("level", "program level", domain.ProgramLevelValues())}}},
		{method: "POST", path: "/api/v1/programs", access: staff, handle: createProgram,
			doc: opDoc{summary: "Create a program", tag: "catalogue", body: programRequest{}, resp: programJSON{}, status: 201}},
		{method: "GET", path: "/api/v1/programs/{id}", access: pub, handle: getProgram,
			doc: opDoc{summary: "Get a program", tag: "catalogue", resp: programJSON{}}},
		{method: "PUT", path: "/api/v1/programs/{id}", access: staff, handle: updateProgram,
			doc: opDoc{summary: "Replace a program", tag: "catalogue", body: programRequest{}, resp: programJSON{}}},
		{method: "DELETE", path: "/api/v1/programs/{id}", access: staff, handle: deleteProgram,
			doc: opDoc{summary: "Delete a program nothing refers to", tag: "catalogue", status: 204}},

		{method: "GET", path: "/api/v1/courses", access: pub, handle: listCourses,
			doc: opDoc{summary: "List courses by code", tag: "catalogue", paged: true, resp: pageJSON[courseJSON]{}, query: []paramDoc{deptQ}}},
		{method: "POST", path: "/api/v1/courses", access: staff, handle: createCourse,
			doc: opDoc{summary: "Create a course", tag: "catalogue", body: courseRequest{}, resp: courseJSON{}, status: 201}},
		{method: "GET", path: "/api/v1/courses/{id}", access: pub, handle: getCourse,
			doc: opDoc{summary: "Get a course", tag: "catalogue", resp: courseJSON{}}},
		{method: "PUT", path: "/api/v1/courses/{id}", access: staff, handle: updateCourse,
			doc: opDoc{summary: "Replace a course", tag: "catalogue", body: courseRequest{}, resp: courseJSON{}}},
		{method: "DELETE", path: "/api/v1/courses/{id}", access: staff, handle: deleteCourse,
			doc: opDoc{summary: "Delete a course nothing refers to", tag: "catalogue", status: 204}},

		{method: "GET", path: "/api/v1/terms", access: pub, handle: listTerms,
			doc: opDoc{summary: "List terms, newest first", tag: "catalogue", paged: true, resp: pageJSON[termJSON]{}}},
		{method: "POST", path: "/api/v1/terms", access: staff, handle: createTerm,
			doc: opDoc{summary: "Create a term (is_current moves the current flag)", tag: "catalogue", body: termRequest{}, resp: termJSON{}, status: 201}},
		{method: "GET", path: "/api/v1/terms/current", access: pub, handle: currentTerm,
			doc: opDoc{summary: "The current term", tag: "catalogue", resp: termJSON{}}},
		{method: "GET", path: "/api/v1/terms/{id}", access: pub, handle: getTerm,
			doc: opDoc{summary: "Get a term", tag: "catalogue", resp: termJSON{}}},
		{method: "PUT", path: "/api/v1/terms/{id}", access: staff, handle: updateTerm,
			doc: opDoc{summary: "Replace a term", tag: "catalogue", body: termRequest{}, resp: termJSON{}}},
		{method: "DELETE", path: "/api/v1/terms/{id}", access: staff, handle: deleteTerm,
			doc: opDoc{summary: "Delete a term nothing refers to", tag: "catalogue", status: 204}},

		{method: "GET", path: "/api/v1/holidays", access: pub, handle: listHolidays,
			doc: opDoc{summary: "List holidays by date", tag: "catalogue", paged: true, resp: pageJSON[holidayJSON]{},
				query: []paramDoc{qdate("from", "first date"), qdate("to", "last date")}}},
		{method: "POST", path: "/api/v1/holidays", access: staff, handle: createHoliday,
			doc: opDoc{summary: "Declare a holiday (no sessions are generated on it)", tag: "catalogue", body: holidayRequest{}, resp: holidayJSON{}, status: 201}},
		{method: "DELETE", path: "/api/v1/holidays/{date}", access: staff, handle: deleteHoliday,
			doc: opDoc{summary: "Remove a holiday", tag: "catalogue", status: 204}},

		// People.
		{method: "GET", path: "/api/v1/students", access: roles(admin, registrar, faculty), handle: listStudents,
			doc: opDoc{summary: "List students in roll number order (a faculty member sees their sections' students)", tag: "people",
				paged: true, resp: pageJSON[studentJSON]{}, query: []paramDoc{deptQ, qp("program", "string", "program code"),
					qp("year", "integer", "year of study, 1 to 6"), qp("section", "string", "section letter"),
					qenum("status", "student status", domain.StudentStatusValues()), qid("section_id", "only students ENROLLED in this course section"),
					qp("q", "string", "2 to 64 characters searched in roll numbers, names and e-mail")}}},
		{method: "POST", path: "/api/v1/students", access: staff, handle: createStudent,
			doc: opDoc{summary: "Create a student (personal data sealed at rest)", tag: "people", body: studentRequest{}, resp: studentDetailJSON{}, status: 201}},
		{method: "POST", path: "/api/v1/students/import", access: staff, handle: importStudents, maxBody: importBody, csv: true,
			doc: opDoc{summary: "Import up to 5,000 students in one transaction (JSON or text/csv); any bad row fails all, each reported",
				tag: "people", body: importRequest{}, resp: importResult{}, status: 201}},
		{method: "GET", path: "/api/v1/students/{id}", access: roles(admin, registrar, faculty, student), handle: getStudent,
			doc: opDoc{summary: "Get a student (a student only themselves); contact only for administrators, registrars and the student", tag: "people", resp: studentDetailJSON{}}},
		{method: "PATCH", path: "/api/v1/students/{id}", access: staff, handle: updateStudent,
			doc: opDoc{summary: "Change some fields of a student (personal data sealed at rest)", tag: "people", body: studentPatchRequest{}, resp: studentDetailJSON{}}},
		{method: "DELETE", path: "/api/v1/students/{id}", access: staff, handle: deleteStudent,
			doc: opDoc{summary: "Delete a student without enrollments or records", tag: "people", status: 204}},
		{method: "GET", path: "/api/v1/students/{id}/attendance", access: roles(admin, faculty, student, auditor), handle: studentAttendance,
			doc: opDoc{summary: "A student's attendance per section with percentage and eligibility", tag: "reports", resp: summaryJSON{},
				query: append([]paramDoc{qid("section_id", "only this section")}, append(windowQ, threshold)...)}},

		{method: "GET", path: "/api/v1/faculty", access: staff, handle: listFaculty,
			doc: opDoc{summary: "List faculty in employee id order", tag: "people", paged: true, resp: pageJSON[facultyJSON]{},
				query: []paramDoc{deptQ, qp("active", "boolean", "true or false"), qp("q", "string", "2 to 64 characters searched in employee ids, names and e-mail")}}},
		{method: "POST", path: "/api/v1/faculty", access: staff, handle: createFaculty,
			doc: opDoc{summary: "Create a faculty member", tag: "people", body: facultyRequest{}, resp: facultyJSON{}, status: 201}},
		{method: "GET", path: "/api/v1/faculty/{id}", access: staff, handle: getFaculty,
			doc: opDoc{summary: "Get a faculty member", tag: "people", resp: facultyJSON{}}},
		{method: "PATCH", path: "/api/v1/faculty/{id}", access: staff, handle: updateFaculty,
			doc: opDoc{summary: "Change some fields of a faculty member", tag: "people", body: facultyPatchRequest{}, resp: facultyJSON{}}},
		{method: "DELETE", path: "/api/v1/faculty/{id}", access: staff, handle: deleteFaculty,
			doc: opDoc{summary: "Delete a faculty member who teaches nothing", tag: "people", status: 204}},

		// Sections, enrollments, timetable.
		{method: "GET", path: "/api/v1/sections", access: roles(admin, registrar, faculty, student, auditor), handle: listSections,
			doc: opDoc{summary: "List sections (a faculty member sees their own, a student theirs)", tag: "teaching", paged: true,
				resp: pageJSON[sectionJSON]{}, query: []paramDoc{qid("term_id", "term"), qid("course_id", "course"), qid("faculty_id", "faculty member"), deptQ}}},
		{method: "POST", path: "/api/v1/sections", access: staff, handle: createSection,
			doc: opDoc{summary: "Create a section", tag: "teaching", body: sectionRequest{}, resp: sectionJSON{}, status: 201}},
		{method: "GET", path: "/api/v1/sections/{id}", access: roles(admin, registrar, faculty, student, auditor), handle: getSection,
			doc: opDoc{summary: "Get a section", tag: "teaching", resp: sectionJSON{}}},
		{method: "PUT", path: "/api/v1/sections/{id}", access: staff, handle: updateSection,
			doc: opDoc{summary: "Replace a section (a new faculty member takes its slots and scheduled sessions)", tag: "teaching", body: sectionRequest{}, resp: sectionJSON{}}},
		{method: "DELETE", path: "/api/v1/sections/{id}", access: staff, handle: deleteSection,
			doc: opDoc{summary: "Delete a section without enrollments or sessions", tag: "teaching", status: 204}},
		{method: "POST", path: "/api/v1/sections/{id}/enrollments", access: staff, handle: enroll,
			doc: opDoc{summary: "Enroll a student (201; 200 when already enrolled)", tag: "teaching", body: enrollRequest{}, resp: enrollmentJSON{}, status: 201}},
		{method: "DELETE", path: "/api/v1/sections/{id}/enrollments/{student_id}", access: staff, handle: dropEnrollment,
			doc: opDoc{summary: "Drop an enrollment (records are kept)", tag: "teaching", resp: enrollmentJSON{}}},
		{method: "GET", path: "/api/v1/sections/{id}/roster", access: roles(admin, registrar, faculty), handle: roster,
			doc: opDoc{summary: "The section's ENROLLED students in roll number order", tag: "teaching", paged: true, resp: pageJSON[rosterEntryJSON]{}}},
		{method: "GET", path: "/api/v1/sections/{id}/slots", access: roles(admin, registrar, faculty, student), handle: sectionSlots,
			doc: opDoc{summary: "The section's weekly timetable slots", tag: "teaching", resp: itemsJSON[slotJSON]{}}},
		{method: "POST", path: "/api/v1/sections/{id}/slots", access: staff, handle: createSlot,
			doc: opDoc{summary: "Add a weekly slot (no double booking of section, faculty member or room)", tag: "teaching", body: slotRequest{}, resp: slotJSON{}, status: 201}},
		{method: "PUT", path: "/api/v1/slots/{id}", access: staff, handle: updateSlot,
			doc: opDoc{summary: "Replace a slot", tag: "teaching", body: slotRequest{}, resp: slotJSON{}}},
		{method: "DELETE", path: "/api/v1/slots/{id}", access: staff, handle: deleteSlot,
			doc: opDoc{summary: "Delete a slot (its sessions stay)", tag: "teaching", status: 204}},
		{method: "GET", path: "/api/v1/me/timetable", access: roles(faculty, student), handle: myTimetable,
			doc: opDoc{summary: "The caller's weekly timetable for the current term", tag: "teaching", resp: itemsJSON[slotJSON]{},
				query: []paramDoc{qid("term_id", "another term")}}},

		// Attendance sessions and marking.
		{method: "GET", path: "/api/v1/sessions", access: roles(admin, registrar, faculty), handle: listSessions,
			doc: opDoc{summary: "List sessions by start (a faculty member sees the sessions they hold)", tag: "attendance", paged: true,
				resp: pageJSON[sessionJSON]{}, query: append([]paramDoc{qid("faculty_id", "faculty member"), qid("section_id", "section")}, sessionFilters...)}},
		{method: "GET", path: "/api/v1/me/sessions", access: roles(faculty, student), handle: mySessions,
			doc: opDoc{summary: "The caller's sessions (default: today in the institution's time zone)", tag: "attendance", paged: true,
				resp: pageJSON[sessionJSON]{}, query: sessionFilters}},
		{method: "POST", path: "/api/v1/sessions", access: roles(admin, faculty), handle: createSession,
			doc: opDoc{summary: "Schedule an extra session (without a timetable slot)", tag: "attendance", body: sessionRequest{}, resp: sessionJSON{}, status: 201}},
		{method: "POST", path: "/api/v1/sessions/generate", access: staff, handle: generateSessions,
			doc: opDoc{summary: "Generate the timetable's sessions for a date range (holidays skipped, idempotent)", tag: "attendance",
				body: generateRequest{}, resp: generateResponse{}}},
		{method: "GET", path: "/api/v1/sessions/{id}", access: roles(admin, faculty), handle: getSession,
			doc: opDoc{summary: "A session with its roster and marks", tag: "attendance", resp: sessionDetailJSON{}}},
		{method: "POST", path: "/api/v1/sessions/{id}/open", access: roles(admin, faculty), handle: transition(domain.ActionOpen),
			doc: opDoc{summary: "scheduled -> open (409 from any other status)", tag: "attendance", resp: sessionJSON{}}},
		{method: "POST", path: "/api/v1/sessions/{id}/close", access: roles(admin, faculty), handle: transition(domain.ActionClose),
			doc: opDoc{summary: "open -> closed; unmarked enrolled students become absent (excused on approved leave)", tag: "attendance", resp: sessionJSON{}}},
		{method: "POST", path: "/api/v1/sessions/{id}/lock", access: roles(admin, faculty), handle: transition(domain.ActionLock),
			doc: opDoc{summary: "closed -> locked (marks change only through corrections)", tag: "attendance", resp: sessionJSON{}}},
		{method: "POST", path: "/api/v1/sessions/{id}/cancel", access: roles(admin, faculty), handle: transition(domain.ActionCancel),
			doc: opDoc{summary: "scheduled|open -> cancelled", tag: "attendance", resp: sessionJSON{}}},
		{method: "PUT", path: "/api/v1/sessions/{id}/records", access: roles(admin, faculty), handle: markRecords, maxBody: marksBody,
			doc: opDoc{summary: "Mark the roster or part of it in one upsert, with a result per row", tag: "attendance", body: marksRequest{}, resp: marksResponse{}}},
		{method: "POST", path: "/api/v1/sessions/{id}/qr", access: roles(admin, faculty), handle: issueQR,
			doc: opDoc{summary: "A fresh short-lived QR check-in token for an open session", tag: "attendance", resp: qrResponse{}}},
		{method: "POST", path: "/api/v1/attendance/check-in", access: roles(student), handle: checkIn,
			doc: opDoc{summary: "Check the caller in with a session's QR token (201 new, 200 repeated)", tag: "attendance",
				body: checkInRequest{}, resp: checkInResponse{}, status: 201}},

		// Reports.
		{method: "GET", path: "/api/v1/me/attendance", access: roles(student), handle: myAttendance,
			doc: opDoc{summary: "The caller's attendance per section", tag: "reports", resp: summaryJSON{},
				query: append([]paramDoc{qid("section_id", "only this section")}, append(windowQ, threshold)...)}},
		{method: "GET", path: "/api/v1/sections/{id}/attendance", access: roles(admin, faculty, auditor), handle: sectionAttendance,
			doc: opDoc{summary: "Per-student percentage and eligibility of a section (one SQL aggregate)", tag: "reports",
				resp: sectionReportJSON{}, query: append(windowQ, threshold)}},
		{method: "GET", path: "/api/v1/sections/{id}/attendance.csv", access: roles(admin, faculty, auditor), handle: exportSection,
			doc: opDoc{summary: "Every record of a section as CSV, streamed", tag: "reports", media: "text/csv", query: windowQ}},
		{method: "GET", path: "/api/v1/attendance/overview", access: roles(admin, faculty, auditor), handle: overview,
			doc: opDoc{summary: "Term dashboard: sessions by status, marks, shortages by department", tag: "reports", resp: overviewJSON{},
				query: []paramDoc{qid("term_id", "term (default: current)"), threshold}}},
		{method: "GET", path: "/api/v1/attendance/shortages", access: roles(admin, faculty, auditor), handle: shortages,
			doc: opDoc{summary: "Every ENROLLED student below the threshold in a section of the term, lowest first", tag: "reports",
				paged: true, resp: pageJSON[shortageJSON]{}, query: []paramDoc{qid("term_id", "term (default: current)"),
					qid("section_id", "section"), deptQ, threshold}}},

		// Leave.
		{method: "POST", path: "/api/v1/leave", access: roles(admin, student), handle: fileLeave,
			doc: opDoc{summary: "File a leave application (a student for themselves)", tag: "requests", body: leaveRequest{}, resp: leaveJSON{}, status: 201}},
		{method: "GET", path: "/api/v1/leave", access: roles(admin, faculty, student), handle: listLeave,
			doc: opDoc{summary: "List leave applications, newest first", tag: "requests", paged: true, resp: pageJSON[leaveJSON]{}, query: requestFilters}},
		{method: "GET", path: "/api/v1/leave/{id}", access: roles(admin, faculty, student), handle: getLeave,
			doc: opDoc{summary: "Get a leave application", tag: "requests", resp: leaveJSON{}}},
		{method: "POST", path: "/api/v1/leave/{id}/approve", access: roles(admin, faculty), handle: decideLeave(domain.DecisionApprove),
			doc: opDoc{summary: "pending -> approved: absent marks within the dates become excused", tag: "requests", body: decisionRequest{}, resp: leaveJSON{}}},
		{method: "POST", path: "/api/v1/leave/{id}/reject", access: roles(admin, faculty), handle: decideLeave(domain.DecisionReject),
			doc: opDoc{summary: "pending -> rejected", tag: "requests", body: decisionRequest{}, resp: leaveJSON{}}},
		{method: "POST", path: "/api/v1/leave/{id}/cancel", access: roles(admin, student), handle: decideLeave(domain.DecisionCancel),
			doc: opDoc{summary: "pending|approved -> cancelled (reverts an approval's effects)", tag: "requests", body: decisionRequest{}, resp: leaveJSON{}}},

		// Corrections.
		{method: "POST", path: "/api/v1/corrections", access: roles(admin, faculty, student), handle: fileCorrection,
			doc: opDoc{summary: "Request a mark correction (within the correction window)", tag: "requests", body: correctionRequest{}, resp: correctionJSON{}, status: 201}},
		{method: "GET", path: "/api/v1/corrections", access: roles(admin, faculty, student), handle: listCorrections,
			doc: opDoc{summary: "List correction requests, newest first", tag: "requests", paged: true, resp: pageJSON[correctionJSON]{},
				query: append(requestFilters, qid("session_id", "only this session's"))}},
		{method: "GET", path: "/api/v1/corrections/{id}", access: roles(admin, faculty, student), handle: getCorrection,
			doc: opDoc{summary: "Get a correction request", tag: "requests", resp: correctionJSON{}}},
		{method: "POST", path: "/api/v1/corrections/{id}/approve", access: roles(admin, faculty), handle: decideCorrection(domain.DecisionApprove),
			doc: opDoc{summary: "pending -> approved: the mark is rewritten, also in a locked session", tag: "requests", body: decisionRequest{}, resp: correctionJSON{}}},
		{method: "POST", path: "/api/v1/corrections/{id}/reject", access: roles(admin, faculty), handle: decideCorrection(domain.DecisionReject),
			doc: opDoc{summary: "pending -> rejected", tag: "requests", body: decisionRequest{}, resp: correctionJSON{}}},
		{method: "POST", path: "/api/v1/corrections/{id}/cancel", access: roles(admin, faculty, student), handle: decideCorrection(domain.DecisionCancel),
			doc: opDoc{summary: "pending -> cancelled", tag: "requests", body: decisionRequest{}, resp: correctionJSON{}}},

		// Audit.
		{method: "GET", path: "/api/v1/audit-events", access: roles(admin, auditor), handle: listAudit,
			doc: opDoc{summary: "The audit trail, newest first", tag: "audit", paged: true, resp: pageJSON[auditEventJSON]{},
				query: []paramDoc{qp("entity", "string", "entity kind, e.g. student"), qp("entity_id", "string", "entity id"),
					qid("actor_id", "acting user"), qp("action", "string", "e.g. attendance.mark"),
					{name: "from", typ: "string", format: "date-time", desc: "earliest instant"},
					{name: "to", typ: "string", format: "date-time", desc: "latest instant"}}}},
	}
	if a.auth != nil {
		table = append(table, a.authRoutes()...)
	}
	return table
}

// authBody bounds the bodies of the authentication and account routes.
const authBody = 16 << 10

// authRoutes declares the authentication and account routes (auth*.go).
// Those an account that must change its password may still call are
// marked passwordChange: signing out, seeing who it is, and setting the
// new password.
func (a *API) authRoutes() []routeSpec {
	const (
		admin     = authz.RoleAdmin
		registrar = authz.RoleRegistrar
		faculty   = authz.RoleFaculty
		auditor   = authz.RoleAuditor
	)
	pub, authed := authz.Public(), authz.Authenticated()
	staff := authz.Roles(admin, registrar)
	keyHolders := authz.Roles(admin, registrar, faculty, auditor)
	return []routeSpec{
		{method: "POST", path: "/api/v1/auth/login", access: pub, raw: a.login, maxBody: authBody,
			doc: opDoc{summary: "Sign in with an e-mail or roll number and a password: tokens, or an MFA challenge (mfa_required, mfa_token)",
				tag: "auth", body: loginRequest{}, resp: tokenJSON{}}},
		{method: "POST", path: "/api/v1/auth/login/mfa", access: pub, raw: a.loginMFA, maxBody: authBody,
			doc: opDoc{summary: "Complete a sign-in with a TOTP or recovery code", tag: "auth", body: mfaLoginRequest{}, resp: tokenJSON{}}},
		{method: "POST", path: "/api/v1/auth/refresh", access: pub, raw: a.refresh, maxBody: authBody,
			doc: opDoc{summary: "Exchange a refresh token for a new pair (rotation; reuse revokes the session)", tag: "auth",
				body: refreshRequest{}, resp: tokenJSON{}}},
		{method: "GET", path: "/api/v1/auth/jwks.json", access: pub, raw: a.jwks,
			doc: opDoc{summary: "The public keys verifying access tokens (RFC 7517 JWK Set)", tag: "auth", media: "application/jwk-set+json"}},
		{method: "POST", path: "/api/v1/auth/logout", access: authed, raw: a.logout, passwordChange: true, maxBody: authBody,
			doc: opDoc{summary: "Revoke the caller's session", tag: "auth", status: 204}},
		{method: "POST", path: "/api/v1/auth/logout-all", access: authed, raw: a.logoutAll, passwordChange: true, maxBody: authBody,
			doc: opDoc{summary: "Revoke every session of the caller", tag: "auth", resp: logoutAllJSON{}}},
		{method: "GET", path: "/api/v1/auth/sessions", access: authed, raw: a.sessions, passwordChange: true,
			doc: opDoc{summary: "The caller's signed-in devices, newest first", tag: "auth", resp: itemsJSON[authSessionJSON]{}}},
		{method: "POST", path: "/api/v1/auth/password", access: authed, raw: a.changePassword, passwordChange: true, maxBody: authBody,
			doc: opDoc{summary: "Change the caller's password (other sessions end)", tag: "auth", body: passwordRequest{}, status: 204}},
		{method: "POST", path: "/api/v1/auth/mfa/enroll", access: authed, raw: a.enrollMFA, maxBody: authBody,
			doc: opDoc{summary: "A new TOTP secret, shown once", tag: "auth", resp: mfaEnrollmentJSON{}}},
		{method: "POST", path: "/api/v1/auth/mfa/verify", access: authed, raw: a.verifyMFA, maxBody: authBody,
			doc: opDoc{summary: "Turn MFA on with a code; recovery codes, shown once", tag: "auth", body: mfaCodeRequest{}, resp: recoveryCodesJSON{}}},
		{method: "POST", path: "/api/v1/auth/mfa/disable", access: authed, raw: a.disableMFA, maxBody: authBody,
			doc: opDoc{summary: "Turn MFA off with the password", tag: "auth", body: mfaDisableRequest{}, status: 204}},
		{method: "GET", path: "/api/v1/me", access: authed, raw: a.me, passwordChange: true,
			doc: opDoc{summary: "The caller's profile and role (a student's own personal data decrypted)", tag: "auth", resp: meJSON{}}},
		{method: "POST", path: "/api/v1/students/{id}/account", access: staff, raw: a.provisionStudent, maxBody: authBody,
			doc: opDoc{summary: "Provision a student's account with a one-time password (shown once)", tag: "accounts",
				body: provisionPersonRequest{}, resp: provisionedJSON{}, status: 201}},
		{method: "POST", path: "/api/v1/faculty/{id}/account", access: staff, raw: a.provisionFaculty, maxBody: authBody,
			doc: opDoc{summary: "Provision a faculty member's account with a one-time password (shown once)", tag: "accounts",
				body: provisionPersonRequest{}, resp: provisionedJSON{}, status: 201}},
		{method: "POST", path: "/api/v1/users", access: authz.Roles(admin), raw: a.provisionStaff, maxBody: authBody,
			doc: opDoc{summary: "Provision a staff account (admin, registrar or auditor) with a one-time password", tag: "accounts",
				body: provisionStaffRequest{}, resp: provisionedJSON{}, status: 201}},
		{method: "PATCH", path: "/api/v1/users/{id}", access: authz.Roles(admin), raw: a.updateUser, maxBody: authBody,
			doc: opDoc{summary: "Activate or deactivate an account (deactivation ends its sessions)", tag: "accounts",
				body: userPatchRequest{}, status: 204}},
		{method: "POST", path: "/api/v1/users/{id}/password-reset", access: authz.Roles(admin), raw: a.resetPassword, maxBody: authBody,
			doc: opDoc{summary: "A new one-time password; the account's sessions end", tag: "accounts", resp: passwordResetJSON{}}},
		{method: "POST", path: "/api/v1/api-keys", access: keyHolders, raw: a.createAPIKey, maxBody: authBody,
			doc: opDoc{summary: "Create an API key acting as the caller within its scopes (the secret is shown once)", tag: "accounts",
				body: apiKeyRequest{}, resp: apiKeyJSON{}, status: 201}},
		{method: "GET", path: "/api/v1/api-keys", access: keyHolders, raw: a.listAPIKeys,
			doc: opDoc{summary: "The caller's API keys (an administrator's: every key), never their secrets", tag: "accounts",
				resp: itemsJSON[apiKeyJSON]{}}},
		{method: "DELETE", path: "/api/v1/api-keys/{id}", access: keyHolders, raw: a.revokeAPIKey, maxBody: authBody,
			doc: opDoc{summary: "Revoke an API key", tag: "accounts", status: 204}},
	}
}

// scopeResources lists the resources API keys may be scoped to: the first
// path segments of the routes that admit keys.
func scopeResources(table []routeSpec) map[string]bool {
	out := map[string]bool{}
	for _, rt := range table {
		if s := auth.RouteScope(rt.method, rt.path); s != "" && !rt.access.IsPublic() {
			res, _, _ := strings.Cut(s, ":")
			out[res] = true
		}
	}
	return out
}

// routes builds the router from the table, each route wrapped once in the
// request chain (chain.go), which enforces its access, its API key scope,
// the password-change gate and its body limits. Every GET also answers
// HEAD (fasthttp sends no body). Unmatched paths answer 404 and known paths
// with another method 405 with Allow, both as problems; OPTIONS answers
// 204 with Allow. Automatic trailing-slash and case-fixing redirects are
// off: an API client gains nothing from a redirect, and the router would
// send it outside the chain (without a request id, metrics or an access
// log).
func (a *API) routes() *router.Router {
	r := router.New()
	r.RedirectTrailingSlash = false
	r.RedirectFixedPath = false
	r.HandleMethodNotAllowed = true
	r.HandleOPTIONS = true
	for _, spec := range a.table {
		h := spec.raw
		if h == nil {
			hh := spec.handle
			if spec.method == fasthttp.MethodGet && len(spec.doc.query) == 0 && !spec.doc.paged {
				// A GET documenting no parameters accepts none.
				inner := hh
				hh = func(a *API, ctx *fasthttp.RequestCtx) error {
					if err := parseQuery(ctx.QueryArgs(), false).err(); err != nil {
						return err
					}
					return inner(a, ctx)
				}
			}
			h = a.adapt(hh)
		}
		rt := route{method: spec.method, template: spec.path, access: spec.access, quiet: spec.quiet,
			passwordChange: spec.passwordChange, maxBody: spec.maxBody, csv: spec.csv,
			scope: auth.RouteScope(spec.method, spec.path)}
		if rt.maxBody == 0 && spec.method != fasthttp.MethodGet {
			rt.maxBody = smallBody
		}
		r.Handle(spec.method, spec.path, a.chain(rt, h))
		if spec.method == fasthttp.MethodGet {
			rt.method = fasthttp.MethodHead
			rt.scope = auth.RouteScope(rt.method, spec.path)
			r.Handle(fasthttp.MethodHead, spec.path, a.chain(rt, h))
		}
	}
	r.NotFound = a.chain(route{template: "unmatched", access: authz.Public()}, notFound)
	r.MethodNotAllowed = a.chain(route{template: "unmatched", access: authz.Public()}, methodNotAllowed)
	r.GlobalOPTIONS = a.chain(route{template: "options", access: authz.Public()}, options)
	return r
}

func notFound(ctx *fasthttp.RequestCtx) {
	writeProblem(ctx, problem.New(fasthttp.StatusNotFound, slugNotFound, "Not Found",
		"No resource is served at this path."))
}

// methodNotAllowed runs after the router set the Allow header.
func methodNotAllowed(ctx *fasthttp.RequestCtx) {
	writeProblem(ctx, problem.New(fasthttp.StatusMethodNotAllowed, slugMethodNotAllowed, "Method Not Allowed",
		"This resource does not support the request method; see the Allow header."))
}

// options runs after the router set the Allow header.
func options(ctx *fasthttp.RequestCtx) {
	ctx.SetStatusCode(fasthttp.StatusNoContent)
}

func serveOpenAPI(a *API, ctx *fasthttp.RequestCtx) error {
	sendJSON(ctx, fasthttp.StatusOK, a.openapi, publicCache, "openapi")
	return nil
}
