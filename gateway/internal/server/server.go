// Package server runs the gateway: it binds the public HTTPS and HTTP
// listeners and the admin listener, compiles configuration generations into
// request chains (pipeline.go), swaps them atomically on reload, and shuts
// down gracefully.
package server

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"reflect"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/valyala/fasthttp"

	"github.com/campshub360/edge/gateway/internal/admin"
	"github.com/campshub360/edge/gateway/internal/authn"
	"github.com/campshub360/edge/gateway/internal/balancer"
	"github.com/campshub360/edge/gateway/internal/cache"
	"github.com/campshub360/edge/gateway/internal/config"
	"github.com/campshub360/edge/gateway/internal/exchange"
	"github.com/campshub360/edge/gateway/internal/metrics"
	"github.com/campshub360/edge/gateway/internal/proxy"
	"github.com/campshub360/edge/gateway/internal/ratelimit"
	"github.com/campshub360/edge/gateway/internal/tlsconfig"
	"github.com/campshub360/edge/shared/problem"
	"github.com/campshub360/edge/shared/requestid"
)

// Options are the process-level dependencies of a Server.
type Options struct {
	// ConfigPath is re-read on Reload ("" = the embedded default).
	ConfigPath string
	// Env supplies configuration overrides (os.Environ form).
	Env []string
	// Log receives process logs.
	Log *slog.Logger
	// AccessLog receives the access log lines (nil: none).
	AccessLog *slog.Logger
	// Registry receives the gateway's metrics; /metrics serves it.
	Registry *prometheus.Registry
	// Version is reported in gateway_build_info.
	Version string
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// Seed fixes the random sources of the balancers and retry jitter
	// (0: random), for reproducible tests.
	Seed uint64
}

// Addrs are the bound listener addresses ("" when disabled).
type Addrs struct {
	HTTPS, HTTP, Admin string
}

// Server is the gateway process. Create with New, bind with Listen, run
// with Serve. Reload is safe to call concurrently with serving.
type Server struct {
	log       *slog.Logger
	access    *slog.Logger
	registry  *prometheus.Registry
	metrics   *metrics.Metrics
	proxy     *proxy.Proxy
	ids       *requestid.Generator
	exchanges exchange.Pool
	certs     *tlsconfig.Store
	now       func() time.Time
	version   string
	path      string
	env       []string

	// certWatcher reloads certificates when their files change (nil when
	// tls.watch is off); authMetrics are edge auth's collectors (edge.go).
	certWatcher *tlsconfig.Watcher
	authMetrics *authn.Metrics
	// drained are the instances an operator took out (upstreams.go).
	drained drainSet
	// seed fixes the balancers' random sources (Options.Seed).
	seed uint64

	// redis is the shared store client, nil when none is configured. It
	// is created once; its address does not change on reload.
	redis *redis.Client
	// limits holds the rate limiter's buckets across reloads (ratelimit.go).
	limits *ratelimit.Engine
	// cache is the response cache, created once (sized at start); routes
	// opt in per configuration generation.
	cache *cache.Cache

	current  atomic.Pointer[graph]
	draining atomic.Bool
	reloadMu sync.Mutex

	httpsSrv, httpSrv, adminSrv *fasthttp.Server
	httpsLn, httpLn, adminLn    net.Listener
	httpsPort                   string
}

