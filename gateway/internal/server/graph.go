package server

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/valyala/fasthttp"

	"github.com/campshub360/edge/gateway/internal/balancer"
	"github.com/campshub360/edge/gateway/internal/clientip"
	"github.com/campshub360/edge/gateway/internal/compress"
	"github.com/campshub360/edge/gateway/internal/config"
	"github.com/campshub360/edge/gateway/internal/framing"
	"github.com/campshub360/edge/gateway/internal/headers"
	"github.com/campshub360/edge/gateway/internal/metrics"
	"github.com/campshub360/edge/gateway/internal/proxy"
	"github.com/campshub360/edge/gateway/internal/route"
)

// graph is one configuration generation compiled for serving: routes,
// upstream pools, policies and the request chain built over them. It is
// immutable once built and swapped whole on reload; requests keep the
// graph they started with until they finish.
type graph struct {
	cfg      *config.Config
	hash     string
	routes   *route.Table
	pools    map[string]*balancer.Pool
	resolver *clientip.Resolver
	headers  *headers.Set
	// limits are the framing limits of the public listeners.
	limits framing.Limits
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
}

// compile builds a graph from a validated config, resolving its metric
// series on m. It opens no sockets; upstream connections are made lazily
// on first use.
func compile(cfg *config.Config, m *metrics.Metrics) (*graph, error) {
	resolver, err := clientip.New(cfg.TrustedProxies)
	if err != nil {
		return nil, err
	}
	g := &graph{
		cfg: cfg, pools: map[string]*balancer.Pool{}, resolver: resolver, headers: headers.Defaults(),
		limits:    framing.Limits{MaxURIBytes: cfg.Server.MaxURIBytes, MaxHeaderBytes: cfg.Server.MaxHeaderBytes},
		unmatched: m.Route("unmatched"),
	}
	if cfg.Compression.Enabled {
		g.compressor = compress.New(compress.Options{MinBytes: cfg.Compression.MinBytes, Types: cfg.Compression.Types})
	}
	for _, u := range cfg.Upstreams {
		if len(u.Instances) > balancer.MaxInstances {
			return nil, fmt.Errorf("upstream %q: at most %d instances", u.Name, balancer.MaxInstances)
		}
		p := &balancer.Pool{Name: u.Name, Policy: &balancer.RoundRobin{}}
		for i, in := range u.Instances {
			p.Instances = append(p.Instances, balancer.NewUpstream(u.Name, in.Addr, in.Weight, i, balancer.ClientOptions{
				DialTimeout:         u.DialTimeout,
				MaxConns:            u.MaxConnsPerInstance,
				MaxIdleConnDuration: u.MaxIdleConnDuration,
			}))
		}
		g.pools[u.Name] = p
	}
	var routes []*route.Route
	for _, r := range cfg.Routes {
		maxBody := r.MaxBodyBytes
		if maxBody == 0 {
			maxBody = cfg.Server.MaxBodyBytes
		}
		routes = append(routes, &route.Route{
			Name: r.Name, Host: r.Host, Prefix: r.PathPrefix,
			Target: &routeTarget{
				proxy: proxy.NewTarget(m, proxy.Target{
					Pool: g.pools[r.Upstream], Timeout: r.Timeout, StreamResponse: r.StreamResponseBody,
					Forwarded: cfg.Forwarding.Forwarded, WebSocketIdle: r.WebSocketIdleTimeout,
				}),
				maxBodyBytes:  maxBody,
				bodyTimeout:   r.BodyTimeout,
				writeTimeout:  r.WriteTimeout,
				streamRequest: r.StreamRequestBody,
				compress:      g.compressor != nil && !r.DisableCompression && !r.WebSocket,
				websocket:     r.WebSocket,
				metrics:       m.Route(r.Name),
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

// close releases the idle upstream connections of the generation; in-flight
// requests keep theirs until they complete.
func (g *graph) close() {
	for _, p := range g.pools {
		p.Close()
	}
}
