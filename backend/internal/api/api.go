// Package api is the backend's HTTP surface on fasthttp and fasthttp/router:
// the routes (routes.go declares every one, with its access and its
// documentation, from which the OpenAPI document is generated), the
// request chain written once (chain.go: router -> requestid -> observe ->
// recover -> authz -> handler), the handlers (decode strictly, validate,
// call the store, audit and invalidate, respond with validators and cache
// headers), and the single mapping from errors to RFC 9457 problem
// responses (errors.go).
package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/campshub360/edge/shared/requestid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"

	"github.com/campshub360/edge/backend/internal/audit"
	"github.com/campshub360/edge/backend/internal/auth"
	"github.com/campshub360/edge/backend/internal/authz"
	"github.com/campshub360/edge/backend/internal/domain"
	"github.com/campshub360/edge/backend/internal/pii"
	"github.com/campshub360/edge/backend/internal/qr"
)

// Check is one readiness dependency: Ping must return nil when the
// dependency answers, honouring ctx's deadline.
type Check struct {
	// Name labels the dependency in readiness responses and logs
	// ("postgres", "redis").
	Name string
	// Ping probes the dependency.
	Ping func(ctx context.Context) error
	// Optional dependencies are reported by GET /ready but do not make it
	// fail: the API serves without them (Redis).
	Optional bool
}

// Invalidator is told the cache tags a committed write changed
// (rediscache.Invalidator: Redis generations and the gateways' Pub/Sub
// channel). It must not block for long nor fail the caller.
type Invalidator interface {
	Invalidate(ctx context.Context, tags ...string)
}

// Deps are what the API needs. Every field is required unless noted.
type Deps struct {
	// Store reads and writes the campus (usually the Redis decorator over
	// the PostgreSQL store).
	Store domain.Store
	// Authn establishes the caller of every non-public route.
	Authn authz.Authenticator
	// Audit records an event for every write and every permission denial.
	Audit audit.Recorder
	// Invalidator, when set, is told the tags of every committed write.
	Invalidator Invalidator
	// QR issues and verifies QR check-in tokens.
	QR *qr.Signer
	// Rules are the attendance rules (time zone for "today", threshold).
	Rules domain.Rules
	// Auth serves the /auth, /me, /users and /api-keys routes; nil serves
	// none of them (tests of other route groups).
	Auth *auth.Service
	// Vault seals and opens students' personal data (phone, date of
	// birth, address). Nil only in tests of other route groups: the
	// personal data fields are then neither shown nor accepted (a body
	// carrying them answers 400).
	Vault *pii.Vault
	// Proxies resolves client addresses for audit events (loopback
	// trusted when nil).
	Proxies *auth.Proxies
	// Security counts permission denials (may be nil).
	Security *auth.Metrics
	// Checks are the readiness dependencies probed by GET /ready, in
	// parallel, each under ReadyTimeout. May be empty.
	Checks []Check
	// ReadyTimeout bounds each readiness check.
	ReadyTimeout time.Duration
	// Logger receives access logs and internal errors.
	Logger *slog.Logger
	// Registry receives the HTTP metrics and is served at GET /metrics.
	Registry *prometheus.Registry
	// IDs mints request ids for requests without a valid X-Request-ID.
	IDs *requestid.Generator
	// Now is the clock for request durations and "today" (time.Now when
	// nil).
	Now func() time.Time
}

// API serves the backend's routes. Build it with New; its Handler is safe
// for concurrent use.
type API struct {
	store        domain.Store
	authn        authz.Authenticator
	audit        audit.Recorder
	inval        Invalidator
	qr           *qr.Signer
	rules        domain.Rules
	auth         *auth.Service
	vault        *pii.Vault
	proxies      *auth.Proxies
	security     *auth.Metrics
	checks       []Check
	readyTimeout time.Duration
	log          *slog.Logger
	registry     *prometheus.Registry
	ids          *requestid.Generator
	now          func() time.Time
	metrics      *httpMetrics
	ready        *readiness
	// draining is set by Drain: the instance is shutting down.
	draining atomic.Bool
	table    []routeSpec
	handler  fasthttp.RequestHandler
	openapi  []byte
	// resources are the first path segments API keys may be scoped to.
	resources map[string]bool
}

