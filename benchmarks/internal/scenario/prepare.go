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

// Apply applies o to s. It fails, changing nothing, when an override is out
// of range or conflicts with the scenario (a rate with think time).
func (s *Scenario) Apply(o Overrides) error {
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

// ClientConfig returns the client configuration of s for its target.
func (s *Scenario) ClientConfig(allowRemote bool) runner.ClientConfig {
	return runner.ClientConfig{
		URL: s.Target, Connections: s.Connections, Timeout: s.Timeout,
		Insecure: s.Insecure, AllowRemote: allowRemote,
	}
}

// PrepareOptions are the environment of Prepare. Zero fields take the
// process's: no environment variables, os.ReadFile, time.Now, no log.
type PrepareOptions struct {
	// Getenv resolves ${NAME} in user fields; nil resolves nothing, so any
	// ${NAME} fails.
	Getenv func(string) string
	// ReadFile reads users_file and params file (paths already joined
	// with the scenario's Dir).
	ReadFile func(string) ([]byte, error)
	// Now is the clock of {today}, {now} and {unix}.
	Now func() time.Time
	// Logf, when set, receives one line per preparation step.
	Logf func(format string, args ...any)
}

// Plan is a prepared scenario against one target: users logged in,
// parameter values loaded. It is the runner.Source of a run and may serve
// several runs against the same target. Its methods are safe for concurrent
// use; each Filler is used by one worker.
type Plan struct {
	sc      *Scenario
	base    string
	values  [][]string      // by parameter index
	cursors []atomic.Uint64 // by parameter index, for PickSequence
	users   []user
	cum     []float64 // cumulative request weights
	ctype   []bool    // per request: Content-Type set explicitly
	host    []bool    // per request: Host set explicitly
	now     func() time.Time
}

// user is a logged-in user: its fields and its ready auth header value.
type user struct {
	fields map[string]string
	auth   string
}

// Prepare loads users and parameter values, logs the users in and fetches
// URL parameters through c (whose target is s's), and returns the Plan.
// Errors name the scenario field at fault and never contain passwords or
// tokens.
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
	p := &Plan{sc: s, base: c.BaseURL(), now: o.Now}
	if s.Auth != nil {
		users, err := s.loadUsers(o)
		if err != nil {
			return nil, err
		}
		o.Logf("logging in %d users at %s", len(users), s.Auth.Login)
		if err := s.login(ctx, c, users); err != nil {
			return nil, err
		}
		p.users = users
	}
	p.values = make([][]string, len(s.Params))
	p.cursors = make([]atomic.Uint64, len(s.Params))
	for i, pr := range s.Params {
		vals, err := s.loadParam(ctx, c, pr, p, o)
		if err != nil {
			return nil, fmt.Errorf("scenario %s: params.%s (line %d): %w", s.Name, pr.Name, pr.line, err)
		}
		if len(vals) == 0 {
			return nil, fmt.Errorf("scenario %s: params.%s (line %d): no values", s.Name, pr.Name, pr.line)
		}
		o.Logf("parameter %s: %d values", pr.Name, len(vals))
		p.values[i] = vals
	}
	var total float64
	for _, r := range s.Requests {
		total += r.Weight
		p.cum = append(p.cum, total)
		ct, host := false, false
		for _, hs := range [][]Header{s.Headers, r.Headers} {
			for _, h := range hs {
				ct = ct || strings.EqualFold(h.Name, "Content-Type")
				host = host || strings.EqualFold(h.Name, "Host")
			}
		}
		p.ctype = append(p.ctype, ct)
		p.host = append(p.host, host)
	}
	return p, nil
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

// loadUsers gathers the users (inline, file, generated), resolves ${NAME}
// values, caps them at MaxUsers and checks the fields templates use.
func (s *Scenario) loadUsers(o PrepareOptions) ([]user, error) {
	a := s.Auth
	fail := func(format string, args ...any) error {
		return fmt.Errorf("scenario %s: auth (line %d): %s", s.Name, a.line, fmt.Sprintf(format, args...))
	}
	var raw []map[string]string
	raw = append(raw, a.Users...)
	if a.UsersFile != "" {
		path := a.UsersFile
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
			if u["username"] == "" || u["password"] == "" {
				return nil, fail("users_file %s: entry %d: username and password are required", path, i)
			}
		}
		raw = append(raw, list...)
	}
	if g := a.Generate; g != nil {
		for n := g.Start; n < g.Start+g.Count; n++ {
			raw = append(raw, map[string]string{"username": fmt.Sprintf(g.Username, n), "password": g.Password})
		}
	}
	if a.MaxUsers > 0 && len(raw) > a.MaxUsers {
		raw = raw[:a.MaxUsers]
	}
	users := make([]user, len(raw))
	for i, r := range raw {
		fields := make(map[string]string, len(r))
		for k, v := range r {
			if name, ok := envName(v); ok {
				ev := o.Getenv(name)
				if ev == "" {
					return nil, fail("user %q: field %s: environment variable %s is not set", r["username"], k, name)
				}
				v = ev
			}
			fields[k] = v
		}
		for _, f := range a.UserFields {
			if _, ok := fields[f]; !ok {
				return nil, fail("user %q has no field %s, which {user.%s} needs", r["username"], f, f)
			}
		}
		users[i].fields = fields
	}
	return users, nil
}

