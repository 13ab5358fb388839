package server

import (
	"fmt"

	"github.com/campshub360/edge/gateway/internal/config"
	"github.com/campshub360/edge/gateway/internal/exchange"
	"github.com/campshub360/edge/gateway/internal/ratelimit"
)

// startLimits creates the process-lifetime rate limiter on the server's
// Redis client (nil: every policy local). Its heartbeat interval and
// Redis key prefix are read here, once.
func (s *Server) startLimits(cfg *config.Config) error {
	e, err := ratelimit.New(ratelimit.Options{
		Redis: s.redis, KeyPrefix: cfg.RateLimit.KeyPrefix, Registry: s.registry, Log: s.log,
		Heartbeat: cfg.RateLimit.Heartbeat, Background: true,
	})
	if err != nil {
		return fmt.Errorf("ratelimit: %w", err)
	}
	s.limits = e
	return nil
}

// compileLimits builds the limiter view of g's configuration and attaches
// each route's policies to its target.
func (s *Server) compileLimits(g *graph) error {
	rl := g.cfg.RateLimit
	set := ratelimit.Settings{
		MaxKeys: rl.MaxKeys, KeySecret: []byte(rl.KeySecret), StoreTimeout: rl.StoreTimeout,
		SweepInterval: rl.SweepInterval, InFlightPerIP: rl.InFlight.PerIP, InFlightTotal: rl.InFlight.Total,
	}
	for _, p := range rl.Policies {
		perSecond, _, err := config.ParseRate(p.Rate)
		if err != nil {
			return fmt.Errorf("ratelimit policy %q: %w", p.Name, err)
		}
		key, err := config.ParseKey(p.Key)
		if err != nil {
			return fmt.Errorf("ratelimit policy %q: %w", p.Name, err)
		}
		set.Policies = append(set.Policies, ratelimit.PolicySpec{
			Name: p.Name, PerSecond: perSecond, Burst: p.Burst, Key: key, UsernameField: p.UsernameField,
			Shared: p.Scope == "shared", FailClosed: p.Fallback == "fail_closed", DryRun: p.DryRun,
		})
	}
	gen, err := s.limits.Compile(set)
	if err != nil {
		return err
	}
	g.limits = gen
	byPlace := map[[2]string][]string{}
	for _, r := range g.cfg.Routes {
		byPlace[[2]string{r.Host, r.PathPrefix}] = r.RateLimits
	}
	for _, r := range g.routes.Routes() {
		lim, err := gen.Route(byPlace[[2]string{r.Host, r.Prefix}])
		if err != nil {
			return fmt.Errorf("route %s: %w", r.Name, err)
		}
		r.Target.(*routeTarget).limits = lim
	}
	return nil
}

// routeLimits returns the rate-limit policies of the request's matched
// route (nil when none matched or the route has none).
func routeLimits(ex *exchange.Exchange) *ratelimit.Route {
	if ex.Matched == nil {
		return nil
	}
	return ex.Matched.Target.(*routeTarget).limits
}
