package api

import (
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// httpMetrics are the RED metrics of the HTTP API, labelled by route
// template (bounded), method (bounded by methodLabel) and status code:
//
//	campshub_backend_http_requests_total{route,method,code}          counter
//	campshub_backend_http_request_duration_seconds{route,method}     histogram
//	campshub_backend_http_requests_in_flight{route}                  gauge
//	campshub_backend_authz_denials_total{route,reason}               counter: 400/401/403 by authz.Denial
//	campshub_backend_audit_dropped_total                             counter: events the recorder refused
type httpMetrics struct {
	requests     *prometheus.CounterVec
	duration     *prometheus.HistogramVec
	inFlight     *prometheus.GaugeVec
	denials      *prometheus.CounterVec
	auditDropped prometheus.Counter
}

func newHTTPMetrics(reg prometheus.Registerer) (*httpMetrics, error) {
	m := &httpMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "campshub_backend_http_requests_total",
			Help: "HTTP requests answered, by route template, method and status code.",
		}, []string{"route", "method", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "campshub_backend_http_request_duration_seconds",
			Help:    "Time to answer HTTP requests, in seconds, by route template and method.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"route", "method"}),
		inFlight: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "campshub_backend_http_requests_in_flight",
			Help: "HTTP requests being served, by route template.",
		}, []string{"route"}),
		denials: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "campshub_backend_authz_denials_total",
			Help: "Requests refused by route access control, by route template and reason.",
		}, []string{"route", "reason"}),
		auditDropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "campshub_backend_audit_dropped_total",
			Help: "Audit events the recorder refused (queue full or closed); they were logged instead.",
		}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.duration, m.inFlight, m.denials, m.auditDropped} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("api: register metrics: %w", err)
		}
	}
	return m, nil
}

// routeMetrics are httpMetrics curried for one route template.
type routeMetrics struct {
	requests *prometheus.CounterVec
	duration prometheus.ObserverVec
	inFlight prometheus.Gauge
}

func (m *httpMetrics) forRoute(template string) routeMetrics {
	return routeMetrics{
		requests: m.requests.MustCurryWith(prometheus.Labels{"route": template}),
		duration: m.duration.MustCurryWith(prometheus.Labels{"route": template}),
		inFlight: m.inFlight.WithLabelValues(template),
	}
}

func (r routeMetrics) observe(method string, status int, elapsed time.Duration) {
	r.requests.WithLabelValues(method, statusLabel(status)).Inc()
	r.duration.WithLabelValues(method).Observe(elapsed.Seconds())
}
