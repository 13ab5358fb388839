package scenario

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/valyala/fasthttp"

	"github.com/campshub360/edge/benchmarks/internal/pacer"
	"github.com/campshub360/edge/benchmarks/internal/runner"
)

// Overrides change a parsed scenario from the command line. Zero fields
// change nothing.
type Overrides struct {
	// Target replaces the base URL.
	Target string
	// Duration replaces the max duration; a constant `rate` schedule is
	// stretched or cut to it.
	Duration time.Duration
	// MaxRequests replaces the request bound.
	MaxRequests int64
	// Connections replaces the pool size.
	Connections int
	// Rate switches to an open loop at this constant rate for the duration.
	Rate float64
	// Timeout replaces the request timeout.
	Timeout time.Duration
	// Insecure skips TLS verification when true.
	Insecure bool
}

// errGroupsOverride is returned by Apply for per-group overrides of a
// scenario with groups.
var errGroupsOverride = errors.New("--rate and --connections apply to scenarios without groups (each group has its own load)")

// Apply applies o to s. It fails, changing nothing, when an override is out
// of range or conflicts with the scenario (a rate with think time).
func (s *Scenario) Apply(o Overrides) error {
	if len(s.Groups) > 0 {
		if o.Rate > 0 || o.Connections > 0 {
			return fmt.Errorf("scenario %s: %w", s.Name, errGroupsOverride)
		}
		if o.Target != "" {
			if err := checkTarget(o.Target); err != nil {
				return fmt.Errorf("scenario %s: target: %w", s.Name, err)
			}
		}
		if o.Duration < 0 || o.MaxRequests < 0 || o.Timeout < 0 {
			return fmt.Errorf("scenario %s: overrides must not be negative", s.Name)
		}
		for _, g := range s.Groups {
			if err := g.Apply(o); err != nil {
				return err
			}
		}
		if o.Target != "" {
			s.Target = o.Target
		}
		if o.Duration > 0 {
			s.MaxDuration = o.Duration
		}
		if o.MaxRequests > 0 {
			s.MaxRequests = o.MaxRequests
		}
		if o.Timeout > 0 {
			s.Timeout = o.Timeout
		}
		s.Insecure = s.Insecure || o.Insecure
		return nil
	}
	var errs []error
	if o.Target != "" {
		if err := checkTarget(o.Target); err != nil {
			errs = append(errs, fmt.Errorf("target: %w", err))
		}
	}
	if o.Duration < 0 || o.MaxRequests < 0 || o.Connections < 0 || o.Timeout < 0 || o.Rate < 0 {
		errs = append(errs, errors.New("overrides must not be negative"))
	}
	if o.Connections > MaxConnections {
		errs = append(errs, fmt.Errorf("connections must be <= %d", MaxConnections))
	}
	if o.Rate > 0 && s.ThinkMax > 0 {
		errs = append(errs, errors.New("a rate makes the run open-loop, which has no think time; the scenario sets think_time"))
	}
	dur := s.MaxDuration
	if o.Duration > 0 {
		dur = o.Duration
	}
	var sched *pacer.Schedule
	rate := s.constRate
	if o.Rate > 0 {
		rate = o.Rate
	}
	if rate > 0 && (o.Rate > 0 || o.Duration > 0) {
		var err error
		if sched, err = pacer.Constant(rate, dur); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("scenario %s: %w", s.Name, errors.Join(errs...))
	}
	if o.Target != "" {
		s.Target = o.Target
	}
	s.MaxDuration = dur
	if sched != nil {
		s.Mode, s.Schedule, s.constRate = runner.Open, sched, rate
	}
	if o.MaxRequests > 0 {
		s.MaxRequests = o.MaxRequests
	}
	if o.Connections > 0 {
		s.Connections = o.Connections
	}
	if o.Timeout > 0 {
		s.Timeout = o.Timeout
	}
	if o.Insecure {
		s.Insecure = true
	}
	return nil
}

// RunnerConfig returns the runner configuration of s with the given seed
// (used unless the scenario fixes one). The caller adds progress reporting.
func (s *Scenario) RunnerConfig(seed uint64) runner.Config {
	if s.Seed != nil {
		seed = *s.Seed
	}
	return runner.Config{
		Mode: s.Mode, Schedule: s.Schedule, Connections: s.Connections,
		MaxDuration: s.MaxDuration, MaxRequests: s.MaxRequests,
		ThinkMin: s.ThinkMin, ThinkMax: s.ThinkMax, Seed: seed,
	}
}

