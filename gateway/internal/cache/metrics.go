package cache

import "github.com/prometheus/client_golang/prometheus"

// result is the outcome of one request at the cache, the result label of
// gateway_cache_requests_total.
type result uint8

const (
	resHit result = iota
	resMiss
	resStale
	resRevalidated
	resBypass
	resCoalesced
	nResults
)

// resultNames are the label values, also written to the access log.
var resultNames = [nResults]string{"hit", "miss", "stale", "revalidated", "bypass", "coalesced"}

// Invalidation sources, the source label of
// gateway_cache_invalidations_total.
const (
	// SourceAdmin: POST /admin/cache/purge on this instance.
	SourceAdmin = "admin"
	// SourceWrite: a non-error response to an unsafe method here.
	SourceWrite = "write"
	// SourceRemote: a message from another publisher on the channel.
	SourceRemote = "remote"
)

// Metrics are the cache's collectors:
//
//	gateway_cache_requests_total{route,result}  hit|miss|stale|revalidated|bypass|coalesced
//	gateway_cache_bytes                         bytes held (store and hot tier)
//	gateway_cache_entries                       entries held (markers included)
//	gateway_cache_evictions_total               entries evicted for space or age
//	gateway_cache_invalidations_total{source}   invalidation targets applied
//	gateway_cache_fanout_degraded               1 while cluster-wide invalidation is unavailable
//
// The hit ratio of a route is hit / sum over results.
type Metrics struct {
	requests      *prometheus.CounterVec
	evictions     prometheus.Counter
	invalidations *prometheus.CounterVec
	degraded      prometheus.Gauge
	bytes         prometheus.GaugeFunc
	entries       prometheus.GaugeFunc
}

func newUnregisteredMetrics(s *Store) *Metrics {
	return &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gateway_cache_requests_total", Help: "Requests seen by the response cache, by route and result.",
		}, []string{"route", "result"}),
		evictions: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gateway_cache_evictions_total", Help: "Cache entries evicted for space or age.",
		}),
		invalidations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gateway_cache_invalidations_total", Help: "Invalidation targets (URL, prefix, surrogate key, partition) applied, by source.",
		}, []string{"source"}),
		degraded: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "gateway_cache_fanout_degraded", Help: "1 while cluster-wide cache invalidation (Redis) is unconfigured or unreachable: purges are local only.",
		}),
		bytes: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "gateway_cache_bytes", Help: "Bytes held by the response cache.",
		}, func() float64 { return float64(s.Bytes()) }),
		entries: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "gateway_cache_entries", Help: "Entries held by the response cache.",
		}, func() float64 { return float64(s.Len()) }),
	}
}

func newMetrics(reg prometheus.Registerer, s *Store) (*Metrics, error) {
	m := newUnregisteredMetrics(s)
	for _, c := range []prometheus.Collector{m.requests, m.evictions, m.invalidations, m.degraded, m.bytes, m.entries} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	for _, src := range []string{SourceAdmin, SourceWrite, SourceRemote} {
		m.invalidations.WithLabelValues(src)
	}
	return m, nil
}
