package api

import (
	"errors"
	"strconv"
	"strings"

	"github.com/campshub360/edge/shared/problem"
	"github.com/campshub360/edge/shared/requestid"
	"github.com/valyala/fasthttp"

	"github.com/campshub360/edge/backend/internal/auth"
	"github.com/campshub360/edge/backend/internal/domain"
)

// Problem type slugs (appended to problem.TypeBase) the backend answers
// with. Clients may match on them; they never change meaning.
const (
	slugValidation       = "validation"
	slugNotFound         = "not-found"
	slugMethodNotAllowed = "method-not-allowed"
	slugUnavailable      = "unavailable"
	slugDraining         = "draining"
	slugInternal         = "internal"
	slugBadRequest       = "bad-request"
	slugTooLarge         = "request-too-large"
	slugTimeout          = "request-timeout"
	slugInvalidCreds     = "invalid-credentials"
	slugTooManyAttempts  = "too-many-attempts"
	slugWrongPassword    = "wrong-password"
	slugConflict         = "conflict"
	slugUserSession      = "user-session-required"
)

// fail answers ctx for err. It is the one mapping from errors to HTTP:
//
//	*httpError               -> its status (413 request-too-large, 415 unsupported-media-type)
//	*domain.InvalidError     -> 400 validation, one errors[] entry per violation
//	*auth.FieldError         -> 400 validation, one field
//	*auth.PolicyError        -> 400 validation on new_password, one entry per broken rule
//	auth.ErrInvalidCredentials, auth.ErrRefreshReuse
//	                         -> 401 invalid-credentials (one answer for every cause)
//	auth.ErrPasswordMismatch -> 403 wrong-password
//	auth.ErrNotUserSession   -> 403 user-session-required
//	*domain.ForbiddenError   -> 403, type slug from its code (not-enrolled)
//	domain.ErrForbidden      -> 403 forbidden
//	*domain.ConflictError    -> 409, type slug from its code (illegal-transition,
//	                            session-locked, duplicate, double-booked, ...), errors[] naming the field
//	domain.ErrNotFound       -> 404 not-found
//	domain.ErrUnstorableText -> 400 validation (logged at warn: an input check
//	                            missed text the database refused)
//	auth.ErrConflict         -> 409 conflict
//	*auth.LockedError        -> 429 too-many-attempts, Retry-After
//	domain.ErrUnavailable, auth.ErrBusy
//	                         -> 503 unavailable, Retry-After: 1 (logged at warn)
//	anything else            -> 500 internal (logged at error)
//
// Bodies never carry err's text: the log line has it, with the request id.
// Client-safe messages come only from the typed errors' Message fields.
func (a *API) fail(ctx *fasthttp.RequestCtx, err error) {
	var (
		inv    *domain.InvalidError
		conf   *domain.ConflictError
		forb   *domain.ForbiddenError
		he     *httpError
		field  *auth.FieldError
		policy *auth.PolicyError
		locked *auth.LockedError
	)
	switch {
	case errors.As(err, &he):
		writeProblem(ctx, problem.New(he.status, he.slug, he.title, he.detail))
	case errors.As(err, &field):
		writeProblem(ctx, problem.Validation("The request has invalid parameters.",
			problem.FieldError{Field: field.Field, Message: field.Message}))
	case errors.As(err, &policy):
		fields := make([]problem.FieldError, len(policy.Reasons))
		for i, r := range policy.Reasons {
			fields[i] = problem.FieldError{Field: "new_password", Message: r}
		}
		writeProblem(ctx, problem.Validation("The new password does not meet the password policy.", fields...))
	case errors.Is(err, auth.ErrInvalidCredentials), errors.Is(err, auth.ErrRefreshReuse):
		ctx.Response.Header.Set(fasthttp.HeaderWWWAuthenticate, `Bearer realm="campshub360"`)
		writeProblem(ctx, problem.New(fasthttp.StatusUnauthorized, slugInvalidCreds, "Unauthorized",
			"The credentials are incorrect, expired or revoked."))
	case errors.Is(err, auth.ErrPasswordMismatch):
		writeProblem(ctx, problem.New(fasthttp.StatusForbidden, slugWrongPassword, "Forbidden",
			"The password given is not this account's current password."))
	case errors.Is(err, auth.ErrNotUserSession):
		writeProblem(ctx, problem.New(fasthttp.StatusForbidden, slugUserSession, "Forbidden",
			"This operation needs a signed-in user, not an API key."))
	case errors.Is(err, auth.ErrConflict):
		writeProblem(ctx, problem.New(fasthttp.StatusConflict, slugConflict, "Conflict",
			"The request conflicts with the current state of the resource."))
	case errors.As(err, &locked):
		ctx.Response.Header.Set(fasthttp.HeaderRetryAfter, strconv.Itoa(int(locked.RetryAfter.Seconds())))
		writeProblem(ctx, problem.New(fasthttp.StatusTooManyRequests, slugTooManyAttempts, "Too Many Requests",
			"Too many failed sign-in attempts; try again later."))
	case errors.Is(err, auth.ErrBusy):
		ctx.Response.Header.Set(fasthttp.HeaderRetryAfter, "1")
		writeProblem(ctx, problem.New(fasthttp.StatusServiceUnavailable, slugUnavailable, "Service Unavailable",
			"The server is busy; retry shortly."))
	case errors.As(err, &conf):
		p := problem.New(fasthttp.StatusConflict, strings.ReplaceAll(conf.Code, "_", "-"), "Conflict", conf.Message)
		if conf.Field != "" {
			p.Errors = []problem.FieldError{{Field: conf.Field, Message: conf.Message}}
		}
		writeProblem(ctx, p)
	case errors.As(err, &forb):
		writeProblem(ctx, problem.New(fasthttp.StatusForbidden, strings.ReplaceAll(forb.Code, "_", "-"), "Forbidden", forb.Message))
	case errors.Is(err, domain.ErrForbidden):
		writeProblem(ctx, problem.New(fasthttp.StatusForbidden, "forbidden", "Forbidden", "This operation is not permitted on this resource."))
	case errors.As(err, &inv):
		fields := make([]problem.FieldError, len(inv.Violations))
		for i, v := range inv.Violations {
			fields[i] = problem.FieldError{Field: v.Field, Message: v.Message}
		}
		writeProblem(ctx, problem.Validation("The request has invalid parameters.", fields...))
	case errors.Is(err, domain.ErrNotFound):
		writeProblem(ctx, problem.New(fasthttp.StatusNotFound, slugNotFound, "Not Found",
			"The requested resource does not exist."))
	case errors.Is(err, domain.ErrUnstorableText):
		a.log.Warn("input text refused by the database",
			"request_id", string(ctx.Response.Header.Peek(requestid.Header)),
			"route", string(ctx.Path()), "error", err.Error())
		writeProblem(ctx, problem.New(fasthttp.StatusBadRequest, slugValidation, "Invalid request",
			"The request contains text that cannot be stored: a NUL or other control character, or bytes that are not UTF-8."))
	case errors.Is(err, domain.ErrUnavailable):
		a.log.Warn("dependency unavailable",
			"request_id", string(ctx.Response.Header.Peek(requestid.Header)),
			"route", string(ctx.Path()), "error", err.Error())
		ctx.Response.Header.Set(fasthttp.HeaderRetryAfter, "1")
		writeProblem(ctx, problem.New(fasthttp.StatusServiceUnavailable, slugUnavailable, "Service Unavailable",
			"A backing service did not answer in time; retry shortly."))
	default:
		a.log.Error("internal error",
			"request_id", string(ctx.Response.Header.Peek(requestid.Header)),
			"route", string(ctx.Path()), "error", err.Error())
		writeProblem(ctx, problem.New(fasthttp.StatusInternalServerError, slugInternal, "Internal Server Error",
			"The server failed to handle this request."))
	}
}

