package config

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Headers configures the response headers the gateway adds to every
// response (gateway/internal/headers): the default security set for a
// JSON API, changed by Set and Remove, plus HSTS on HTTPS responses.
type Headers struct {
	// HSTS is the Strict-Transport-Security policy (RFC 6797), sent on
	// HTTPS responses only.
	HSTS HSTS `yaml:"hsts"`
	// Set adds or replaces headers of the default set on every route
	// (header name -> value).
	Set map[string]string `yaml:"set"`
	// Remove names default headers not to send.
	Remove []string `yaml:"remove"`
}

// HSTS is the Strict-Transport-Security policy (RFC 6797 §6.1).
type HSTS struct {
	// MaxAge is the max-age directive (whole seconds); 0 sends no HSTS.
	MaxAge time.Duration `yaml:"max_age"`
	// IncludeSubdomains adds includeSubDomains.
	IncludeSubdomains bool `yaml:"include_subdomains"`
	// Preload adds preload (opt-in: a preload list entry is hard to undo);
	// it needs include_subdomains and a max_age of at least one year.
	Preload bool `yaml:"preload"`
}

// RouteHeaders overrides the security headers on one route's responses,
// applied after the global Headers.Set/Remove.
type RouteHeaders struct {
	// Set adds or replaces headers (name -> value).
	Set map[string]string `yaml:"set"`
	// Remove names headers not to send on this route.
	Remove []string `yaml:"remove"`
}

// CORS is one route's cross-origin resource sharing policy (Fetch
// standard, "CORS protocol"). Enabled when AllowOrigins is not empty.
type CORS struct {
	// AllowOrigins are serialized origins allowed to read responses:
	// exact ("https://portal.campus.edu", "http://localhost:5173") or a
	// wildcard subdomain ("https://*.campus.edu" matches any name ending
	// in ".campus.edu", not campus.edu itself). "*" allows every origin
	// and cannot be combined with AllowCredentials.
	AllowOrigins []string `yaml:"allow_origins"`
	// AllowMethods are the methods a preflight may ask for.
	AllowMethods []string `yaml:"allow_methods"`
	// AllowHeaders are the request headers a preflight may ask for
	// (case-insensitive).
	AllowHeaders []string `yaml:"allow_headers"`
	// ExposeHeaders are response headers scripts may read beyond the
	// CORS-safelisted ones.
	ExposeHeaders []string `yaml:"expose_headers"`
	// AllowCredentials lets browsers send cookies and Authorization and
	// read the response (Access-Control-Allow-Credentials: true).
	AllowCredentials bool `yaml:"allow_credentials"`
	// MaxAge is how long browsers may cache a preflight result (whole
	// seconds; browsers cap it at 2 h to 24 h).
	MaxAge time.Duration `yaml:"max_age"`
}

// Enabled reports whether the route answers CORS at the edge.
func (c CORS) Enabled() bool { return len(c.AllowOrigins) > 0 }

func (c *Config) fillHeadersDefaults() {
	for i := range c.Routes {
		cr := &c.Routes[i].CORS
		if !cr.Enabled() {
			continue
		}
		if len(cr.AllowMethods) == 0 {
			cr.AllowMethods = []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"}
		}
		if cr.AllowHeaders == nil {
			cr.AllowHeaders = []string{"Authorization", "Content-Type", "X-Request-ID"}
		}
		if cr.ExposeHeaders == nil {
			cr.ExposeHeaders = []string{"X-Request-ID"}
		}
		if cr.MaxAge == 0 {
			cr.MaxAge = 10 * time.Minute
		}
	}
}

func (c *Config) validateHeaders(ck *checker) {
	h := c.Headers
	if h.HSTS.MaxAge < 0 || h.HSTS.MaxAge%time.Second != 0 {
		ck.add("headers.hsts.max_age", "%s: want whole seconds, 0 or more", h.HSTS.MaxAge)
	}
	if h.HSTS.Preload && (!h.HSTS.IncludeSubdomains || h.HSTS.MaxAge < 365*24*time.Hour) {
		ck.add("headers.hsts.preload", "needs include_subdomains: true and max_age of at least 8760h (one year)")
	}
	validateHeaderMap(ck, "headers", h.Set, h.Remove)
	for i, r := range c.Routes {
		p := fmt.Sprintf("routes[%d]", i)
		validateHeaderMap(ck, p+".headers", r.Headers.Set, r.Headers.Remove)
		validateCORS(ck, p+".cors", r.CORS)
	}
}

