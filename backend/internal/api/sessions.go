package api

import (
	"encoding/json"
	"errors"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/valyala/fasthttp"

	"github.com/campshub360/edge/backend/internal/authz"
	"github.com/campshub360/edge/backend/internal/domain"
	"github.com/campshub360/edge/backend/internal/qr"
	"github.com/campshub360/edge/backend/internal/tags"
)

// today is the institution's current date.
func (a *API) today() time.Time { return domain.Today(a.now(), a.rules.TimeZone) }

// sessionQuery parses the filters shared by the session lists: date
// ("today" or YYYY-MM-DD, shorthand for from = to = date), from, to and
// status.
func (a *API) sessionQuery(q *query) domain.SessionQuery {
	var sq domain.SessionQuery
	d := q.date("date", a.today)
	sq.From, sq.To = q.date("from", nil), q.date("to", nil)
	if !d.IsZero() {
		if !sq.From.IsZero() || !sq.To.IsZero() {
			q.bad("date", "cannot be combined with from or to")
		}
		sq.From, sq.To = d, d
	}
	if !sq.From.IsZero() && !sq.To.IsZero() && sq.From.After(sq.To) {
		q.bad("from", "must not be after to")
	}
	sq.Status = domain.SessionStatus(q.enum("status", domain.SessionStatusValues()))
	return sq
}

// serveSessions answers a session list: the sessions sq selects (filters
// parsed from q) in the caller's scope, a page of the list named scope.
func (a *API) serveSessions(ctx *fasthttp.RequestCtx, q *query, sq domain.SessionQuery, scope string) error {
	sq.Page = q.page(scope)
	if err := q.err(); err != nil {
		return err
	}
	pg, err := a.store.ListSessions(queryContext(ctx), scopeOf(caller(ctx)), sq)
	if err != nil {
		return err
	}
	next, err := q.next(scope, pg.Next)
	if err != nil {
		return err
	}
	withBuf(func(b []byte) []byte {
		b = appendPage(b, pg.Items, next, appendSession)
		sendJSON(ctx, fasthttp.StatusOK, b, privateCache, tags.Sessions)
		return b
	})
	return nil
}

// listSessions serves GET /api/v1/sessions (a faculty member sees the
// sessions they hold).
func listSessions(a *API, ctx *fasthttp.RequestCtx) error {
	q := parseQuery(ctx.QueryArgs(), true, "faculty_id", "section_id", "date", "from", "to", "status")
	sq := a.sessionQuery(q)
	sq.FacultyID, sq.SectionID = q.id("faculty_id"), q.id("section_id")
	return a.serveSessions(ctx, q, sq, "sessions")
}

// mySessions serves GET /api/v1/me/sessions: a faculty member's sessions,
// or a student's (their sections'), for date (default today).
func mySessions(a *API, ctx *fasthttp.RequestCtx) error {
	q := parseQuery(ctx.QueryArgs(), true, "date", "from", "to", "status")
	if q.raw["date"] == nil && q.raw["from"] == nil && q.raw["to"] == nil {
		q.raw["date"] = []byte("today")
	}
	return a.serveSessions(ctx, q, a.sessionQuery(q), "my-sessions")
}

func getSession(a *API, ctx *fasthttp.RequestCtx) error {
	id, err := pathID(ctx, "id")
	if err != nil {
		return err
	}
	if err := parseQuery(ctx.QueryArgs(), false).err(); err != nil {
		return err
	}
	d, err := a.store.SessionDetail(queryContext(ctx), scopeOf(caller(ctx)), id)
	if err != nil {
		return err
	}
	return writeJSON(ctx, fasthttp.StatusOK, toSessionDetail(d), privateCache, tags.Session(id), tags.Section(d.Session.SectionID))
}

type sessionRequest struct {
	SectionID string `json:"section_id" required:"true" format:"uuid"`
	StartsAt  string `json:"starts_at" required:"true" format:"date-time"`
	EndsAt    string `json:"ends_at" required:"true" format:"date-time"`
}

