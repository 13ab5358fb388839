package authn

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the edge authentication collectors. Labels are fixed sets.
// Safe for concurrent use.
type Metrics struct {
	// Requests counts decisions on routes with auth:
	// gateway_auth_requests_total{result}, result one of the Result*
	// constants.
	Requests *prometheus.CounterVec
	// JWKSFetches counts key set fetches:
	// gateway_auth_jwks_fetches_total{result="success|not_modified|failure"}.
	JWKSFetches *prometheus.CounterVec
	// JWKSKeys is the number of keys in the set in force: gateway_auth_jwks_keys.
	JWKSKeys prometheus.Gauge
	// JWKSLastSuccess is the Unix time of the last successful fetch:
	// gateway_auth_jwks_last_success_timestamp_seconds.
	JWKSLastSuccess prometheus.Gauge
	// CacheEntries is the number of cached verification results:
	// gateway_auth_cache_entries.
	CacheEntries prometheus.Gauge
	// CacheEvictions counts results evicted to make room:
	// gateway_auth_cache_evictions_total.
	CacheEvictions prometheus.Counter
}

// Results of gateway_auth_requests_total.
const (
	ResultVerified    = "verified"      // token verified now
	ResultCached      = "cached"        // verification cache hit
	ResultAnonymous   = "anonymous"     // auth: optional, no token
	ResultMissing     = "missing"       // auth: required, no bearer token
	ResultQueryToken  = "query_token"   // access_token in the query string
	ResultBadRequest  = "bad_request"   // several Authorization lines, bad token characters
	ResultMalformed   = "malformed"     // not a JWS, bad base64/JSON, too long
	ResultAlgorithm   = "algorithm"     // alg other than EdDSA (none, HS256, ...)
	ResultUnknownKey  = "unknown_key"   // kid not in the key set
	ResultSignature   = "signature"     // signature does not verify
	ResultExpired     = "expired"       // exp passed
	ResultNotYetValid = "not_yet_valid" // nbf or iat in the future
	ResultIssuer      = "issuer"        // wrong iss
	ResultAudience    = "audience"      // wrong aud
	ResultClaims      = "claims"        // sub/role/exp missing or invalid
	ResultForbidden   = "forbidden"     // valid token, role not allowed
	ResultUnavailable = "unavailable"   // no key set loaded yet
)

// NewMetrics creates the collectors and registers them on reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		Requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gateway_auth_requests_total", Help: "Token verification decisions at the edge by result.",
		}, []string{"result"}),
		JWKSFetches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gateway_auth_jwks_fetches_total", Help: "JWK Set fetches by result.",
		}, []string{"result"}),
		JWKSKeys: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "gateway_auth_jwks_keys", Help: "Keys in the token verification key set in force.",
		}),
		JWKSLastSuccess: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "gateway_auth_jwks_last_success_timestamp_seconds", Help: "Unix time of the last successful JWK Set fetch.",
		}),
		CacheEntries: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "gateway_auth_cache_entries", Help: "Cached token verification results.",
		}),
		CacheEvictions: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gateway_auth_cache_evictions_total", Help: "Verification results evicted from the full cache.",
		}),
	}
	for _, c := range []prometheus.Collector{m.Requests, m.JWKSFetches, m.JWKSKeys, m.JWKSLastSuccess, m.CacheEntries, m.CacheEvictions} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}
