package scenario

import (
	"errors"
	"fmt"
	"math"
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
type Scenario struct {
	// Name and Description as in the file.
	Name, Description string
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
	// Headers are sent with every request.
	Headers []Header
	// Auth, when set, logs users in before the run.
	Auth *Auth
	// Params are the parameter sources, sorted by name.
	Params []*Param
	// Requests is the weighted mix.
	Requests []*Request

	// constRate is the rate of a schedule built from `rate`, which Apply
	// rebuilds for a new duration; 0 otherwise.
	constRate float64
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
	// Users, UsersFile and Generate are the user sources, all used.
	Users     []map[string]string
	UsersFile string
	Generate  *GenerateSpec
	// MaxUsers caps the pool; 0 for all.
	MaxUsers int
	// Concurrency is the number of logins in flight.
	Concurrency int
	// UserFields are the {user.FIELD} names the requests use; every user
	// must have them.
	UserFields []string

	line int
}

// Param is a validated parameter source: exactly one of Values, File and
// URL is set.
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

	line int
}

// Request is a validated entry of the request mix.
type Request struct {
	// Name labels the entry in reports; unique within the scenario.
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
	// Auth sends a random logged-in user's token.
	Auth bool
	// Expect lists the statuses counted as success; empty means < 400.
	Expect []int
}

