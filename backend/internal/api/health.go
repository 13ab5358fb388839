package api

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/campshub360/edge/shared/problem"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttpadaptor"
)

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
// and answers 200 {"status":"ok","checks":{...}} when all pass, else a 503
// problem naming the failing dependencies (never their error text).
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
	for i, c := range a.checks {
		was := a.ready.failing[i].Swap(errs[i] != nil)
		switch {
		case errs[i] != nil && !was:
			a.log.Warn("readiness check failing", "check", c.Name, "error", errs[i].Error())
		case errs[i] == nil && was:
			a.log.Info("readiness check recovered", "check", c.Name)
		}
		if errs[i] != nil {
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
	for _, c := range a.checks {
		checks[c.Name] = "ok"
	}
	writeJSON(ctx, fasthttp.StatusOK, readyBody{Status: "ok", Checks: checks})
}

// readyBody is the 200 answer of GET /ready.
type readyBody struct {
	Status string            `json:"status"`
	Checks map[string]string `json:"checks"`
}

// metricsHandler serves the registry in the Prometheus text format.
func (a *API) metricsHandler() fasthttp.RequestHandler {
	h := promhttp.HandlerFor(a.registry, promhttp.HandlerOpts{
		ErrorHandling: promhttp.ContinueOnError,
	})
	return fasthttpadaptor.NewFastHTTPHandler(h)
}