// ClientConfig returns the client configuration of s for its target (for
// a parent of groups, the client of logins, fetches and steps).
func (s *Scenario) ClientConfig(allowRemote bool) runner.ClientConfig {
	conns := s.Connections
	if len(s.Groups) > 0 {
		conns = DefaultLoginConcurrency
		if s.Auth != nil {
			conns = s.Auth.Concurrency
		}
	}
	return runner.ClientConfig{
		URL: s.Target, Connections: conns, Timeout: s.Timeout, Sources: s.Sources,
		Insecure: s.Insecure, AllowRemote: allowRemote,
	}
}

// PrepareOptions are the environment of Prepare. Zero fields take the
// process's: no environment variables, os.ReadFile, time.Now, no log.
type PrepareOptions struct {
	// Getenv resolves ${NAME} in user fields, passwords and users_file;
	// nil resolves nothing, so any ${NAME} fails.
	Getenv func(string) string
	// ReadFile reads users_file and params file (paths already joined
	// with the scenario's Dir).
	ReadFile func(string) ([]byte, error)
	// Now is the clock of {today}, {now} and {unix}.
	Now func() time.Time
	// Logf, when set, receives one line per preparation step.
	Logf func(format string, args ...any)
	// Reuse, when set, is a Plan of the same scenario against another
	// target in front of the same servers: its logged-in users (tokens and
	// captured fields) are shared instead of logging in again.
	Reuse *Plan
}

// Plan is a prepared scenario against one target: users logged in,
// parameter values loaded. A Plan of a scenario without groups is the
// runner.Source of its runs; a Plan of a parent of groups hands out one
// Source per group (Source). It may serve several runs against the same
// target (Run). Its methods are safe for concurrent use; each Filler is
// used by one worker.
type Plan struct {
	st    *state
	sc    *Scenario // the mix: the scenario itself or one of its groups
	cum   []float64 // cumulative request weights
	mixes []*Plan   // one per Mixes(), this plan first when without groups
}

// state is what every mix of a Plan shares.
type state struct {
	sc       *Scenario
	client   *runner.Client // logins, fetches, steps
	base     string
	values   [][]string      // by parameter index
	cursors  []atomic.Uint64 // by parameter index, for PickSequence
	captured []*variable     // by parameter index; nil unless captured
	pools    []*userPool     // by pool index
	now      func() time.Time
	logf     func(format string, args ...any)
}

// userPool is the logged-in users of one pool.
type userPool struct {
	pool   *Pool
	users  []*user
	cursor atomic.Uint64
}

// user is a logged-in user: its fields (replaced whole when a capture sets
// one, so readers never lock), its ready auth header value, and whether a
// request holds it exclusively.
type user struct {
	fields atomic.Pointer[map[string]string]
	auth   string
	busy   atomic.Bool
}

func (u *user) field(name string) string { return (*u.fields.Load())[name] }

// set stores a field. Captures of one user are serialized by the
// exclusive hold or by the step that owns the user.
func (u *user) set(name, value string) {
	old := *u.fields.Load()
	m := make(map[string]string, len(old)+1)
	for k, v := range old {
		m[k] = v
	}
	m[name] = value
	u.fields.Store(&m)
}

// variable is a captured parameter: one value per key.
type variable struct {
	mu   sync.RWMutex
	vals map[string]string
}

func (v *variable) get(key []byte) (string, bool) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	s, ok := v.vals[string(key)]
	return s, ok
}

func (v *variable) set(key, value string) {
	v.mu.Lock()
	v.vals[key] = value
	v.mu.Unlock()
}

