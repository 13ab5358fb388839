package server

import (
	"crypto/tls"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/campshub360/edge/gateway/internal/authn"
	"github.com/campshub360/edge/gateway/internal/config"
	"github.com/campshub360/edge/gateway/internal/cors"
	"github.com/campshub360/edge/gateway/internal/exchange"
	"github.com/campshub360/edge/gateway/internal/headers"
	"github.com/campshub360/edge/gateway/internal/tlsconfig"
	"github.com/campshub360/edge/shared/token"
)

// This file wires the edge-security features into the server: TLS
// termination state (certificate store, file watcher, handshake policy),
// per-route security headers, CORS and token verification.

// edgeRoute is the per-route edge policy, compiled once per generation.
type edgeRoute struct {
	headers *headers.Set
	cors    *cors.Policy  // nil: no CORS at the edge
	auth    *authn.Policy // never nil
}

// globalHeaders compiles the headers every response gets (no route, or a
// route without overrides).
func globalHeaders(cfg *config.Config) *headers.Set {
	return headers.New(hstsOf(cfg), headers.Layer{Set: cfg.Headers.Set, Remove: cfg.Headers.Remove})
}

func hstsOf(cfg *config.Config) headers.HSTS {
	h := cfg.Headers.HSTS
	return headers.HSTS{MaxAge: h.MaxAge, IncludeSubdomains: h.IncludeSubdomains, Preload: h.Preload}
}

// compileEdgeRoute compiles one route's headers, CORS and auth policy.
func compileEdgeRoute(cfg *config.Config, r config.Route, global *headers.Set) (edgeRoute, error) {
	er := edgeRoute{headers: global, auth: authn.NewPolicy(authn.ParseMode(r.Auth), r.Roles)}
	if len(r.Headers.Set) > 0 || len(r.Headers.Remove) > 0 {
		er.headers = headers.New(hstsOf(cfg),
			headers.Layer{Set: cfg.Headers.Set, Remove: cfg.Headers.Remove},
			headers.Layer{Set: r.Headers.Set, Remove: r.Headers.Remove})
	}
	if r.CORS.Enabled() {
		p, err := cors.New(cors.Options{
			AllowOrigins: r.CORS.AllowOrigins, AllowMethods: r.CORS.AllowMethods, AllowHeaders: r.CORS.AllowHeaders,
			ExposeHeaders: r.CORS.ExposeHeaders, AllowCredentials: r.CORS.AllowCredentials, MaxAge: r.CORS.MaxAge,
		})
		if err != nil {
			return edgeRoute{}, fmt.Errorf("route %q: %w", r.Name, err)
		}
		er.cors = p
	}
	return er, nil
}

// upstreamTLS builds a pool's client TLS configuration (nil: plain).
func upstreamTLS(u config.Upstream) (*tls.Config, error) {
	if !u.TLS.Enabled {
		return nil, nil
	}
	c, err := tlsconfig.Upstream(tlsconfig.UpstreamOptions{
		CAFile: u.TLS.CAFile, ServerName: u.TLS.ServerName, CertFile: u.TLS.CertFile, KeyFile: u.TLS.KeyFile,
	})
	if err != nil {
		return nil, fmt.Errorf("upstream %q: tls: %w", u.Name, err)
	}
	return c, nil
}

// edgeOf returns the edge policy of the request's matched route, nil when
// no route matched.
func edgeOf(ctx *fasthttp.RequestCtx) *edgeRoute {
	if r := exchange.From(ctx).Matched; r != nil {
		return &r.Target.(*routeTarget).edge
	}
	return nil
}

// stage pickers for pipeline.go.
func (g *graph) headersFor(ctx *fasthttp.RequestCtx) *headers.Set {
	if e := edgeOf(ctx); e != nil {
		return e.headers
	}
	return g.headers
}

func corsFor(ctx *fasthttp.RequestCtx) *cors.Policy {
	if e := edgeOf(ctx); e != nil {
		return e.cors
	}
	return nil
}

