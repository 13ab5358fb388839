package balancer

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// InstanceState is an instance's live state as the admin endpoint shows
// it (GET /admin/upstreams).
type InstanceState struct {
	// Addr is the instance's host:port.
	Addr string `json:"addr"`
	// State is one word: draining, unhealthy, ejected, slow_start or
	// healthy, the first that applies.
	State string `json:"state"`
	// Healthy is the active health state.
	Healthy bool `json:"healthy"`
	// Weight is the configured weight; EffectiveWeight is it scaled by
	// slow start.
	Weight          int     `json:"weight"`
	EffectiveWeight float64 `json:"effective_weight"`
	// InFlight and Queued count admitted and waiting requests.
	InFlight int64 `json:"in_flight"`
	Queued   int64 `json:"queued"`
	// EWMAMillis is the decayed latency EWMA in milliseconds.
	EWMAMillis float64 `json:"ewma_ms"`
	// StateChanges counts health, ejection and drain transitions since
	// the configuration was loaded.
	StateChanges int64 `json:"state_changes"`
	// LastCheck is the latest active health check (nil: none yet).
	LastCheck *CheckResult `json:"last_check,omitempty"`
	// Ejection is the latest passive ejection (nil: never ejected).
	Ejection *EjectionInfo `json:"ejection,omitempty"`
}

// PoolState is a pool's live state for the admin endpoint.
type PoolState struct {
	Name     string `json:"name"`
	Balancer string `json:"balancer"`
	// Panic reports that too few instances are available and the pool
	// routes to passively ejected ones too.
	Panic     bool            `json:"panic"`
	Instances []InstanceState `json:"instances"`
}

// State returns the instance's state at now (Unix ns).
func (u *Upstream) State(now int64) InstanceState {
	s := InstanceState{
		Addr: u.Addr, Healthy: u.Healthy(), Weight: u.Weight,
		EffectiveWeight: u.EffectiveWeight(now),
		InFlight:        u.InFlight(), Queued: u.Queued(),
		EWMAMillis:   u.EWMA(now) / float64(time.Millisecond),
		StateChanges: u.stateChanges.Load(),
	}
	switch {
	case u.Draining():
		s.State = "draining"
	case !u.Healthy():
		s.State = "unhealthy"
	case u.Ejected(now):
		s.State = "ejected"
	case u.SlowStartFactor(now) < 1:
		s.State = "slow_start"
	default:
		s.State = "healthy"
	}
	u.infoMu.Lock()
	if !u.lastCheck.At.IsZero() {
		c := u.lastCheck
		s.LastCheck = &c
	}
	if u.ejection.Count > 0 {
		e := u.ejection
		s.Ejection = &e
	}
	u.infoMu.Unlock()
	return s
}

// State returns the pool's state at now (Unix ns).
func (p *Pool) State(now int64) PoolState {
	_, panic := p.Eligible(now)
	ps := PoolState{Name: p.Name, Balancer: p.Balancer, Panic: panic, Instances: make([]InstanceState, len(p.Instances))}
	for i, u := range p.Instances {
		ps.Instances[i] = u.State(now)
	}
	return ps
}

// Collector exports the pools' live state at scrape time:
// gateway_upstream_healthy{upstream,instance} (1 when the instance is
// healthy and not ejected) and gateway_upstream_queue_depth{upstream}
// (requests waiting for admission). Reading at scrape time keeps the
// request path free of gauge updates and makes time-based transitions
// (an ejection running out) visible without a timer.
type Collector struct {
	pools   func() []*Pool
	now     func() time.Time
	healthy *prometheus.Desc
	queue   *prometheus.Desc
}

// NewCollector returns a collector over the pools pools returns (the
// running configuration generation's), reading the clock now. Register it
// on the gateway's registry. Safe for concurrent use.
func NewCollector(pools func() []*Pool, now func() time.Time) *Collector {
	return &Collector{
		pools: pools, now: now,
		healthy: prometheus.NewDesc("gateway_upstream_healthy",
			"1 when the upstream instance is healthy and not ejected, else 0.", []string{"upstream", "instance"}, nil),
		queue: prometheus.NewDesc("gateway_upstream_queue_depth",
			"Requests waiting for admission to an instance of the upstream.", []string{"upstream"}, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.healthy
	ch <- c.queue
}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	now := c.now().UnixNano()
	for _, p := range c.pools() {
		var queued int64
		for _, u := range p.Instances {
			v := 0.0
			if u.Healthy() && !u.Ejected(now) {
				v = 1
			}
			ch <- prometheus.MustNewConstMetric(c.healthy, prometheus.GaugeValue, v, p.Name, u.Addr)
			queued += u.Queued()
		}
		ch <- prometheus.MustNewConstMetric(c.queue, prometheus.GaugeValue, float64(queued), p.Name)
	}
}
