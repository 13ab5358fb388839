package scenario

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/goccy/go-yaml/ast"

	"github.com/campshub360/edge/benchmarks/internal/pacer"
	"github.com/campshub360/edge/benchmarks/internal/runner"
)

// Defaults applied when a scenario leaves a field out.
const (
	DefaultLogin            = "/api/v1/auth/login"
	DefaultUsernameField    = "username"
	DefaultPasswordField    = "password"
	DefaultTokenField       = "access_token"
	DefaultAuthHeader       = "Authorization"
	DefaultAuthScheme       = "Bearer"
	DefaultLoginConcurrency = 4
	// MaxConnections caps connections, a guard against typos.
	MaxConnections = 10_000
)

// Pick says how a parameter's value is drawn for each request.
type Pick int

// The picks.
const (
	// PickRandom draws uniformly at random.
	PickRandom Pick = iota
	// PickSequence takes the values in order, round robin over all workers.
	PickSequence
)

// Scenario is a validated scenario, ready for Prepare. Parse returns it;
// Apply changes it before a run. It is not safe for concurrent mutation;
// once prepared it is only read.
//
// A scenario with groups is a parent whose Groups each carry their own load
// (mode, schedule, connections, sources, request mix) and share the
// parent's target, bounds, headers, auth, parameters, setup and teardown.
// A scenario without groups is its own single group (see Mixes).
type Scenario struct {
	// Name and Description as in the file; a group's Name is
	// "SCENARIO/GROUP".
	Name, Description string
	// Group is the group's own name; "" for a top-level scenario.
	Group string
	// Dir is the directory relative file names are resolved against ("" =
	// the working directory); Load sets it.
	Dir string
	// Target is the base URL; may be empty until Apply sets one.
	Target string
	// Insecure skips TLS certificate verification.
	Insecure bool
	// Mode is runner.Open or runner.Closed.
	Mode runner.Mode
	// Schedule is the open-loop schedule; nil in closed loop.
	Schedule *pacer.Schedule
	// Connections is the connection pool size.
	Connections int
	// Sources are the local addresses connections bind, in turn; empty
	// for the system's choice.
	Sources []netip.Addr
	// MaxDuration is the run's hard bound in time.
	MaxDuration time.Duration
	// MaxRequests is the run's hard bound in requests.
	MaxRequests int64
	// Timeout bounds each request.
	Timeout time.Duration
	// ThinkMin and ThinkMax bound the closed-loop think time.
	ThinkMin, ThinkMax time.Duration
	// Seed, when set, fixes the random choices.
	Seed *uint64
	// Location is the time zone of {today}.
	Location *time.Location
	// Headers are sent with every request (a group's include the
	// scenario's).
	Headers []Header
	// Auth, when set, logs users in before the run.
	Auth *Auth
	// Params are the parameter sources, sorted by name.
	Params []*Param
	// Requests is the weighted mix; empty for a parent of groups.
	Requests []*Request
	// Setup and Teardown are the steps run before and after every run.
	Setup, Teardown []*Request
	// Groups are the concurrent traffic classes; nil without groups.
	Groups []*Scenario

	// constRate is the rate of a schedule built from `rate`, which Apply
	// rebuilds for a new duration; 0 otherwise.
	constRate float64
}

// Transport returns a scenario with s's load (targets, bounds, mode,
// schedule, connections, sources, groups) whose every mix sends one GET of
// path, without users, parameters, headers or steps (on connections of
// their own when every request of the mix asked for that): what the
// transport alone, TCP, TLS and HTTP/1.1, costs under this load. Run
// against a constant-response server it is the ceiling of the machine.
func (s *Scenario) Transport(path string) *Scenario {
	reduce := func(m *Scenario) *Scenario {
		c := *m
		c.Auth, c.Params, c.Setup, c.Teardown, c.Headers, c.Groups = nil, nil, nil, nil, nil, nil
		closes := len(m.Requests) > 0
		for _, r := range m.Requests {
			closes = closes && r.NewConnection
		}
		c.Requests = []*Request{{Name: "GET " + path, Weight: 1, Method: "GET", Path: parseTemplate(path), Pool: -1,
			NewConnection: closes, Expect: []int{200}}}
		return &c
	}
	t := reduce(s)
	for _, g := range s.Groups {
		t.Groups = append(t.Groups, reduce(g))
	}
	if len(s.Groups) > 0 {
		t.Requests = nil
	}
	return t
}

// Mixes returns the scenario's groups, or the scenario itself when it has
// none: the request mixes a run sends concurrently, one client each.
func (s *Scenario) Mixes() []*Scenario {
	if len(s.Groups) > 0 {
		return s.Groups
	}
	return []*Scenario{s}
}

// Header is a request header whose value is a template.
type Header struct {
	// Name is the header name, as written.
	Name string
	// Value is expanded per request.
	Value *Template
}

