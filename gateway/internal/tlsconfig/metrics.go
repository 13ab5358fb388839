package tlsconfig

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the TLS collectors. Label values are bounded: versions and
// results are fixed sets, certificate names come from configuration or
// the certificate (CN). Safe for concurrent use.
type Metrics struct {
	// Handshakes counts server handshakes:
	// gateway_tls_handshakes_total{version,result}, version one of "ssl3",
	// "1.0", "1.1", "1.2", "1.3", "unknown" (the negotiated version, or
	// the highest the client offered when the handshake failed), result
	// one of "success", "failure", "timeout".
	Handshakes *prometheus.CounterVec
	// CertExpiry is each served certificate's NotAfter as Unix seconds:
	// gateway_tls_cert_expiry_timestamp_seconds{cert}.
	CertExpiry *prometheus.GaugeVec
	// Reloads counts certificate (re)loads by result ("success",
	// "failure"): gateway_tls_cert_reloads_total{result}.
	Reloads *prometheus.CounterVec
}

// NewMetrics creates the collectors and registers them on reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		Handshakes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gateway_tls_handshakes_total", Help: "TLS handshakes on the HTTPS listener by protocol version and result.",
		}, []string{"version", "result"}),
		CertExpiry: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "gateway_tls_cert_expiry_timestamp_seconds", Help: "Expiry (NotAfter) of each served certificate, Unix seconds.",
		}, []string{"cert"}),
		Reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gateway_tls_cert_reloads_total", Help: "Certificate set loads and reloads by result.",
		}, []string{"result"}),
	}
	for _, c := range []prometheus.Collector{m.Handshakes, m.CertExpiry, m.Reloads} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// VersionName returns the metric label of a protocol version number.
func VersionName(v uint16) string {
	switch v {
	case 0x0300:
		return "ssl3"
	case 0x0301:
		return "1.0"
	case 0x0302:
		return "1.1"
	case 0x0303:
		return "1.2"
	case 0x0304:
		return "1.3"
	}
	return "unknown"
}
