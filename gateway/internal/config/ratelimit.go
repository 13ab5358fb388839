package config

import (
	"fmt"
	"math"
	"net/textproto"
	"strconv"
	"strings"
	"time"
)

// RateLimit configures request rate limiting: named token-bucket policies
// that routes reference (Route.RateLimits), and in-flight limits per client
// IP. The ratelimit package documents the semantics.
type RateLimit struct {
	// Policies are the named limits routes refer to.
	Policies []RateLimitPolicy `yaml:"policies"`
	// KeySecret keys the HMAC-SHA-256 that turns an X-API-Key value into
	// the API key id limits are keyed on (the key itself is never kept).
	// Empty: a random secret per process, so ids are stable for the life
	// of the process only; shared policies keyed on api_key then need it
	// set to the same value on every instance.
	KeySecret Secret `yaml:"key_secret"`
	// MaxKeys caps the buckets one local policy keeps in memory (about
	// 115 bytes each). At the cap, idle (full) buckets are evicted first;
	// new clients beyond it share one overflow bucket.
	MaxKeys int `yaml:"max_keys"`
	// SweepInterval is how often idle (full) buckets are evicted.
	SweepInterval time.Duration `yaml:"sweep_interval"`
	// StoreTimeout bounds one Redis round trip of a shared policy
	// (default 50ms, what a loaded Redis on the same host or network
	// meets; at most 1s). A round trip that fails or times out is decided
	// by the local fallback bucket (this instance's share of the budget:
	// rate and burst divided by the live instance count), for fail_open
	// and fail_closed policies alike, and counted in
	// gateway_ratelimit_store_errors_total and the policy's "fallback"
	// decisions. Three failed round trips in a row, or a failed
	// heartbeat, make the store known down: Redis is then skipped (one
	// request probes it every 250ms, and the heartbeat) until it answers
	// again, and meanwhile fail_closed policies refuse with 503.
	StoreTimeout time.Duration `yaml:"store_timeout"`
	// Heartbeat is how often this instance refreshes its presence in Redis
	// (the live instance count scales the local fallback budget) and
	// probes a store that failed. Read at start only.
	Heartbeat time.Duration `yaml:"heartbeat"`
	// InFlight limits concurrent requests.
	InFlight InFlight `yaml:"inflight"`
	// KeyPrefix starts every Redis key of the shared limiter; instances
	// sharing budgets must use the same prefix. Read at start only.
	KeyPrefix string `yaml:"key_prefix"`
}

// InFlight limits concurrent (in-flight) requests.
type InFlight struct {
	// PerIP caps concurrent requests from one client IP (IPv6 per /64);
	// over it the gateway answers 429. 0: no cap.
	PerIP int `yaml:"per_ip"`
	// Total caps concurrent requests through the gateway; over it the
	// gateway answers 503. 0: no cap.
	Total int `yaml:"total"`
}

// RateLimitPolicy is one named token-bucket limit.
type RateLimitPolicy struct {
	// Name identifies the policy in routes, metrics, logs and the
	// RateLimit-Policy header: letters, digits, '-', '_' and '.'.
	Name string `yaml:"name"`
	// Rate is the refill rate: "N/s" (per second) or "N/m" (per minute),
	// N a positive number.
	Rate string `yaml:"rate"`
	// Burst is the bucket size: requests allowed at once after idleness
	// (default: the rate per second rounded up, at least 1).
	Burst int `yaml:"burst"`
	// Key says what one bucket counts: ip (client IP, IPv6 per /64), user
	// (verified token subject), api_key (X-API-Key id), header:NAME,
	// username (the JSON body field UsernameField), login (ip+username),
	// or components joined with '+', e.g. "ip+header:X-Tenant".
	Key string `yaml:"key"`
	// UsernameField names the top-level JSON body field the username key
	// component reads (default "username").
	UsernameField string `yaml:"username_field"`
	// Scope is local (buckets in this process) or shared (one budget in
	// Redis across every gateway instance; local when Redis is not
	// configured).
	Scope string `yaml:"scope"`
	// Fallback decides shared policies without Redis. A single failed or
	// timed-out round trip is always decided by a local bucket holding
	// this instance's share of the budget (the budget divided by the live
	// instance count), so the limit holds and nothing stalls. While the
	// store is known down (see StoreTimeout), fail_open keeps deciding
	// with that bucket and fail_closed refuses with 503 (login and
	// writes), until Redis answers again.
	Fallback string `yaml:"fallback"`
	// DryRun evaluates the policy, logs and counts would-be rejections,
	// and rejects nothing.
	DryRun bool `yaml:"dry_run"`
}

