// Package route matches requests to routes by host and path prefix.
//
// Matching rules: a route matches when its host is empty or equals the
// request host (case-insensitive, port ignored) and the normalized request
// path starts with its prefix. Among matches the longest prefix wins; at
// equal length a host-specific route beats a host-less one. The path is the
// one canonical form fasthttp produces (dot-segments removed,
// percent-decoding applied), the same form the proxy forwards, so routing
// and the upstream always see the same path.
package route

import (
	"bytes"
	"sort"
)

// Route is one compiled route; Target is whatever the server attaches
// (its upstream pool and per-route policies). Immutable after NewTable.
type Route struct {
	// Name labels metrics and logs.
	Name string
	// Host is the lower-case host the route is restricted to ("" = any).
	Host string
	// Prefix is the path prefix, starting with "/".
	Prefix string
	// Target is the compiled per-route state.
	Target any

	host, prefix []byte
}

// Table is an immutable set of routes ordered for matching. Safe for
// concurrent use.
type Table struct{ routes []*Route }

// NewTable orders routes for matching (longest prefix first, host-specific
// before host-less at equal length, then input order).
func NewTable(routes []*Route) *Table {
	rs := make([]*Route, len(routes))
	copy(rs, routes)
	for _, r := range rs {
		r.host = []byte(r.Host)
		r.prefix = []byte(r.Prefix)
	}
	sort.SliceStable(rs, func(i, j int) bool {
		if len(rs[i].Prefix) != len(rs[j].Prefix) {
			return len(rs[i].Prefix) > len(rs[j].Prefix)
		}
		return rs[i].Host != "" && rs[j].Host == ""
	})
	return &Table{routes: rs}
}

// Match returns the route for host (as in the Host header, port allowed)
// and path (normalized), or nil. It does not allocate.
func (t *Table) Match(host, path []byte) *Route {
	host = stripPort(host)
	for _, r := range t.routes {
		if len(r.host) > 0 && !bytes.EqualFold(r.host, host) {
			continue
		}
		if bytes.HasPrefix(path, r.prefix) {
			return r
		}
	}
	return nil
}

// Routes returns the routes in match order.
func (t *Table) Routes() []*Route { return t.routes }

// stripPort removes a trailing :port from a Host header value, keeping
// bracketed IPv6 literals intact.
func stripPort(h []byte) []byte {
	if i := bytes.LastIndexByte(h, ':'); i >= 0 && bytes.IndexByte(h[i:], ']') < 0 {
		return h[:i]
	}
	return h
}
