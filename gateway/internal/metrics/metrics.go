// Package metrics defines the gateway's Prometheus collectors, registered
// on a registry passed in (no global registry, DESIGN rule 3). Label values
// are bounded: route names and upstream names from config, methods folded
// to a fixed set, status codes folded to classes (DESIGN rule 8).
package metrics

import (
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