// parseInstant parses a required RFC 3339 body field.
func parseInstant(v *domain.Violations, field, s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		v.Add(field, "must be an RFC 3339 instant (e.g. 2026-11-02T09:00:00Z)")
		return time.Time{}
	}
	return t
}

// sessionTags are invalidated when a session (not its marks) changes.
func sessionTags(s domain.AttendanceSession) []string {
	return []string{tags.Sessions, tags.Session(s.ID), tags.Section(s.SectionID)}
}

func createSession(a *API, ctx *fasthttp.RequestCtx) error {
	var req sessionRequest
	if err := decodeJSON(ctx, &req, smallBody); err != nil {
		return err
	}
	var v domain.Violations
	in := domain.SessionInput{SectionID: requiredID(&v, "section_id", req.SectionID),
		StartsAt: parseInstant(&v, "starts_at", req.StartsAt), EndsAt: parseInstant(&v, "ends_at", req.EndsAt)}
	if err := v.Err(); err != nil {
		return err
	}
	if err := in.Validate(); err != nil {
		return err
	}
	s, err := a.store.CreateSession(queryContext(ctx), actorOf(caller(ctx)), in)
	if err != nil {
		return err
	}
	a.committed(ctx, []change{{"session.create", "attendance_session", s.ID.String(), nil, toSession(s)}}, sessionTags(s)...)
	return created(ctx, "/api/v1/sessions/"+s.ID.String(), toSession(s))
}

type generateRequest struct {
	From      string `json:"from" required:"true" format:"date"`
	To        string `json:"to" required:"true" format:"date"`
	SectionID string `json:"section_id" format:"uuid" doc:"only this section's slots"`
	TermID    string `json:"term_id" format:"uuid" doc:"only this term's slots"`
}

type generateResponse struct {
	Created  int `json:"created" doc:"sessions created"`
	Existing int `json:"existing" doc:"slot days that already had their session (or would overlap one)"`
	Excused  int `json:"excused" doc:"excused records created for students on approved leave"`
}

// generateSessions serves POST /api/v1/sessions/generate: sessions for
// every timetable slot on each matching weekday of [from, to] in the
// institution's time zone, skipping holidays; rerunning creates nothing.
func generateSessions(a *API, ctx *fasthttp.RequestCtx) error {
	var req generateRequest
	if err := decodeJSON(ctx, &req, smallBody); err != nil {
		return err
	}
	var v domain.Violations
	in := domain.GenerateInput{From: requiredDate(&v, "from", req.From), To: requiredDate(&v, "to", req.To),
		SectionID: idOrNil(&v, "section_id", req.SectionID), TermID: idOrNil(&v, "term_id", req.TermID)}
	if err := v.Err(); err != nil {
		return err
	}
	if err := in.Validate(); err != nil {
		return err
	}
	res, err := a.store.GenerateSessions(queryContext(ctx), in)
	if err != nil {
		return err
	}
	out := generateResponse{Created: res.Created, Existing: res.Existing, Excused: res.Excused}
	if res.Created > 0 {
		tagList := []string{tags.Sessions}
		for _, s := range res.Sessions {
			tagList = append(tagList, tags.Section(s.SectionID))
		}
		a.committed(ctx, []change{{"session.generate", "attendance_session", "generate", req, out}}, tagList...)
	}
	return writeJSON(ctx, fasthttp.StatusOK, out, noStore)
}

// transition returns the handler of POST /api/v1/sessions/{id}/<action>.
func transition(action domain.SessionAction) handler {
	return func(a *API, ctx *fasthttp.RequestCtx) error {
		id, err := pathID(ctx, "id")
		if err != nil {
			return err
		}
		if err := emptyBody(ctx); err != nil {
			return err
		}
		res, err := a.store.Transition(queryContext(ctx), actorOf(caller(ctx)), id, action)
		if err != nil {
			return err
		}
		tagList := sessionTags(res.Session)
		for _, st := range res.Students {
			tagList = append(tagList, tags.Summary(st))
		}
		after := map[string]any{"status": res.Session.Status}
		if action == domain.ActionClose {
			after["filled_absent"], after["filled_excused"] = res.Absent, res.Excused
		}
		a.committed(ctx, []change{{"session." + string(action), "attendance_session", id.String(),
			map[string]any{"status": res.Before}, after}}, tagList...)
		return writeJSON(ctx, fasthttp.StatusOK, toSession(res.Session), noStore)
	}
}