// New compiles cfg and prepares the servers; it binds nothing (Listen
// does). TLS material is loaded here: the configured pairs, or the
// self-signed development certificate under cfg.RuntimeDir.
func New(cfg *config.Config, o Options) (*Server, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	m, err := metrics.New(o.Registry)
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	s := &Server{
		log: o.Log, access: o.AccessLog, registry: o.Registry, metrics: m, now: o.Now,
		version: o.Version, path: o.ConfigPath, env: o.Env,
		ids:   requestid.NewGenerator(o.Now),
		proxy: proxy.New(m, o.Log, o.Now),
		seed:  o.Seed,
	}
	if err := o.Registry.Register(balancer.NewCollector(func() []*balancer.Pool {
		if g := s.current.Load(); g != nil {
			return g.poolList()
		}
		return nil
	}, o.Now)); err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	if err := s.initEdge(cfg); err != nil {
		return nil, err
	}
	ro, err := cfg.RedisOptions()
	if err != nil {
		return nil, err
	}
	if ro != nil {
		s.redis = redis.NewClient(ro) // connects lazily
	} else {
		s.log.Warn("no Redis configured (redis.url): rate limits and cache invalidation are local to this instance")
	}
	if err := s.startLimits(cfg); err != nil {
		return nil, err
	}
	if s.cache, err = newCache(cfg, o, s.redis); err != nil {
		s.limits.Close()
		return nil, err
	}
	g, err := s.build(cfg)
	if err != nil {
		s.limits.Close()
		_ = s.cache.Close()
		return nil, err
	}
	s.current.Store(g)
	s.recordLoad(g, true)

	s.httpsSrv = s.publicServer(cfg, "https", s.serveHTTPS)
	if cfg.Listen.HTTP != "" {
		s.httpSrv = s.publicServer(cfg, "http", s.serveHTTP)
	}
	if cfg.Listen.Admin != "" {
		s.adminSrv = &fasthttp.Server{
			Name: "", NoDefaultServerHeader: true, ReadTimeout: 10 * time.Second, WriteTimeout: 60 * time.Second,
			IdleTimeout: 60 * time.Second, CloseOnShutdown: true, Logger: fasthttpLogger{o.Log},
			Handler: admin.Handler(admin.Options{
				Gatherer:  o.Registry,
				Ready:     func() bool { return !s.draining.Load() },
				Reload:    s.Reload,
				Config:    func() any { return redacted(s.current.Load().cfg) },
				Upstreams: s.upstreamsState,
				Drain:     s.drain,
				CachePurge: func(r admin.PurgeRequest) (admin.PurgeResult, error) {
					n, fanned, err := s.cache.Purge(cache.Invalidation{
						URLs: r.URLs, Prefixes: r.Prefixes, SurrogateKeys: r.SurrogateKeys, Partitions: r.Partitions,
					})
					res := admin.PurgeResult{Purged: n, Fanout: "published"}
					if !fanned {
						res.Fanout = "local-only"
					}
					return res, err
				},
			}),
		}
	}
	return s, nil
}

// build compiles cfg and its request chain.
func (s *Server) build(cfg *config.Config) (*graph, error) {
	g, err := compile(cfg, upstreamDeps{log: s.log, now: s.now, metrics: s.metrics, drained: &s.drained, seed: s.seed})
	if err != nil {
		return nil, err
	}
	if err := s.compileLimits(g); err != nil {
		return nil, err
	}
	for _, r := range g.routes.Routes() {
		t := r.Target.(*routeTarget)
		if t.cacheCfg.Enabled {
			t.cache = s.cache.Policy(r.Name, t.cacheCfg.PerUser, t.cacheCfg.MaxObjectBytes)
		}
	}
	if err := s.buildAuth(g, s.current.Load()); err != nil {
		return nil, err
	}
	g.handler = s.chain(g)
	return g, nil
}

// newCache creates the process's response cache from cfg.Cache: a random
// partition HMAC key and instance id per process (purges name subjects,
// not partition ids, so instances need not share the key).
func newCache(cfg *config.Config, o Options, rdb *redis.Client) (*cache.Cache, error) {
	var key [32]byte
	var id [6]byte
	if _, err := rand.Read(key[:]); err != nil {
		return nil, fmt.Errorf("cache: %w", err)
	}
	if _, err := rand.Read(id[:]); err != nil {
		return nil, fmt.Errorf("cache: %w", err)
	}
	host, _ := os.Hostname()
	k := cfg.Cache
	return cache.New(cache.Options{
		Store: cache.StoreOptions{
			MaxBytes: k.MaxBytes, HotBytes: k.HotBytes, MaxObjectBytes: k.MaxObjectBytes,
			UserQuotaBytes: k.UserQuotaBytes, LifeWindow: k.MaxLifetime,
		},
		Encodings: k.Encodings, PartitionKey: key[:], CoalesceWait: k.CoalesceWait, HitForMiss: k.HitForMiss,
		RefreshAhead: k.RefreshAhead, MaxBackground: k.MaxBackground, Registry: o.Registry, Log: o.Log,
		Now: o.Now, Redis: rdb, Channel: k.InvalidationChannel,
		InstanceID: "gateway-" + host + "-" + hex.EncodeToString(id[:]),
	})
}

