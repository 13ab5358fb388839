package server

import (
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/campshub360/edge/gateway/internal/balancer"
	"github.com/campshub360/edge/gateway/internal/config"
	"github.com/campshub360/edge/gateway/internal/health"
	"github.com/campshub360/edge/gateway/internal/metrics"
	"github.com/campshub360/edge/gateway/internal/proxy"
)

// upstream is one pool of a configuration generation with what serves it:
// the retry policy and budget, passive and active health checking.
type upstream struct {
	pool         *balancer.Pool
	retry        *proxy.RetryPolicy
	passive      *health.Passive
	checker      *health.Checker // nil without active checks
	queueTimeout time.Duration
}

// upstreamDeps are the process-level dependencies of pools.
type upstreamDeps struct {
	log     *slog.Logger
	now     func() time.Time
	metrics *metrics.Metrics
	drained *drainSet
	// seed fixes the pools' random sources (0: random), for tests.
	seed uint64
}

func (d upstreamDeps) rand() *balancer.Rand {
	if d.seed != 0 {
		return balancer.NewRand(d.seed)
	}
	return balancer.NewRandomRand()
}

// buildUpstreams compiles the configured pools. It opens no sockets:
// probers start with graph.startHealth, connections are made on use.
func buildUpstreams(cfg *config.Config, d upstreamDeps) (map[string]*upstream, error) {
	out := map[string]*upstream{}
	for _, c := range cfg.Upstreams {
		if len(c.Instances) > balancer.MaxInstances {
			return nil, fmt.Errorf("upstream %q: at most %d instances", c.Name, balancer.MaxInstances)
		}
		rnd := d.rand()
		policy, err := balancer.NewPolicy(c.Balancer, len(c.Instances), rnd)
		if err != nil {
			return nil, fmt.Errorf("upstream %q: %w", c.Name, err)
		}
		p := &balancer.Pool{Name: c.Name, Balancer: c.Balancer, Policy: policy, PanicThreshold: max(c.PanicThreshold, 0)}
		if c.HashKey != "" {
			k, ok := balancer.ParseKeySource(c.HashKey)
			if !ok {
				return nil, fmt.Errorf("upstream %q: bad hash_key %q", c.Name, c.HashKey)
			}
			p.Key = k
		}
		tlsConf, err := upstreamTLS(c)
		if err != nil {
			return nil, err
		}
		co := balancer.ClientOptions{
			DialTimeout: c.DialTimeout, ReadTimeout: c.ReadTimeout, WriteTimeout: c.WriteTimeout,
			MaxConns: c.MaxConnsPerInstance, MaxConnWaitTimeout: c.MaxConnWaitTimeout,
			MaxIdleConnDuration: c.MaxIdleConnDuration, TLS: tlsConf,
		}
		active := c.HealthCheck.Path != ""
		so := balancer.StateOptions{
			SlowStart: max(c.SlowStart, 0), EWMADecay: c.EWMADecay,
			MaxConcurrent: max(c.Admission.MaxConcurrent, 0), MaxQueue: max(c.Admission.MaxQueue, 0),
			InitiallyUnhealthy: active && c.HealthCheck.InitialState == "unhealthy",
		}
		for i, in := range c.Instances {
			u := balancer.NewUpstream(c.Name, in.Addr, in.Weight, i, co, so)
			if d.drained.has(c.Name, in.Addr) {
				u.SetDraining(true, 0)
			}
			p.Instances = append(p.Instances, u)
		}
		pc := c.Passive
		po := health.PassiveOptions{
			ConsecutiveErrors: max(pc.ConsecutiveErrors, 0), Consecutive5xx: max(pc.Consecutive5xx, 0),
			FailureRatio: max(pc.FailureRatio, 0), Window: pc.FailureRatioWindow, MinRequests: pc.FailureRatioMinRequests,
			BaseEjection: pc.BaseEjectionTime, MaxEjection: pc.MaxEjectionTime, MaxEjectionPercent: max(pc.MaxEjectionPercent, 0),
		}
		rc := c.Retry
		up := &upstream{
			pool:    p,
			passive: health.NewPassive(p, po, d.metrics.UpstreamEjections, d.log),
			retry: &proxy.RetryPolicy{
				MaxAttempts: rc.MaxAttempts, PerTryTimeout: rc.PerTryTimeout,
				BackoffBase: rc.BackoffBase, BackoffMax: rc.BackoffMax,
				OnStatus: proxy.NewStatusSet(rc.RetryOnStatus...),
				Budget:   proxy.NewBudget(rc.BudgetPercent, rc.MinRetryConcurrency, rc.MinRetriesPerSecond),
				Rand:     rnd,
			},
			queueTimeout: c.Admission.QueueTimeout,
		}
		if active {
			h := c.HealthCheck
			sr, _ := config.ParseStatusRange(h.ExpectedStatus)
			up.checker = health.NewChecker(p, health.CheckOptions{
				Path: h.Path, Host: h.Host, Interval: h.Interval, UnhealthyInterval: h.UnhealthyInterval,
				Jitter: max(h.Jitter, 0), Timeout: h.Timeout, MinStatus: sr.Min, MaxStatus: sr.Max,
				Rise: h.Rise, Fall: h.Fall, Client: co,
			}, d.log, d.now, rnd)
		}
		out[c.Name] = up
	}
	return out, nil
}