// writeProblem writes p as the response; problem responses are never
// stored by caches.
func writeProblem(ctx *fasthttp.RequestCtx, p problem.Problem) {
	ctx.Response.Header.Set(fasthttp.HeaderCacheControl, "no-store")
	problem.Write(ctx, p)
}

// serverError is fasthttp's ErrorHandler: it answers requests fasthttp
// could not read (malformed, too large, too slow) with a problem that has
// its own request id, as the chain never ran for them.
func (a *API) serverError(ctx *fasthttp.RequestCtx, err error) {
	var buf [requestid.Len]byte
	ctx.Response.Header.SetBytesV(requestid.Header, a.ids.AppendNew(buf[:0]))
	var small *fasthttp.ErrSmallBuffer
	switch {
	case errors.As(err, &small):
		writeProblem(ctx, problem.New(fasthttp.StatusRequestHeaderFieldsTooLarge, slugTooLarge,
			"Request Header Fields Too Large", "The request headers are larger than the server accepts."))
	case errors.Is(err, fasthttp.ErrBodyTooLarge):
		writeProblem(ctx, problem.New(fasthttp.StatusRequestEntityTooLarge, slugTooLarge, "Content Too Large",
			"The request body is larger than the server accepts."))
	case isTimeout(err):
		writeProblem(ctx, problem.New(fasthttp.StatusRequestTimeout, slugTimeout, "Request Timeout",
			"The request was not received in time."))
	default:
		writeProblem(ctx, problem.New(fasthttp.StatusBadRequest, slugBadRequest, "Bad Request",
			"The request could not be parsed."))
	}
}

func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}
