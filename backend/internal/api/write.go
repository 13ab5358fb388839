package api

import (
	"context"
	"encoding/json"
	"regexp"

	"github.com/campshub360/edge/shared/requestid"
	"github.com/google/uuid"
	"github.com/valyala/fasthttp"

	"github.com/campshub360/edge/backend/internal/audit"
	"github.com/campshub360/edge/backend/internal/authz"
	"github.com/campshub360/edge/backend/internal/domain"
)

// handler is a route's handler: it writes the response on success and
// returns an error for fail to map.
type handler func(a *API, ctx *fasthttp.RequestCtx) error

// adapt turns h into a fasthttp handler.
func (a *API) adapt(h handler) fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) {
		if err := h(a, ctx); err != nil {
			a.fail(ctx, err)
		}
	}
}

// caller returns the request's principal; protected routes always have
// one (authz.Middleware ran), public routes may not.
func caller(ctx *fasthttp.RequestCtx) *authz.Principal { return authz.From(ctx) }

// scopeOf is the data a principal may see: administrators, registrars and
// auditors everything their routes allow, a faculty member their own
// sections, a student themselves. A nil principal sees nothing private.
func scopeOf(p *authz.Principal) domain.Scope {
	if p == nil {
		return domain.StudentScope(uuid.Nil)
	}
	switch p.Role {
	case authz.RoleFaculty:
		return domain.FacultyScope(p.FacultyID)
	case authz.RoleStudent:
		return domain.StudentScope(p.StudentID)
	}
	return domain.All()
}

// actorOf is the principal as the author of a write.
func actorOf(p *authz.Principal) domain.Actor {
	if p == nil {
		return domain.Actor{Scope: scopeOf(nil)}
	}
	return domain.Actor{UserID: p.UserID, Scope: scopeOf(p)}
}

// queryContext is the context for the store calls of one request. It keeps
// the request's values but not its cancellation: fasthttp cancels every
// RequestCtx when the server starts shutting down, and in-flight requests
// must be allowed to finish. Stores add their own deadline.
func queryContext(ctx *fasthttp.RequestCtx) context.Context {
	return context.WithoutCancel(ctx)
}

// change is one audited write.
type change struct {
	action, entity, id string
	before, after      any
}

// committed records the audit events of a committed write (queued, never
// blocking on the database) and invalidates the tags it changed.
func (a *API) committed(ctx *fasthttp.RequestCtx, changes []change, tagList ...string) {
	p := caller(ctx)
	var actor uuid.UUID
	if p != nil {
		actor = p.UserID
	}
	ip := a.proxies.ClientIP(ctx)
	reqID := string(ctx.Response.Header.Peek(requestid.Header))
	now := a.now()
	for _, c := range changes {
		e := audit.Event{At: now, ActorID: actor, Action: c.action, Entity: c.entity, EntityID: c.id,
			Before: snapshot(c.before), After: snapshot(c.after), IP: ip, RequestID: reqID}
		if err := a.audit.Record(queryContext(ctx), e); err != nil {
			a.metrics.auditDropped.Inc()
			a.log.Warn("audit event not queued", "request_id", reqID, "action", c.action, "error", err.Error())
		}
	}
	if a.inval != nil && len(tagList) > 0 {
		a.inval.Invalidate(queryContext(ctx), tagList...)
	}
}

// snapshot encodes an audit before/after value (nil stays nil).
func snapshot(v any) json.RawMessage {
	if v == nil {
		return nil
	}
	if raw, ok := v.(json.RawMessage); ok {
		return raw
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil
	}
	return b
}

// The shapes of audit entity and action names (audit_events CHECKs).
var (
	auditWordRE   = regexp.MustCompile(`^[a-z][a-z0-9_]{1,63}$`)
	auditActionRE = regexp.MustCompile(`^[a-z][a-z0-9_.]{1,63}$`)
)