// New builds the API and registers its metrics on d.Registry. It fails when
// a required dependency is missing or the metrics are already registered.
func New(d Deps) (*API, error) {
	switch {
	case d.Store == nil:
		return nil, errors.New("api: Store is required")
	case d.Authn == nil:
		return nil, errors.New("api: Authn is required")
	case d.Audit == nil:
		return nil, errors.New("api: Audit is required")
	case d.QR == nil:
		return nil, errors.New("api: QR is required")
	case d.Logger == nil:
		return nil, errors.New("api: Logger is required")
	case d.Registry == nil:
		return nil, errors.New("api: Registry is required")
	case d.IDs == nil:
		return nil, errors.New("api: IDs is required")
	case d.ReadyTimeout <= 0:
		return nil, errors.New("api: ReadyTimeout must be positive")
	}
	proxies := d.Proxies
	if proxies == nil {
		proxies, _ = auth.ParseProxies(auth.DefaultTrustedProxies)
	}
	for _, c := range d.Checks {
		if c.Name == "" || c.Ping == nil {
			return nil, errors.New("api: every readiness check needs a Name and a Ping")
		}
	}
	now := d.Now
	if now == nil {
		now = time.Now
	}
	rules := d.Rules
	if rules.TimeZone == nil {
		rules.TimeZone = time.UTC
	}
	if rules.Threshold == 0 {
		rules.Threshold = domain.DefaultThreshold
	}
	m, err := newHTTPMetrics(d.Registry)
	if err != nil {
		return nil, err
	}
	a := &API{
		store:        d.Store,
		authn:        d.Authn,
		audit:        d.Audit,
		inval:        d.Invalidator,
		qr:           d.QR,
		rules:        rules,
		checks:       d.Checks,
		readyTimeout: d.ReadyTimeout,
		log:          d.Logger,
		registry:     d.Registry,
		ids:          d.IDs,
		now:          now,
		metrics:      m,
		ready:        newReadiness(len(d.Checks)),
		auth:         d.Auth,
		vault:        d.Vault,
		proxies:      proxies,
		security:     d.Security,
	}
	a.table = a.routeTable()
	if a.openapi, err = buildOpenAPI(a.table); err != nil {
		return nil, err
	}
	a.resources = scopeResources(a.table)
	a.handler = a.routes().Handler
	return a, nil
}

// Handler returns the request handler serving every route.
func (a *API) Handler() fasthttp.RequestHandler { return a.handler }

// ServerOptions are the fasthttp.Server limits. Zero values take the
// defaults noted.
type ServerOptions struct {
	ReadTimeout        time.Duration // default 10s: whole request, headers and body
	WriteTimeout       time.Duration // default 15s
	IdleTimeout        time.Duration // default 60s between keep-alive requests
	MaxRequestBodySize int           // default 8 MiB (the bulk import's limit; routes enforce their own)
	Concurrency        int           // default fasthttp's (256 * 1024)
	// ReadBufferSize bounds the request line plus header block, in bytes
	// (431 above; default 32 KiB). It must be at least what the gateway
	// in front lets through (its max_uri_bytes + max_header_bytes, 24 KiB
	// by default), or a request the edge accepted fails here.
	ReadBufferSize int
}

// NewServer returns a fasthttp.Server serving a with the given limits.
// Requests fasthttp cannot parse (too large, malformed) are answered with a
// problem response that carries a fresh X-Request-ID. Shutdown closes idle
// keep-alive connections (CloseOnShutdown) so a graceful stop does not wait
// for clients to hang up.
func (a *API) NewServer(o ServerOptions) *fasthttp.Server {
	def := func(d, v time.Duration) time.Duration {
		if d <= 0 {
			return v
		}
		return d
	}
	body := o.MaxRequestBodySize
	if body <= 0 {
		body = importBody
	}
	readBuf := o.ReadBufferSize
	if readBuf <= 0 {
		readBuf = 32 << 10
	}
	return &fasthttp.Server{
		Handler:               a.serveDraining,
		ErrorHandler:          a.serverError,
		Name:                  "",
		NoDefaultServerHeader: true,
		ReadTimeout:           def(o.ReadTimeout, 10*time.Second),
		WriteTimeout:          def(o.WriteTimeout, 15*time.Second),
		IdleTimeout:           def(o.IdleTimeout, 60*time.Second),
		MaxRequestBodySize:    body,
		ReadBufferSize:        readBuf,
		Concurrency:           o.Concurrency,
		CloseOnShutdown:       true,
		Logger:                slogPrintf{a.log},
	}
}

// Drain marks the instance as shutting down, ahead of closing its
// listener: GET /ready and GET /health/ answer 503 "draining" so that load
// balancers probing either take the instance out, and every response
// carries Connection: close so that keep-alive clients (the gateway's
// connection pools) open their next connection elsewhere instead of
// reusing one the coming shutdown would close under them. Requests are
// still served meanwhile. Safe for concurrent use; there is no undrain.
func (a *API) Drain() { a.draining.Store(true) }

// Draining reports whether Drain was called.
func (a *API) Draining() bool { return a.draining.Load() }

// serveDraining is the server's handler: the routes, and Connection:
// close on every response once draining.
func (a *API) serveDraining(ctx *fasthttp.RequestCtx) {
	a.handler(ctx)
	if a.draining.Load() {
		ctx.SetConnectionClose()
	}
}

// slogPrintf adapts fasthttp's Printf logger to slog at warn level.
type slogPrintf struct{ l *slog.Logger }

// Printf implements fasthttp.Logger.
func (s slogPrintf) Printf(format string, args ...any) {
	s.l.Warn("http server", "detail", fmt.Sprintf(format, args...))
}
