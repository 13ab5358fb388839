package config

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/campshub360/edge/shared/problem"
)

// Problem is one configuration problem: a validation failure of a field
// (Path "routes[2].upstream"), a malformed environment override (Path
// "GATEWAY__SERVER__READ_TIMEOUT"), or a fault of the YAML document itself
// (no Path; Line and Column locate it, 1-based, when the parser knows
// where). Msg says what is wrong; it never quotes the document's source
// lines, so a secret on a neighbouring line cannot leak through it.
type Problem struct {
	Path         string
	Line, Column int
	Msg          string
}

// Where names the problem's place: the field path, else "line L, column
// C", else "configuration".
func (p Problem) Where() string {
	switch {
	case p.Path != "":
		return p.Path
	case p.Line > 0:
		return fmt.Sprintf("line %d, column %d", p.Line, p.Column)
	default:
		return "configuration"
	}
}

// Problems is every problem of one document, in document order. It
// implements error; Error returns one "where: message" line per problem.
type Problems []Problem

func (ps Problems) Error() string {
	var b strings.Builder
	for i, p := range ps {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(p.Where())
		b.WriteString(": ")
		b.WriteString(p.Msg)
	}
	return b.String()
}

// FieldErrors renders the problems as problem-details "errors" entries
// (field: Where, message: Msg), for the admin reload response.
func (ps Problems) FieldErrors() []problem.FieldError {
	out := make([]problem.FieldError, len(ps))
	for i, p := range ps {
		out[i] = problem.FieldError{Field: p.Where(), Message: p.Msg}
	}
	return out
}

type checker struct{ ps Problems }

func pathf(format string, args ...any) string { return fmt.Sprintf(format, args...) }

func (c *checker) add(path, format string, args ...any) {
	c.ps = append(c.ps, Problem{Path: path, Msg: fmt.Sprintf(format, args...)})
}