// login logs every user in, Concurrency at a time, and sets their auth
// header values. The first failure cancels the rest.
func (s *Scenario) login(ctx context.Context, c *runner.Client, users []user) error {
	a := s.Auth
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(a.Concurrency, len(users)) {
		wg.Go(func() {
			req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
			defer fasthttp.ReleaseRequest(req)
			defer fasthttp.ReleaseResponse(resp)
			for i := range next {
				u := &users[i]
				if err := s.loginOne(c, req, resp, u); err != nil {
					cancel(fmt.Errorf("scenario %s: auth (line %d): login of user %q: %w", s.Name, a.line, u.fields["username"], err))
					return
				}
			}
		})
	}
feed:
	for i := range users {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return err
	}
	return nil
}

func (s *Scenario) loginOne(c *runner.Client, req *fasthttp.Request, resp *fasthttp.Response, u *user) error {
	a := s.Auth
	body, err := json.Marshal(map[string]string{a.UsernameField: u.fields["username"], a.PasswordField: u.fields["password"]})
	if err != nil {
		return err
	}
	req.Reset()
	req.SetRequestURI(c.BaseURL() + a.Login)
	req.Header.SetMethod(a.Method)
	req.Header.SetContentType("application/json")
	req.Header.Set("Accept", "application/json")
	req.SetBody(body)
	if err := c.Do(req, resp); err != nil {
		return fmt.Errorf("%s %s: %v: %w", a.Method, a.Login, runner.Classify(err), err)
	}
	if sc := resp.StatusCode(); sc < 200 || sc > 299 {
		return fmt.Errorf("%s %s: status %d", a.Method, a.Login, sc)
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
	return nil
}

// loadParam returns the values of one parameter.
func (s *Scenario) loadParam(ctx context.Context, c *runner.Client, pr *Param, p *Plan, o PrepareOptions) ([]string, error) {
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
	e := expander{plan: p, rng: rand.New(rand.NewPCG(0, 0))}
	e.reset(0, nil)
	path := string(e.appendTo(nil, pr.URL))
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI(c.BaseURL() + path)
	req.Header.Set("Accept", "application/json")
	if pr.Auth && len(p.users) > 0 {
		req.Header.Set(s.Auth.Header, p.users[0].auth)
	}
	if err := c.Do(req, resp); err != nil {
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

// Users returns the number of logged-in users.
func (p *Plan) Users() int { return len(p.users) }

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
	f.exp = expander{plan: p, rng: rng, chosen: make([]int, len(p.values))}
	return f
}

// filler writes requests for one worker, reusing its buffers.
type filler struct {
	p        *Plan
	rng      *rand.Rand
	exp      expander
	uri, val []byte
}

// Fill draws a request of the mix by weight, a user when it needs auth,
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
	var u *user
	if r.Auth && len(p.users) > 0 {
		u = &p.users[f.rng.IntN(len(p.users))]
	}
	f.exp.reset(seq, u)
	f.uri = append(f.uri[:0], p.base...)
	f.uri = f.exp.appendTo(f.uri, r.Path)
	req.SetRequestURIBytes(f.uri)
	req.Header.SetMethod(r.Method)
	req.UseHostHeader = p.host[k]
	for _, hs := range [][]Header{p.sc.Headers, r.Headers} {
		for _, h := range hs {
			f.val = f.exp.appendTo(f.val[:0], h.Value)
			req.Header.SetBytesV(h.Name, f.val)
		}
	}
	if u != nil {
		req.Header.Set(p.sc.Auth.Header, u.auth)
	}
	if r.Body != nil {
		f.val = f.exp.appendTo(f.val[:0], r.Body)
		req.SetBody(f.val)
		if !p.ctype[k] {
			req.Header.SetContentType("application/json")
		}
	}
	return k
}