// Auth is a validated AuthSpec with defaults applied; see AuthSpec for the
// meaning of each field.
type Auth struct {
	// Login is the login path and Method its method.
	Login, Method string
	// UsernameField and PasswordField name the JSON body fields.
	UsernameField, PasswordField string
	// Token selects the token in the login response.
	Token *Pluck
	// Header carries "Scheme token" (or the bare token when Scheme is "").
	Header, Scheme string
	// Pools are the user pools, sorted by name; a file without pools has
	// one pool named "".
	Pools []*Pool
	// Captures store values of each login response in user fields.
	Captures []Capture
	// Concurrency is the number of logins (and setup steps) in flight.
	Concurrency int

	line int
}

// Pool is one validated pool of users.
type Pool struct {
	// Name is the pool's name; "" for the single pool of a file without
	// pools.
	Name string
	// Users, UsersFile and Generate are the user sources, all used.
	Users     []map[string]string
	UsersFile string
	Generate  *GenerateSpec
	// Password is given to users without one.
	Password string
	// MaxUsers caps the pool; 0 for all.
	MaxUsers int
	// UserFields are the {user.FIELD} names the requests and steps of this
	// pool read; every user must have them (captured fields excepted).
	UserFields []string
	// Exclusive is set when a request of the mix captures into user
	// fields: its users are held one request at a time.
	Exclusive bool

	line int
}

// Capture stores one value plucked from a response: in the user field
// User when it is not empty, else in the captured parameter Param (an
// index into Scenario.Params).
type Capture struct {
	// User is the user field set; "" for a parameter.
	User string
	// Param is the captured parameter's index when User is "".
	Param int
	// Pluck selects the value in the JSON body.
	Pluck *Pluck
}

// Param is a validated parameter source: exactly one of Values, File, URL
// and Captured is set.
type Param struct {
	// Name is the placeholder name.
	Name string
	// Values are the inline values.
	Values []string
	// File holds one value per line, relative to Scenario.Dir.
	File string
	// URL is fetched once with GET; Pluck selects the values.
	URL   *Template
	Pluck *Pluck
	// Auth sends the first user's token with the URL fetch.
	Auth bool
	// Pick draws the value of each request.
	Pick Pick
	// Captured marks a variable set by captures during the run.
	Captured bool
	// Key, for a captured parameter, is the template of user fields that
	// selects one of its values; nil for a single value.
	Key *Template

	line int
}

// Request is a validated entry of the request mix, or a setup or teardown
// step.
type Request struct {
	// Name labels the entry in reports; unique within its list.
	Name string
	// Weight is the relative frequency, > 0.
	Weight float64
	// Method is upper case.
	Method string
	// Path (with query) is appended to the target's base URL.
	Path *Template
	// Headers of this entry, set after the scenario's.
	Headers []Header
	// Body is nil for none.
	Body *Template
	// Auth sends the user's token.
	Auth bool
	// Pool is the index of the pool the request's user comes from in
	// Auth.Pools; -1 for a request without a user.
	Pool int
	// Sequence draws users in turn instead of at random.
	Sequence bool
	// Captures store values of a successful response.
	Captures []Capture
	// Expect lists the statuses counted as success; empty means < 400.
	Expect []int
	// NewConnection closes the connection after the response.
	NewConnection bool

	// exclusive: the request captures into its user's fields.
	exclusive bool
	// keyed lists the captured parameters with a key the request reads.
	keyed []int
}

// validator collects problems while compiling a File.
type validator struct {
	root     ast.Node
	problems []Problem

	params   map[string]int // parameter name -> index
	hasAuth  bool
	scenario *Scenario // being compiled: its Params and Auth are set before requests
}

func (v *validator) add(p fieldPath, format string, args ...any) {
	line, col := locate(v.root, p)
	v.problems = append(v.problems, Problem{Path: p.String(), Line: line, Column: col, Message: fmt.Sprintf(format, args...)})
}

// duration parses an optional duration (def when empty) that must be > 0.
func (v *validator) duration(p fieldPath, s string, def time.Duration) time.Duration {
	if s == "" {
		return def
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		v.add(p, "%q is not a duration (like 500ms, 10s, 2m)", s)
		return def
	}
	if d <= 0 {
		v.add(p, "must be > 0, got %s", s)
		return def
	}
	return d
}

// rate checks an optional rate: finite and >= 0 (> 0 when positive).
func (v *validator) rate(p fieldPath, r *float64, positive bool) float64 {
	if r == nil {
		v.add(p, "required")
		return 0
	}
	switch {
	case math.IsNaN(*r) || math.IsInf(*r, 0) || *r < 0:
		v.add(p, "must be a finite number >= 0, got %v", *r)
		return 0
	case positive && *r == 0:
		v.add(p, "must be > 0")
		return 0
	}
	return *r
}