// target returns the proxy target of a route to pool u.
func (u *upstream) target(r config.Route, forwarded bool) proxy.Target {
	return proxy.Target{
		Pool: u.pool, Timeout: r.Timeout, PerTryTimeout: r.PerTryTimeout,
		Retry: u.retry, Passive: u.passive, QueueTimeout: u.queueTimeout,
		StreamResponse: r.StreamResponseBody, Forwarded: forwarded, WebSocketIdle: r.WebSocketIdleTimeout,
	}
}

// startHealth starts the generation's active health checks.
func (g *graph) startHealth() {
	for _, u := range g.upstreams {
		if u.checker != nil {
			u.checker.Start()
		}
	}
}

// stopHealth stops them; called when the generation is replaced, so two
// generations never probe at once.
func (g *graph) stopHealth() {
	for _, u := range g.upstreams {
		if u.checker != nil {
			u.checker.Close()
		}
	}
}

// poolList returns the generation's pools in name order.
func (g *graph) poolList() []*balancer.Pool {
	out := make([]*balancer.Pool, 0, len(g.upstreams))
	for _, u := range g.upstreams {
		out = append(out, u.pool)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// drainSet remembers the instances an operator drained, so that a drain
// survives configuration reloads until it is undone. Safe for concurrent
// use.
type drainSet struct {
	mu sync.Mutex
	m  map[[2]string]bool
}

func (d *drainSet) has(pool, addr string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.m[[2]string{pool, addr}]
}

func (d *drainSet) set(pool, addr string, on bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.m == nil {
		d.m = map[[2]string]bool{}
	}
	if on {
		d.m[[2]string{pool, addr}] = true
	} else {
		delete(d.m, [2]string{pool, addr})
	}
}

// errNotFound reports an unknown pool or instance to the admin endpoint.
var errNotFound = errors.New("no such upstream pool or instance")

// upstreamsState is GET /admin/upstreams.
func (s *Server) upstreamsState() any {
	now := s.now().UnixNano()
	pools := s.current.Load().poolList()
	out := struct {
		Upstreams []balancer.PoolState `json:"upstreams"`
	}{Upstreams: make([]balancer.PoolState, 0, len(pools))}
	for _, p := range pools {
		out.Upstreams = append(out.Upstreams, p.State(now))
	}
	return out
}

// drain is POST (drain true) and DELETE (drain false)
// /admin/upstreams/{pool}/{instance}/drain: it takes the instance out of
// selection (requests in flight finish) or puts it back with a slow start,
// and returns the instance's state.
func (s *Server) drain(pool, addr string, drain bool) (any, error) {
	s.reloadMu.Lock() // a reload must not miss the change
	defer s.reloadMu.Unlock()
	u, ok := s.current.Load().upstreams[pool]
	if !ok {
		return nil, errNotFound
	}
	now := s.now().UnixNano()
	for _, in := range u.pool.Instances {
		if in.Addr == addr {
			s.drained.set(pool, addr, drain)
			if in.SetDraining(drain, now) {
				s.log.Info("upstream instance drain changed", "upstream", pool, "instance", addr, "draining", drain)
			}
			return in.State(now), nil
		}
	}
	return nil, errNotFound
}