// loadCerts loads the configured certificates (edge.go: certSource); on
// error the served set stays.
func (s *Server) loadCerts(cfg *config.Config) error {
	src, err := s.certSource(cfg)
	if err != nil {
		return err
	}
	if err := s.certs.Load(src); err != nil {
		return fmt.Errorf("tls: %w", err)
	}
	return nil
}

func (s *Server) publicServer(cfg *config.Config, name string, h fasthttp.RequestHandler) *fasthttp.Server {
	sc := cfg.Server
	return &fasthttp.Server{
		Handler:                      h,
		ErrorHandler:                 s.errorHandler,
		HeaderReceived:               s.headerReceived,
		Name:                         "",
		NoDefaultServerHeader:        true,
		NoDefaultContentType:         true,
		ReadTimeout:                  sc.ReadTimeout,
		WriteTimeout:                 sc.WriteTimeout,
		IdleTimeout:                  sc.IdleTimeout,
		ReadBufferSize:               sc.MaxHeaderBytes,
		MaxRequestBodySize:           sc.MaxBodyBytes,
		MaxConnsPerIP:                sc.MaxConnsPerIP,
		Concurrency:                  sc.Concurrency,
		CloseOnShutdown:              true,
		DisablePreParseMultipartForm: true,
		SecureErrorLogMessage:        true,
		ConnState:                    s.connState,
		Logger:                       fasthttpLogger{s.log.With("listener", name)},
	}
}

// Listen binds every configured listener. On error nothing stays bound.
func (s *Server) Listen() error {
	cfg := s.current.Load().cfg
	var err error
	if s.httpsLn, err = net.Listen("tcp", cfg.Listen.HTTPS); err != nil {
		return fmt.Errorf("listen.https %s: %w", cfg.Listen.HTTPS, err)
	}
	_, s.httpsPort, _ = net.SplitHostPort(s.httpsLn.Addr().String())
	if s.httpSrv != nil {
		if s.httpLn, err = net.Listen("tcp", cfg.Listen.HTTP); err != nil {
			s.httpsLn.Close()
			return fmt.Errorf("listen.http %s: %w", cfg.Listen.HTTP, err)
		}
	}
	if s.adminSrv != nil {
		if s.adminLn, err = net.Listen("tcp", cfg.Listen.Admin); err != nil {
			s.httpsLn.Close()
			if s.httpLn != nil {
				s.httpLn.Close()
			}
			return fmt.Errorf("listen.admin %s: %w", cfg.Listen.Admin, err)
		}
	}
	return nil
}

// Addrs returns the bound addresses (after Listen).
func (s *Server) Addrs() Addrs {
	var a Addrs
	if s.httpsLn != nil {
		a.HTTPS = s.httpsLn.Addr().String()
	}
	if s.httpLn != nil {
		a.HTTP = s.httpLn.Addr().String()
	}
	if s.adminLn != nil {
		a.Admin = s.adminLn.Addr().String()
	}
	return a
}

// Serve serves until ctx is done, then shuts down gracefully: /readyz turns
// 503, the drain delay passes, listeners stop accepting and in-flight
// requests finish within the shutdown timeout. It returns nil after a
// clean shutdown, or the first listener error.
func (s *Server) Serve(ctx context.Context) error {
	cfg := s.current.Load().cfg
	s.current.Load().startHealth()
	errc := make(chan error, 3)
	tlsLn := s.certs.Listen(s.httpsLn)
	go func() { errc <- s.httpsSrv.Serve(tlsLn) }()
	if s.httpLn != nil {
		go func() { errc <- s.httpSrv.Serve(s.httpLn) }()
	}
	if s.adminLn != nil {
		go func() { errc <- s.adminSrv.Serve(s.adminLn) }()
	}
	s.log.Info("gateway serving", "https", s.Addrs().HTTPS, "http", s.Addrs().HTTP, "admin", s.Addrs().Admin,
		"version", s.version, "config_hash", s.current.Load().hash)

	select {
	case err := <-errc:
		s.shutdown(cfg)
		return err
	case <-ctx.Done():
	}
	s.shutdown(cfg)
	return nil
}

