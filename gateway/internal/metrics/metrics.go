// Package metrics defines the gateway's Prometheus collectors, registered
// on a registry passed in (no global registry, DESIGN rule 3). Label values
// are bounded: route names and upstream names from config, methods folded
// to a fixed set, status codes folded to classes (DESIGN rule 8).
package metrics

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Metrics holds every gateway collector. Safe for concurrent use.
type Metrics struct {
	// Requests counts responses: gateway_http_requests_total{route,method,code_class}.
	Requests *prometheus.CounterVec
	// Duration observes request latency in seconds:
	// gateway_http_request_duration_seconds{route}.
	Duration *prometheus.HistogramVec
	// InFlight is the number of requests being served.
	InFlight prometheus.Gauge
	// OpenConnections is the number of open client connections.
	OpenConnections prometheus.Gauge
	// BuildInfo is 1, labelled with version and config hash.
	BuildInfo *prometheus.GaugeVec
	// ConfigReloads counts reload attempts: {result="success|failure"}.
	ConfigReloads *prometheus.CounterVec
	// LastReloadSuccess is the Unix time of the last successful (re)load.
	LastReloadSuccess prometheus.Gauge
	// UpstreamRequests counts upstream tries:
	// gateway_upstream_requests_total{upstream,instance,code_class}.
	UpstreamRequests *prometheus.CounterVec
	// UpstreamDuration observes upstream try latency in seconds:
	// gateway_upstream_request_duration_seconds{upstream}.
	UpstreamDuration *prometheus.HistogramVec

	// Balancing and health (the proxy's retry loop and health.Passive).
	// gateway_upstream_healthy and gateway_upstream_queue_depth are read
	// from live state at scrape time by balancer.Collector.

	// UpstreamEjections counts passive ejections:
	// gateway_upstream_ejections_total{upstream,reason}, reason
	// consecutive_errors, consecutive_5xx or failure_ratio.
	UpstreamEjections *prometheus.CounterVec
	// UpstreamRetries counts retry decisions:
	// gateway_upstream_retries_total{upstream,outcome}, outcome success or
	// failure (a retry's try), or why a wanted retry was not made:
	// budget_exhausted, attempts_exhausted, deadline, no_instance, unsafe.
	UpstreamRetries *prometheus.CounterVec
}

// LatencyBuckets are histogram bounds in seconds, dense below 100 ms where
// an API gateway's latency lives.
var LatencyBuckets = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

