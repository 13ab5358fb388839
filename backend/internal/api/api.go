// Package api is the backend's HTTP surface on fasthttp and fasthttp/router:
// the routes (routes.go lists every one), the request chain written once
// (chain.go: router -> requestid -> observe -> recover -> handler), the
// handlers, and the single mapping from errors to RFC 9457 problem
// responses (errors.go).
package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/campshub360/edge/shared/requestid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"

	"github.com/campshub360/edge/backend/internal/audit"
	"github.com/campshub360/edge/backend/internal/auth"
	"github.com/campshub360/edge/backend/internal/authz"
	"github.com/campshub360/edge/backend/internal/domain"
	"github.com/campshub360/edge/backend/internal/pii"
)

// Check is one readiness dependency: Ping must return nil when the
// dependency answers, honouring ctx's deadline.
type Check struct {
	// Name labels the dependency in readiness responses and logs
	// ("postgres", "redis").
	Name string
	// Ping probes the dependency.
	Ping func(ctx context.Context) error
}

// Deps are what the API needs. Every field is required unless noted.
type Deps struct {
	// Students reads students.
	Students domain.StudentStore
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
	// Now is the clock for request durations (time.Now when nil).
	Now func() time.Time

	// Authn establishes the caller of every non-public route (required).
	Authn authz.Authenticator
	// Auth serves the /auth, /me, /users and /api-keys routes; nil serves
	// none of them (tests of other route groups).
	Auth *auth.Service
	// Vault decrypts students' personal data for GET /me (may be nil: the
	// fields are then omitted).
	Vault *pii.Vault
	// Proxies resolves client addresses (loopback trusted when nil).
	Proxies *auth.Proxies
	// Audit records permission denials (may be nil).
	Audit audit.Recorder
	// Security counts permission denials (may be nil).
	Security *auth.Metrics
}

// API serves the backend's routes. Build it with New; its Handler is safe
// for concurrent use.
type API struct {
	students     domain.StudentStore
	checks       []Check
	readyTimeout time.Duration
	log          *slog.Logger
	registry     *prometheus.Registry
	ids          *requestid.Generator
	now          func() time.Time
	metrics      *httpMetrics
	ready        *readiness
	handler      fasthttp.RequestHandler

	authn    authz.Authenticator
	auth     *auth.Service
	vault    *pii.Vault
	proxies  *auth.Proxies
	audit    audit.Recorder
	security *auth.Metrics
	table    []RouteInfo
	// resources are the first path segments API keys may be scoped to.
	resources map[string]bool
}

// New builds the API and registers its metrics on d.Registry. It fails when
// a required dependency is missing or the metrics are already registered.
func New(d Deps) (*API, error) {
	switch {
	case d.Students == nil:
		return nil, errors.New("api: Students is required")
	case d.Logger == nil:
		return nil, errors.New("api: Logger is required")
	case d.Registry == nil:
		return nil, errors.New("api: Registry is required")
	case d.IDs == nil:
		return nil, errors.New("api: IDs is required")
	case d.ReadyTimeout <= 0:
		return nil, errors.New("api: ReadyTimeout must be positive")
	case d.Authn == nil:
		return nil, errors.New("api: Authn is required")
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
	m, err := newHTTPMetrics(d.Registry)
	if err != nil {
		return nil, err
	}
	a := &API{
		students:     d.Students,
		checks:       d.Checks,
		readyTimeout: d.ReadyTimeout,
		log:          d.Logger,
		registry:     d.Registry,
		ids:          d.IDs,
		now:          now,
		metrics:      m,
		ready:        newReadiness(len(d.Checks)),
		authn:        d.Authn,
		auth:         d.Auth,
		vault:        d.Vault,
		proxies:      proxies,
		audit:        d.Audit,
		security:     d.Security,
	}
	a.handler = a.routes().Handler
	a.resources = scopeResources(a.table)
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
	MaxRequestBodySize int           // default 1 MiB
	Concurrency        int           // default fasthttp's (256 * 1024)
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
		body = 1 << 20
	}
	return &fasthttp.Server{
		Handler:               a.handler,
		ErrorHandler:          a.serverError,
		Name:                  "",
		NoDefaultServerHeader: true,
		ReadTimeout:           def(o.ReadTimeout, 10*time.Second),
		WriteTimeout:          def(o.WriteTimeout, 15*time.Second),
		IdleTimeout:           def(o.IdleTimeout, 60*time.Second),
		MaxRequestBodySize:    body,
		Concurrency:           o.Concurrency,
		CloseOnShutdown:       true,
		Logger:                slogPrintf{a.log},
	}
}

// slogPrintf adapts fasthttp's Printf logger to slog at warn level.
type slogPrintf struct{ l *slog.Logger }

// Printf implements fasthttp.Logger.
func (s slogPrintf) Printf(format string, args ...any) {
	s.l.Warn("http server", "detail", fmt.Sprintf(format, args...))
}