// Secret is a configuration string that must not be shown: it marshals to
// JSON (the /admin/config view) as "[redacted]", or "" when empty.
type Secret string

// MarshalJSON implements json.Marshaler, hiding the value.
func (s Secret) MarshalJSON() ([]byte, error) {
	if s == "" {
		return []byte(`""`), nil
	}
	return []byte(`"[redacted]"`), nil
}

// Key components accepted in RateLimitPolicy.Key.
const (
	KeyIP       = "ip"
	KeyUser     = "user"
	KeyAPIKey   = "api_key"
	KeyUsername = "username"
	KeyLogin    = "login"
	KeyHeader   = "header:"
)

func (c *Config) fillRateLimitDefaults() {
	rl := &c.RateLimit
	if rl.MaxKeys == 0 {
		rl.MaxKeys = 500_000
	}
	if rl.SweepInterval == 0 {
		rl.SweepInterval = 10 * time.Second
	}
	if rl.StoreTimeout == 0 {
		rl.StoreTimeout = 50 * time.Millisecond
	}
	if rl.Heartbeat == 0 {
		rl.Heartbeat = time.Second
	}
	if rl.KeyPrefix == "" {
		rl.KeyPrefix = "campshub360:rl:"
	}
	for i := range rl.Policies {
		p := &rl.Policies[i]
		if p.Scope == "" {
			p.Scope = "local"
		}
		if p.Fallback == "" {
			p.Fallback = "fail_open"
		}
		if p.UsernameField == "" {
			p.UsernameField = "username"
		}
		if p.Burst == 0 {
			if perSec, _, err := ParseRate(p.Rate); err == nil {
				p.Burst = max(1, int(math.Ceil(perSec)))
			}
		}
	}
}

func (c *Config) validateRateLimit(ck *checker) {
	rl := c.RateLimit
	if rl.MaxKeys < 1024 {
		ck.add("ratelimit.max_keys", "%d: want at least 1024", rl.MaxKeys)
	}
	if rl.SweepInterval < 100*time.Millisecond {
		ck.add("ratelimit.sweep_interval", "%s: want at least 100ms", rl.SweepInterval)
	}
	if rl.StoreTimeout <= 0 || rl.StoreTimeout > time.Second {
		ck.add("ratelimit.store_timeout", "%s: want more than 0 and at most 1s", rl.StoreTimeout)
	}
	if rl.Heartbeat < 100*time.Millisecond || rl.Heartbeat > time.Minute {
		ck.add("ratelimit.heartbeat", "%s: want 100ms..1m", rl.Heartbeat)
	}
	if len(rl.KeyPrefix) > 64 || strings.ContainsAny(rl.KeyPrefix, " \r\n") {
		ck.add("ratelimit.key_prefix", "%q: want at most 64 characters without spaces", rl.KeyPrefix)
	}
	if rl.InFlight.PerIP < 0 {
		ck.add("ratelimit.inflight.per_ip", "must not be negative")
	}
	if rl.InFlight.Total < 0 {
		ck.add("ratelimit.inflight.total", "must not be negative")
	}
	if rl.KeySecret != "" && len(rl.KeySecret) < 16 {
		ck.add("ratelimit.key_secret", "must be at least 16 bytes")
	}
	names := map[string]bool{}
	for i, p := range rl.Policies {
		path := fmt.Sprintf("ratelimit.policies[%d]", i)
		switch {
		case !validPolicyName(p.Name):
			ck.add(path+".name", "%q: want 1-64 letters, digits, '-', '_' or '.'", p.Name)
		case names[p.Name]:
			ck.add(path+".name", "duplicate policy %q", p.Name)
		}
		names[p.Name] = true
		perSec, _, err := ParseRate(p.Rate)
		if err != nil {
			ck.add(path+".rate", "%v", err)
		}
		switch {
		case p.Burst == 0 && err != nil:
			// The default burst derives from the rate, reported above.
		case p.Burst < 1 || p.Burst > 1_000_000:
			ck.add(path+".burst", "%d: want 1..1000000", p.Burst)
		case err == nil && float64(p.Burst)/perSec > 86400:
			ck.add(path+".burst", "%d: refilling it takes more than a day at %s", p.Burst, p.Rate)
		}
		comps, err := ParseKey(p.Key)
		if err != nil {
			ck.add(path+".key", "%v", err)
		}
		switch p.Scope {
		case "local", "shared":
		default:
			ck.add(path+".scope", "%q: want local or shared", p.Scope)
		}
		switch p.Fallback {
		case "fail_open", "fail_closed":
		default:
			ck.add(path+".fallback", "%q: want fail_open or fail_closed", p.Fallback)
		}
		if p.UsernameField == "" || len(p.UsernameField) > 64 || strings.ContainsAny(p.UsernameField, "\"\\") {
			ck.add(path+".username_field", "%q: want a plain JSON field name", p.UsernameField)
		}
		if p.Scope == "shared" && rl.KeySecret == "" && c.Redis.URL != "" {
			for _, k := range comps {
				if k == KeyAPIKey {
					ck.add("ratelimit.key_secret", "policy %q is shared and keyed on api_key: set the same key_secret on every instance", p.Name)
				}
			}
		}
	}
	for i, r := range c.Routes {
		seen := map[string]bool{}
		for j, name := range r.RateLimits {
			path := fmt.Sprintf("routes[%d].rate_limits[%d]", i, j)
			switch {
			case !names[name]:
				ck.add(path, "unknown rate limit policy %q", name)
			case seen[name]:
				ck.add(path, "policy %q listed twice", name)
			}
			seen[name] = true
		}
	}
}

