package cache

import (
	"fmt"
	"strings"

	"github.com/valyala/fasthttp"

	"github.com/campshub360/edge/shared/problem"
)

// Invalidation names entries to purge, in the shape of the cluster-wide
// message (fanout.go) and of POST /admin/cache/purge:
//
//   - URLs: exact URLs, "https://host/path?query" or "/path?query" (any
//     host); every variant and partition of the URL goes. Paths and
//     queries are normalized as for keys, so any spelling matches.
//   - Prefixes: path prefixes, "/api/v1/students" or with scheme and host.
//   - SurrogateKeys: tags from the Surrogate-Key response field.
//   - Partitions: "public" (the shared partition) or "user:<subject>"
//     (the verified token subject; the gateways map it to their HMAC'd
//     partition id).
type Invalidation struct {
	// URLs are exact URLs.
	URLs []string `json:"urls,omitempty"`
	// Prefixes are path prefixes.
	Prefixes []string `json:"prefixes,omitempty"`
	// SurrogateKeys are Surrogate-Key tags.
	SurrogateKeys []string `json:"surrogate_keys,omitempty"`
	// Partitions are "public" or "user:<subject>".
	Partitions []string `json:"partitions,omitempty"`
}

// Targets is the number of targets named.
func (inv *Invalidation) Targets() int {
	return len(inv.URLs) + len(inv.Prefixes) + len(inv.SurrogateKeys) + len(inv.Partitions)
}

// InvalidationError is a malformed purge target: Field is the JSON field
// with its index ("urls[2]"), Msg what is wrong.
type InvalidationError struct {
	// Field is the JSON field and index, e.g. "urls[2]".
	Field string
	// Msg says what is wrong.
	Msg string
}

func (e *InvalidationError) Error() string { return e.Field + ": " + e.Msg }

// InvalidationErrors lists every malformed target of one invalidation.
type InvalidationErrors []*InvalidationError

// FieldErrors lists the problems as problem-details field errors.
func (es InvalidationErrors) FieldErrors() []problem.FieldError {
	out := make([]problem.FieldError, len(es))
	for i, e := range es {
		out[i] = problem.FieldError{Field: e.Field, Message: e.Msg}
	}
	return out
}

func (es InvalidationErrors) Error() string {
	var b strings.Builder
	for i, e := range es {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(e.Error())
	}
	return b.String()
}

// maxTargets bounds one invalidation.
const maxTargets = 1000