type markRow struct {
	StudentID string `json:"student_id" required:"true" format:"uuid"`
	Mark      string `json:"mark" required:"true" enum:"present,absent,late,excused"`
	Reason    string `json:"reason" doc:"optional note, at most 2000 characters"`
}

type marksRequest struct {
	Source  string    `json:"source" enum:"manual,bulk,import" doc:"default manual"`
	Records []markRow `json:"records" required:"true" doc:"the whole roster or part of it; each student at most once"`
}

// markResultJSON documents one row of the marking response (the response
// itself is written by appendMarkReply).
type markResultJSON struct {
	StudentID string  `json:"student_id" format:"uuid"`
	Result    string  `json:"result" enum:"created,updated,unchanged,error"`
	Mark      *string `json:"mark" enum:"present,absent,late,excused" doc:"the stored mark (late rule applied); null on error"`
	Previous  *string `json:"previous" enum:"present,absent,late,excused" doc:"the mark before this request: equal to mark when unchanged, null when created or on error"`
	Error     *string `json:"error" enum:"not_enrolled" doc:"why the row was not written"`
}

type markCountsResultJSON struct {
	Created   int `json:"created"`
	Updated   int `json:"updated"`
	Unchanged int `json:"unchanged"`
	Errors    int `json:"errors"`
}

type marksResponse struct {
	SessionID string               `json:"session_id" format:"uuid"`
	Status    string               `json:"status" enum:"open,closed"`
	Counts    markCountsResultJSON `json:"counts"`
	Results   []markResultJSON     `json:"results" doc:"one per request row, in request order"`
}

// markRecords serves PUT /api/v1/sessions/{id}/records: one upsert
// statement for the rows, with a per-row result. Invalid rows (bad UUID,
// unknown mark, a student twice) fail the whole request with 400 and write
// nothing; students not enrolled are per-row errors.
func markRecords(a *API, ctx *fasthttp.RequestCtx) error {
	id, err := pathID(ctx, "id")
	if err != nil {
		return err
	}
	var req marksRequest
	if err := decodeJSON(ctx, &req, marksBody); err != nil {
		return err
	}
	var v domain.Violations
	source := domain.SourceManual
	switch req.Source {
	case "", "manual":
	case "bulk":
		source = domain.SourceBulk
	case "import":
		source = domain.SourceImport
	default:
		v.Add("source", "must be manual, bulk or import (qr and system marks are written by check-in and the close job)")
	}
	switch n := len(req.Records); {
	case n == 0:
		v.Add("records", "must hold at least one row")
	case n > domain.MaxMarkRows:
		v.Add("records", "must hold at most "+strconv.Itoa(domain.MaxMarkRows)+" rows")
	}
	rows := make([]domain.MarkInput, 0, len(req.Records))
	seen := make(map[uuid.UUID]int, len(req.Records))
	for i, r := range req.Records {
		field := "records[" + strconv.Itoa(i) + "]"
		sid, ok := parseUUID(r.StudentID)
		if !ok {
			v.Add(field+".student_id", uuidMessage)
		} else if j, dup := seen[sid]; dup {
			v.Add(field+".student_id", "repeats records["+strconv.Itoa(j)+"]; mark each student once")
		} else {
			seen[sid] = i
		}
		m, ok := domain.ParseMark(r.Mark)
		if !ok {
			v.Add(field+".mark", "must be one of present, absent, late, excused")
		}
		if r.Reason != "" {
			var rv domain.Violations
			r.Reason = domain.CheckText(&rv, field+".reason", r.Reason, domain.MaxTextLen)
			v = append(v, rv...)
		}
		rows = append(rows, domain.MarkInput{StudentID: sid, Mark: m, Reason: r.Reason})
		if len(v) > 100 {
			break
		}
	}
	if err := v.Err(); err != nil {
		return err
	}
	reply, err := a.store.MarkRecords(queryContext(ctx), actorOf(caller(ctx)), domain.MarkRequest{SessionID: id, Rows: rows, Source: source})
	if err != nil {
		return err
	}
	var changes []change
	tagList := []string{tags.Session(id), tags.Section(reply.Session.SectionID)}
	for _, r := range reply.Results {
		if r.Outcome != domain.OutcomeCreated && r.Outcome != domain.OutcomeUpdated {
			continue
		}
		var before any
		if r.Before != "" {
			before = json.RawMessage(`{"mark":"` + string(r.Before) + `"}`)
		}
		changes = append(changes, change{"attendance.mark", "attendance_record", id.String() + ":" + r.StudentID.String(),
			before, json.RawMessage(`{"mark":"` + string(r.Mark) + `","source":"` + string(source) + `"}`)})
		tagList = append(tagList, tags.Summary(r.StudentID))
	}
	if len(changes) > 0 {
		a.committed(ctx, changes, tagList...)
	}
	withBuf(func(b []byte) []byte {
		b = appendMarkReply(b, reply)
		sendJSON(ctx, fasthttp.StatusOK, b, noStore)
		return b
	})
	return nil
}