func (v *validator) compile(f *File) *Scenario {
	root := fieldPath{}
	sc := &Scenario{Name: f.Name, Description: f.Description, Insecure: f.Insecure, Seed: f.Seed}
	if f.Target != "" {
		if err := checkTarget(f.Target); err != nil {
			v.add(root.with("target"), "%v", err)
		}
		sc.Target = f.Target
	}
	sc.Timeout = v.duration(root.with("timeout"), f.Timeout, runner.DefaultTimeout)
	sc.MaxRequests = runner.DefaultMaxRequests
	if f.MaxRequests != nil {
		sc.MaxRequests = *f.MaxRequests
		if *f.MaxRequests <= 0 {
			v.add(root.with("max_requests"), "must be > 0, got %d", *f.MaxRequests)
		}
	}
	sc.Location = time.UTC
	if f.Timezone != "" {
		loc, err := time.LoadLocation(f.Timezone)
		if err != nil {
			v.add(root.with("timezone"), "unknown time zone %q", f.Timezone)
		} else {
			sc.Location = loc
		}
	}

	// Parameters first: templates bind to their indices.
	names := make([]string, 0, len(f.Params))
	for n := range f.Params {
		names = append(names, n)
	}
	slices.Sort(names)
	v.params = make(map[string]int, len(names))
	for i, n := range names {
		v.params[n] = i
	}
	v.hasAuth = f.Auth != nil
	for _, n := range names {
		sc.Params = append(sc.Params, v.compileParam(root.with("params", n), n, f.Params[n]))
	}
	v.scenario = sc
	if v.hasAuth {
		sc.Auth = v.compileAuth(root.with("auth"), f.Auth)
	}
	// Scenario-wide headers go on requests without a user too: no {user.*}.
	sc.Headers = v.headers(root.with("headers"), f.Headers, false)
	sc.Setup = v.compileSteps(root.with("setup"), f.Setup)
	sc.Teardown = v.compileSteps(root.with("teardown"), f.Teardown)

	dur := v.duration(root.with("duration"), f.Duration, 0)
	if len(f.Groups) == 0 {
		v.compileLoad(root, load{f.Mode, f.Rate, f.Steps, f.Ramp, f.ThinkTime}, dur, sc)
		sc.Connections = v.connections(root.with("connections"), f.Connections)
		sc.Sources = v.sources(root.with("sources"), f.Sources)
		sc.Requests = v.compileRequests(root.with("requests"), f.Requests)
	} else {
		v.compileGroups(f, dur, sc)
	}
	v.finishAuth(sc)
	return sc
}

// load is the load shape of a scenario or group.
type load struct {
	mode  string
	rate  *float64
	steps []StepSpec
	ramp  *RampSpec
	think string
}

func (v *validator) connections(p fieldPath, n *int) int {
	if n == nil {
		return runner.DefaultConnections
	}
	if *n <= 0 || *n > MaxConnections {
		v.add(p, "must be in 1..%d, got %d", MaxConnections, *n)
	}
	return *n
}

// maxSources bounds the addresses of one sources list.
const maxSources = 1 << 16

// sources parses a list of IPs and ranges "A-B" (same family, A <= B).
func (v *validator) sources(p fieldPath, list []string) []netip.Addr {
	var out []netip.Addr
	for i, s := range list {
		at := p.with(i)
		lo, hi, isRange := strings.Cut(strings.TrimSpace(s), "-")
		a, err := netip.ParseAddr(strings.TrimSpace(lo))
		if err != nil {
			v.add(at, "%q is not an IP address or a range like 127.0.1.1-127.0.1.200", s)
			continue
		}
		b := a
		if isRange {
			if b, err = netip.ParseAddr(strings.TrimSpace(hi)); err != nil || b.Is4() != a.Is4() || b.Less(a) {
				v.add(at, "%q is not a range of one family from low to high", s)
				continue
			}
		}
		for x := a; ; x = x.Next() {
			if len(out) == maxSources {
				v.add(at, "more than %d addresses", maxSources)
				return out
			}
			out = append(out, x)
			if x == b {
				break
			}
		}
	}
	return out
}