// validator collects problems while compiling a File.
type validator struct {
	root     ast.Node
	problems []Problem
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
	v.compileLoad(f, sc)

	sc.Connections = runner.DefaultConnections
	if f.Connections != nil {
		sc.Connections = *f.Connections
		if *f.Connections <= 0 || *f.Connections > MaxConnections {
			v.add(root.with("connections"), "must be in 1..%d, got %d", MaxConnections, *f.Connections)
		}
	}
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
	index := make(map[string]int, len(names))
	for i, n := range names {
		index[n] = i
	}
	hasAuth := f.Auth != nil
	for _, n := range names {
		sc.Params = append(sc.Params, v.compileParam(root.with("params", n), n, f.Params[n], hasAuth))
	}
	// Scenario-wide headers go on requests without a user too: no {user.*}.
	sc.Headers = v.headers(root.with("headers"), f.Headers, index, false)

	if len(f.Requests) == 0 {
		v.add(root.with("requests"), "at least one request is required")
	}
	seen := map[string]int{}
	var userFields []string
	for i, rs := range f.Requests {
		p := root.with("requests", i)
		r := v.compileRequest(p, rs, index, hasAuth)
		if j, dup := seen[r.Name]; dup {
			v.add(p.with("name"), "duplicate request name %q (also requests[%d]); name the entries", r.Name, j)
		}
		seen[r.Name] = i
		if r.Auth {
			for _, h := range r.Headers {
				userFields = append(userFields, h.Value.userFields()...)
			}
			userFields = append(userFields, r.Path.userFields()...)
			if r.Body != nil {
				userFields = append(userFields, r.Body.userFields()...)
			}
		}
		sc.Requests = append(sc.Requests, r)
	}
	if hasAuth {
		sc.Auth = v.compileAuth(root.with("auth"), f.Auth)
		slices.Sort(userFields)
		sc.Auth.UserFields = slices.Compact(userFields)
	}
	return sc
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

// compileLoad sets the mode, schedule, duration and think time.
func (v *validator) compileLoad(f *File, sc *Scenario) {
	root := fieldPath{}
	before := len(v.problems)
	dur := v.duration(root.with("duration"), f.Duration, 0)
	bound := func(def time.Duration) time.Duration {
		if dur > 0 {
			return dur
		}
		return def
	}
	var shapes []string
	if f.Rate != nil {
		shapes = append(shapes, "rate")
	}
	if len(f.Steps) > 0 {
		shapes = append(shapes, "steps")
	}
	if f.Ramp != nil {
		shapes = append(shapes, "ramp")
	}
	switch f.Mode {
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
		v.add(root.with("mode"), "must be open or closed, got %q", f.Mode)
		return
	}
	think := root.with("think_time")
	if f.ThinkTime != "" {
		if sc.Mode == runner.Open {
			v.add(think, "think time applies to mode closed only (open loop follows its schedule)")
		} else {
			sc.ThinkMin, sc.ThinkMax = v.thinkTime(think, f.ThinkTime)
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
		r := v.rate(at, f.Rate, true)
		sc.MaxDuration = bound(runner.DefaultMaxDuration)
		segs = []pacer.Segment{{From: r, To: r, Duration: sc.MaxDuration}}
		sc.constRate = r
	case "steps":
		for i, st := range f.Steps {
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
		d := v.duration(at.with("duration"), f.Ramp.Duration, 0)
		if f.Ramp.Duration == "" {
			v.add(at.with("duration"), "required")
		}
		segs = []pacer.Segment{{From: v.rate(at.with("from"), f.Ramp.From, false), To: v.rate(at.with("to"), f.Ramp.To, false), Duration: d}}
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

func (v *validator) headers(p fieldPath, hs map[string]string, params map[string]int, userOK bool) []Header {
	names := make([]string, 0, len(hs))
	for n := range hs {
		names = append(names, n)
	}
	slices.Sort(names)
	out := make([]Header, 0, len(names))
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
		for _, m := range t.bind(params, userOK, false) {
			v.add(hp, "%s", m)
		}
		out = append(out, Header{Name: n, Value: t})
	}
	return out
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

func (v *validator) compileParam(p fieldPath, name string, ps ParamSpec, hasAuth bool) *Param {
	line, _ := locate(v.root, p)
	pr := &Param{Name: name, Values: ps.Values, File: ps.File, Auth: hasAuth, line: line}
	if ps.Auth != nil {
		pr.Auth = *ps.Auth
		if *ps.Auth && !hasAuth {
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
		v.add(p, "set exactly one of values, file and url (found %d)", len(sources))
	}
	switch ps.Pick {
	case "", "random":
	case "sequence":
		pr.Pick = PickSequence
	default:
		v.add(p.with("pick"), "must be random or sequence, got %q", ps.Pick)
	}
	return pr
}

func (v *validator) compileRequest(p fieldPath, rs RequestSpec, params map[string]int, hasAuth bool) *Request {
	r := &Request{Name: rs.Name, Weight: 1, Method: "GET", Auth: hasAuth, Expect: rs.Expect}
	if rs.Method != "" {
		r.Method = strings.ToUpper(rs.Method)
		if !validToken(rs.Method) {
			v.add(p.with("method"), "%q is not a valid method", rs.Method)
		}
	}
	if rs.Weight != nil {
		r.Weight = *rs.Weight
		if math.IsNaN(*rs.Weight) || math.IsInf(*rs.Weight, 0) || *rs.Weight <= 0 {
			v.add(p.with("weight"), "must be a finite number > 0, got %v", *rs.Weight)
		}
	}
	if rs.Auth != nil {
		r.Auth = *rs.Auth
		if *rs.Auth && !hasAuth {
			v.add(p.with("auth"), "the scenario has no auth block")
		}
	}
	if rs.Path == "" {
		v.add(p.with("path"), "required")
	} else if err := validPath(rs.Path); err != nil {
		v.add(p.with("path"), "%v", err)
	}
	userOK := r.Auth && hasAuth
	r.Path = parseTemplate(rs.Path)
	for _, m := range r.Path.bind(params, userOK, false) {
		v.add(p.with("path"), "%s", m)
	}
	if r.Name == "" {
		r.Name = r.Method + " " + rs.Path
	}
	r.Headers = v.headers(p.with("headers"), rs.Headers, params, userOK)
	if rs.Body != "" {
		r.Body = parseTemplate(rs.Body)
		for _, m := range r.Body.bind(params, userOK, false) {
			v.add(p.with("body"), "%s", m)
		}
	}
	for i, s := range rs.Expect {
		if s < 100 || s > 599 {
			v.add(p.with("expect", i), "not an HTTP status: %d", s)
		}
	}
	return r
}

func (v *validator) compileAuth(p fieldPath, as *AuthSpec) *Auth {
	line, _ := locate(v.root, p)
	a := &Auth{
		Login: or(as.Login, DefaultLogin), Method: strings.ToUpper(or(as.Method, "POST")),
		UsernameField: or(as.UsernameField, DefaultUsernameField), PasswordField: or(as.PasswordField, DefaultPasswordField),
		Header: or(as.Header, DefaultAuthHeader), Scheme: DefaultAuthScheme,
		Users: as.Users, UsersFile: as.UsersFile, Generate: as.Generate,
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
	if len(as.Users) == 0 && as.UsersFile == "" && as.Generate == nil {
		v.add(p, "needs users: set users, users_file or generate")
	}
	for i, u := range as.Users {
		for _, k := range []string{"username", "password"} {
			if u[k] == "" {
				v.add(p.with("users", i), "%s is required", k)
			}
		}
	}
	if g := as.Generate; g != nil {
		gp := p.with("generate")
		if g.Count <= 0 {
			v.add(gp.with("count"), "must be > 0, got %d", g.Count)
		}
		if g.Start < 0 {
			v.add(gp.with("start"), "must be >= 0, got %d", g.Start)
		}
		if g.Password == "" {
			v.add(gp.with("password"), "required")
		}
		if s := fmt.Sprintf(g.Username, 1); g.Username == "" || strings.Contains(s, "%!") || s == g.Username {
			v.add(gp.with("username"), "must be a format with one integer verb, like student%%04d@campus.test")
		}
	}
	if as.MaxUsers != nil {
		a.MaxUsers = *as.MaxUsers
		if *as.MaxUsers <= 0 {
			v.add(p.with("max_users"), "must be > 0, got %d", *as.MaxUsers)
		}
	}
	if as.Concurrency != nil {
		a.Concurrency = *as.Concurrency
		if *as.Concurrency <= 0 || *as.Concurrency > 64 {
			v.add(p.with("concurrency"), "must be in 1..64, got %d", *as.Concurrency)
		}
	}
	return a
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