// New creates the collectors and registers them (plus the Go runtime and
// process collectors) on reg. It fails if any name is already registered.
func New(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		Requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gateway_http_requests_total", Help: "HTTP responses sent, by route, method and status class.",
		}, []string{"route", "method", "code_class"}),
		Duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "gateway_http_request_duration_seconds", Help: "Time from request start to response written, by route.",
			Buckets: LatencyBuckets,
		}, []string{"route"}),
		InFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "gateway_http_inflight_requests", Help: "Requests being served.",
		}),
		OpenConnections: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "gateway_open_connections", Help: "Open client connections on the public listeners.",
		}),
		BuildInfo: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "gateway_build_info", Help: "Always 1; labels carry the version and the active config hash.",
		}, []string{"version", "config_hash"}),
		ConfigReloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gateway_config_reloads_total", Help: "Configuration reload attempts by result.",
		}, []string{"result"}),
		LastReloadSuccess: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "gateway_config_last_reload_success_timestamp_seconds", Help: "Unix time of the last successful configuration load.",
		}),
		UpstreamRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gateway_upstream_requests_total", Help: "Upstream tries by pool, instance and status class (error for no response).",
		}, []string{"upstream", "instance", "code_class"}),
		UpstreamDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "gateway_upstream_request_duration_seconds", Help: "Upstream try latency by pool.",
			Buckets: LatencyBuckets,
		}, []string{"upstream"}),
		UpstreamEjections: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gateway_upstream_ejections_total", Help: "Passive health check ejections of upstream instances, by pool and reason.",
		}, []string{"upstream", "reason"}),
		UpstreamRetries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gateway_upstream_retries_total", Help: "Upstream retries by pool and outcome (success, failure, or why none was made).",
		}, []string{"upstream", "outcome"}),
	}
	for _, c := range []prometheus.Collector{
		m.Requests, m.Duration, m.InFlight, m.OpenConnections, m.BuildInfo, m.ConfigReloads,
		m.LastReloadSuccess, m.UpstreamRequests, m.UpstreamDuration,
		m.UpstreamEjections, m.UpstreamRetries,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

var codeClasses = [...]string{"1xx", "2xx", "3xx", "4xx", "5xx"}

// CodeClass folds a status code to "1xx".."5xx" ("other" outside 100-599).
func CodeClass(status int) string {
	if status < 100 || status > 599 {
		return "other"
	}
	return codeClasses[status/100-1]
}

// Method folds a request method to a bounded label: the RFC 9110 methods
// and PATCH as themselves, anything else "OTHER". It does not allocate.
func Method(m []byte) string {
	switch string(m) {
	case "GET":
		return "GET"
	case "HEAD":
		return "HEAD"
	case "POST":
		return "POST"
	case "PUT":
		return "PUT"
	case "DELETE":
		return "DELETE"
	case "PATCH":
		return "PATCH"
	case "OPTIONS":
		return "OPTIONS"
	case "CONNECT":
		return "CONNECT"
	case "TRACE":
		return "TRACE"
	}
	return "OTHER"
}

// methodLabels are the bounded method labels Method returns, indexed by
// methodIndex.
var methodLabels = [...]string{"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE", "OTHER"}

func methodIndex(m []byte) int {
	switch string(m) {
	case "GET":
		return 0
	case "HEAD":
		return 1
	case "POST":
		return 2
	case "PUT":
		return 3
	case "DELETE":
		return 4
	case "PATCH":
		return 5
	case "OPTIONS":
		return 6
	case "CONNECT":
		return 7
	case "TRACE":
		return 8
	}
	return 9
}

// classIndex maps a status to 0..4 for 1xx..5xx and 5 for anything else.
func classIndex(status int) int {
	if status < 100 || status > 599 {
		return 5
	}
	return status/100 - 1
}

var classLabels = [...]string{"1xx", "2xx", "3xx", "4xx", "5xx", "other"}

// Route holds the RED series of one route label, resolved once per label
// combination and cached, so that recording a request performs no label
// lookup and no allocation (CounterVec.WithLabelValues hashes and may
// allocate). Build one per route when a configuration is compiled. Safe
// for concurrent use.
type Route struct {
	name     string
	m        *Metrics
	duration prometheus.Observer
	requests [len(methodLabels)][len(classLabels)]atomic.Pointer[prometheus.Counter]
}

// Route returns the series of route name (a configured route name or
// "unmatched").
func (m *Metrics) Route(name string) *Route {
	return &Route{name: name, m: m, duration: m.Duration.WithLabelValues(name)}
}

// Name returns the route label.
func (r *Route) Name() string { return r.name }

// Observe records one response: gateway_http_requests_total{route,method,
// code_class} and gateway_http_request_duration_seconds{route}. method is
// the raw request method (folded to a bounded label), seconds the latency.
func (r *Route) Observe(method []byte, status int, seconds float64) {
	mi, ci := methodIndex(method), classIndex(status)
	slot := &r.requests[mi][ci]
	c := slot.Load()
	if c == nil {
		v := r.m.Requests.WithLabelValues(r.name, methodLabels[mi], classLabels[ci])
		c = &v
		slot.Store(c)
	}
	(*c).Inc()
	r.duration.Observe(seconds)
}

// Instance holds the upstream series of one instance of a pool, resolved
// once and cached like Route. Safe for concurrent use.
type Instance struct {
	pool, addr string
	m          *Metrics
	duration   prometheus.Observer
	requests   [len(classLabels) + 1]atomic.Pointer[prometheus.Counter]
}

// Instance returns the series of instance addr of pool.
func (m *Metrics) Instance(pool, addr string) *Instance {
	return &Instance{pool: pool, addr: addr, m: m, duration: m.UpstreamDuration.WithLabelValues(pool)}
}

// Observe records one upstream try: gateway_upstream_requests_total{
// upstream,instance,code_class} (code_class "error" when status is 0, no
// response) and gateway_upstream_request_duration_seconds{upstream}.
func (i *Instance) Observe(status int, seconds float64) {
	ci, label := len(classLabels), "error"
	if status != 0 {
		ci = classIndex(status)
		label = classLabels[ci]
	}
	slot := &i.requests[ci]
	c := slot.Load()
	if c == nil {
		v := i.m.UpstreamRequests.WithLabelValues(i.pool, i.addr, label)
		c = &v
		slot.Store(c)
	}
	(*c).Inc()
	i.duration.Observe(seconds)
}
