package api

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/campshub360/edge/shared/problem"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttpadaptor"
)

// healthJSON is the liveness answer.
type healthJSON struct {
	Status string `json:"status" enum:"ok"`
}

// health answers liveness: the process serves requests.
func (a *API) health(ctx *fasthttp.RequestCtx) {
	ctx.Response.Header.Set(fasthttp.HeaderCacheControl, "no-store")
	ctx.SetContentType("application/json")
	ctx.SetBodyString(`{"status":"ok"}`)
}

// readiness remembers each check's last outcome so that a dependency going
// down or coming back is logged once, not on every probe.
type readiness struct {
	failing []atomic.Bool
}

func newReadiness(n int) *readiness { return &readiness{failing: make([]atomic.Bool, n)} }

// readyHandler probes every check in parallel, each under ReadyTimeout,
// and answers 200 {"status":"ok","checks":{...}} when every required one
// passes (an optional one failing shows as "unavailable" and status
// "degraded"), else a 503 problem naming the failing required
// dependencies (never their error text).
func (a *API) readyHandler(ctx *fasthttp.RequestCtx) {
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

	var failing []string
	degraded := false
	for i, c := range a.checks {
		was := a.ready.failing[i].Swap(errs[i] != nil)
		switch {
		case errs[i] != nil && !was:
			a.log.Warn("readiness check failing", "check", c.Name, "error", errs[i].Error())
		case errs[i] == nil && was:
			a.log.Info("readiness check recovered", "check", c.Name)
		}
		switch {
		case errs[i] != nil && c.Optional:
			degraded = true
		case errs[i] != nil:
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
	checks := make(map[string]string, len(a.checks))
	for i, c := range a.checks {
		checks[c.Name] = "ok"
		if errs[i] != nil {
			checks[c.Name] = "unavailable"
		}
	}
	status := "ok"
	if degraded {
		status = "degraded"
	}
	body, _ := json.Marshal(readyBody{Status: status, Checks: checks})
	ctx.SetContentType("application/json")
	ctx.SetBody(body)
}

// readyBody is the 200 answer of GET /ready.
type readyBody struct {
	Status string            `json:"status" enum:"ok,degraded"`
	Checks map[string]string `json:"checks" doc:"each dependency: ok or unavailable"`
}

// metricsHandler serves the registry in the Prometheus text format.
func (a *API) metricsHandler() fasthttp.RequestHandler {
	h := promhttp.HandlerFor(a.registry, promhttp.HandlerOpts{
		ErrorHandling: promhttp.ContinueOnError,
	})
	return fasthttpadaptor.NewFastHTTPHandler(h)
}