// selector validates and compiles an invalidation.
func (c *Cache) selector(inv *Invalidation) (*Selector, error) {
	var errs InvalidationErrors
	sel := &Selector{}
	if inv.Targets() > maxTargets {
		return nil, InvalidationErrors{{Field: "", Msg: fmt.Sprintf("at most %d targets per purge", maxTargets)}}
	}
	for i, s := range inv.URLs {
		u, err := parseTarget(s, true)
		if err != "" {
			errs = append(errs, &InvalidationError{Field: fmt.Sprintf("urls[%d]", i), Msg: err})
			continue
		}
		sel.URLs = append(sel.URLs, u)
	}
	for i, s := range inv.Prefixes {
		u, err := parseTarget(s, false)
		if err != "" {
			errs = append(errs, &InvalidationError{Field: fmt.Sprintf("prefixes[%d]", i), Msg: err})
			continue
		}
		sel.Prefixes = append(sel.Prefixes, u)
	}
	for i, k := range inv.SurrogateKeys {
		if k == "" || strings.ContainsAny(k, " \t\r\n") || len(k) > 256 {
			errs = append(errs, &InvalidationError{Field: fmt.Sprintf("surrogate_keys[%d]", i), Msg: "want one tag without spaces"})
			continue
		}
		sel.SurrogateKeys = append(sel.SurrogateKeys, k)
	}
	for i, p := range inv.Partitions {
		switch {
		case p == "public":
			sel.Partitions = append(sel.Partitions, "")
		case strings.HasPrefix(p, "user:") && len(p) > len("user:"):
			sel.Partitions = append(sel.Partitions, c.PartitionFor(p[len("user:"):]))
		default:
			errs = append(errs, &InvalidationError{Field: fmt.Sprintf("partitions[%d]", i), Msg: `want "public" or "user:<subject>"`})
		}
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return sel, nil
}

// parseTarget parses a purge URL or prefix into its canonical form.
func parseTarget(s string, withQuery bool) (URL, string) {
	if len(s) == 0 || len(s) > 4096 {
		return URL{}, "want a URL or a path starting with /"
	}
	absolute := strings.HasPrefix(s, "https://") || strings.HasPrefix(s, "http://")
	if !absolute && s[0] != '/' {
		return URL{}, "want a URL or a path starting with /"
	}
	if strings.ContainsAny(s, " \t\r\n#") {
		return URL{}, "must not contain spaces or a fragment"
	}
	var u fasthttp.URI
	if err := u.Parse(nil, []byte(s)); err != nil {
		return URL{}, "not a valid URL"
	}
	out := URL{Path: append([]byte(nil), u.Path()...)}
	if absolute {
		https := strings.HasPrefix(s, "https://")
		out.Scheme = append([]byte(nil), u.Scheme()...)
		out.Host = appendLowerHost(nil, u.Host(), https)
		if len(out.Host) == 0 {
			return URL{}, "missing host"
		}
	}
	if withQuery {
		var scratch []kv
		out.Query = appendCanonicalQuery(nil, u.QueryArgs(), &scratch)
	}
	return out, ""
}

// Invalidate applies an invalidation to this instance only and returns
// how many entries went. source labels the metric.
func (c *Cache) Invalidate(inv Invalidation, source string) (int, error) {
	sel, err := c.selector(&inv)
	if err != nil {
		return 0, err
	}
	n := c.store.Purge(sel)
	c.metrics.invalidations.WithLabelValues(source).Add(float64(inv.Targets()))
	return n, nil
}

// Purge applies an invalidation here (source admin) and publishes it to
// the other instances. It returns the number of entries purged here and
// whether the cluster-wide fan-out accepted it (false when Redis is
// unconfigured or unreachable: the purge was then local only).
func (c *Cache) Purge(inv Invalidation) (int, bool, error) {
	n, err := c.Invalidate(inv, SourceAdmin)
	if err != nil {
		return 0, false, err
	}
	return n, c.fanout.publish(inv), nil
}

// invalidateURLs purges URLs invalidated by a write, here and
// cluster-wide.
func (c *Cache) invalidateURLs(urls []URL, source string) {
	sel := &Selector{URLs: urls}
	c.store.Purge(sel)
	c.metrics.invalidations.WithLabelValues(source).Add(float64(len(urls)))
	inv := Invalidation{URLs: make([]string, 0, len(urls))}
	for i := range urls {
		inv.URLs = append(inv.URLs, string(appendURL(nil, &urls[i])))
	}
	c.fanout.publish(inv)
}

// appendURL renders a canonical URL as text that parseTarget reads back
// to the same canonical URL.
func appendURL(dst []byte, u *URL) []byte {
	if len(u.Host) > 0 {
		if len(u.Scheme) > 0 {
			dst = append(dst, u.Scheme...)
		} else {
			dst = append(dst, "https"...)
		}
		dst = append(dst, "://"...)
		dst = append(dst, u.Host...)
	}
	dst = appendEscapedPath(dst, u.Path)
	if len(u.Query) > 0 {
		dst = append(dst, '?')
		dst = append(dst, u.Query...)
	}
	return dst
}

// appendEscapedPath percent-encodes a decoded path (RFC 3986 §3.3: pchar
// and "/" stay as they are).
func appendEscapedPath(dst, p []byte) []byte {
	const hexDigits = "0123456789ABCDEF"
	for _, b := range p {
		switch {
		case 'a' <= b && b <= 'z', 'A' <= b && b <= 'Z', '0' <= b && b <= '9':
			dst = append(dst, b)
		case strings.IndexByte("-._~!$&'()*+,;=:@/", b) >= 0:
			dst = append(dst, b)
		default:
			dst = append(dst, '%', hexDigits[b>>4], hexDigits[b&15])
		}
	}
	return dst
}
