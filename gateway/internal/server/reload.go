package server

import (
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/campshub360/edge/gateway/internal/admin"
	"github.com/campshub360/edge/gateway/internal/config"
	"github.com/campshub360/edge/gateway/internal/metrics"
	"github.com/campshub360/edge/gateway/internal/ratelimit"
	"github.com/campshub360/edge/gateway/internal/tlsconfig"
	"github.com/campshub360/edge/shared/token"
)

// This file holds the steps a configuration goes through before it
// serves, shared by start, reload and `gateway --check-config`: reading
// every file it names (certificates and keys, CA bundles, the pinned JWK
// Set) with each failure reported by field path, and compiling the
// generation.

// Check runs the build steps of a start or reload on cfg without serving
// or changing anything: it loads every certificate pair (listed and in
// tls.certificates_dir) and checks the default certificate, reads the
// upstream CA bundles and client certificates and, when a route uses
// auth, the JWKS CA bundle and fallback key set, then compiles routes,
// upstream pools and rate-limit policies. It binds no socket, starts no
// background work, fetches nothing and writes no file (with no
// certificate configured, the self-signed development certificate is
// generated at start, not here). now is the clock certificates' validity
// is judged by. The error is config.Problems: every problem found, each
// with its field path.
func Check(cfg *config.Config, now func() time.Time) error {
	if now == nil {
		now = time.Now
	}
	discard := slog.New(slog.DiscardHandler)
	reg := prometheus.NewRegistry()
	m, err := metrics.New(reg)
	if err != nil {
		return err
	}
	var ps config.Problems
	if certsConfigured(cfg) {
		s := &Server{log: discard, now: now, certs: tlsconfig.NewStore(nil, discard, now)}
		if err := s.loadCerts(cfg); err != nil {
			ps = append(ps, certProblems(cfg, now, err)...)
		}
	}
	ps = append(ps, fileProblems(cfg)...)
	if len(ps) > 0 {
		return ps
	}
	lim, err := ratelimit.New(ratelimit.Options{Registry: reg, Log: discard})
	if err != nil {
		return err
	}
	defer lim.Close()
	s := &Server{log: discard, now: now, metrics: m, limits: lim}
	g, err := compile(cfg, upstreamDeps{log: discard, now: now, metrics: m, drained: &s.drained})
	if err == nil {
		err = s.compileLimits(g)
		g.close()
	}
	if err != nil {
		return asProblems(err)
	}
	return nil
}

// prepare runs the build steps of a reload on cfg: the certificates are
// loaded into the served set (a broken pair keeps the set in use), every
// other file cfg names is read, and the generation is compiled. The error
// is config.Problems naming each problem by field path.
func (s *Server) prepare(cfg *config.Config) (*graph, error) {
	var ps config.Problems
	if err := s.loadCerts(cfg); err != nil {
		ps = append(ps, certProblems(cfg, s.now, err)...)
	}
	ps = append(ps, fileProblems(cfg)...)
	if len(ps) > 0 {
		return nil, ps
	}
	g, err := s.build(cfg)
	if err != nil {
		return nil, asProblems(err)
	}
	return g, nil
}

// asProblems returns err as config.Problems (one entry without a field
// path when it is not already).
func asProblems(err error) config.Problems {
	var ps config.Problems
	if errors.As(err, &ps) {
		return ps
	}
	return config.Problems{{Msg: err.Error()}}
}

// certsConfigured reports whether cfg names certificates (otherwise the
// self-signed development certificate is served).
func certsConfigured(cfg *config.Config) bool {
	return len(cfg.TLS.Certificates) > 0 || cfg.TLS.CertificatesDir != ""
}