// compileGroups compiles f's groups, which share sc's settings.
func (v *validator) compileGroups(f *File, dur time.Duration, sc *Scenario) {
	root := fieldPath{}
	for _, k := range []struct {
		name string
		set  bool
	}{{"mode", f.Mode != ""}, {"rate", f.Rate != nil}, {"steps", len(f.Steps) > 0}, {"ramp", f.Ramp != nil},
		{"think_time", f.ThinkTime != ""}, {"connections", f.Connections != nil}, {"sources", len(f.Sources) > 0},
		{"requests", len(f.Requests) > 0}} {
		if k.set {
			v.add(root.with(k.name), "with groups, each group sets its own %s", k.name)
		}
	}
	seen := map[string]int{}
	for i, gs := range f.Groups {
		p := root.with("groups", i)
		g := &Scenario{
			Name: sc.Name + "/" + gs.Name, Description: sc.Description, Group: gs.Name, Target: sc.Target,
			Insecure: sc.Insecure, MaxRequests: sc.MaxRequests, Timeout: sc.Timeout, Seed: sc.Seed,
			Location: sc.Location, Auth: sc.Auth, Params: sc.Params,
		}
		if gs.Name == "" || !validParamName(gs.Name) {
			v.add(p.with("name"), "required: letters, digits, _ and -, starting with a letter or _")
		} else if j, dup := seen[gs.Name]; dup {
			v.add(p.with("name"), "duplicate group name %q (also groups[%d])", gs.Name, j)
		}
		seen[gs.Name] = i
		v.compileLoad(p, load{gs.Mode, gs.Rate, gs.Steps, gs.Ramp, gs.ThinkTime}, dur, g)
		g.Connections = v.connections(p.with("connections"), gs.Connections)
		g.Sources = v.sources(p.with("sources"), gs.Sources)
		if gs.MaxRequests != nil {
			g.MaxRequests = *gs.MaxRequests
			if *gs.MaxRequests <= 0 {
				v.add(p.with("max_requests"), "must be > 0, got %d", *gs.MaxRequests)
			}
		}
		own := v.headers(p.with("headers"), gs.Headers, false)
		g.Headers = slices.Clone(sc.Headers)
		for _, h := range own {
			g.Headers = slices.DeleteFunc(g.Headers, func(x Header) bool { return strings.EqualFold(x.Name, h.Name) })
			g.Headers = append(g.Headers, h)
		}
		g.Requests = v.compileRequests(p.with("requests"), gs.Requests)
		sc.Groups = append(sc.Groups, g)
	}
	// The parent's bound is the longest group's.
	for _, g := range sc.Groups {
		sc.MaxDuration = max(sc.MaxDuration, g.MaxDuration)
	}
}

func (v *validator) compileRequests(p fieldPath, specs []RequestSpec) []*Request {
	if len(specs) == 0 {
		v.add(p, "at least one request is required")
	}
	seen := map[string]int{}
	var out []*Request
	for i, rs := range specs {
		rp := p.with(i)
		r := v.compileRequest(rp, rs, false)
		if j, dup := seen[r.Name]; dup {
			v.add(rp.with("name"), "duplicate request name %q (also [%d]); name the entries", r.Name, j)
		}
		seen[r.Name] = i
		out = append(out, r)
	}
	return out
}

func (v *validator) compileSteps(p fieldPath, specs []RequestSpec) []*Request {
	out := make([]*Request, 0, len(specs))
	for i, rs := range specs {
		out = append(out, v.compileRequest(p.with(i), rs, true))
	}
	return out
}

// finishAuth collects per pool the user fields its requests and steps
// read (captured ones excepted) and whether a request holds users
// exclusively.
func (v *validator) finishAuth(sc *Scenario) {
	if sc.Auth == nil {
		return
	}
	captured := map[string]bool{}
	for _, c := range sc.Auth.Captures {
		captured[c.User] = true
	}
	var all []*Request
	all = append(all, sc.Setup...)
	all = append(all, sc.Teardown...)
	for _, m := range sc.Mixes() {
		all = append(all, m.Requests...)
	}
	for _, r := range all {
		for _, c := range r.Captures {
			if c.User != "" {
				captured[c.User] = true
			}
		}
	}
	fields := make([][]string, len(sc.Auth.Pools))
	for _, r := range all {
		if r.Pool < 0 {
			continue
		}
		pool := sc.Auth.Pools[r.Pool]
		var used []string
		for _, h := range r.Headers {
			used = append(used, h.Value.userFields()...)
		}
		used = append(used, r.Path.userFields()...)
		if r.Body != nil {
			used = append(used, r.Body.userFields()...)
		}
		for _, i := range r.keyed {
			used = append(used, sc.Params[i].Key.userFields()...)
		}
		for _, f := range used {
			if !captured[f] {
				fields[r.Pool] = append(fields[r.Pool], f)
			}
		}
		if r.exclusive && !slices.Contains(sc.Setup, r) && !slices.Contains(sc.Teardown, r) {
			pool.Exclusive = true
		}
	}
	for i, pool := range sc.Auth.Pools {
		slices.Sort(fields[i])
		pool.UserFields = slices.Compact(fields[i])
	}
}

// checkTarget checks the shape of a base URL; the runner's client checks
// the rest (loopback) when the run starts.
func checkTarget(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("not a URL: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("scheme must be http or https, got %q", s)
	}
	if u.Hostname() == "" {
		return fmt.Errorf("no host in %q", s)
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("only scheme, host, port and path are allowed, got %q", s)
	}
	return nil
}

