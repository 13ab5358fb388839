package server

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/valyala/fasthttp"

	"github.com/campshub360/edge/gateway/internal/authn"
	"github.com/campshub360/edge/gateway/internal/balancer"
	"github.com/campshub360/edge/gateway/internal/cache"
	"github.com/campshub360/edge/gateway/internal/clientip"
	"github.com/campshub360/edge/gateway/internal/compress"
	"github.com/campshub360/edge/gateway/internal/config"
	"github.com/campshub360/edge/gateway/internal/framing"
	"github.com/campshub360/edge/gateway/internal/headers"
	"github.com/campshub360/edge/gateway/internal/metrics"
	"github.com/campshub360/edge/gateway/internal/proxy"
	"github.com/campshub360/edge/gateway/internal/ratelimit"
	"github.com/campshub360/edge/gateway/internal/route"
)

// graph is one configuration generation compiled for serving: routes,
// upstream pools, policies and the request chain built over them. It is
// immutable once built and swapped whole on reload; requests keep the
// graph they started with until they finish.
type graph struct {
	cfg    *config.Config
	hash   string
	routes *route.Table
	pools  map[string]*balancer.Pool
	// upstreams are the pools with their retry policies and health
	// checks (upstreams.go).
	upstreams map[string]*upstream
	resolver  *clientip.Resolver
	headers   *headers.Set
	// keys and auth verify tokens (nil when no route uses auth; edge.go).
	keys *authn.Keys
	auth *authn.Authenticator
	// limits is the rate limiter's view of this generation (ratelimit.go).
	limits *ratelimit.Generation
	// framing are the framing limits of the public listeners.
	framing framing.Limits
	// compressor compresses responses; nil when compression is off.
	compressor *compress.Compressor
	// unmatched are the RED series of requests no route matched.
	unmatched *metrics.Route
	// handler is the request chain of this generation (pipeline.go).
	handler fasthttp.RequestHandler
}

// routeTarget is what a compiled route carries: its upstream and the
// per-route policies.
type routeTarget struct {
	proxy         *proxy.Target
	maxBodyBytes  int
	bodyTimeout   time.Duration
	writeTimeout  time.Duration
	streamRequest bool
	compress      bool
	websocket     bool
	metrics       *metrics.Route
	edge          edgeRoute
	// limits are the route's rate-limit policies, nil for none.
	limits *ratelimit.Route
	// cacheCfg is the route's caching configuration; cache its compiled
	// policy (nil: the route does not cache).
	cacheCfg config.RouteCache
	cache    *cache.Policy
}

// compile builds a graph from a validated config, resolving its metric
// series on deps.metrics. It opens no sockets; upstream connections are
// made lazily on first use and health probers start with startHealth.
func compile(cfg *config.Config, deps upstreamDeps) (*graph, error) {
	resolver, err := clientip.New(cfg.TrustedProxies)
	if err != nil {
		return nil, err
	}
	m := deps.metrics
	g := &graph{
		cfg: cfg, pools: map[string]*balancer.Pool{}, resolver: resolver, headers: globalHeaders(cfg),
		framing:   framing.Limits{MaxURIBytes: cfg.Server.MaxURIBytes, MaxHeaderBytes: cfg.Server.MaxHeaderBytes},
		unmatched: m.Route("unmatched"),
	}
	if cfg.Compression.Enabled {
		g.compressor = compress.New(compress.Options{MinBytes: cfg.Compression.MinBytes, Types: cfg.Compression.Types})
	}
	if g.upstreams, err = buildUpstreams(cfg, deps); err != nil {
		return nil, err
	}
	for name, u := range g.upstreams {
		g.pools[name] = u.pool
	}
	var routes []*route.Route
	for _, r := range cfg.Routes {
		maxBody := r.MaxBodyBytes
		if maxBody == 0 {
			maxBody = cfg.Server.MaxBodyBytes
		}
		edge, err := compileEdgeRoute(cfg, r, g.headers)
		if err != nil {
			return nil, err
		}
		routes = append(routes, &route.Route{
			Name: r.Name, Host: r.Host, Prefix: r.PathPrefix,
			Target: &routeTarget{
				proxy:         proxy.NewTarget(m, g.upstreams[r.Upstream].target(r, cfg.Forwarding.Forwarded)),
				maxBodyBytes:  maxBody,
				bodyTimeout:   r.BodyTimeout,
				writeTimeout:  r.WriteTimeout,
				streamRequest: r.StreamRequestBody,
				compress:      g.compressor != nil && !r.DisableCompression && !r.WebSocket,
				websocket:     r.WebSocket,
				metrics:       m.Route(r.Name),
				edge:          edge,
				cacheCfg:      r.Cache,
			},
		})
	}
	g.routes = route.NewTable(routes)
	b, err := yaml.Marshal(cfg)
	if err != nil {
		return nil, fmt.Errorf("hash config: %w", err)
	}
	sum := sha256.Sum256(b)
	g.hash = hex.EncodeToString(sum[:6])
	return g, nil
}

// close stops the generation's health checks and releases its idle
// upstream connections; in-flight requests keep theirs until they
// complete.
func (g *graph) close() {
	g.stopHealth()
	g.closeEdge()
	for _, p := range g.pools {
		p.Close()
	}
}
