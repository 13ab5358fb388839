package api

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/campshub360/edge/shared/problem"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttpadaptor"
)

// healthJSON is the liveness answer.
type healthJSON struct {
	Status string `json:"status" enum:"ok"`
}

// health answers liveness: the process serves requests; 503 "draining"
// once Drain was called (the process is on its way out).
func (a *API) health(ctx *fasthttp.RequestCtx) {
	if a.draining.Load() {
		a.drainingProblem(ctx)
		return
	}
	ctx.Response.Header.Set(fasthttp.HeaderCacheControl, "no-store")
	ctx.SetContentType("application/json")
	ctx.SetBodyString(`{"status":"ok"}`)
}

// ErrDegraded marks the failure of an optional readiness dependency: one
// the backend keeps serving without, more slowly (Redis: its users fall
// back to PostgreSQL). GET /ready reports such a dependency "degraded"
// and stays 200, because an orchestrator acting on readiness (Kubernetes
// removes unready pods from their Service) would otherwise take every
// instance out at once over a shared cache and turn a slowdown into an
// outage. Any other failure (PostgreSQL) makes the instance unready.
var ErrDegraded = errors.New("optional dependency unavailable")

// Optional returns c with its Ping failures wrapped in ErrDegraded, so
// that readiness reports the dependency as degraded instead of failing
// (see ErrDegraded). A Check with a nil Ping is returned unchanged (New
// rejects it).
func Optional(c Check) Check {
	ping := c.Ping
	if ping == nil {
		return c
	}
	c.Ping = func(ctx context.Context) error {
		if err := ping(ctx); err != nil {
			if errors.Is(err, ErrDegraded) {
				return err
			}
			return fmt.Errorf("%w: %w", ErrDegraded, err)
		}
		return nil
	}
	return c
}

// Dependency states in GET /ready bodies and logs.
const (
	stateOK       = "ok"
	stateDegraded = "degraded"
	stateFailing  = "unavailable"
)

// readiness remembers each check's last outcome so that a dependency going
// down or coming back is logged once, not on every probe or scrape.
type readiness struct {
	failing []atomic.Bool
}

func newReadiness(n int) *readiness { return &readiness{failing: make([]atomic.Bool, n)} }

// probe runs every check in parallel, each under ReadyTimeout, logs the
// transitions (a check failing or recovering) and returns each check's
// error in a.checks order. Safe for concurrent use.
func (a *API) probe() []error {
	errs := make([]error, len(a.checks))
	var wg sync.WaitGroup
	for i, c := range a.checks {
		wg.Go(func() {
			cctx, cancel := context.WithTimeout(context.Background(), a.readyTimeout)
			defer cancel()
			errs[i] = c.Ping(cctx)
		})
	}
	wg.Wait()
	for i, c := range a.checks {
		was := a.ready.failing[i].Swap(errs[i] != nil)
		switch {
		case errs[i] != nil && !was:
			state := stateFailing
			if errors.Is(errs[i], ErrDegraded) {
				state = stateDegraded
			}
			a.log.Warn("readiness check failing", "check", c.Name, "state", state, "error", errs[i].Error())
		case errs[i] == nil && was:
			a.log.Info("readiness check recovered", "check", c.Name)
		}
	}
	return errs
}

// drainingProblem answers a health probe of a draining instance: 503
// "draining" with Retry-After, not cacheable.
func (a *API) drainingProblem(ctx *fasthttp.RequestCtx) {
	ctx.Response.Header.Set(fasthttp.HeaderRetryAfter, "1")
	writeProblem(ctx, problem.New(fasthttp.StatusServiceUnavailable, slugDraining, "Service Unavailable",
		"Not ready: draining for shutdown."))
}

// readyHandler answers GET /ready: 200 {"status":"ok","checks":{...}}
// when every check passes; 200 {"status":"degraded",...} with the failing
// optional dependencies marked "degraded" when only those fail; otherwise
// a 503 problem naming the failing required dependencies (never their
// error text), with Retry-After. A draining instance (Drain) answers 503
// "draining" without probing.
func (a *API) readyHandler(ctx *fasthttp.RequestCtx) {
	if a.draining.Load() {
		a.drainingProblem(ctx)
		return
	}
	errs := a.probe()
	checks := make(map[string]string, len(a.checks))
	status := stateOK
	var failing []string
	for i, c := range a.checks {
		switch {
		case errs[i] == nil:
			checks[c.Name] = stateOK
		case errors.Is(errs[i], ErrDegraded):
			checks[c.Name] = stateDegraded
			status = stateDegraded
		default:
			checks[c.Name] = stateFailing
			failing = append(failing, c.Name)
		}
	}
	ctx.Response.Header.Set(fasthttp.HeaderCacheControl, "no-store")
	if len(failing) > 0 {
		ctx.Response.Header.Set(fasthttp.HeaderRetryAfter, "1")
		writeProblem(ctx, problem.New(fasthttp.StatusServiceUnavailable, slugUnavailable, "Service Unavailable",
			"Not ready: "+strings.Join(failing, ", ")+" unavailable."))
		return
	}
	if err := writeJSON(ctx, fasthttp.StatusOK, readyBody{Status: status, Checks: checks}, noStore); err != nil {
		a.fail(ctx, err)
	}
}

// readyBody is the 200 answer of GET /ready: Status is "ok" or
// "degraded"; Checks maps each dependency to "ok" or "degraded".
type readyBody struct {
	Status string            `json:"status"`
	Checks map[string]string `json:"checks"`
}

// dependencyCollector exports the readiness checks at scrape time:
//
//	campshub_backend_dependency_up{dependency}  gauge: 1 answers, 0 does not
//
// A 0 for a required dependency (postgres) means the instance is unready;
// for an optional one (redis, see Optional) it serves degraded. Each
// scrape probes every check (in parallel, each under ReadyTimeout), so the
// value is current whether or not anything polls GET /ready.
type dependencyCollector struct {
	a    *API
	desc *prometheus.Desc
}

// Describe implements prometheus.Collector.
func (d dependencyCollector) Describe(ch chan<- *prometheus.Desc) { ch <- d.desc }

// Collect implements prometheus.Collector.
func (d dependencyCollector) Collect(ch chan<- prometheus.Metric) {
	errs := d.a.probe()
	for i, c := range d.a.checks {
		up := 1.0
		if errs[i] != nil {
			up = 0
		}
		ch <- prometheus.MustNewConstMetric(d.desc, prometheus.GaugeValue, up, c.Name)
	}
}

// metricsHandler registers the dependency collector on the registry (it
// probes the readiness checks at scrape time) and serves the registry in
// the Prometheus text format. It runs once, when the routes are built.
func (a *API) metricsHandler() fasthttp.RequestHandler {
	dc := dependencyCollector{a: a, desc: prometheus.NewDesc("campshub_backend_dependency_up",
		"1 when the dependency answers its readiness check, else 0 (an optional one, such as redis: serving degraded).",
		[]string{"dependency"}, nil)}
	if len(a.checks) > 0 {
		if err := a.registry.Register(dc); err != nil {
			a.log.Error("dependency metrics not registered", "error", err.Error())
		}
	}
	h := promhttp.HandlerFor(a.registry, promhttp.HandlerOpts{
		ErrorHandling: promhttp.ContinueOnError,
	})
	return fasthttpadaptor.NewFastHTTPHandler(h)
}