// compileLoad sets sc's mode, schedule, duration and think time from the
// load shape at root and the scenario's duration (0 when unset).
func (v *validator) compileLoad(root fieldPath, f load, dur time.Duration, sc *Scenario) {
	before := len(v.problems)
	bound := func(def time.Duration) time.Duration {
		if dur > 0 {
			return dur
		}
		return def
	}
	var shapes []string
	if f.rate != nil {
		shapes = append(shapes, "rate")
	}
	if len(f.steps) > 0 {
		shapes = append(shapes, "steps")
	}
	if f.ramp != nil {
		shapes = append(shapes, "ramp")
	}
	switch f.mode {
	case "open":
		sc.Mode = runner.Open
	case "closed":
		sc.Mode = runner.Closed
	case "":
		sc.Mode = runner.Closed
		if len(shapes) > 0 {
			sc.Mode = runner.Open
		}
	default:
		v.add(root.with("mode"), "must be open or closed, got %q", f.mode)
		return
	}
	think := root.with("think_time")
	if f.think != "" {
		if sc.Mode == runner.Open {
			v.add(think, "think time applies to mode closed only (open loop follows its schedule)")
		} else {
			sc.ThinkMin, sc.ThinkMax = v.thinkTime(think, f.think)
		}
	}
	if sc.Mode == runner.Closed {
		for _, s := range shapes {
			v.add(root.with(s), "%s applies to mode open only", s)
		}
		sc.MaxDuration = bound(runner.DefaultMaxDuration)
		return
	}
	if len(shapes) != 1 {
		if len(shapes) == 0 {
			v.add(root.with("mode"), "open loop needs one of rate, steps or ramp")
		} else {
			v.add(root.with(shapes[1]), "set only one of rate, steps and ramp (found %s)", strings.Join(shapes, ", "))
		}
		return
	}
	var segs []pacer.Segment
	at := root.with(shapes[0])
	switch shapes[0] {
	case "rate":
		r := v.rate(at, f.rate, true)
		sc.MaxDuration = bound(runner.DefaultMaxDuration)
		segs = []pacer.Segment{{From: r, To: r, Duration: sc.MaxDuration}}
		sc.constRate = r
	case "steps":
		for i, st := range f.steps {
			p := at.with(i)
			d := v.duration(p.with("duration"), st.Duration, 0)
			if st.Duration == "" {
				v.add(p.with("duration"), "required")
			}
			switch {
			case st.Rate != nil && (st.From != nil || st.To != nil):
				v.add(p, "set rate (a constant step) or from and to (a ramp), not both")
			case st.Rate != nil:
				r := v.rate(p.with("rate"), st.Rate, false)
				segs = append(segs, pacer.Segment{From: r, To: r, Duration: d})
			default:
				segs = append(segs, pacer.Segment{From: v.rate(p.with("from"), st.From, false), To: v.rate(p.with("to"), st.To, false), Duration: d})
			}
		}
	case "ramp":
		d := v.duration(at.with("duration"), f.ramp.Duration, 0)
		if f.ramp.Duration == "" {
			v.add(at.with("duration"), "required")
		}
		segs = []pacer.Segment{{From: v.rate(at.with("from"), f.ramp.From, false), To: v.rate(at.with("to"), f.ramp.To, false), Duration: d}}
	}
	if len(v.problems) > before {
		return
	}
	sched, err := pacer.New(segs...)
	if err != nil {
		v.add(at, "%v", strings.TrimPrefix(err.Error(), pacer.ErrInvalid.Error()+": "))
		return
	}
	sc.Schedule = sched
	if sc.MaxDuration == 0 {
		sc.MaxDuration = bound(sched.Duration())
	}
}

// thinkTime parses "D" or "MIN..MAX".
func (v *validator) thinkTime(p fieldPath, s string) (time.Duration, time.Duration) {
	lo, hi, isRange := strings.Cut(s, "..")
	parse := func(x string) (time.Duration, bool) {
		d, err := time.ParseDuration(strings.TrimSpace(x))
		if err != nil || d < 0 {
			v.add(p, "%q is not a duration >= 0 or a range like 50ms..200ms", s)
			return 0, false
		}
		return d, true
	}
	a, ok := parse(lo)
	if !ok {
		return 0, 0
	}
	if !isRange {
		return a, a
	}
	b, ok := parse(hi)
	if !ok {
		return 0, 0
	}
	if b < a {
		v.add(p, "range %q: the minimum exceeds the maximum", s)
		return 0, 0
	}
	return a, b
}

// headers compiles header templates; userOK says whether {user.*} and
// keyed parameters may appear. It returns the keyed parameters read.
func (v *validator) headers(p fieldPath, hs map[string]string, userOK bool) []Header {
	hdrs, _ := v.headersKeyed(p, hs, userOK)
	return hdrs
}

func (v *validator) headersKeyed(p fieldPath, hs map[string]string, userOK bool) ([]Header, []int) {
	names := make([]string, 0, len(hs))
	for n := range hs {
		names = append(names, n)
	}
	slices.Sort(names)
	out := make([]Header, 0, len(names))
	var keyed []int
	for _, n := range names {
		hp := p.with(n)
		switch {
		case !validToken(n):
			v.add(hp, "%q is not a valid header name", n)
		case isManagedHeader(n):
			v.add(hp, "%s is managed by the client; remove it", n)
		}
		val := hs[n]
		if strings.ContainsAny(val, "\r\n\x00") {
			v.add(hp, "header value contains CR, LF or NUL")
		}
		t := parseTemplate(val)
		keyed = append(keyed, v.bind(hp, t, userOK)...)
		out = append(out, Header{Name: n, Value: t})
	}
	return out, keyed
}