func validPolicyName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, c := range []byte(s) {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_', c == '.':
		default:
			return false
		}
	}
	return true
}

// ParseRate parses a policy rate "N/s" or "N/m" (also "N/sec", "N/min")
// into events per second and the period it was written over (1s or 1m).
// N must be a positive decimal; the rate must be between one per day and
// one million per second.
func ParseRate(s string) (perSecond float64, period time.Duration, err error) {
	num, unit, ok := strings.Cut(strings.TrimSpace(s), "/")
	if !ok {
		return 0, 0, fmt.Errorf("%q: want N/s or N/m, e.g. 20/s or 300/m", s)
	}
	n, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
	if err != nil || math.IsNaN(n) || math.IsInf(n, 0) || n <= 0 {
		return 0, 0, fmt.Errorf("%q: the count must be a positive number", s)
	}
	switch strings.TrimSpace(unit) {
	case "s", "sec", "second":
		period = time.Second
	case "m", "min", "minute":
		period = time.Minute
	default:
		return 0, 0, fmt.Errorf("%q: the unit must be s or m", s)
	}
	perSecond = n / period.Seconds()
	if perSecond < 1.0/86400 || perSecond > 1e6 {
		return 0, 0, fmt.Errorf("%q: want between one per day and 1000000/s", s)
	}
	return perSecond, period, nil
}

// ParseKey splits a policy key into its components (see
// RateLimitPolicy.Key), expanding login to ip and username. Header
// components keep their canonical header name: "header:X-Tenant".
func ParseKey(s string) ([]string, error) {
	if strings.TrimSpace(s) == "" {
		return nil, fmt.Errorf("must be set: ip, user, api_key, header:NAME, username, login, or a '+' combination")
	}
	var out []string
	seen := map[string]bool{}
	for _, part := range strings.Split(s, "+") {
		part = strings.TrimSpace(part)
		var add []string
		switch {
		case part == KeyIP, part == KeyUser, part == KeyAPIKey, part == KeyUsername:
			add = []string{part}
		case part == KeyLogin:
			add = []string{KeyIP, KeyUsername}
		case strings.HasPrefix(part, KeyHeader):
			name := strings.TrimSpace(strings.TrimPrefix(part, KeyHeader))
			if !validHeaderName(name) {
				return nil, fmt.Errorf("%q: not a header name", part)
			}
			add = []string{KeyHeader + textproto.CanonicalMIMEHeaderKey(name)}
		default:
			return nil, fmt.Errorf("%q: want ip, user, api_key, header:NAME, username or login", part)
		}
		for _, a := range add {
			if seen[a] {
				return nil, fmt.Errorf("%q: component %s repeated", s, a)
			}
			seen[a] = true
			out = append(out, a)
		}
	}
	if len(out) > 4 {
		return nil, fmt.Errorf("%q: at most 4 components", s)
	}
	return out, nil
}

// validHeaderName accepts RFC 9110 token characters, at most 64 of them.
func validHeaderName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, c := range []byte(s) {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}
