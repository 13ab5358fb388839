package ratelimit

import (
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the limiter's collectors. Labels are bounded: policy names
// come from configuration.
type metrics struct {
	// decisions: gateway_ratelimit_decisions_total{policy,result}, result
	// allow, deny (dry-run would-be rejections included) or fallback
	// (decided without the shared store, either way).
	decisions *prometheus.CounterVec
	// storeErrors: gateway_ratelimit_store_errors_total, Redis errors and
	// timeouts (request path and heartbeat).
	storeErrors prometheus.Counter
	// keys: gateway_ratelimit_keys{policy}, keys held in memory.
	keys *prometheus.Desc
	e    *Engine
}

func newMetrics(reg prometheus.Registerer, e *Engine) (*metrics, error) {
	m := &metrics{
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gateway_ratelimit_decisions_total",
			Help: "Rate-limit decisions by policy and result (allow, deny, fallback: decided without the shared store).",
		}, []string{"policy", "result"}),
		storeErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gateway_ratelimit_store_errors_total",
			Help: "Errors and timeouts talking to the shared rate-limit store (Redis).",
		}),
		keys: prometheus.NewDesc("gateway_ratelimit_keys",
			"Rate-limit keys (buckets and pre-check entries) held in memory, by policy.", []string{"policy"}, nil),
		e: e,
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.decisions, m.storeErrors, m} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// Describe implements prometheus.Collector for gateway_ratelimit_keys.
func (m *metrics) Describe(ch chan<- *prometheus.Desc) { ch <- m.keys }

// Collect implements prometheus.Collector for gateway_ratelimit_keys.
func (m *metrics) Collect(ch chan<- prometheus.Metric) {
	for name, st := range m.e.snapshot() {
		n := 0
		if st.local != nil {
			n = st.local.Len()
		} else {
			n = st.shared.Len()
		}
		ch <- prometheus.MustNewConstMetric(m.keys, prometheus.GaugeValue, float64(n), name)
	}
}