// bind binds t's parameter references, reporting problems at p, and
// returns the keyed captured parameters t reads (which need a user).
func (v *validator) bind(p fieldPath, t *Template, userOK bool) []int {
	for _, m := range t.bind(v.params, userOK, false) {
		v.add(p, "%s", m)
	}
	var keyed []int
	for _, pt := range t.parts {
		if !pt.isRef || pt.kind != refParam {
			continue
		}
		if _, ok := v.params[pt.name]; !ok {
			continue
		}
		pr := v.scenario.Params[pt.param]
		if pr.Key == nil {
			continue
		}
		if !userOK {
			v.add(p, "{%s} is keyed by user fields (%s): use it in a request with a user", pt.name, pr.Key)
			continue
		}
		keyed = append(keyed, pt.param)
	}
	return keyed
}

func isManagedHeader(name string) bool {
	switch strings.ToLower(name) {
	case "content-length", "transfer-encoding", "connection", "keep-alive", "upgrade", "te", "trailer":
		return true
	}
	return false
}

// validToken reports whether s is an RFC 9110 token (methods, header
// names).
func validToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0 {
			continue
		}
		return false
	}
	return true
}

// validPath reports whether a request path (template source) starts with
// "/" and has no whitespace or control characters.
func validPath(s string) error {
	if !strings.HasPrefix(s, "/") {
		return errors.New("must start with /")
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] == 0x7f {
			return errors.New("must not contain spaces or control characters (percent-encode them)")
		}
	}
	if strings.Contains(s, "#") {
		return errors.New("must not contain a fragment (#)")
	}
	return nil
}

func validParamName(n string) bool {
	if n == "" || !isNameByte(n[0], true) {
		return false
	}
	for i := 1; i < len(n); i++ {
		if !isNameByte(n[i], false) || n[i] == '.' {
			return false
		}
	}
	return true
}

func (v *validator) compileParam(p fieldPath, name string, ps ParamSpec) *Param {
	line, _ := locate(v.root, p)
	pr := &Param{Name: name, Values: ps.Values, File: ps.File, Auth: v.hasAuth, Captured: ps.Captured, line: line}
	if ps.Auth != nil {
		pr.Auth = *ps.Auth
		if *ps.Auth && !v.hasAuth {
			v.add(p.with("auth"), "the scenario has no auth block")
		}
	}
	if !validParamName(name) {
		v.add(p, "parameter names are letters, digits, _ and -, starting with a letter or _")
	}
	if _, builtin := builtinKind(name); builtin {
		v.add(p, "%s is a built-in placeholder; pick another name", name)
	}
	var sources []string
	if ps.Values != nil {
		sources = append(sources, "values")
		if len(ps.Values) == 0 {
			v.add(p.with("values"), "empty list")
		}
	}
	if ps.File != "" {
		sources = append(sources, "file")
	}
	if ps.URL != "" {
		sources = append(sources, "url")
		if err := validPath(ps.URL); err != nil {
			v.add(p.with("url"), "%v", err)
		}
		pr.URL = parseTemplate(ps.URL)
		for _, m := range pr.URL.bind(nil, false, true) {
			v.add(p.with("url"), "%s", m)
		}
		if ps.Pluck == "" {
			v.add(p.with("pluck"), "required with url: the JSON path of the values, e.g. items[].id")
		}
	}
	if ps.Captured {
		sources = append(sources, "captured")
	}
	if ps.Key != "" {
		if !ps.Captured {
			v.add(p.with("key"), "applies to captured parameters only")
		}
		pr.Key = parseTemplate(ps.Key)
		for _, m := range pr.Key.bind(nil, v.hasAuth, false) {
			v.add(p.with("key"), "%s", m)
		}
		if len(pr.Key.userFields()) == 0 || slices.ContainsFunc(pr.Key.parts, func(x part) bool { return x.isRef && x.kind != refUser }) {
			v.add(p.with("key"), "must be made of user fields, e.g. \"{user.section_id}\"")
		}
	}
	if ps.Pluck != "" {
		if ps.URL == "" {
			v.add(p.with("pluck"), "applies to url only")
		}
		pl, err := ParsePluck(ps.Pluck)
		if err != nil {
			v.add(p.with("pluck"), "%v", err)
		}
		pr.Pluck = pl
	}
	if len(sources) != 1 {
		v.add(p, "set exactly one of values, file, url and captured (found %d)", len(sources))
	}
	switch ps.Pick {
	case "", "random":
	case "sequence":
		pr.Pick = PickSequence
		if ps.Captured {
			v.add(p.with("pick"), "a captured parameter holds one value (per key); pick does not apply")
		}
	default:
		v.add(p.with("pick"), "must be random or sequence, got %q", ps.Pick)
	}
	return pr
}

