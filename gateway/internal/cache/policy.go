package cache

import (
	"time"
)

// Placement says where a response may be stored.
type Placement uint8

const (
	// NotStored: the response must not be stored anywhere.
	NotStored Placement = iota
	// Public: the shared partition, usable by every client.
	Public
	// PerUser: the partition of the verified subject only.
	PerUser
)

// StoreInput is what Storability needs to know about one exchange.
type StoreInput struct {
	// Status is the final status code of the response.
	Status int
	// Req are the request's Cache-Control directives.
	Req RequestDirectives
	// Resp are the response's Cache-Control directives.
	Resp ResponseDirectives
	// HasExpires reports an Expires field (valid or not).
	HasExpires bool
	// VaryStar reports Vary: *.
	VaryStar bool
	// VaryCredential reports a Vary naming Authorization, Cookie or
	// Proxy-Authorization, whose values must never enter a key.
	VaryCredential bool
	// SetCookie reports a Set-Cookie field.
	SetCookie bool
	// Authorization reports that the request carried Authorization.
	Authorization bool
	// PerUserRoute reports that the route caches private responses per
	// user, and Subject that the edge verified the request's token.
	PerUserRoute, Subject bool
	// Complete reports that the body was received whole with consistent
	// framing (no stream error, length matching Content-Length).
	Complete bool
	// TooLarge reports a body above the per-object limit.
	TooLarge bool
}

// Detail tokens for the Cache-Status detail parameter (RFC 9211 §2.8)
// saying why a response was not stored.
const (
	DetailNoStore        = "no-store"
	DetailPrivate        = "private"
	DetailStatus         = "status"
	DetailPartial        = "partial"
	DetailIncomplete     = "incomplete"
	DetailTooLarge       = "too-large"
	DetailVaryStar       = "vary-star"
	DetailVaryCredential = "vary-credential"
	DetailSetCookie      = "set-cookie"
	DetailAuthorization  = "authorization"
	DetailNoFreshness    = "no-explicit-freshness"
	DetailRequestNoStore = "request-no-store"
	DetailQuota          = "user-quota"
	DetailStoreFull      = "store-error"
)

// Storability decides whether and where a response to a GET may be stored
// by this shared cache (RFC 9111 §3, §3.5, §5.2.2):
//
//   - the request and response carry no no-store (§5.2.1.5, §5.2.2.5);
//   - the status is final and cacheable: any 2xx-4xx except 206 (partial
//     content is never stored here) and 304, plus 501 (§3, RFC 9110
//     §15.1); 5xx are never stored, so that stale-if-error can work;
//   - the response is complete (§3.3 allows storing incomplete responses
//     only as such; this cache never does);
//   - private responses (§5.2.2.7) go only to the verified user's
//     partition, on routes configured for per-user caching;
//   - a request with Authorization is stored in the shared partition only
//     when the response says public, s-maxage or must-revalidate (§3.5);
//   - Set-Cookie responses are never stored (they are per-client);
//   - Vary: * is never stored (§4.1), nor a Vary on credentials (their
//     values never enter a key);
//   - a response needs explicit freshness (max-age, s-maxage, Expires) or
//     no-cache with a lifetime of zero; heuristic freshness (§4.2.2) is not
//     used, since API responses without explicit freshness are usually
//     dynamic.
//
// It returns the placement and, when NotStored, a Cache-Status detail.
func Storability(in StoreInput) (Placement, string) {
	switch {
	case in.Req.NoStore:
		return NotStored, DetailRequestNoStore
	case in.Resp.NoStore:
		return NotStored, DetailNoStore
	case in.Status == 206:
		return NotStored, DetailPartial
	case !cacheableStatus(in.Status):
		return NotStored, DetailStatus
	case !in.Complete:
		return NotStored, DetailIncomplete
	case in.TooLarge:
		return NotStored, DetailTooLarge
	case in.VaryStar:
		return NotStored, DetailVaryStar
	case in.VaryCredential:
		return NotStored, DetailVaryCredential
	case in.SetCookie:
		return NotStored, DetailSetCookie
	}
	explicit := in.Resp.MaxAge != Absent || in.Resp.SMaxAge != Absent || in.HasExpires || in.Resp.NoCache || in.Resp.Invalid
	if !explicit {
		return NotStored, DetailNoFreshness
	}
	if in.Resp.Private {
		if in.PerUserRoute && in.Subject {
			return PerUser, ""
		}
		return NotStored, DetailPrivate
	}
	if in.Authorization && !sharedAuthOK(in.Resp) {
		return NotStored, DetailAuthorization
	}
	return Public, ""
}

// sharedAuthOK reports whether a response to a request with Authorization
// may be stored and reused by a shared cache (RFC 9111 §3.5).
func sharedAuthOK(d ResponseDirectives) bool {
	return d.Public || d.SMaxAge != Absent || d.MustRevalidate
}

// cacheableStatus reports the final statuses this cache stores when the
// response has explicit freshness (RFC 9111 §3; RFC 9110 §15.1).
func cacheableStatus(s int) bool {
	switch {
	case s == 206 || s == 304:
		return false
	case s >= 200 && s < 500:
		return true
	case s == 501:
		return true
	}
	return false
}