// certProblems attributes a failed certificate load (loadErr) to field
// paths by loading each pair alone, with the same loader, into a
// throwaway store: tls.certificates[i] for a listed pair,
// tls.certificates_dir for the directory and the pairs found in it, and
// tls.default_certificate (or tls) for what only the whole set shows.
func certProblems(cfg *config.Config, now func() time.Time, loadErr error) config.Problems {
	if !certsConfigured(cfg) {
		return config.Problems{{Path: "runtime_dir", Msg: loadErr.Error()}}
	}
	var ps config.Problems
	one := func(path string, p tlsconfig.Pair) {
		if err := tlsconfig.NewStore(nil, nil, now).Load(tlsconfig.Source{Pairs: []tlsconfig.Pair{p}}); err != nil {
			ps = append(ps, config.Problem{Path: path, Msg: err.Error()})
		}
	}
	for i, c := range cfg.TLS.Certificates {
		one(fmt.Sprintf("tls.certificates[%d]", i), tlsconfig.Pair{Name: c.Name, CertFile: c.CertFile, KeyFile: c.KeyFile})
	}
	if dir := cfg.TLS.CertificatesDir; dir != "" {
		found, err := tlsconfig.ScanDir(dir)
		switch {
		case err != nil:
			ps = append(ps, config.Problem{Path: "tls.certificates_dir", Msg: err.Error()})
		case len(found) == 0 && len(cfg.TLS.Certificates) == 0:
			ps = append(ps, config.Problem{Path: "tls.certificates_dir", Msg: fmt.Sprintf("no certificate pairs in %s", dir)})
		}
		for _, p := range found {
			one("tls.certificates_dir", p)
		}
	}
	if len(ps) == 0 {
		path := "tls"
		if cfg.TLS.DefaultCertificate != "" {
			path = "tls.default_certificate"
		}
		ps = config.Problems{{Path: path, Msg: loadErr.Error()}}
	}
	return ps
}

// fileProblems reads the files cfg names besides the served
// certificates, with the loaders the build uses: each enabled upstream's
// CA bundle and client certificate, and the JWKS CA bundle and fallback
// key set when a route uses auth.
func fileProblems(cfg *config.Config) config.Problems {
	var ps config.Problems
	for i, u := range cfg.Upstreams {
		if !u.TLS.Enabled {
			continue
		}
		p := fmt.Sprintf("upstreams[%d].tls", i)
		if u.TLS.CAFile != "" {
			if _, err := tlsconfig.Upstream(tlsconfig.UpstreamOptions{CAFile: u.TLS.CAFile}); err != nil {
				ps = append(ps, config.Problem{Path: p + ".ca_file", Msg: err.Error()})
			}
		}
		if u.TLS.CertFile != "" || u.TLS.KeyFile != "" {
			if _, err := tlsconfig.Upstream(tlsconfig.UpstreamOptions{CertFile: u.TLS.CertFile, KeyFile: u.TLS.KeyFile}); err != nil {
				ps = append(ps, config.Problem{Path: p + ".cert_file", Msg: err.Error()})
			}
		}
	}
	if cfg.UsesAuth() {
		_, _, aps := authFiles(cfg.Auth)
		ps = append(ps, aps...)
	}
	return ps
}

// authFiles reads the JWKS fallback key set and CA bundle of a (nil when
// not configured), reporting each unusable file by its field path.
func authFiles(a config.Auth) (fallback *token.KeySet, roots *x509.CertPool, ps config.Problems) {
	if f := a.JWKS.FallbackFile; f != "" {
		b, err := os.ReadFile(f)
		if err == nil {
			fallback, err = token.ParseJWKS(b)
			if err != nil {
				err = fmt.Errorf("%s: %w", f, err)
			}
		}
		if err != nil {
			ps = append(ps, config.Problem{Path: "auth.jwks.fallback_file", Msg: err.Error()})
		}
	}
	if f := a.JWKS.CAFile; f != "" {
		pem, err := os.ReadFile(f)
		switch {
		case err != nil:
			ps = append(ps, config.Problem{Path: "auth.jwks.ca_file", Msg: err.Error()})
		default:
			roots = x509.NewCertPool()
			if !roots.AppendCertsFromPEM(pem) {
				roots = nil
				ps = append(ps, config.Problem{Path: "auth.jwks.ca_file", Msg: fmt.Sprintf("%s: no PEM certificates", f)})
			}
		}
	}
	return fallback, roots, ps
}

// reloadResult reports an accepted reload to the admin endpoint.
func reloadResult(g *graph, pending []string) admin.ReloadResult {
	return admin.ReloadResult{ConfigHash: g.hash, RestartRequired: pending}
}
