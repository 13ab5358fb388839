// Package admin serves the gateway's admin listener (loopback or private
// only, never the public port): Prometheus metrics, liveness and
// readiness, configuration reload and the redacted running configuration,
// response cache purges, and Go's pprof profiles.
package admin

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttpadaptor"
	"github.com/valyala/fasthttp/pprofhandler"

	"github.com/campshub360/edge/shared/problem"
)

// Options are the hooks the admin endpoints call. Every hook must be safe
// for concurrent use.
type Options struct {
	// Gatherer provides /metrics.
	Gatherer prometheus.Gatherer
	// Ready reports whether the gateway accepts traffic (false while
	// draining on shutdown): /readyz answers 200 or 503.
	Ready func() bool
	// Reload reloads the configuration: POST /admin/reload answers 200
	// with the result, or 422 with the problems when the new configuration
	// was rejected (an error with a FieldErrors method lists them one per
	// entry; any other error is one entry).
	Reload func() (ReloadResult, error)
	// Config returns the running configuration with secrets redacted, for
	// GET /admin/config.
	Config func() any
	// Upstreams returns every pool's live state for GET /admin/upstreams
	// (upstreams.go). Nil: the endpoint answers 404.
	Upstreams func() any
	// Drain takes an instance of a pool out of selection (drain true) or
	// puts it back, returning its state; an error means no such pool or
	// instance. POST and DELETE /admin/upstreams/{pool}/{instance}/drain.
	Drain func(pool, instance string, drain bool) (any, error)
	// CachePurge purges the response cache for POST /admin/cache/purge
	// (nil: the endpoint answers 404). An error with a FieldErrors method
	// is the caller's fault (400 listing the fields); any other is 500.
	CachePurge func(PurgeRequest) (PurgeResult, error)
}

// ReloadResult is what an accepted reload applied: the hash of the
// configuration now running and the settings that changed in the file but
// are read only at start (listener addresses, listener limits, log format,
// Redis, cache sizes), named by field path. Those keep their running
// values until the gateway restarts; everything else is in force.
//
// POST /admin/reload answers 200 with {"status": "reloaded",
// "config_hash", "restart_required": [paths], "message"} even when
// restart_required is not empty: the rest of the configuration was
// applied, and refusing it whole would leave routes and upstreams stale
// for the sake of a listener change.
type ReloadResult struct {
	// ConfigHash identifies the running configuration.
	ConfigHash string `json:"config_hash"`
	// RestartRequired are the field paths not applied (sorted; empty when
	// everything was applied).
	RestartRequired []string `json:"restart_required"`
}

// PurgeRequest is the JSON body of POST /admin/cache/purge: exact URLs
// ("https://host/path?query" or "/path?query" for any host), path
// prefixes, Surrogate-Key tags and partitions ("public" or
// "user:<subject>"). At least one target is required.
type PurgeRequest struct {
	// URLs are exact URLs.
	URLs []string `json:"urls"`
	// Prefixes are path prefixes.
	Prefixes []string `json:"prefixes"`
	// SurrogateKeys are Surrogate-Key tags.
	SurrogateKeys []string `json:"surrogate_keys"`
	// Partitions are "public" or "user:<subject>".
	Partitions []string `json:"partitions"`
}

// PurgeResult is the answer: entries purged on this instance and whether
// the purge was published to the other instances ("published") or applied
// here only ("local-only": Redis unconfigured or unreachable).
type PurgeResult struct {
	// Purged counts the entries removed on this instance.
	Purged int `json:"purged"`
	// Fanout is "published" or "local-only".
	Fanout string `json:"fanout"`
}

// maxPurgeBody bounds the purge request body.
const maxPurgeBody = 1 << 20