func (s *Server) shutdown(cfg *config.Config) {
	s.draining.Store(true)
	s.log.Info("draining", "delay", cfg.Server.DrainDelay.String())
	if cfg.Server.DrainDelay > 0 {
		t := time.NewTimer(cfg.Server.DrainDelay)
		<-t.C
	}
	ctx, cancel := context.WithTimeout(context.Background(), cfg.Server.ShutdownTimeout)
	defer cancel()
	var wg sync.WaitGroup
	for _, srv := range []*fasthttp.Server{s.httpsSrv, s.httpSrv} {
		if srv == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := srv.ShutdownWithContext(ctx); err != nil {
				s.log.Warn("shutdown deadline passed with requests in flight", "error", err.Error())
			}
		}()
	}
	wg.Wait()
	if s.adminSrv != nil {
		actx, acancel := context.WithTimeout(context.Background(), 2*time.Second)
		_ = s.adminSrv.ShutdownWithContext(actx)
		acancel()
	}
	s.current.Load().close()
	if s.certWatcher != nil {
		_ = s.certWatcher.Close()
	}
	s.limits.Close()
	_ = s.cache.Close()
	if s.redis != nil {
		_ = s.redis.Close()
	}
	s.log.Info("gateway stopped")
}

// Reload re-reads the configuration (and certificates), compiles it and
// swaps it in atomically. Requests in flight finish on the generation they
// started with. On any error the running generation stays and the error
// lists every problem. Listener addresses are bound once: a changed
// address is reported and needs a restart.
func (s *Server) Reload() error {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	old := s.current.Load()
	cfg, err := config.Load(s.path, s.env)
	if err == nil {
		err = s.loadCerts(cfg)
	}
	var g *graph
	if err == nil {
		g, err = s.build(cfg)
	}
	if err != nil {
		s.metrics.ConfigReloads.WithLabelValues("failure").Inc()
		s.log.Error("configuration reload rejected; previous configuration stays active", "error", err.Error())
		return err
	}
	if !reflect.DeepEqual(cfg.Cache, old.cfg.Cache) {
		s.log.Warn("cache settings changed; they apply after a restart (routes' cache policies apply now)")
	}
	if cfg.Listen != old.cfg.Listen {
		s.log.Warn("listener addresses changed; they apply after a restart", "running", old.cfg.Listen, "configured", cfg.Listen)
	}
	s.current.Store(g)
	g.startHealth()
	old.stopHealth()
	s.recordLoad(g, false)
	if old.keys != nil {
		old.keys.Close() // the new generation fetches keys from now on
	}
	s.certs.SetPolicy(cfg.TLS.MinVersion, cfg.TLS.HandshakeTimeout)
	if err := s.syncWatcher(cfg); err != nil {
		s.log.Warn("certificate watcher not started", "error", err.Error())
	}
	// Close the old generation's idle upstream connections once its
	// longest route timeout has passed; in-flight requests hold their own.
	grace := time.Second
	for _, r := range old.cfg.Routes {
		grace = max(grace, r.Timeout)
	}
	time.AfterFunc(grace, old.close)
	s.log.Info("configuration reloaded", "config_hash", g.hash)
	return nil
}

func (s *Server) recordLoad(g *graph, initial bool) {
	if !initial {
		s.metrics.ConfigReloads.WithLabelValues("success").Inc()
	}
	s.metrics.LastReloadSuccess.Set(float64(s.now().UnixNano()) / 1e9)
	s.metrics.BuildInfo.Reset()
	s.metrics.BuildInfo.WithLabelValues(s.version, g.hash).Set(1)
}

func (s *Server) accessLog(g *graph) *slog.Logger {
	if !g.cfg.Log.Access.Enabled {
		return nil
	}
	return s.access
}

func (s *Server) serveHTTPS(ctx *fasthttp.RequestCtx) { s.current.Load().handler(ctx) }

var (
	prefixHealth = []byte("/health/")
	prefixACME   = []byte("/.well-known/acme-challenge/")
)