// Prepare loads users and parameter values, logs the users in and fetches
// URL parameters through c (whose target is s's), and returns the Plan.
// c also carries the setup and teardown steps of every Run. Errors name the
// scenario field at fault and never contain passwords or tokens.
func (s *Scenario) Prepare(ctx context.Context, c *runner.Client, o PrepareOptions) (*Plan, error) {
	if o.ReadFile == nil {
		o.ReadFile = os.ReadFile
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Getenv == nil {
		o.Getenv = func(string) string { return "" }
	}
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
	st := &state{sc: s, client: c, base: c.BaseURL(), now: o.Now, logf: o.Logf}
	st.captured = make([]*variable, len(s.Params))
	for i, pr := range s.Params {
		if pr.Captured {
			st.captured[i] = &variable{vals: map[string]string{}}
		}
	}
	if s.Auth != nil {
		if o.Reuse != nil && o.Reuse.st.sc == s {
			st.pools = o.Reuse.st.pools
		} else {
			for _, pool := range s.Auth.Pools {
				users, err := s.loadUsers(pool, o)
				if err != nil {
					return nil, err
				}
				label := "users"
				if pool.Name != "" {
					label = pool.Name
				}
				o.Logf("logging in %d %s at %s", len(users), label, s.Auth.Login)
				if err := s.login(ctx, c, users); err != nil {
					return nil, err
				}
				st.pools = append(st.pools, &userPool{pool: pool, users: users})
			}
		}
		for _, m := range s.Mixes() {
			for _, r := range m.Requests {
				if r.Pool >= 0 && st.pools[r.Pool].pool.Exclusive && len(st.pools[r.Pool].users) <= m.Connections {
					return nil, fmt.Errorf("scenario %s: request %s holds its %s users one at a time: the pool needs more users (%d) than connections (%d)",
						s.Name, r.Name, or(st.pools[r.Pool].pool.Name, "pool's"), len(st.pools[r.Pool].users), m.Connections)
				}
			}
		}
	}
	st.values = make([][]string, len(s.Params))
	st.cursors = make([]atomic.Uint64, len(s.Params))
	for i, pr := range s.Params {
		if pr.Captured {
			continue
		}
		vals, err := st.loadParam(ctx, pr, o)
		if err != nil {
			return nil, fmt.Errorf("scenario %s: params.%s (line %d): %w", s.Name, pr.Name, pr.line, err)
		}
		if len(vals) == 0 {
			return nil, fmt.Errorf("scenario %s: params.%s (line %d): no values", s.Name, pr.Name, pr.line)
		}
		o.Logf("parameter %s: %d values", pr.Name, len(vals))
		st.values[i] = vals
	}
	p := st.mix(s)
	for _, g := range s.Groups {
		p.mixes = append(p.mixes, st.mix(g))
	}
	if len(s.Groups) == 0 {
		p.mixes = []*Plan{p}
	}
	return p, nil
}

// mix returns the Plan of one request mix over st.
func (st *state) mix(m *Scenario) *Plan {
	p := &Plan{st: st, sc: m}
	var total float64
	for _, r := range m.Requests {
		total += r.Weight
		p.cum = append(p.cum, total)
	}
	return p
}

// Source returns the runner.Source of mix i of the scenario's Mixes().
func (p *Plan) Source(i int) runner.Source { return p.mixes[i] }

// expandEnv replaces every ${NAME} in s from getenv; an unset variable is
// an error naming it.
func expandEnv(s string, getenv func(string) string) (string, error) {
	var missing []string
	out := os.Expand(s, func(name string) string {
		v := getenv(name)
		if v == "" {
			missing = append(missing, name)
		}
		return v
	})
	if len(missing) > 0 {
		return "", fmt.Errorf("environment variable %s is not set", strings.Join(missing, ", "))
	}
	return out, nil
}

// envName returns NAME when v is exactly "${NAME}" with NAME a valid
// environment variable name.
func envName(v string) (string, bool) {
	name, ok := strings.CutPrefix(v, "${")
	if !ok {
		return "", false
	}
	name, ok = strings.CutSuffix(name, "}")
	if !ok || name == "" || name[0] >= '0' && name[0] <= '9' {
		return "", false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return "", false
		}
	}
	return name, true
}