// compileRequest compiles a request of a mix, or a setup or teardown step
// (step true: no weight or user pick).
func (v *validator) compileRequest(p fieldPath, rs RequestSpec, step bool) *Request {
	r := &Request{Name: rs.Name, Weight: 1, Method: "GET", Auth: v.hasAuth, Expect: rs.Expect, Pool: -1, NewConnection: rs.NewConnection}
	if rs.Method != "" {
		r.Method = strings.ToUpper(rs.Method)
		if !validToken(rs.Method) {
			v.add(p.with("method"), "%q is not a valid method", rs.Method)
		}
	}
	if rs.Weight != nil {
		r.Weight = *rs.Weight
		if step {
			v.add(p.with("weight"), "steps run once per user; weight applies to requests")
		} else if math.IsNaN(*rs.Weight) || math.IsInf(*rs.Weight, 0) || *rs.Weight <= 0 {
			v.add(p.with("weight"), "must be a finite number > 0, got %v", *rs.Weight)
		}
	}
	if rs.Auth != nil {
		r.Auth = *rs.Auth
		if *rs.Auth && !v.hasAuth {
			v.add(p.with("auth"), "the scenario has no auth block")
		}
	}
	switch rs.User {
	case "", "random":
	case "sequence":
		r.Sequence = true
	default:
		v.add(p.with("user"), "must be random or sequence, got %q", rs.User)
	}
	if step && rs.User != "" {
		v.add(p.with("user"), "steps run once per user of their pool; user applies to requests")
	}
	// The request's user: from its pool, or the only pool.
	if rs.Pool != "" {
		if !v.hasAuth {
			v.add(p.with("pool"), "the scenario has no auth block")
		} else if i := slices.IndexFunc(v.scenario.Auth.Pools, func(pl *Pool) bool { return pl.Name == rs.Pool }); i < 0 {
			v.add(p.with("pool"), "no pool %q under auth.pools", rs.Pool)
		} else {
			r.Pool = i
		}
	} else if r.Auth && v.hasAuth {
		if len(v.scenario.Auth.Pools) == 1 {
			r.Pool = 0
		} else {
			v.add(p.with("pool"), "auth has several pools: name this request's pool (or set auth: false)")
		}
	}
	userOK := r.Pool >= 0
	if rs.Path == "" {
		v.add(p.with("path"), "required")
	} else if err := validPath(rs.Path); err != nil {
		v.add(p.with("path"), "%v", err)
	}
	r.Path = parseTemplate(rs.Path)
	r.keyed = append(r.keyed, v.bind(p.with("path"), r.Path, userOK)...)
	if r.Name == "" {
		r.Name = r.Method + " " + rs.Path
	}
	var keyed []int
	r.Headers, keyed = v.headersKeyed(p.with("headers"), rs.Headers, userOK)
	r.keyed = append(r.keyed, keyed...)
	if rs.Body != "" {
		r.Body = parseTemplate(rs.Body)
		r.keyed = append(r.keyed, v.bind(p.with("body"), r.Body, userOK)...)
	}
	for i, s := range rs.Expect {
		if s < 100 || s > 599 {
			v.add(p.with("expect", i), "not an HTTP status: %d", s)
		}
	}
	r.Captures = v.captures(p.with("capture"), rs.Capture, userOK)
	for _, c := range r.Captures {
		if c.User != "" {
			r.exclusive = true
		} else if k := v.scenario.Params[c.Param].Key; k != nil {
			r.keyed = append(r.keyed, c.Param)
		}
	}
	slices.Sort(r.keyed)
	r.keyed = slices.Compact(r.keyed)
	if r.exclusive && !r.Sequence && !step {
		// Exclusive users are drawn in turn: a random draw could wait on a
		// busy user while free ones exist.
		r.Sequence = true
	}
	return r
}

// captures compiles a capture map: "user.FIELD" or a captured parameter
// name -> pluck path selecting one value.
func (v *validator) captures(p fieldPath, m map[string]string, userOK bool) []Capture {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	slices.Sort(names)
	var out []Capture
	for _, n := range names {
		cp := p.with(n)
		c := Capture{Param: -1}
		if f, ok := strings.CutPrefix(n, UserPrefix); ok {
			if !userOK {
				v.add(cp, "user fields need a request with a user (pool)")
			} else if !validParamName(f) {
				v.add(cp, "%q is not a valid user field name", f)
			}
			c.User = f
		} else if i, ok := v.params[n]; !ok || !v.scenario.Params[i].Captured {
			v.add(cp, "not a captured parameter (declare it under params with captured: true) or user.FIELD")
		} else {
			c.Param = i
			if v.scenario.Params[i].Key != nil && !userOK {
				v.add(cp, "%s is keyed by user fields: capture it in a request with a user", n)
			}
		}
		pl, err := ParsePluck(m[n])
		switch {
		case err != nil:
			v.add(cp, "%v", err)
		case pl.Many():
			v.add(cp, "must select one value (no [])")
		}
		c.Pluck = pl
		out = append(out, c)
	}
	return out
}

