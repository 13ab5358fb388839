package cache

import (
	"bytes"
	"math"
)

// Absent marks a numeric directive that was not present.
const Absent int64 = -1

// maxDelta is the largest delta-seconds value the cache represents; larger
// values are clamped to it (RFC 9111 §1.2.2: 2^31).
const maxDelta int64 = 1 << 31

// ResponseDirectives are the Cache-Control response directives the cache
// acts on (RFC 9111 §5.2.2). Numeric fields are seconds, Absent when the
// directive is missing. Qualified no-cache="f" and private="f" are treated
// as their unqualified forms, which RFC 9111 §5.2.2.4 and §5.2.2.7 allow.
type ResponseDirectives struct {
	NoStore, NoCache, Private, Public  bool
	MustRevalidate, ProxyRevalidate    bool
	MaxAge, SMaxAge                    int64
	StaleWhileRevalidate, StaleIfError int64
	// Invalid is set when a freshness directive was duplicated with
	// different values or had a malformed argument: RFC 9111 §4.2.1 says
	// the response is then to be treated as stale.
	Invalid bool
}

// RequestDirectives are the Cache-Control request directives (RFC 9111
// §5.2.1). Numeric fields are seconds, Absent when missing; a max-stale
// without a value is math.MaxInt64 (any staleness).
type RequestDirectives struct {
	NoCache, NoStore, OnlyIfCached           bool
	MaxAge, MaxStale, MinFresh, StaleIfError int64
}

// ParseResponseDirectives parses every Cache-Control field line of a
// response (RFC 9111 §5.2, list syntax of RFC 9110 §5.6.1). Unknown
// directives are ignored (§5.2.3). It does not allocate.
func ParseResponseDirectives(lines [][]byte) ResponseDirectives {
	d := ResponseDirectives{MaxAge: Absent, SMaxAge: Absent, StaleWhileRevalidate: Absent, StaleIfError: Absent}
	for _, line := range lines {
		eachDirective(line, func(name, arg []byte, hasArg bool) {
			switch {
			case eqFold(name, "no-store"):
				d.NoStore = true
			case eqFold(name, "no-cache"):
				d.NoCache = true
			case eqFold(name, "private"):
				d.Private = true
			case eqFold(name, "public"):
				d.Public = true
			case eqFold(name, "must-revalidate"):
				d.MustRevalidate = true
			case eqFold(name, "proxy-revalidate"):
				d.ProxyRevalidate = true
			case eqFold(name, "max-age"):
				d.MaxAge = setDelta(d.MaxAge, arg, hasArg, &d.Invalid)
			case eqFold(name, "s-maxage"):
				d.SMaxAge = setDelta(d.SMaxAge, arg, hasArg, &d.Invalid)
			case eqFold(name, "stale-while-revalidate"):
				var bad bool
				d.StaleWhileRevalidate = setDelta(d.StaleWhileRevalidate, arg, hasArg, &bad)
				if bad {
					d.StaleWhileRevalidate = 0
				}
			case eqFold(name, "stale-if-error"):
				var bad bool
				d.StaleIfError = setDelta(d.StaleIfError, arg, hasArg, &bad)
				if bad {
					d.StaleIfError = 0
				}
			}
		})
	}
	return d
}

// ParseRequestDirectives parses every Cache-Control field line of a request
// (RFC 9111 §5.2.1). A malformed numeric argument makes the directive
// behave as its most conservative value (max-age=0, min-fresh absent,
// max-stale=0). It does not allocate.
func ParseRequestDirectives(lines [][]byte) RequestDirectives {
	d := RequestDirectives{MaxAge: Absent, MaxStale: Absent, MinFresh: Absent, StaleIfError: Absent}
	for _, line := range lines {
		eachDirective(line, func(name, arg []byte, hasArg bool) {
			var bad bool
			switch {
			case eqFold(name, "no-cache"):
				d.NoCache = true
			case eqFold(name, "no-store"):
				d.NoStore = true
			case eqFold(name, "only-if-cached"):
				d.OnlyIfCached = true
			case eqFold(name, "max-age"):
				d.MaxAge = setDelta(d.MaxAge, arg, hasArg, &bad)
				if bad {
					d.MaxAge = 0
				}
			case eqFold(name, "max-stale"):
				if !hasArg {
					d.MaxStale = math.MaxInt64
					return
				}
				d.MaxStale = setDelta(d.MaxStale, arg, hasArg, &bad)
				if bad {
					d.MaxStale = 0
				}
			case eqFold(name, "min-fresh"):
				d.MinFresh = setDelta(d.MinFresh, arg, hasArg, &bad)
				if bad {
					d.MinFresh = Absent
				}
			case eqFold(name, "stale-if-error"):
				d.StaleIfError = setDelta(d.StaleIfError, arg, hasArg, &bad)
				if bad {
					d.StaleIfError = Absent
				}
			}
		})
	}
	return d
}

// setDelta parses a delta-seconds argument (RFC 9111 §1.2.2) and merges it
// with a previous occurrence; a duplicate with a different value or a
// malformed argument sets *bad and yields 0.
func setDelta(prev int64, arg []byte, hasArg bool, bad *bool) int64 {
	v, ok := parseDelta(arg)
	if !hasArg || !ok {
		*bad = true
		return 0
	}
	if prev != Absent && prev != v {
		*bad = true
		return 0
	}
	return v
}

// parseDelta parses 1*DIGIT, clamping at maxDelta.
func parseDelta(b []byte) (int64, bool) {
	if len(b) == 0 {
		return 0, false
	}
	var v int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		if v < maxDelta {
			v = v*10 + int64(c-'0')
		}
	}
	return min(v, maxDelta), true
}

// eachDirective calls f for every directive of one Cache-Control line:
// name, its argument (quotes removed, escapes kept) and whether an
// argument was given. Commas inside quoted strings do not split.
func eachDirective(line []byte, f func(name, arg []byte, hasArg bool)) {
	for len(line) > 0 {
		// Find the end of this member, honouring quoted strings.
		end, inQuote := len(line), false
		for i := 0; i < len(line); i++ {
			c := line[i]
			switch {
			case inQuote && c == '\\':
				i++
			case c == '"':
				inQuote = !inQuote
			case c == ',' && !inQuote:
				end = i
			}
			if end != len(line) {
				break
			}
		}
		member := bytes.TrimSpace(line[:end])
		if end < len(line) {
			line = line[end+1:]
		} else {
			line = nil
		}
		if len(member) == 0 {
			continue
		}
		name, arg, hasArg := member, []byte(nil), false
		if i := bytes.IndexByte(member, '='); i >= 0 {
			name, arg, hasArg = bytes.TrimSpace(member[:i]), bytes.TrimSpace(member[i+1:]), true
			if len(arg) >= 2 && arg[0] == '"' && arg[len(arg)-1] == '"' {
				arg = arg[1 : len(arg)-1]
			}
		}
		f(name, arg, hasArg)
	}
}

// eqFold reports whether b equals the lower-case ASCII s, ignoring case.
func eqFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := 0; i < len(b); i++ {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != s[i] {
			return false
		}
	}
	return true
}