// loadUsers gathers the users of a pool (inline, file, generated), resolves
// ${NAME} values, caps them at MaxUsers and checks the fields templates
// use.
func (s *Scenario) loadUsers(pool *Pool, o PrepareOptions) ([]*user, error) {
	where := "auth"
	if pool.Name != "" {
		where = "auth.pools." + pool.Name
	}
	fail := func(format string, args ...any) error {
		return fmt.Errorf("scenario %s: %s (line %d): %s", s.Name, where, pool.line, fmt.Sprintf(format, args...))
	}
	var raw []map[string]string
	raw = append(raw, pool.Users...)
	if pool.UsersFile != "" {
		path, err := expandEnv(pool.UsersFile, o.Getenv)
		if err != nil {
			return nil, fail("users_file: %v", err)
		}
		if !filepath.IsAbs(path) {
			path = filepath.Join(s.Dir, path)
		}
		data, err := o.ReadFile(path)
		if err != nil {
			return nil, fail("users_file: %v", err)
		}
		var list []map[string]string
		if err := yaml.UnmarshalWithOptions(data, &list, yaml.Strict()); err != nil {
			return nil, fail("users_file %s: want a list of maps with username and password: %s", path, yamlProblem(err))
		}
		for i, u := range list {
			if u["username"] == "" || u["password"] == "" && pool.Password == "" {
				return nil, fail("users_file %s: entry %d: username and password are required", path, i)
			}
		}
		raw = append(raw, list...)
	}
	if g := pool.Generate; g != nil {
		pw := g.Password
		if pw == "" {
			pw = pool.Password
		}
		for n := g.Start; n < g.Start+g.Count; n++ {
			raw = append(raw, map[string]string{"username": fmt.Sprintf(g.Username, n), "password": pw})
		}
	}
	if pool.MaxUsers > 0 && len(raw) > pool.MaxUsers {
		raw = raw[:pool.MaxUsers]
	}
	users := make([]*user, len(raw))
	for i, r := range raw {
		fields := make(map[string]string, len(r)+1)
		if _, ok := r["password"]; !ok {
			fields["password"] = pool.Password
		}
		for k, v := range r {
			fields[k] = v
		}
		for k, v := range fields {
			if name, ok := envName(v); ok {
				ev := o.Getenv(name)
				if ev == "" {
					return nil, fail("user %q: field %s: environment variable %s is not set", r["username"], k, name)
				}
				fields[k] = ev
			}
		}
		for _, f := range pool.UserFields {
			if _, ok := fields[f]; !ok {
				return nil, fail("user %q has no field %s, which {user.%s} needs", r["username"], f, f)
			}
		}
		users[i] = &user{}
		users[i].fields.Store(&fields)
	}
	return users, nil
}

// login logs every user in, Concurrency at a time, and sets their auth
// header values. The first failure cancels the rest.
func (s *Scenario) login(ctx context.Context, c *runner.Client, users []*user) error {
	a := s.Auth
	return forEach(ctx, a.Concurrency, len(users), func(req *fasthttp.Request, resp *fasthttp.Response, i int) error {
		u := users[i]
		if err := s.loginOne(c, req, resp, u); err != nil {
			return fmt.Errorf("scenario %s: auth (line %d): login of user %q: %w", s.Name, a.line, u.field("username"), err)
		}
		return nil
	})
}