func authFor(ctx *fasthttp.RequestCtx) *authn.Policy {
	if e := edgeOf(ctx); e != nil {
		return e.auth
	}
	return nil
}

// initEdge sets up the process-level edge state: metrics, the
// certificate store (loaded from cfg) and its file watcher.
func (s *Server) initEdge(cfg *config.Config) error {
	tm, err := tlsconfig.NewMetrics(s.registry)
	if err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	am, err := authn.NewMetrics(s.registry)
	if err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	s.authMetrics = am
	s.certs = tlsconfig.NewStore(tm, s.log, s.now)
	if err := s.loadCerts(cfg); err != nil {
		return err
	}
	s.certs.SetPolicy(cfg.TLS.MinVersion, cfg.TLS.HandshakeTimeout)
	return s.syncWatcher(cfg)
}

// syncWatcher starts or stops the certificate file watcher per cfg.
func (s *Server) syncWatcher(cfg *config.Config) error {
	if cfg.TLS.Watch && s.certWatcher == nil {
		w, err := s.certs.Watch(250*time.Millisecond, nil)
		if err != nil {
			return fmt.Errorf("tls.watch: %w", err)
		}
		s.certWatcher = w
	} else if !cfg.TLS.Watch && s.certWatcher != nil {
		_ = s.certWatcher.Close()
		s.certWatcher = nil
	}
	return nil
}

// certSource maps the configuration to a certificate source; with nothing
// configured it is the self-signed development certificate.
func (s *Server) certSource(cfg *config.Config) (tlsconfig.Source, error) {
	src := tlsconfig.Source{Dir: cfg.TLS.CertificatesDir, Default: cfg.TLS.DefaultCertificate}
	for _, c := range cfg.TLS.Certificates {
		src.Pairs = append(src.Pairs, tlsconfig.Pair{Name: c.Name, CertFile: c.CertFile, KeyFile: c.KeyFile})
	}
	if len(src.Pairs) == 0 && src.Dir == "" {
		cert, key, err := tlsconfig.EnsureSelfSigned(cfg.RuntimeDir, s.now())
		if err != nil {
			return src, fmt.Errorf("self-signed certificate: %w", err)
		}
		src.Pairs = []tlsconfig.Pair{{Name: "self-signed", CertFile: cert, KeyFile: key}}
	}
	return src, nil
}

// buildAuth creates the generation's key source and authenticator when a
// route uses auth. The key set fetched by prev (the running generation)
// carries over when the key source configuration is unchanged, so a
// reload never leaves a gap.
func (s *Server) buildAuth(g *graph, prev *graph) error {
	cfg := g.cfg
	if !cfg.UsesAuth() {
		return nil
	}
	a := cfg.Auth
	fallback, roots, ps := authFiles(a)
	if len(ps) > 0 {
		return ps
	}
	client := &http.Client{
		Timeout:       a.JWKS.Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	if roots != nil {
		client.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}}
	}
	var seed *token.KeySet
	if prev != nil && prev.keys != nil && slices.Equal(prev.cfg.Auth.JWKS.URLs, a.JWKS.URLs) {
		seed = prev.keys.Fetched()
	}
	g.keys = authn.NewKeys(authn.KeysOptions{
		URLs: a.JWKS.URLs, Client: client, RefreshInterval: a.JWKS.RefreshInterval,
		MinRefreshInterval: a.JWKS.MinRefreshInterval, Timeout: a.JWKS.Timeout,
		Fallback: fallback, Seed: seed, Now: s.now, Log: s.log, Metrics: s.authMetrics,
	})
	g.auth = authn.New(authn.Options{
		Issuer: a.Issuer, Audience: a.Audience, Leeway: a.Leeway, Realm: a.Realm, Keys: g.keys,
		CacheEntries: a.Cache.MaxEntries, CacheMargin: a.Cache.ExpiryMargin, Now: s.now,
		Metrics: s.authMetrics, Log: s.log,
	})
	return nil
}

// closeEdge stops the generation's key fetches and drops its cache.
func (g *graph) closeEdge() {
	if g.keys != nil {
		g.keys.Close()
	}
	g.auth.Close()
}
