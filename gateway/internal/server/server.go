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
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
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
	"github.com/campshub360/edge/gateway/internal/clientip"
	"github.com/campshub360/edge/gateway/internal/config"
	"github.com/campshub360/edge/gateway/internal/exchange"
	"github.com/campshub360/edge/gateway/internal/framing"
	"github.com/campshub360/edge/gateway/internal/metrics"
	"github.com/campshub360/edge/gateway/internal/observe"
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
	// AccessLog receives the access log, one JSON line per request (nil:
	// none). Writes are buffered and flushed every
	// log.access.flush_interval (as configured at start) and on shutdown.
	AccessLog io.Writer
	// Registry receives the gateway's metrics; /metrics serves it.
	Registry *prometheus.Registry
	// Version is reported in gateway_build_info.
	Version string
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// Seed fixes the random sources of the balancers and retry jitter
	// (0: random), for reproducible tests.
	Seed uint64
	// Rand returns uniform floats in [0,1) for access-log sampling
	// (math/rand/v2 when nil).
	Rand func() float64
}

// Addrs are the bound listener addresses ("" when disabled).
type Addrs struct {
	HTTPS, HTTP, Admin string
}

// Server is the gateway process. Create with New, bind with Listen, run
// with Serve. Reload is safe to call concurrently with serving.
type Server struct {
	log       *slog.Logger
	access    *observe.AccessLog
	registry  *prometheus.Registry
	metrics   *metrics.Metrics
	proxy     *proxy.Proxy
	bodies    proxy.Bodies
	ids       *requestid.Generator
	exchanges exchange.Pool
	certs     *tlsconfig.Store
	now       func() time.Time
	rand      func() float64
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
	// connErrors counts the listeners' connection errors (connlog.go).
	connErrors *prometheus.CounterVec

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

	// start is the configuration the process started with: settings read
	// only at start keep its values across reloads (Reconfigure).
	start *config.Config
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
		log: o.Log, registry: o.Registry, metrics: m, now: o.Now, rand: o.Rand,
		version: o.Version, path: o.ConfigPath, env: o.Env,
		ids:   requestid.NewGenerator(o.Now),
		proxy: proxy.New(m, o.Log, o.Now),
		seed:  o.Seed, start: cfg,
	}
	if err := o.Registry.Register(balancer.NewCollector(func() []*balancer.Pool {
		if g := s.current.Load(); g != nil {
			return g.poolList()
		}
		return nil
	}, o.Now)); err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	if s.connErrors, err = newConnErrorCounter(o.Registry); err != nil {
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
	if o.AccessLog != nil {
		s.access = observe.NewAccessLog(o.AccessLog, 0, cfg.Log.Access.FlushInterval)
	}
	g, err := s.build(cfg)
	if err != nil {
		s.limits.Close()
		_ = s.cache.Close()
		if s.redis != nil {
			_ = s.redis.Close()
		}
		if s.access != nil {
			_ = s.access.Close()
		}
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
			IdleTimeout: 60 * time.Second, CloseOnShutdown: true, SecureErrorLogMessage: true,
			Logger: s.connErrorLog("admin"), ErrorHandler: s.adminErrorHandler,
			Handler: s.withRequestID(admin.Handler(admin.Options{
				Gatherer: o.Registry,
				Ready:    func() bool { return !s.draining.Load() },
				Reload:   s.Reconfigure,
				Config: func() any {
					b, err := s.current.Load().cfg.RedactedJSON()
					if err != nil {
						return map[string]string{"error": "configuration cannot be rendered"}
					}
					return json.RawMessage(b)
				},
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
			})),
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
		Handler:               h,
		ErrorHandler:          s.errorHandler,
		HeaderReceived:        s.headerReceived,
		ExpectHandler:         s.expectContinue,
		Name:                  "",
		NoDefaultServerHeader: true,
		NoDefaultContentType:  true,
		// ReadTimeout covers the TLS handshake and the request head;
		// headerReceived sets the route's body timeout once the head is in.
		ReadTimeout:  sc.ReadTimeout,
		WriteTimeout: sc.WriteTimeout,
		IdleTimeout:  sc.IdleTimeout,
		// The request line and the header block must both fit: the framing
		// stage then tells 414 from 431 precisely.
		ReadBufferSize: sc.MaxHeaderBytes + sc.MaxURIBytes + requestLineSlack,
		// Bodies are read by the route stage (proxy.Bodies), buffered or
		// streamed per route; fasthttp only prefetches.
		StreamRequestBody:  true,
		MaxRequestBodySize: prefetchBytes,
		// MaxConnsPerIP is enforced by the listener wrapper (listener.go).
		Concurrency:                  sc.Concurrency,
		CloseOnShutdown:              true,
		DisablePreParseMultipartForm: true,
		SecureErrorLogMessage:        true,
		ConnState:                    s.connState,
		Logger:                       s.connErrorLog(name),
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
	sc := cfg.Server
	tlsLn := newListener(s.certs.Listen(s.httpsLn), sc.MaxConnsPerIP)
	go func() { errc <- s.httpsSrv.Serve(tlsLn) }()
	if s.httpLn != nil {
		httpLn := newListener(s.httpLn, sc.MaxConnsPerIP)
		go func() { errc <- s.httpSrv.Serve(httpLn) }()
	}
	if s.adminLn != nil {
		go func() { errc <- s.adminSrv.Serve(s.adminLn) }()
	}
	s.log.Info("gateway serving", "https", s.Addrs().HTTPS, "http", s.Addrs().HTTP, "admin", s.Addrs().Admin,
		"version", s.version, "config_hash", s.current.Load().hash)

	select {
	case err := <-errc:
		s.shutdown()
		return err
	case <-ctx.Done():
	}
	s.shutdown()
	return nil
}

// shutdown drains with the drain delay and shutdown timeout of the
// configuration active when it starts.
func (s *Server) shutdown() {
	cfg := s.current.Load().cfg
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
	s.proxy.CloseTunnels()
	if s.adminSrv != nil {
		actx, acancel := context.WithTimeout(context.Background(), 2*time.Second)
		_ = s.adminSrv.ShutdownWithContext(actx)
		acancel()
	}
	if s.access != nil {
		_ = s.access.Close()
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
// swaps it in atomically; see Reconfigure. It logs its outcome.
func (s *Server) Reload() error {
	_, err := s.Reconfigure()
	return err
}

// Reconfigure re-reads the configuration (and certificates), compiles it
// and swaps it in atomically. Requests in flight finish on the generation
// they started with. On any error the running generation stays and the
// error is config.Problems listing every problem. Settings read only at
// start (config.KeepStartOnly: listener addresses and limits, log format,
// Redis, cache sizes) keep their running values; the result names those
// the file changed, which apply after a restart.
func (s *Server) Reconfigure() (admin.ReloadResult, error) {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	old := s.current.Load()
	var g *graph
	var pending []string
	cfg, err := config.Load(s.path, s.env)
	if err == nil {
		cfg, pending = cfg.KeepStartOnly(s.start)
		g, err = s.prepare(cfg)
	}
	if err != nil {
		s.metrics.ConfigReloads.WithLabelValues("failure").Inc()
		s.log.Error("configuration reload rejected; previous configuration stays active", "error", err.Error())
		return admin.ReloadResult{}, err
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
	if len(pending) > 0 {
		a := s.Addrs()
		s.log.Warn("configuration reloaded except settings read only at start; they keep their running values until a restart",
			"config_hash", g.hash, "restart_required", pending, "https", a.HTTPS, "http", a.HTTP, "admin", a.Admin)
	} else {
		s.log.Info("configuration reloaded", "config_hash", g.hash)
	}
	return reloadResult(g, pending), nil
}

func (s *Server) recordLoad(g *graph, initial bool) {
	if !initial {
		s.metrics.ConfigReloads.WithLabelValues("success").Inc()
	}
	s.metrics.LastReloadSuccess.Set(float64(s.now().UnixNano()) / 1e9)
	s.metrics.BuildInfo.Reset()
	s.metrics.BuildInfo.WithLabelValues(s.version, g.hash).Set(1)
}

func (s *Server) accessLog(g *graph) *observe.AccessLog {
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
// same host and target on HTTPS, for a well-formed host this gateway
// serves (redirect.go: 400 or 421 otherwise).
func (s *Server) serveHTTP(ctx *fasthttp.RequestCtx) {
	path := ctx.Path()
	if bytes.HasPrefix(path, prefixHealth) || bytes.HasPrefix(path, prefixACME) {
		s.current.Load().handler(ctx)
		return
	}
	g := s.current.Load()
	if hc, ok := ctx.Conn().(headConn); ok && hc.bareLF() {
		ctx.Response.Header.Set(problem.HeaderRequestID, s.ids.New())
		g.headers.Apply(&ctx.Response.Header, false)
		ctx.SetConnectionClose()
		e := framing.ErrBareLF
		problem.Write(ctx, problem.New(e.Status, e.Slug, e.Title, e.Detail))
		return
	}
	// The raw authority (routingKey), not ctx.Host(): fasthttp's URI
	// parser drops userinfo there, which must be refused, not ignored.
	raw, _ := routingKey(&ctx.Request.Header)
	host, status := redirectHost(g.cfg.Routes, raw)
	if status != 0 {
		ctx.Response.Header.Set(problem.HeaderRequestID, s.ids.New())
		g.headers.Apply(&ctx.Response.Header, false)
		if status == fasthttp.StatusMisdirectedRequest {
			problem.Write(ctx, problem.New(status, "misdirected-request", "Misdirected Request", "This gateway does not serve that host."))
			return
		}
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

// requestLineSlack is room in the read buffer for the method, version
// and separators of the request line besides the target.
const requestLineSlack = 64

// prefetchBytes is how much of a request body fasthttp reads before the
// handler runs; the rest is read by the route stage (buffered routes) or
// streamed upstream. Small bodies therefore arrive in one piece.
const prefetchBytes = 64 << 10

// headerReceived runs once a request head has arrived, before any of its
// body is read: it applies the matched route's body timeout (a fresh read
// deadline for the body) and write timeout, and caps the body prefetch at
// the route's limit.
//
// A declared Content-Length over the applicable body limit is refused
// before a byte of the body is read: the request is made to carry
// "Expect: 100-continue" (when its HTTP/1.1 client did not send it), so
// that fasthttp reads no body and asks expectContinue, which answers 413.
// An HTTP/1.0 request cannot take that path (a server ignores Expect from
// it, RFC 9110 §10.1.1); the route stage refuses it after the prefetch.
func (s *Server) headerReceived(h *fasthttp.RequestHeader) fasthttp.RequestConfig {
	g := s.current.Load()
	limit, rc := g.cfg.Server.MaxBodyBytes, fasthttp.RequestConfig{ReadTimeout: g.cfg.Server.BodyTimeout}
	if t := matchHead(g, h); t != nil {
		limit, rc = t.maxBodyBytes, fasthttp.RequestConfig{ReadTimeout: t.bodyTimeout, WriteTimeout: t.writeTimeout}
	}
	rc.MaxRequestBodySize = min(limit, prefetchBytes)
	if h.ContentLength() > limit && h.IsHTTP11() && len(h.PeekBytes(headerExpect)) == 0 {
		h.SetBytesKV(headerExpect, value100Continue)
	}
	return rc
}

var (
	headerExpect     = []byte(fasthttp.HeaderExpect)
	value100Continue = []byte("100-continue")
	problemTooLarge  = problem.New(fasthttp.StatusRequestEntityTooLarge, "body-too-large", "Content Too Large", "The request body exceeds the limit.")
)

// matchHead returns the policies of the route a request head matches (nil
// when none does), routed by routingKey.
func matchHead(g *graph, h *fasthttp.RequestHeader) *routeTarget {
	host, path := routingKey(h)
	if r := g.routes.Match(host, path); r != nil {
		return r.Target.(*routeTarget)
	}
	return nil
}

// expectContinue decides a request with "Expect: 100-continue" (RFC 9110
// §10.1.1) before any of its body is read: a declared Content-Length over
// the matched route's max_body_bytes (server.max_body_bytes without a
// route) is answered 413 at once and the connection closed (the client may
// already be sending the body); anything else gets 100 Continue. fasthttp
// writes the interim or final response itself, so the write deadline is
// armed here. A request headerReceived marked for refusal is refused here
// too; should a reload in between have raised the limit, the client gets
// an unsolicited 100 (which HTTP/1.1 clients must accept, RFC 9110 §15.2)
// and the proxy drops the Expect field before forwarding.
func (s *Server) expectContinue(ctx *fasthttp.RequestCtx) int {
	s.armWriteDeadline(ctx)
	g := s.current.Load()
	limit := g.cfg.Server.MaxBodyBytes
	if t := matchHead(g, &ctx.Request.Header); t != nil {
		limit = t.maxBodyBytes
	}
	if ctx.Request.Header.ContentLength() > limit {
		s.reject(ctx, problemTooLarge)
		return fasthttp.StatusRequestEntityTooLarge
	}
	return fasthttp.StatusContinue
}

// armWriteDeadline gives a response fasthttp writes outside the handler (an
// error response, 100 Continue, a refused expectation) a fresh write
// deadline of server.write_timeout. Without it such a write inherits a
// stale deadline: the one fasthttp armed when a TLS connection opened
// (connection start + write timeout, before the handshake) or after the
// previous response on the connection, which a request read under the
// body timeout can outlive. A write that times out leaves a TLS connection
// broken (crypto/tls: after a Write timeout all later writes fail, and the
// close_notify then sent no longer decrypts), so the client saw a bad
// record MAC instead of the 408.
func (s *Server) armWriteDeadline(ctx *fasthttp.RequestCtx) {
	c := ctx.Conn()
	if c == nil {
		return
	}
	var d time.Time
	if wt := s.current.Load().cfg.Server.WriteTimeout; wt > 0 {
		d = time.Now().Add(wt) // a socket deadline: wall-clock time
	}
	_ = c.SetWriteDeadline(d)
}

var schemeSep = []byte("://")

// routingKey returns the host and path a request head routes by before
// fasthttp parsed its URI: for an absolute-form target the target's
// authority (RFC 9112 §3.2.2), otherwise the Host header; the path without
// query. The route stage matches again on the normalized path.
func routingKey(h *fasthttp.RequestHeader) (host, path []byte) {
	uri := h.RequestURI()
	host = h.Host()
	if len(uri) > 0 && uri[0] != '/' {
		if i := bytes.Index(uri, schemeSep); i > 0 {
			rest := uri[i+3:]
			end := bytes.IndexAny(rest, "/?#")
			if end < 0 {
				host, uri = rest, nil
			} else {
				host, uri = rest[:end], rest[end:]
			}
		}
	}
	if i := bytes.IndexAny(uri, "?#"); i >= 0 {
		uri = uri[:i]
	}
	return host, uri
}

// errorHandler answers requests fasthttp could not parse: 413 for a body
// over the limit, 414 when the request line overflowed the read buffer,
// 431 when a header line did, 408 for a read timeout, 400 for a bare LF
// line end in the request head (listener.go) and for anything else
// (duplicate or invalid Content-Length, unknown transfer codings, bad chunk
// sizes, CR or NUL in the head). The connection is closed; the request is
// counted under the "unmatched" route and gets an access-log line (no
// path: the head did not parse).
func (s *Server) errorHandler(ctx *fasthttp.RequestCtx, err error) {
	s.armWriteDeadline(ctx)
	s.reject(ctx, parseProblem(ctx, err))
}

// adminErrorHandler answers requests the admin listener could not parse
// with the same problems as errorHandler, carrying a request id, and
// closes the connection.
func (s *Server) adminErrorHandler(ctx *fasthttp.RequestCtx, err error) {
	s.armWriteDeadline(ctx)
	ctx.Response.Reset()
	ctx.Response.Header.Set(problem.HeaderRequestID, s.ids.New())
	ctx.SetConnectionClose()
	problem.Write(ctx, parseProblem(ctx, err))
}

// withRequestID gives every admin response an X-Request-ID from the
// gateway's generator before h runs, so problem bodies written by h carry
// it as request_id too. Each request gets a new id: the admin listener has
// no trusted proxies whose ids it would keep.
func (s *Server) withRequestID(h fasthttp.RequestHandler) fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) {
		ctx.Response.Header.Set(problem.HeaderRequestID, s.ids.New())
		h(ctx)
	}
}

// parseProblem maps a fasthttp request-reading error to its problem.
func parseProblem(ctx *fasthttp.RequestCtx, err error) problem.Problem {
	var small *fasthttp.ErrSmallBuffer
	var p problem.Problem
	switch {
	case errors.Is(err, fasthttp.ErrBodyTooLarge):
		p = problemTooLarge
	case errors.Is(err, errBareLF):
		p = problem.New(framing.ErrBareLF.Status, framing.ErrBareLF.Slug, framing.ErrBareLF.Title, framing.ErrBareLF.Detail)
	case errors.As(err, &small) && requestLineOverflow(ctx):
		p = problem.New(fasthttp.StatusRequestURITooLong, "uri-too-long", "URI Too Long", "The request target exceeds the limit.")
	case errors.As(err, &small):
		p = problem.New(fasthttp.StatusRequestHeaderFieldsTooLarge, "header-too-large", "Request Header Fields Too Large", "The request header block exceeds the limit.")
	case isTimeout(err):
		p = problem.New(fasthttp.StatusRequestTimeout, "request-timeout", "Request Timeout", "The request was not received in time.")
	default:
		p = problem.New(fasthttp.StatusBadRequest, "bad-request", "Bad Request", "The request is malformed.")
	}
	return p
}

// reject answers a request refused before the request chain runs (by
// errorHandler or expectContinue) with problem p and closes the
// connection, lingering (listener.go) so that a body still arriving does
// not reset the connection before the client reads p; the request is
// counted under the "unmatched" route and gets an access-log line.
func (s *Server) reject(ctx *fasthttp.RequestCtx, p problem.Problem) {
	if lc, ok := ctx.Conn().(lingerConn); ok {
		lc.lingerOnClose()
	}
	g := s.current.Load()
	g.unmatched.Observe(ctx.Request.Header.Method(), p.Status, 0)
	ctx.Response.Reset()
	id := s.ids.New()
	if a := s.accessLog(g); a != nil {
		observe.LogRejected(a, s.now(), id, clientip.Peer(ctx.RemoteIP()), p.Status)
	}
	ctx.Response.Header.Set(problem.HeaderRequestID, id)
	g.headers.Apply(&ctx.Response.Header, ctx.IsTLS())
	ctx.SetConnectionClose()
	problem.Write(ctx, p)
}

// requestLineOverflow reports whether the line that overflowed the read
// buffer was the request line (see listener).
func requestLineOverflow(ctx *fasthttp.RequestCtx) bool {
	oc, ok := ctx.Conn().(overflowConn)
	return ok && oc.requestLineOverflow()
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func (s *Server) connState(c net.Conn, st fasthttp.ConnState) {
	switch st {
	case fasthttp.StateNew:
		s.metrics.OpenConnections.Inc()
	case fasthttp.StateIdle:
		// The response is written: the next bytes begin a new request head.
		if hc, ok := c.(headConn); ok {
			hc.nextHead()
		}
	case fasthttp.StateClosed, fasthttp.StateHijacked:
		s.metrics.OpenConnections.Dec()
	}
}
