package scenario

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/campshub360/edge/benchmarks/internal/report"
	"github.com/campshub360/edge/benchmarks/internal/runner"
)

// RunOptions configure one Plan.Run.
type RunOptions struct {
	// Clients are the clients of the mixes, one per Scenario.Mixes() in
	// order, each built from the mix's ClientConfig on the Plan's target.
	Clients []*runner.Client
	// Seed seeds the random choices unless the scenario fixes one.
	Seed uint64
	// Progress, when set, receives each mix's progress every
	// ProgressInterval (see runner.Config), with the mix's index.
	Progress         func(mix int, s runner.Snapshot)
	ProgressInterval time.Duration
	// Clock is the runner's clock; nil for the system's.
	Clock runner.Clock
	// TeardownTimeout bounds the teardown steps, which run even when ctx
	// was cancelled; default 30s.
	TeardownTimeout time.Duration
	// Started, when set, is called once setup is done, just before the
	// load starts (a benchmark's fault schedule counts from here).
	Started func()
}

// Run runs the setup steps, then the load of every mix concurrently, then
// the teardown steps, and returns one Result per mix (in Mixes() order,
// Scenario set to the mix's name). Setup failing stops the run before any
// load (teardown still runs); a teardown failure is returned with the
// results. Cancelling ctx ends the load early (results still come back)
// and skips no teardown.
func (p *Plan) Run(ctx context.Context, o RunOptions) ([]*report.Result, error) {
	st := p.st
	mixes := st.sc.Mixes()
	if len(o.Clients) != len(mixes) {
		return nil, fmt.Errorf("scenario %s: %d clients for %d mixes", st.sc.Name, len(o.Clients), len(mixes))
	}
	if o.TeardownTimeout <= 0 {
		o.TeardownTimeout = 30 * time.Second
	}
	teardown := func() error {
		tctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), o.TeardownTimeout)
		defer cancel()
		return st.steps(tctx, "teardown", st.sc.Teardown, false)
	}
	if err := st.steps(ctx, "setup", st.sc.Setup, true); err != nil {
		return nil, errors.Join(err, teardown())
	}
	if err := p.checkCaptured(); err != nil {
		return nil, errors.Join(err, teardown())
	}
	results := make([]*report.Result, len(mixes))
	errs := make([]error, len(mixes))
	if o.Started != nil {
		o.Started()
	}
	var wg sync.WaitGroup
	for i, m := range mixes {
		cfg := m.RunnerConfig(o.Seed + uint64(i))
		cfg.Clock = o.Clock
		if o.Progress != nil {
			cfg.Progress = func(s runner.Snapshot) { o.Progress(i, s) }
			cfg.ProgressInterval = o.ProgressInterval
		}
		wg.Go(func() {
			res, err := runner.Run(ctx, cfg, o.Clients[i], p.mixes[i])
			if err != nil {
				errs[i] = fmt.Errorf("scenario %s: %w", m.Name, err)
				return
			}
			res.Scenario, res.Group = m.Name, m.Group
			results[i] = res
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, errors.Join(err, teardown())
	}
	return results, teardown()
}

// checkCaptured makes sure every captured parameter a mix reads has a
// value for each user that will read it, once setup has run: a request
// sent without its token would only measure an error.
func (p *Plan) checkCaptured() error {
	st := p.st
	e := expander{st: st}
	for _, m := range st.sc.Mixes() {
		for _, r := range m.Requests {
			for _, pi := range readsCaptured(r, st) {
				pr, v := st.sc.Params[pi], st.captured[pi]
				if pr.Key == nil {
					if _, ok := v.get(nil); !ok && !capturesParam(m, pi) {
						return fmt.Errorf("scenario %s: request %s reads {%s}, which no setup step captured", st.sc.Name, r.Name, pr.Name)
					}
					continue
				}
				for _, u := range st.pools[r.Pool].users {
					e.reset(0, u)
					e.key = e.appendKey(e.key[:0], pr.Key)
					if _, ok := v.get(e.key); !ok {
						return fmt.Errorf("scenario %s: request %s reads {%s} for user %q (key %q), which no setup step captured",
							st.sc.Name, r.Name, pr.Name, u.field("username"), e.key)
					}
				}
			}
		}
	}
	return nil
}

// readsCaptured returns the captured parameters r's templates read.
func readsCaptured(r *Request, st *state) []int {
	var out []int
	ts := []*Template{r.Path, r.Body}
	for _, h := range r.Headers {
		ts = append(ts, h.Value)
	}
	for _, t := range ts {
		if t == nil {
			continue
		}
		for _, pt := range t.parts {
			if pt.isRef && pt.kind == refParam && st.captured[pt.param] != nil {
				out = append(out, pt.param)
			}
		}
	}
	return out
}

// capturesParam reports whether a request of mix m captures parameter i.
func capturesParam(m *Scenario, i int) bool {
	for _, r := range m.Requests {
		for _, c := range r.Captures {
			if c.User == "" && c.Param == i {
				return true
			}
		}
	}
	return false
}

// maxErrorBody bounds the response body quoted in a step's error.
const maxErrorBody = 300

// steps runs each step in order, once per user of its pool (Concurrency
// at a time) or once without a pool. With stopFirst the first failure
// stops everything; otherwise every step runs and the failures are
// joined.
func (st *state) steps(ctx context.Context, phase string, steps []*Request, stopFirst bool) error {
	var errs []error
	conc := DefaultLoginConcurrency
	if st.sc.Auth != nil {
		conc = st.sc.Auth.Concurrency
	}
	for i, r := range steps {
		var users []*user
		if r.Pool >= 0 {
			users = st.pools[r.Pool].users
		}
		n := max(1, len(users))
		st.logf("%s[%d] %s: %d requests", phase, i, r.Name, n)
		err := forEach(ctx, conc, n, func(req *fasthttp.Request, resp *fasthttp.Response, j int) error {
			var u *user
			if users != nil {
				u = users[j]
			}
			return st.step(r, u, int64(j), req, resp)
		})
		if err != nil {
			err = fmt.Errorf("scenario %s: %s[%d] %s: %w", st.sc.Name, phase, i, r.Name, err)
			if stopFirst {
				return err
			}
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// step sends one step for user u and applies its captures.
func (st *state) step(r *Request, u *user, seq int64, req *fasthttp.Request, resp *fasthttp.Response) error {
	f := &filler{p: &Plan{st: st}, rng: rand.New(rand.NewPCG(uint64(seq), 0))}
	f.exp = expander{st: st, rng: f.rng, chosen: make([]int, len(st.values))}
	req.Reset()
	f.write(req, st.sc.Headers, r, u, seq)
	who := ""
	if u != nil {
		who = fmt.Sprintf(" (user %q)", u.field("username"))
	}
	if err := st.client.Do(req, resp); err != nil {
		return fmt.Errorf("%s %s%s: %v: %w", r.Method, req.URI().Path(), who, runner.Classify(err), err)
	}
	if !expectedStatus(r.Expect, resp.StatusCode()) {
		return fmt.Errorf("%s %s%s: status %d%s", r.Method, req.URI().Path(), who, resp.StatusCode(), quoteBody(resp))
	}
	for _, c := range r.Captures {
		if _, err := pluckOne(c.Pluck, resp.Body()); err != nil {
			return fmt.Errorf("%s %s%s: capture %s: %v", r.Method, req.URI().Path(), who, c.Pluck, err)
		}
	}
	st.capture(&f.exp, r, u, resp.Body())
	return nil
}

// quoteBody returns ": BODY" for a problem or JSON error body (shortened),
// which says why a step failed; "" for other bodies.
func quoteBody(resp *fasthttp.Response) string {
	ct := string(resp.Header.ContentType())
	if !strings.Contains(ct, "json") {
		return ""
	}
	b := strings.TrimSpace(string(resp.Body()))
	if len(b) > maxErrorBody {
		b = b[:maxErrorBody] + "..."
	}
	return ": " + b
}