func cachePurge(ctx *fasthttp.RequestCtx, hook func(PurgeRequest) (PurgeResult, error)) {
	if hook == nil {
		problem.Write(ctx, problem.New(fasthttp.StatusNotFound, "not-found", "Not Found", "The response cache is not enabled."))
		return
	}
	if !ctx.IsPost() {
		ctx.Response.Header.Set(fasthttp.HeaderAllow, "POST")
		problem.Write(ctx, problem.New(fasthttp.StatusMethodNotAllowed, "method-not-allowed", "Method Not Allowed", "Use POST."))
		return
	}
	body := ctx.Request.Body()
	if len(body) > maxPurgeBody {
		problem.Write(ctx, problem.New(fasthttp.StatusRequestEntityTooLarge, "body-too-large", "Content Too Large", "The purge request exceeds 1 MiB."))
		return
	}
	var req PurgeRequest
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil || dec.More() {
		problem.Write(ctx, problem.New(fasthttp.StatusBadRequest, "bad-purge", "Bad Request",
			`The body must be one JSON object with "urls", "prefixes", "surrogate_keys" and/or "partitions" (lists of strings).`))
		return
	}
	if len(req.URLs)+len(req.Prefixes)+len(req.SurrogateKeys)+len(req.Partitions) == 0 {
		problem.Write(ctx, problem.New(fasthttp.StatusBadRequest, "bad-purge", "Bad Request", "Name at least one URL, prefix, surrogate key or partition."))
		return
	}
	res, err := hook(req)
	if err != nil {
		var fe interface{ FieldErrors() []problem.FieldError }
		if errors.As(err, &fe) {
			p := problem.New(fasthttp.StatusBadRequest, "bad-purge", "Bad Request", "Some purge targets are malformed; nothing was purged.")
			p.Errors = fe.FieldErrors()
			problem.Write(ctx, p)
			return
		}
		problem.Write(ctx, problem.New(fasthttp.StatusInternalServerError, "internal", "Internal Server Error", "The purge failed."))
		return
	}
	writeJSON(ctx, fasthttp.StatusOK, res)
}

// Handler returns the admin request handler.
func Handler(o Options) fasthttp.RequestHandler {
	metrics := fasthttpadaptor.NewFastHTTPHandler(promhttp.HandlerFor(o.Gatherer, promhttp.HandlerOpts{}))
	return func(ctx *fasthttp.RequestCtx) {
		path := string(ctx.Path())
		switch {
		case path == "/metrics":
			metrics(ctx)
		case path == "/healthz":
			writeJSON(ctx, fasthttp.StatusOK, map[string]string{"status": "ok"})
		case path == "/readyz":
			if o.Ready() {
				writeJSON(ctx, fasthttp.StatusOK, map[string]string{"status": "ready"})
				return
			}
			problem.Write(ctx, problem.New(fasthttp.StatusServiceUnavailable, "draining", "Service Unavailable", "The gateway is shutting down."))
		case path == "/admin/reload":
			if !ctx.IsPost() {
				ctx.Response.Header.Set(fasthttp.HeaderAllow, "POST")
				problem.Write(ctx, problem.New(fasthttp.StatusMethodNotAllowed, "method-not-allowed", "Method Not Allowed", "Use POST."))
				return
			}
			res, err := o.Reload()
			if err != nil {
				p := problem.New(fasthttp.StatusUnprocessableEntity, "config-invalid", "Configuration rejected",
					"The new configuration was rejected; the previous one stays active.")
				var fe interface{ FieldErrors() []problem.FieldError }
				if errors.As(err, &fe) {
					p.Errors = fe.FieldErrors()
				} else {
					p.Errors = []problem.FieldError{{Field: "configuration", Message: err.Error()}}
				}
				problem.Write(ctx, p)
				return
			}
			writeJSON(ctx, fasthttp.StatusOK, reloadBody(res))
		case path == "/admin/config":
			writeJSON(ctx, fasthttp.StatusOK, o.Config())
		case path == "/admin/upstreams" || strings.HasPrefix(path, "/admin/upstreams/"):
			serveUpstreams(ctx, o, path)
		case path == "/admin/cache/purge":
			cachePurge(ctx, o.CachePurge)
		case strings.HasPrefix(path, "/debug/pprof"):
			pprofhandler.PprofHandler(ctx)
		default:
			problem.Write(ctx, problem.New(fasthttp.StatusNotFound, "not-found", "Not Found", "No such admin endpoint."))
		}
	}
}

// reloadResponse is the 200 body of POST /admin/reload.
type reloadResponse struct {
	Status string `json:"status"`
	ReloadResult
	Message string `json:"message,omitempty"`
}

func reloadBody(res ReloadResult) reloadResponse {
	if res.RestartRequired == nil {
		res.RestartRequired = []string{}
	}
	r := reloadResponse{Status: "reloaded", ReloadResult: res}
	if len(res.RestartRequired) > 0 {
		r.Message = "Reloaded, except settings read only at start: " + strings.Join(res.RestartRequired, ", ") +
			". They keep their running values until the gateway is restarted."
	}
	return r
}

func writeJSON(ctx *fasthttp.RequestCtx, status int, v any) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		problem.Write(ctx, problem.New(fasthttp.StatusInternalServerError, "internal", "Internal Server Error", "Cannot encode the response."))
		return
	}
	ctx.SetStatusCode(status)
	ctx.SetContentType("application/json")
	ctx.Response.Header.Set(fasthttp.HeaderCacheControl, "no-store")
	ctx.SetBody(append(b, '\n'))
}
