package api

import (
	"encoding/json"

	"github.com/google/uuid"
	"github.com/valyala/fasthttp"

	"github.com/campshub360/edge/backend/internal/authz"
	"github.com/campshub360/edge/backend/internal/domain"
	"github.com/campshub360/edge/backend/internal/tags"
)

// subject resolves the student a request is about: a student is always
// themselves (a different student_id is refused, not silently replaced);
// other roles must name one.
func subject(p *authz.Principal, v *domain.Violations, raw string) uuid.UUID {
	if p != nil && p.Role == authz.RoleStudent {
		if raw != "" {
			if id, ok := parseUUID(raw); !ok || id != p.StudentID {
				v.Add("student_id", "must be omitted or your own: requests are filed for the signed-in student")
			}
		}
		return p.StudentID
	}
	return requiredID(v, "student_id", raw)
}

type leaveRequest struct {
	StudentID string `json:"student_id" format:"uuid" doc:"required unless the caller is the student"`
	Type      string `json:"type" required:"true" enum:"medical,on_duty,sport,personal,emergency,other"`
	StartDate string `json:"start_date" required:"true" format:"date"`
	EndDate   string `json:"end_date" required:"true" format:"date"`
	Reason    string `json:"reason" required:"true"`
}

type decisionRequest struct {
	Note string `json:"note" doc:"optional comment, at most 2000 characters"`
}

// decision parses an optional {"note": ...} body.
func decision(ctx *fasthttp.RequestCtx, id uuid.UUID, d domain.Decision) (domain.DecisionInput, error) {
	var req decisionRequest
	if len(ctx.PostBody()) > 0 {
		if err := decodeJSON(ctx, &req, smallBody); err != nil {
			return domain.DecisionInput{}, err
		}
	}
	if req.Note != "" {
		var v domain.Violations
		req.Note = domain.CheckText(&v, "note", req.Note, domain.MaxTextLen)
		if err := v.Err(); err != nil {
			return domain.DecisionInput{}, err
		}
	}
	return domain.DecisionInput{ID: id, Decision: d, Note: req.Note}, nil
}

func fileLeave(a *API, ctx *fasthttp.RequestCtx) error {
	var req leaveRequest
	if err := decodeJSON(ctx, &req, smallBody); err != nil {
		return err
	}
	var v domain.Violations
	p := caller(ctx)
	in := domain.LeaveInput{StudentID: subject(p, &v, req.StudentID), Type: req.Type, Reason: req.Reason,
		StartDate: requiredDate(&v, "start_date", req.StartDate), EndDate: requiredDate(&v, "end_date", req.EndDate)}
	if err := v.Err(); err != nil {
		return err
	}
	if err := in.Validate(); err != nil {
		return err
	}
	l, err := a.store.FileLeave(queryContext(ctx), actorOf(p), in)
	if err != nil {
		return err
	}
	a.committed(ctx, []change{{"leave.file", "leave_application", l.ID.String(), nil, toLeave(l)}}, tags.Leave)
	return created(ctx, "/api/v1/leave/"+l.ID.String(), toLeave(l))
}

// requestQuery parses the filters of the leave and correction lists.
func requestQuery(q *query, withSession bool) domain.RequestQuery {
	rq := domain.RequestQuery{StudentID: q.id("student_id"),
		Status: domain.RequestStatus(q.enum("status", domain.RequestStatusValues()))}
	if withSession {
		rq.SessionID = q.id("session_id")
	}
	return rq
}

func listLeave(a *API, ctx *fasthttp.RequestCtx) error {
	q := parseQuery(ctx.QueryArgs(), true, "student_id", "status")
	rq := requestQuery(q, false)
	rq.Page = q.page("leave")
	if err := q.err(); err != nil {
		return err
	}
	pg, err := a.store.ListLeave(queryContext(ctx), scopeOf(caller(ctx)), rq)
	if err != nil {
		return err
	}
	return listed(ctx, q, "leave", pg, toLeave, privateCache, tags.Leave)
}

func getLeave(a *API, ctx *fasthttp.RequestCtx) error {
	id, err := pathID(ctx, "id")
	if err != nil {
		return err
	}
	l, err := a.store.LeaveByID(queryContext(ctx), scopeOf(caller(ctx)), id)
	if err != nil {
		return err
	}
	return writeJSON(ctx, fasthttp.StatusOK, toLeave(l), privateCache, tags.LeaveApplication(id))
}

// effectChanges turns a decision's record rewrites into audit changes and
// tags.
func effectChanges(action string, fx domain.Effects, extra ...string) ([]change, []string) {
	var changes []change
	tagList := append([]string{}, extra...)
	for _, r := range fx.Records {
		var before, after any
		if r.Before != "" {
			before = json.RawMessage(`{"mark":"` + string(r.Before) + `"}`)
		}
		if r.After != "" {
			after = json.RawMessage(`{"mark":"` + string(r.After) + `"}`)
		}
		changes = append(changes, change{action, "attendance_record", r.SessionID.String() + ":" + r.StudentID.String(), before, after})
	}
	for _, s := range fx.Sessions {
		tagList = append(tagList, tags.Session(s.ID), tags.Section(s.SectionID))
	}
	for _, st := range fx.Students {
		tagList = append(tagList, tags.Summary(st))
	}
	return changes, tagList
}