// FreshnessLifetime computes the freshness lifetime of a response in a
// shared cache (RFC 9111 §4.2.1): s-maxage, else max-age, else Expires
// minus Date (Date defaulting to the response time; an invalid Expires
// means already expired). Duplicate or malformed freshness directives
// yield zero (stale). date and expires are Unix seconds; expiresOK is
// false for an unparsable Expires.
func FreshnessLifetime(d ResponseDirectives, hasExpires, expiresOK bool, expires, date int64) time.Duration {
	switch {
	case d.Invalid:
		return 0
	case d.SMaxAge != Absent:
		return time.Duration(d.SMaxAge) * time.Second
	case d.MaxAge != Absent:
		return time.Duration(d.MaxAge) * time.Second
	case hasExpires:
		if !expiresOK || expires <= date {
			return 0
		}
		return time.Duration(expires-date) * time.Second
	}
	return 0
}

// InitialAge is the corrected initial age of a response (RFC 9111
// §4.2.3): the larger of the apparent age (response time minus Date) and
// the Age field plus the response delay. Times are Unix nanoseconds, date
// and ageValue are seconds (date 0 when absent).
func InitialAge(ageValue, date, requestTime, responseTime int64) time.Duration {
	apparent := time.Duration(0)
	if date > 0 {
		apparent = max(0, time.Duration(responseTime-date*int64(time.Second)))
	}
	delay := time.Duration(responseTime - requestTime)
	corrected := time.Duration(ageValue)*time.Second + delay
	return max(apparent, corrected)
}

// Use is what a stored response may be used for, given the request.
type Use uint8

const (
	// UseFresh: serve the stored response (hit).
	UseFresh Use = iota
	// UseStale: serve the stale stored response because the request's
	// max-stale allows it (RFC 9111 §4.2.4, §5.2.1.2).
	UseStale
	// UseStaleRevalidate: serve stale and revalidate in the background
	// (RFC 5861 §3 stale-while-revalidate).
	UseStaleRevalidate
	// UseRevalidate: forward with the stored validators (RFC 9111 §4.3).
	UseRevalidate
	// UseRequest: the request's directives forbid using it (fwd=request).
	UseRequest
)

// Usability decides how a stored response e may satisfy a request with
// directives req at time now (Unix nanoseconds), and returns its current
// age (RFC 9111 §4.2.3):
//
//   - request no-cache, max-age exceeded or min-fresh unmet: forward
//     (§5.2.1.4, §5.2.1.1, §5.2.1.3);
//   - response no-cache: revalidate every time (§5.2.2.4);
//   - fresh (§4.2): serve;
//   - stale: never served without validation after must-revalidate,
//     proxy-revalidate or s-maxage (§5.2.2.2, §5.2.2.8, §5.2.2.10);
//     otherwise served within the request's max-stale (§5.2.1.2) or the
//     response's stale-while-revalidate window (RFC 5861 §3); otherwise
//     revalidated.
func Usability(e *Entry, req RequestDirectives, now int64) (Use, time.Duration) {
	age := e.Age(now)
	lifetime := time.Duration(e.Lifetime)
	if req.NoCache {
		return UseRequest, age
	}
	if req.MaxAge != Absent && age > time.Duration(req.MaxAge)*time.Second {
		return UseRequest, age
	}
	if req.MinFresh != Absent && lifetime-age < time.Duration(req.MinFresh)*time.Second {
		return UseRequest, age
	}
	if e.Flags&FlagNoCache != 0 {
		return UseRevalidate, age
	}
	if age < lifetime {
		return UseFresh, age
	}
	if e.Flags&FlagMustRevalidate != 0 {
		return UseRevalidate, age
	}
	staleness := age - lifetime
	if req.MaxStale != Absent && (req.MaxStale == maxStaleAny || staleness <= time.Duration(req.MaxStale)*time.Second) {
		return UseStale, age
	}
	if staleness <= time.Duration(e.SWR) {
		return UseStaleRevalidate, age
	}
	return UseRevalidate, age
}

const maxStaleAny = int64(^uint64(0) >> 1)

// StaleIfError reports whether a stale stored response may be served when
// the origin answered 5xx or could not be reached (RFC 5861 §4
// stale-if-error, from the response or the request), at time now. Never
// after must-revalidate, proxy-revalidate, s-maxage or no-cache (RFC 9111
// §4.2.4).
func StaleIfError(e *Entry, req RequestDirectives, now int64) bool {
	if e.Flags&(FlagMustRevalidate|FlagNoCache) != 0 {
		return false
	}
	window := time.Duration(e.SIE)
	if req.StaleIfError != Absent {
		window = max(window, time.Duration(req.StaleIfError)*time.Second)
	}
	staleness := e.Age(now) - time.Duration(e.Lifetime)
	return staleness <= window
}

// AuthorizedReuse reports whether a stored shared response may satisfy a
// request that carries Authorization (RFC 9111 §3.5).
func AuthorizedReuse(e *Entry) bool { return e.Flags&FlagAuthOK != 0 }

// Unsafe reports whether a method is unsafe (RFC 9110 §9.2.1): anything
// but GET, HEAD, OPTIONS and TRACE.
func Unsafe(method []byte) bool {
	switch string(method) {
	case "GET", "HEAD", "OPTIONS", "TRACE":
		return false
	}
	return true
}

// Invalidates reports whether a response to an unsafe request invalidates
// the target URI and its Location and Content-Location (RFC 9111 §4.4):
// only non-error (2xx, 3xx) responses do.
func Invalidates(method []byte, status int) bool {
	return Unsafe(method) && status >= 200 && status < 400
}