// managed are headers other gateway stages own; a header policy must not
// set them.
var managed = map[string]bool{
	"strict-transport-security": true, "x-request-id": true, "content-type": true, "content-length": true,
	"transfer-encoding": true, "connection": true, "vary": true, "set-cookie": true, "location": true,
	"www-authenticate": true, "retry-after": true, "date": true,
}

func validateHeaderMap(ck *checker, path string, set map[string]string, remove []string) {
	for name, v := range set {
		switch {
		case !token(name):
			ck.add(path+".set", "%q is not a header name", name)
		case managed[strings.ToLower(name)] || strings.HasPrefix(strings.ToLower(name), "access-control-"):
			ck.add(path+".set", "%q is managed by the gateway (hsts, cors, request id) and cannot be set here", name)
		case strings.ContainsAny(v, "\r\n\x00"):
			ck.add(path+".set."+name, "value must be one line")
		}
	}
	for j, name := range remove {
		if !token(name) {
			ck.add(fmt.Sprintf("%s.remove[%d]", path, j), "%q is not a header name", name)
		}
	}
}

func validateCORS(ck *checker, path string, c CORS) {
	if !c.Enabled() {
		if len(c.AllowMethods)+len(c.AllowHeaders)+len(c.ExposeHeaders) > 0 || c.AllowCredentials || c.MaxAge != 0 {
			ck.add(path+".allow_origins", "CORS options are set but allow_origins is empty")
		}
		return
	}
	for j, o := range c.AllowOrigins {
		p := fmt.Sprintf("%s.allow_origins[%d]", path, j)
		if o == "*" {
			if c.AllowCredentials {
				ck.add(p, `"*" cannot be combined with allow_credentials: list the origins`)
			}
			continue
		}
		if msg := originPattern(o); msg != "" {
			ck.add(p, "%q: %s", o, msg)
		}
	}
	for j, m := range c.AllowMethods {
		if !token(m) || strings.ToUpper(m) != m {
			ck.add(fmt.Sprintf("%s.allow_methods[%d]", path, j), "%q is not an upper-case method name", m)
		}
	}
	for j, h := range c.AllowHeaders {
		if !token(h) {
			ck.add(fmt.Sprintf("%s.allow_headers[%d]", path, j), "%q is not a header name", h)
		}
	}
	for j, h := range c.ExposeHeaders {
		if !token(h) {
			ck.add(fmt.Sprintf("%s.expose_headers[%d]", path, j), "%q is not a header name", h)
		}
	}
	if c.MaxAge < 0 || c.MaxAge > 24*time.Hour || c.MaxAge%time.Second != 0 {
		ck.add(path+".max_age", "%s: want whole seconds between 0s and 24h", c.MaxAge)
	}
}

// originPattern checks a configured origin: scheme http or https, a host
// (optionally "*." followed by at least two labels), an optional port, no
// path, query, user info or trailing slash. It returns what is wrong, or "".
func originPattern(o string) string {
	if o != strings.ToLower(o) {
		return "write origins in lower case"
	}
	scheme, rest, ok := strings.Cut(o, "://")
	if !ok || (scheme != "http" && scheme != "https") {
		return "want http:// or https:// followed by a host"
	}
	host, port := rest, ""
	if i := strings.LastIndexByte(rest, ':'); i >= 0 && !strings.HasSuffix(rest, "]") {
		host, port = rest[:i], rest[i+1:]
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return "bad port"
		}
	}
	if strings.HasPrefix(host, "*.") {
		host = host[2:]
		if !strings.Contains(host, ".") {
			return "a wildcard needs at least two labels after *. (https://*.campus.edu)"
		}
	}
	if host == "" || strings.ContainsAny(host, "*/?#@ ") {
		return "want scheme://host[:port] with no path, and * only as the first label"
	}
	if u, err := url.Parse(scheme + "://" + host); err != nil || u.Host != host {
		return "not a valid origin"
	}
	return ""
}

// token reports whether s is an RFC 9110 §5.6.2 token (header names,
// methods).
func token(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}