// serveHTTP answers the plain-HTTP listener: health checks and ACME
// challenges go through the pipeline, everything else gets a 308 to the
// same host and target on HTTPS.
func (s *Server) serveHTTP(ctx *fasthttp.RequestCtx) {
	path := ctx.Path()
	if bytes.HasPrefix(path, prefixHealth) || bytes.HasPrefix(path, prefixACME) {
		s.current.Load().handler(ctx)
		return
	}
	g := s.current.Load()
	host := hostOnly(ctx.Host())
	if !validHost(host) {
		ctx.Response.Header.Set(problem.HeaderRequestID, s.ids.New())
		g.headers.Apply(&ctx.Response.Header, false)
		problem.Write(ctx, problem.New(fasthttp.StatusBadRequest, "bad-host", "Bad Request", "The Host header is missing or invalid."))
		return
	}
	target := make([]byte, 0, 64+len(ctx.RequestURI()))
	target = append(target, "https://"...)
	target = append(target, host...)
	if s.httpsPort != "443" {
		target = append(append(target, ':'), s.httpsPort...)
	}
	target = append(target, ctx.URI().RequestURI()...)
	ctx.Response.Header.Set(problem.HeaderRequestID, s.ids.New())
	g.headers.Apply(&ctx.Response.Header, false)
	ctx.Response.Header.SetBytesV(fasthttp.HeaderLocation, target)
	ctx.SetStatusCode(fasthttp.StatusPermanentRedirect)
}

// headerReceived applies the matched route's body limit before the body
// is read, so an oversized upload is refused with 413 without buffering it.
func (s *Server) headerReceived(h *fasthttp.RequestHeader) fasthttp.RequestConfig {
	g := s.current.Load()
	uri := h.RequestURI()
	if i := bytes.IndexByte(uri, '?'); i >= 0 {
		uri = uri[:i]
	}
	if r := g.routes.Match(h.Host(), uri); r != nil {
		return fasthttp.RequestConfig{MaxRequestBodySize: r.Target.(*routeTarget).maxBodyBytes}
	}
	return fasthttp.RequestConfig{}
}

// errorHandler answers requests fasthttp could not parse: 413 for a body
// over the limit, 431 for a header block over the buffer, 408 for a read
// timeout, 400 for anything else; the connection is closed.
func (s *Server) errorHandler(ctx *fasthttp.RequestCtx, err error) {
	var small *fasthttp.ErrSmallBuffer
	var p problem.Problem
	switch {
	case errors.Is(err, fasthttp.ErrBodyTooLarge):
		p = problem.New(fasthttp.StatusRequestEntityTooLarge, "body-too-large", "Content Too Large", "The request body exceeds the limit.")
	case errors.As(err, &small):
		p = problem.New(fasthttp.StatusRequestHeaderFieldsTooLarge, "header-too-large", "Request Header Fields Too Large", "The request header block exceeds the limit.")
	case isTimeout(err):
		p = problem.New(fasthttp.StatusRequestTimeout, "request-timeout", "Request Timeout", "The request was not received in time.")
	default:
		p = problem.New(fasthttp.StatusBadRequest, "bad-request", "Bad Request", "The request is malformed.")
	}
	ctx.Response.Reset()
	ctx.Response.Header.Set(problem.HeaderRequestID, s.ids.New())
	s.current.Load().headers.Apply(&ctx.Response.Header, ctx.IsTLS())
	ctx.SetConnectionClose()
	problem.Write(ctx, p)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func (s *Server) connState(_ net.Conn, st fasthttp.ConnState) {
	switch st {
	case fasthttp.StateNew:
		s.metrics.OpenConnections.Inc()
	case fasthttp.StateClosed, fasthttp.StateHijacked:
		s.metrics.OpenConnections.Dec()
	}
}

// fasthttpLogger adapts fasthttp's Printf logger to slog.
type fasthttpLogger struct{ l *slog.Logger }

func (f fasthttpLogger) Printf(format string, args ...any) { f.l.Warn(fmt.Sprintf(format, args...)) }

// redacted returns the configuration as served by /admin/config. The
// configuration holds no secrets yet besides key file paths, which are
// shown (paths, not contents).
func redacted(c *config.Config) any { return c }

// hostOnly strips the port from a Host value.
func hostOnly(h []byte) []byte {
	if len(h) > 0 && h[0] == '[' {
		if i := bytes.IndexByte(h, ']'); i > 0 {
			return h[:i+1]
		}
		return nil
	}
	if i := bytes.IndexByte(h, ':'); i >= 0 {
		return h[:i]
	}
	return h
}

// validHost accepts DNS names and IP literals: letters, digits, '-', '.',
// and bracketed IPv6. Anything else could turn the redirect into an open
// redirect or header injection.
func validHost(h []byte) bool {
	if len(h) == 0 || len(h) > 253 {
		return false
	}
	for _, c := range h {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '.', c == '[', c == ']', c == ':':
		default:
			return false
		}
	}
	return true
}