// decideLeave returns the handler of POST /api/v1/leave/{id}/<decision>.
func decideLeave(d domain.Decision) handler {
	return func(a *API, ctx *fasthttp.RequestCtx) error {
		id, err := pathID(ctx, "id")
		if err != nil {
			return err
		}
		in, err := decision(ctx, id, d)
		if err != nil {
			return err
		}
		before, after, fx, err := a.store.DecideLeave(queryContext(ctx), actorOf(caller(ctx)), in)
		if err != nil {
			return err
		}
		changes, tagList := effectChanges("attendance.leave_"+string(d), fx, tags.Leave, tags.LeaveApplication(id))
		changes = append([]change{{"leave." + string(d), "leave_application", id.String(), toLeave(before), toLeave(after)}}, changes...)
		a.committed(ctx, changes, tagList...)
		return writeJSON(ctx, fasthttp.StatusOK, toLeave(after), noStore)
	}
}

type correctionRequest struct {
	SessionID string `json:"session_id" required:"true" format:"uuid"`
	StudentID string `json:"student_id" format:"uuid" doc:"required unless the caller is the student"`
	FromMark  string `json:"from_mark" enum:"present,absent,late,excused" doc:"when given, must be the current mark"`
	ToMark    string `json:"to_mark" required:"true" enum:"present,absent,late,excused"`
	Reason    string `json:"reason" required:"true"`
}

func fileCorrection(a *API, ctx *fasthttp.RequestCtx) error {
	var req correctionRequest
	if err := decodeJSON(ctx, &req, smallBody); err != nil {
		return err
	}
	var v domain.Violations
	p := caller(ctx)
	in := domain.CorrectionInput{SessionID: requiredID(&v, "session_id", req.SessionID), StudentID: subject(p, &v, req.StudentID),
		FromMark: domain.Mark(req.FromMark), ToMark: domain.Mark(req.ToMark), Reason: req.Reason}
	if err := v.Err(); err != nil {
		return err
	}
	if err := in.Validate(); err != nil {
		return err
	}
	c, err := a.store.FileCorrection(queryContext(ctx), actorOf(p), in)
	if err != nil {
		return err
	}
	a.committed(ctx, []change{{"correction.file", "correction_request", c.ID.String(), nil, toCorrection(c)}}, tags.Corrections)
	return created(ctx, "/api/v1/corrections/"+c.ID.String(), toCorrection(c))
}

func listCorrections(a *API, ctx *fasthttp.RequestCtx) error {
	q := parseQuery(ctx.QueryArgs(), true, "student_id", "session_id", "status")
	rq := requestQuery(q, true)
	rq.Page = q.page("corrections")
	if err := q.err(); err != nil {
		return err
	}
	pg, err := a.store.ListCorrections(queryContext(ctx), scopeOf(caller(ctx)), rq)
	if err != nil {
		return err
	}
	return listed(ctx, q, "corrections", pg, toCorrection, privateCache, tags.Corrections)
}

func getCorrection(a *API, ctx *fasthttp.RequestCtx) error {
	id, err := pathID(ctx, "id")
	if err != nil {
		return err
	}
	c, err := a.store.CorrectionByID(queryContext(ctx), scopeOf(caller(ctx)), id)
	if err != nil {
		return err
	}
	return writeJSON(ctx, fasthttp.StatusOK, toCorrection(c), privateCache, tags.Correction(id))
}

// decideCorrection returns the handler of POST
// /api/v1/corrections/{id}/<decision>. An approval's mark rewrite is
// audited with the mark before and after.
func decideCorrection(d domain.Decision) handler {
	return func(a *API, ctx *fasthttp.RequestCtx) error {
		id, err := pathID(ctx, "id")
		if err != nil {
			return err
		}
		in, err := decision(ctx, id, d)
		if err != nil {
			return err
		}
		before, after, fx, err := a.store.DecideCorrection(queryContext(ctx), actorOf(caller(ctx)), in)
		if err != nil {
			return err
		}
		changes, tagList := effectChanges("attendance.correct", fx, tags.Corrections, tags.Correction(id))
		changes = append([]change{{"correction." + string(d), "correction_request", id.String(), toCorrection(before), toCorrection(after)}}, changes...)
		a.committed(ctx, changes, tagList...)
		return writeJSON(ctx, fasthttp.StatusOK, toCorrection(after), noStore)
	}
}

// listAudit serves GET /api/v1/audit-events (administrators, auditors).
func listAudit(a *API, ctx *fasthttp.RequestCtx) error {
	q := parseQuery(ctx.QueryArgs(), true, "entity", "entity_id", "actor_id", "action", "from", "to")
	aq := domain.AuditQuery{ActorID: q.id("actor_id"), From: q.instant("from"), To: q.instant("to")}
	if s, ok := q.str("entity"); ok {
		if !auditWordRE.MatchString(s) {
			q.bad("entity", "must be an entity name such as student or attendance_record")
		}
		aq.Entity = s
	}
	if s, ok := q.str("entity_id"); ok {
		if len(s) > 128 {
			q.bad("entity_id", "must be at most 128 characters")
		}
		aq.EntityID = s
	}
	if s, ok := q.str("action"); ok {
		if !auditActionRE.MatchString(s) {
			q.bad("action", "must be an action name such as student.update")
		}
		aq.Action = s
	}
	if !aq.From.IsZero() && !aq.To.IsZero() && aq.From.After(aq.To) {
		q.bad("from", "must not be after to")
	}
	aq.Page = q.page("audit")
	if err := q.err(); err != nil {
		return err
	}
	pg, err := a.store.ListAudit(queryContext(ctx), aq)
	if err != nil {
		return err
	}
	return listed(ctx, q, "audit", pg, toAuditEvent, privateCache, tags.Audit)
}