// forEach calls f for 0..n-1 on up to conc goroutines, each with its own
// request and response; the first error cancels the rest and is returned.
func forEach(ctx context.Context, conc, n int, f func(req *fasthttp.Request, resp *fasthttp.Response, i int) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	next := make(chan int)
	var wg sync.WaitGroup
	for range max(1, min(conc, n)) {
		wg.Go(func() {
			req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
			defer fasthttp.ReleaseRequest(req)
			defer fasthttp.ReleaseResponse(resp)
			for i := range next {
				if err := f(req, resp, i); err != nil {
					cancel(err)
					return
				}
			}
		})
	}
feed:
	for i := range n {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	return context.Cause(ctx)
}

// Sign-in attempts of one user during preparation: a 429 or 503 (a rate
// limit, an edge shedding load or failing closed while its shared store is
// slow on a loaded machine) is retried after its Retry-After (at most
// maxLoginWait) or a growing back-off; preparation is not measured.
const (
	loginAttempts = 10
	maxLoginWait  = 2 * time.Second
)

func (s *Scenario) loginOne(c *runner.Client, req *fasthttp.Request, resp *fasthttp.Response, u *user) error {
	a := s.Auth
	body, err := json.Marshal(map[string]string{a.UsernameField: u.field("username"), a.PasswordField: u.field("password")})
	if err != nil {
		return err
	}
	for attempt := 1; ; attempt++ {
		req.Reset()
		req.SetRequestURI(c.BaseURL() + a.Login)
		req.Header.SetMethod(a.Method)
		req.Header.SetContentType("application/json")
		req.Header.Set("Accept", "application/json")
		req.SetBody(body)
		if err := c.Do(req, resp); err != nil {
			return fmt.Errorf("%s %s: %v: %w", a.Method, a.Login, runner.Classify(err), err)
		}
		sc := resp.StatusCode()
		if (sc == fasthttp.StatusTooManyRequests || sc == fasthttp.StatusServiceUnavailable) && attempt < loginAttempts {
			wait := min(time.Duration(attempt)*200*time.Millisecond, maxLoginWait)
			if ra, err := strconv.Atoi(string(resp.Header.Peek("Retry-After"))); err == nil && ra >= 0 {
				wait = min(time.Duration(ra)*time.Second, maxLoginWait)
			}
			time.Sleep(wait)
			continue
		}
		if sc < 200 || sc > 299 {
			return fmt.Errorf("%s %s: status %d", a.Method, a.Login, sc)
		}
		break
	}
	vals, err := a.Token.Values(resp.Body())
	if err != nil {
		return fmt.Errorf("token %s: %v", a.Token, err)
	}
	if len(vals) != 1 || vals[0] == "" {
		return fmt.Errorf("token %s: empty", a.Token)
	}
	u.auth = vals[0]
	if a.Scheme != "" {
		u.auth = a.Scheme + " " + vals[0]
	}
	for _, cp := range a.Captures {
		v, err := pluckOne(cp.Pluck, resp.Body())
		if err != nil {
			return fmt.Errorf("capture user.%s: %v", cp.User, err)
		}
		u.set(cp.User, v)
	}
	return nil
}

// pluckOne returns the one non-empty value p selects in body.
func pluckOne(p *Pluck, body []byte) (string, error) {
	vals, err := p.Values(body)
	if err != nil {
		return "", err
	}
	if len(vals) != 1 || vals[0] == "" {
		return "", fmt.Errorf("%s: empty", p)
	}
	return vals[0], nil
}

// loadParam returns the values of one parameter.
func (st *state) loadParam(ctx context.Context, pr *Param, o PrepareOptions) ([]string, error) {
	s := st.sc
	switch {
	case pr.Values != nil:
		return pr.Values, nil
	case pr.File != "":
		path := pr.File
		if !filepath.IsAbs(path) {
			path = filepath.Join(s.Dir, path)
		}
		data, err := o.ReadFile(path)
		if err != nil {
			return nil, err
		}
		var vals []string
		for line := range strings.SplitSeq(string(data), "\n") {
			line = strings.TrimSpace(line)
			if line != "" && !strings.HasPrefix(line, "#") {
				vals = append(vals, line)
			}
		}
		return vals, nil
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	e := expander{st: st, rng: rand.New(rand.NewPCG(0, 0))}
	e.reset(0, nil)
	path := string(e.appendTo(nil, pr.URL))
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI(st.base + path)
	req.Header.Set("Accept", "application/json")
	if pr.Auth && len(st.pools) > 0 && len(st.pools[0].users) > 0 {
		req.Header.Set(s.Auth.Header, st.pools[0].users[0].auth)
	}
	if err := st.client.Do(req, resp); err != nil {
		return nil, fmt.Errorf("GET %s: %v: %w", path, runner.Classify(err), err)
	}
	if sc := resp.StatusCode(); sc != fasthttp.StatusOK {
		return nil, fmt.Errorf("GET %s: status %d", path, sc)
	}
	vals, err := pr.Pluck.Values(bytes.Clone(resp.Body()))
	if err != nil {
		return nil, fmt.Errorf("GET %s: pluck %s: %v", path, pr.Pluck, err)
	}
	return vals, nil
}

// Users returns the number of logged-in users over all pools.
func (p *Plan) Users() int {
	n := 0
	for _, up := range p.st.pools {
		n += len(up.users)
	}
	return n
}

// Kinds returns one kind per request of the mix, in scenario order.
func (p *Plan) Kinds() []runner.Kind {
	ks := make([]runner.Kind, len(p.sc.Requests))
	for i, r := range p.sc.Requests {
		ks[i] = runner.Kind{Name: r.Name, Expect: r.Expect}
	}
	return ks
}

// NewFiller returns the request writer of one worker.
func (p *Plan) NewFiller(_ int, rng *rand.Rand) runner.Filler {
	f := &filler{p: p, rng: rng}
	f.exp = expander{st: p.st, rng: rng, chosen: make([]int, len(p.st.values))}
	return f
}

// filler writes requests for one worker, reusing its buffers. It is also
// the worker's runner.Observer: it captures values from responses and
// releases an exclusively held user.
type filler struct {
	p        *Plan
	rng      *rand.Rand
	exp      expander
	uri, val []byte
	kind     int
	held     *user // held exclusively until Observe
	u        *user // the current request's user
}

// pickUser draws the user of request r from its pool: in turn or at
// random; an exclusive request skips users held by other workers.
func (f *filler) pickUser(r *Request) *user {
	up := f.p.st.pools[r.Pool]
	n := uint64(len(up.users))
	if n == 0 {
		return nil
	}
	if !r.exclusive {
		if r.Sequence {
			return up.users[(up.cursor.Add(1)-1)%n]
		}
		return up.users[f.rng.IntN(int(n))]
	}
	// More users than workers (checked by Prepare): a free one exists.
	for {
		u := up.users[(up.cursor.Add(1)-1)%n]
		if u.busy.CompareAndSwap(false, true) {
			f.held = u
			return u
		}
	}
}

// Fill draws a request of the mix by weight, a user when it needs one,
// and writes it into req.
func (f *filler) Fill(req *fasthttp.Request, seq int64) int {
	p := f.p
	k := 0
	if len(p.cum) > 1 {
		x := f.rng.Float64() * p.cum[len(p.cum)-1]
		k = min(sort.SearchFloat64s(p.cum, x), len(p.cum)-1)
		// SearchFloat64s finds the first cum >= x; x == cum[k] belongs to
		// the next entry.
		if p.cum[k] == x && k < len(p.cum)-1 {
			k++
		}
	}
	r := p.sc.Requests[k]
	f.kind, f.u = k, nil
	if r.Pool >= 0 {
		f.u = f.pickUser(r)
	}
	f.write(req, p.sc.Headers, r, f.u, seq)
	return k
}

// write writes request r for user u (nil for none) into req.
func (f *filler) write(req *fasthttp.Request, hdrs []Header, r *Request, u *user, seq int64) {
	st := f.p.st
	f.exp.reset(seq, u)
	f.uri = append(f.uri[:0], st.base...)
	f.uri = f.exp.appendTo(f.uri, r.Path)
	req.SetRequestURIBytes(f.uri)
	req.Header.SetMethod(r.Method)
	ctype, host := false, false
	for _, hs := range [][]Header{hdrs, r.Headers} {
		for _, h := range hs {
			f.val = f.exp.appendTo(f.val[:0], h.Value)
			req.Header.SetBytesV(h.Name, f.val)
			ctype = ctype || len(h.Name) == len("Content-Type") && strings.EqualFold(h.Name, "Content-Type")
			host = host || len(h.Name) == len("Host") && strings.EqualFold(h.Name, "Host")
		}
	}
	req.UseHostHeader = host
	if u != nil && r.Auth {
		req.Header.Set(st.sc.Auth.Header, u.auth)
	}
	if r.NewConnection {
		req.SetConnectionClose()
	}
	if r.Body != nil {
		f.val = f.exp.appendTo(f.val[:0], r.Body)
		req.SetBody(f.val)
		if !ctype {
			req.Header.SetContentType("application/json")
		}
	}
}

// Observe captures values from a successful response and releases the
// user held for the request (runner.Observer).
func (f *filler) Observe(kind int, resp *fasthttp.Response, err error) {
	r := f.p.sc.Requests[kind]
	if err == nil && len(r.Captures) > 0 && expectedStatus(r.Expect, resp.StatusCode()) {
		f.p.st.capture(&f.exp, r, f.u, resp.Body())
	}
	if f.held != nil {
		f.held.busy.Store(false)
		f.held = nil
	}
}

// expectedStatus reports whether status counts as success given Expect.
func expectedStatus(expect []int, status int) bool {
	if len(expect) == 0 {
		return status < 400
	}
	for _, s := range expect {
		if s == status {
			return true
		}
	}
	return false
}

// capture applies r's captures to body for user u; e expands keys. A
// value the body lacks is skipped (the response was not what the scenario
// expects; the request already counted as it did).
func (st *state) capture(e *expander, r *Request, u *user, body []byte) {
	for _, c := range r.Captures {
		v, err := pluckOne(c.Pluck, body)
		if err != nil {
			continue
		}
		if c.User != "" {
			if u != nil {
				u.set(c.User, v)
			}
			continue
		}
		e.reset(0, u)
		e.key = e.appendKey(e.key[:0], st.sc.Params[c.Param].Key)
		st.captured[c.Param].set(string(e.key), v)
	}
}