// appendMarkReply writes a marksResponse.
func appendMarkReply(b []byte, r domain.MarkReply) []byte {
	var c markCountsResultJSON
	for _, x := range r.Results {
		switch x.Outcome {
		case domain.OutcomeCreated:
			c.Created++
		case domain.OutcomeUpdated:
			c.Updated++
		case domain.OutcomeUnchanged:
			c.Unchanged++
		default:
			c.Errors++
		}
	}
	b = appendKey(b, "session_id", true)
	b = appendUUID(b, r.Session.ID)
	b = appendKey(b, "status", false)
	b = appendString(b, string(r.Session.Status))
	b = append(b, `,"counts":{"created":`...)
	b = strconv.AppendInt(b, int64(c.Created), 10)
	b = append(b, `,"updated":`...)
	b = strconv.AppendInt(b, int64(c.Updated), 10)
	b = append(b, `,"unchanged":`...)
	b = strconv.AppendInt(b, int64(c.Unchanged), 10)
	b = append(b, `,"errors":`...)
	b = strconv.AppendInt(b, int64(c.Errors), 10)
	b = append(b, `},"results":[`...)
	for i, x := range r.Results {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendKey(b, "student_id", true)
		b = appendUUID(b, x.StudentID)
		b = appendKey(b, "result", false)
		if x.Outcome == domain.OutcomeNotEnrolled {
			b = append(b, `"error","mark":null,"previous":null,"error":"not_enrolled"}`...)
			continue
		}
		b = appendString(b, string(x.Outcome))
		b = appendKey(b, "mark", false)
		b = appendOptString(b, string(x.Mark))
		// previous is the mark held before this request: the old one of
		// an update, the current one of an unchanged row, none when
		// created.
		b = appendKey(b, "previous", false)
		switch x.Outcome {
		case domain.OutcomeUpdated:
			b = appendOptString(b, string(x.Before))
		case domain.OutcomeUnchanged:
			b = appendOptString(b, string(x.Mark))
		default:
			b = append(b, "null"...)
		}
		b = append(b, `,"error":null}`...)
	}
	return append(b, "]}"...)
}

type qrResponse struct {
	SessionID  string `json:"session_id" format:"uuid"`
	Token      string `json:"token" doc:"show as a QR code; students submit it to POST /api/v1/attendance/check-in"`
	ExpiresAt  string `json:"expires_at" format:"date-time"`
	TTLSeconds int    `json:"ttl_seconds" doc:"fetch a new token before this runs out (rotation)"`
}