// Validate checks the whole tree and returns Problems (every problem found,
// not just the first) or nil.
func (c *Config) Validate() error {
	var ck checker
	if c.RuntimeDir == "" {
		ck.add("runtime_dir", "must not be empty")
	}
	switch strings.ToLower(c.Log.Level) {
	case "debug", "info", "warn", "error":
	default:
		ck.add("log.level", "%q: want debug, info, warn or error", c.Log.Level)
	}
	switch c.Log.Format {
	case "json", "text":
	default:
		ck.add("log.format", "%q: want json or text", c.Log.Format)
	}
	if s := c.Log.Access.Sample2xx; s < 0 || s > 1 {
		ck.add("log.access.sample_2xx", "%v: want a fraction between 0 and 1", s)
	}
	if c.Log.Access.FlushInterval <= 0 || c.Log.Access.FlushInterval > time.Minute {
		ck.add("log.access.flush_interval", "%v: want a positive duration up to 1m", c.Log.Access.FlushInterval)
	}

	if c.Listen.HTTPS == "" {
		ck.add("listen.https", "must be set")
	}
	seen := map[string]string{}
	for _, l := range []struct{ path, addr string }{
		{"listen.https", c.Listen.HTTPS}, {"listen.http", c.Listen.HTTP}, {"listen.admin", c.Listen.Admin},
	} {
		if l.addr == "" {
			continue
		}
		if !validHostPort(l.addr) {
			ck.add(l.path, "%q is not host:port", l.addr)
			continue
		}
		if _, port, _ := net.SplitHostPort(l.addr); port == "0" {
			continue // an ephemeral port never collides
		}
		if other, dup := seen[l.addr]; dup {
			ck.add(l.path, "%q is also %s", l.addr, other)
		}
		seen[l.addr] = l.path
	}
	if a := c.Listen.Admin; a != "" && validHostPort(a) && !privateListen(a) {
		ck.add("listen.admin", "%q must be a loopback or private address, never a public or wildcard one", a)
	}

	c.validateTLS(&ck)

	s := c.Server
	for _, d := range []struct {
		path string
		ok   bool
	}{
		{"server.read_timeout", s.ReadTimeout > 0},
		{"server.body_timeout", s.BodyTimeout > 0},
		{"server.write_timeout", s.WriteTimeout > 0},
		{"server.idle_timeout", s.IdleTimeout > 0},
		{"server.max_header_bytes", s.MaxHeaderBytes >= 1024 && s.MaxHeaderBytes <= 1<<20},
		{"server.max_uri_bytes", s.MaxURIBytes >= 256 && s.MaxURIBytes <= 1<<20},
		{"server.max_body_bytes", s.MaxBodyBytes > 0},
		{"server.max_conns_per_ip", s.MaxConnsPerIP >= 0},
		{"server.concurrency", s.Concurrency > 0},
		{"server.drain_delay", s.DrainDelay >= 0},
		{"server.shutdown_timeout", s.ShutdownTimeout > 0},
	} {
		if !d.ok {
			ck.add(d.path, "out of range")
		}
	}

	for i, cidr := range c.TrustedProxies {
		if _, err := netip.ParsePrefix(cidr); err != nil {
			if _, err2 := netip.ParseAddr(cidr); err2 != nil {
				ck.add(fmt.Sprintf("trusted_proxies[%d]", i), "%q is not a CIDR or IP address", cidr)
			}
		}
	}

	pools := map[string]bool{}
	for i, u := range c.Upstreams {
		p := fmt.Sprintf("upstreams[%d]", i)
		switch {
		case u.Name == "":
			ck.add(p+".name", "must be set")
		case pools[u.Name]:
			ck.add(p+".name", "duplicate upstream %q", u.Name)
		}
		pools[u.Name] = true
		if len(u.Instances) == 0 {
			ck.add(p+".instances", "at least one instance is required")
		}
		addrs := map[string]bool{}
		for j, in := range u.Instances {
			ip := fmt.Sprintf("%s.instances[%d]", p, j)
			if !validHostPort(in.Addr) {
				ck.add(ip+".addr", "%q is not host:port", in.Addr)
			} else if addrs[in.Addr] {
				ck.add(ip+".addr", "duplicate instance %q", in.Addr)
			}
			addrs[in.Addr] = true
			if in.Weight < 1 || in.Weight > 1000 {
				ck.add(ip+".weight", "%d: want 1..1000", in.Weight)
			}
		}
		if u.DialTimeout <= 0 {
			ck.add(p+".dial_timeout", "must be positive")
		}
		if u.MaxConnsPerInstance < 1 {
			ck.add(p+".max_conns_per_instance", "must be at least 1")
		}
	}

	type routeKey struct{ host, prefix string }
	routes := map[routeKey]int{}
	for i, r := range c.Routes {
		p := fmt.Sprintf("routes[%d]", i)
		if !strings.HasPrefix(r.PathPrefix, "/") {
			ck.add(p+".path_prefix", "%q must start with /", r.PathPrefix)
		} else if strings.ContainsAny(r.PathPrefix, "?#\x00\r\n ") {
			ck.add(p+".path_prefix", "%q must be a plain path", r.PathPrefix)
		}
		if r.Host != "" && (strings.ContainsAny(r.Host, ":/ ") || strings.Contains(r.Host, "..")) {
			ck.add(p+".host", "%q must be a bare host name without port", r.Host)
		}
		k := routeKey{r.Host, r.PathPrefix}
		if prev, dup := routes[k]; dup {
			ck.add(p, "same host and path_prefix as routes[%d]", prev)
		} else {
			routes[k] = i
		}
		switch {
		case r.Upstream == "":
			ck.add(p+".upstream", "must be set")
		case !pools[r.Upstream]:
			ck.add(p+".upstream", "unknown upstream %q", r.Upstream)
		}
		if r.Timeout <= 0 {
			ck.add(p+".timeout", "must be positive")
		}
		if r.MaxBodyBytes < 0 {
			ck.add(p+".max_body_bytes", "must not be negative")
		}
		if r.BodyTimeout < 0 {
			ck.add(p+".body_timeout", "must not be negative")
		}
		if r.WriteTimeout < 0 {
			ck.add(p+".write_timeout", "must not be negative")
		}
		if r.WebSocketIdleTimeout < 0 {
			ck.add(p+".websocket_idle_timeout", "must not be negative")
		}
		if r.WebSocket && (r.StreamRequestBody || r.StreamResponseBody) {
			ck.add(p+".websocket", "a websocket route tunnels; stream_request_body and stream_response_body do not apply")
		}
	}
	c.validateRedis(&ck)
	c.validateHeaders(&ck)
	c.validateAuth(&ck)
	c.validateBalancing(&ck)
	c.validateRateLimit(&ck)
	c.validateCache(&ck)
	c.validateCompression(&ck)
	if len(ck.ps) == 0 {
		return nil
	}
	return ck.ps
}

func validHostPort(a string) bool {
	_, port, err := net.SplitHostPort(a)
	if err != nil {
		return false
	}
	n, err := strconv.Atoi(port)
	return err == nil && n >= 0 && n <= 65535
}

// privateListen reports whether a listen address binds only a loopback or
// private interface ("localhost" counts; an empty host, meaning every
// interface, does not).
func privateListen(a string) bool {
	host, _, _ := net.SplitHostPort(a)
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && (ip.IsLoopback() || ip.IsPrivate())
}