func (v *validator) compileAuth(p fieldPath, as *AuthSpec) *Auth {
	line, _ := locate(v.root, p)
	a := &Auth{
		Login: or(as.Login, DefaultLogin), Method: strings.ToUpper(or(as.Method, "POST")),
		UsernameField: or(as.UsernameField, DefaultUsernameField), PasswordField: or(as.PasswordField, DefaultPasswordField),
		Header: or(as.Header, DefaultAuthHeader), Scheme: DefaultAuthScheme,
		Concurrency: DefaultLoginConcurrency, line: line,
	}
	if as.Scheme != nil {
		a.Scheme = *as.Scheme
		if strings.ContainsAny(a.Scheme, "\r\n\x00 ") {
			v.add(p.with("scheme"), "must be one word")
		}
	}
	if err := validPath(a.Login); err != nil {
		v.add(p.with("login"), "%v", err)
	}
	if !validToken(a.Method) {
		v.add(p.with("method"), "%q is not a valid method", as.Method)
	}
	if !validToken(a.Header) || isManagedHeader(a.Header) {
		v.add(p.with("header"), "%q is not a usable header name", a.Header)
	}
	tok, err := ParsePluck(or(as.TokenField, DefaultTokenField))
	if err != nil {
		v.add(p.with("token_field"), "%v", err)
	} else if tok.Many() {
		v.add(p.with("token_field"), "must select one value (no [])")
	}
	a.Token = tok
	if a.UsernameField == a.PasswordField {
		v.add(p.with("password_field"), "must differ from username_field")
	}
	if as.Concurrency != nil {
		a.Concurrency = *as.Concurrency
		if *as.Concurrency <= 0 || *as.Concurrency > 64 {
			v.add(p.with("concurrency"), "must be in 1..64, got %d", *as.Concurrency)
		}
	}
	inline := len(as.Users) > 0 || as.UsersFile != "" || as.Generate != nil || as.MaxUsers != nil
	switch {
	case len(as.Pools) > 0 && inline:
		v.add(p.with("pools"), "set pools or users/users_file/generate/max_users, not both")
	case len(as.Pools) > 0:
		names := make([]string, 0, len(as.Pools))
		for n := range as.Pools {
			names = append(names, n)
		}
		slices.Sort(names)
		for _, n := range names {
			pp := p.with("pools", n)
			if !validParamName(n) {
				v.add(pp, "pool names are letters, digits, _ and -, starting with a letter or _")
			}
			ps := as.Pools[n]
			a.Pools = append(a.Pools, v.compilePool(pp, n, ps, or(ps.Password, as.Password)))
		}
	default:
		a.Pools = []*Pool{v.compilePool(p, "", PoolSpec{Users: as.Users, UsersFile: as.UsersFile, Generate: as.Generate,
			MaxUsers: as.MaxUsers}, as.Password)}
	}
	for _, c := range v.captures(p.with("capture"), as.Capture, true) {
		if c.User == "" {
			v.add(p.with("capture"), "logins capture into user fields only (user.FIELD)")
		}
		a.Captures = append(a.Captures, c)
	}
	return a
}

// compilePool checks one pool; password is the default password of its
// users.
func (v *validator) compilePool(p fieldPath, name string, ps PoolSpec, password string) *Pool {
	line, _ := locate(v.root, p)
	pl := &Pool{Name: name, Users: ps.Users, UsersFile: ps.UsersFile, Generate: ps.Generate, Password: password, line: line}
	if len(ps.Users) == 0 && ps.UsersFile == "" && ps.Generate == nil {
		v.add(p, "needs users: set users, users_file or generate")
	}
	for i, u := range ps.Users {
		if u["username"] == "" {
			v.add(p.with("users", i), "username is required")
		}
		if u["password"] == "" && password == "" {
			v.add(p.with("users", i), "password is required (or set auth.password)")
		}
	}
	if g := ps.Generate; g != nil {
		gp := p.with("generate")
		if g.Count <= 0 {
			v.add(gp.with("count"), "must be > 0, got %d", g.Count)
		}
		if g.Start < 0 {
			v.add(gp.with("start"), "must be >= 0, got %d", g.Start)
		}
		if g.Password == "" && password == "" {
			v.add(gp.with("password"), "required")
		}
		if s := fmt.Sprintf(g.Username, 1); g.Username == "" || strings.Contains(s, "%!") || s == g.Username {
			v.add(gp.with("username"), "must be a format with one integer verb, like student%%04d@campus.test")
		}
	}
	if ps.MaxUsers != nil {
		pl.MaxUsers = *ps.MaxUsers
		if *ps.MaxUsers <= 0 {
			v.add(p.with("max_users"), "must be > 0, got %d", *ps.MaxUsers)
		}
	}
	return pl
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