// issueQR serves POST /api/v1/sessions/{id}/qr: a fresh short-lived token
// for an open session the caller holds or teaches.
func issueQR(a *API, ctx *fasthttp.RequestCtx) error {
	id, err := pathID(ctx, "id")
	if err != nil {
		return err
	}
	if err := emptyBody(ctx); err != nil {
		return err
	}
	if _, err := a.store.OpenForQR(queryContext(ctx), scopeOf(caller(ctx)), id); err != nil {
		return err
	}
	token, exp := a.qr.Issue(id)
	return writeJSON(ctx, fasthttp.StatusOK, qrResponse{SessionID: id.String(), Token: token, ExpiresAt: instant(exp),
		TTLSeconds: int(a.qr.TTL() / time.Second)}, noStore)
}

type checkInRequest struct {
	Token string `json:"token" required:"true" doc:"the token of the session's QR code"`
}

type checkInResponse struct {
	SessionID string `json:"session_id" format:"uuid"`
	StudentID string `json:"student_id" format:"uuid"`
	Result    string `json:"result" enum:"created,updated,unchanged"`
	Mark      string `json:"mark" enum:"present,late,absent,excused"`
	At        string `json:"at" format:"date-time" doc:"when this check-in was received"`
}

// checkIn serves POST /api/v1/attendance/check-in: the caller (a student,
// never a body field) checks in to the token's open session; present
// becomes late after the grace period; repeating it changes nothing.
func checkIn(a *API, ctx *fasthttp.RequestCtx) error {
	var req checkInRequest
	if err := decodeJSON(ctx, &req, smallBody); err != nil {
		return err
	}
	if req.Token == "" {
		return domain.Invalid("token", "is required")
	}
	session, err := a.qr.Verify(req.Token)
	switch {
	case errors.Is(err, qr.ErrExpired):
		return domain.Invalid("token", "has expired; scan the code currently shown")
	case err != nil:
		return domain.Invalid("token", "is not a valid check-in token")
	}
	p := caller(ctx)
	if p == nil || p.Role != authz.RoleStudent || p.StudentID == uuid.Nil {
		return &domain.ForbiddenError{Code: "not_a_student", Message: "only a student account linked to a student record can check in"}
	}
	res, err := a.store.CheckIn(queryContext(ctx), actorOf(p), session, p.StudentID)
	if err != nil {
		return err
	}
	if res.Outcome != domain.OutcomeUnchanged {
		var before any
		if res.Before != "" {
			before = json.RawMessage(`{"mark":"` + string(res.Before) + `"}`)
		}
		a.committed(ctx, []change{{"attendance.check_in", "attendance_record", session.String() + ":" + p.StudentID.String(),
			before, json.RawMessage(`{"mark":"` + string(res.Mark) + `","source":"qr"}`)}},
			tags.Session(session), tags.Section(res.Session.SectionID), tags.Summary(p.StudentID))
	}
	status := fasthttp.StatusOK
	if res.Outcome == domain.OutcomeCreated {
		status = fasthttp.StatusCreated
	}
	withBuf(func(b []byte) []byte {
		b = appendCheckIn(b, session, p.StudentID, res)
		sendJSON(ctx, status, b, noStore)
		return b
	})
	return nil
}

// appendCheckIn writes a checkInResponse.
func appendCheckIn(b []byte, session, student uuid.UUID, res domain.CheckInResult) []byte {
	b = appendKey(b, "session_id", true)
	b = appendUUID(b, session)
	b = appendKey(b, "student_id", false)
	b = appendUUID(b, student)
	b = appendKey(b, "result", false)
	b = appendString(b, string(res.Outcome))
	b = appendKey(b, "mark", false)
	b = appendString(b, string(res.Mark))
	b = appendKey(b, "at", false)
	b = appendInstant(b, res.At)
	return append(b, '}')
}
