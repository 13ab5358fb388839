// Package config holds the gateway's typed configuration tree, its embedded
// defaults, strict YAML loading with environment overrides, and validation
// that reports every problem with its field path.
//
// A Config is plain data: it is built once per load, validated, and then
// compiled by the server into the live routing/upstream/policy graph. It is
// never mutated after Load returns, so it may be shared between goroutines.
package config

import "time"

// Config is the whole gateway configuration (deploy/config/gateway.yaml
// documents every key).
type Config struct {
	// RuntimeDir holds state the gateway generates itself, such as the
	// self-signed development certificate. Relative paths are relative to
	// the working directory.
	RuntimeDir string `yaml:"runtime_dir"`
	// Log configures the process log and the access log.
	Log Log `yaml:"log"`
	// Listen names the listener addresses.
	Listen Listen `yaml:"listen"`
	// TLS configures termination on the HTTPS listener.
	TLS TLS `yaml:"tls"`
	// Server holds connection and request limits of the public listeners.
	Server Server `yaml:"server"`
	// TrustedProxies lists the CIDRs of proxies (load balancers) in front of
	// the gateway whose X-Forwarded-For, X-Request-ID and Forwarded headers
	// are believed. Empty: no peer is trusted.
	TrustedProxies []string `yaml:"trusted_proxies"`
	// Upstreams are the backend pools routes send requests to.
	Upstreams []Upstream `yaml:"upstreams"`
	// Routes map requests (host and path prefix) to upstream pools.
	Routes []Route `yaml:"routes"`
	// Redis is the optional shared store (redis.go).
	Redis Redis `yaml:"redis"`
	// Compression configures response compression (compression.go).
	Compression Compression `yaml:"compression"`
	// Forwarding configures the forwarding headers sent upstream
	// (forwarding.go).
	Forwarding Forwarding `yaml:"forwarding"`
}

// Log configures logging.
type Log struct {
	// Level is debug, info, warn or error.
	Level string `yaml:"level"`
	// Format is json or text.
	Format string `yaml:"format"`
	// Access configures the per-request access log.
	Access AccessLog `yaml:"access"`
}

// AccessLog configures the JSON access log (one line per request).
type AccessLog struct {
	// Enabled turns the access log on.
	Enabled bool `yaml:"enabled"`
	// Sample2xx is the fraction (0..1) of 2xx/3xx responses logged; errors
	// are always logged.
	Sample2xx float64 `yaml:"sample_2xx"`
	// FlushInterval is how often buffered access-log lines are written out
	// (they are also written when the buffer fills and on shutdown).
	FlushInterval time.Duration `yaml:"flush_interval"`
}

// Listen names listener addresses as host:port. Empty disables a listener
// (the HTTPS one cannot be disabled).
type Listen struct {
	// HTTPS is the TLS listener serving traffic.
	HTTPS string `yaml:"https"`
	// HTTP redirects to HTTPS (308) except health and ACME paths.
	HTTP string `yaml:"http"`
	// Admin serves /metrics, /healthz, /readyz and admin endpoints. It must
	// be a loopback or private address, never the public one.
	Admin string `yaml:"admin"`
}

// TLS configures TLS termination.
type TLS struct {
	// Certificates are PEM cert/key file pairs; the first is the default
	// for clients without SNI. Empty: a self-signed certificate for
	// localhost is generated once under RuntimeDir.
	Certificates []Certificate `yaml:"certificates"`
	// MinVersion is "1.2" or "1.3".
	MinVersion string `yaml:"min_version"`
}

// Certificate is one PEM certificate chain and its private key.
type Certificate struct {
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
}

// Server holds limits of the public listeners (see fasthttp.Server).
type Server struct {
	// ReadTimeout bounds receiving a request head: from a new connection's
	// accept (TLS handshake included) or a keep-alive request's first byte
	// to the end of its header block. Slowloris clients trickling headers
	// are cut off here.
	ReadTimeout time.Duration `yaml:"read_timeout"`
	// BodyTimeout bounds receiving a request body once its head has
	// arrived; routes may override it (body_timeout).
	BodyTimeout time.Duration `yaml:"body_timeout"`
	// WriteTimeout bounds writing one response; routes may override it.
	WriteTimeout time.Duration `yaml:"write_timeout"`
	// TLSHandshakeTimeout bounds the TLS handshake of a new connection.
	TLSHandshakeTimeout time.Duration `yaml:"tls_handshake_timeout"`
	// IdleTimeout closes keep-alive connections idle this long.
	IdleTimeout time.Duration `yaml:"idle_timeout"`
	// MaxHeaderBytes is the largest request header block accepted, request
	// line excluded (431 above).
	MaxHeaderBytes int `yaml:"max_header_bytes"`
	// MaxURIBytes is the longest request target accepted (414 above).
	MaxURIBytes int `yaml:"max_uri_bytes"`
	// MaxBodyBytes is the default request body limit (413 above); routes
	// may lower or raise it.
	MaxBodyBytes int `yaml:"max_body_bytes"`
	// MaxConnsPerIP caps concurrent connections from one client IP (0: no cap).
	MaxConnsPerIP int `yaml:"max_conns_per_ip"`
	// Concurrency caps concurrent requests served by the process.
	Concurrency int `yaml:"concurrency"`
	// DrainDelay is how long /readyz reports 503 before listeners stop
	// accepting on shutdown, so load balancers take the instance out.
	DrainDelay time.Duration `yaml:"drain_delay"`
	// ShutdownTimeout bounds waiting for in-flight requests on shutdown.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
}

// Upstream is a named pool of backend instances.
type Upstream struct {
	// Name is referenced by routes and used as a metric label.
	Name string `yaml:"name"`
	// Balancer selects an instance per request: round_robin.
	Balancer string `yaml:"balancer"`
	// Instances are the pool's members.
	Instances []Instance `yaml:"instances"`
	// DialTimeout bounds opening a TCP connection to an instance.
	DialTimeout time.Duration `yaml:"dial_timeout"`
	// MaxConnsPerInstance caps connections to one instance.
	MaxConnsPerInstance int `yaml:"max_conns_per_instance"`
	// MaxIdleConnDuration closes pooled keep-alive connections idle this long.
	MaxIdleConnDuration time.Duration `yaml:"max_idle_conn_duration"`
}

// Instance is one backend address.
type Instance struct {
	// Addr is host:port.
	Addr string `yaml:"addr"`
	// Weight is the relative share for weighted policies (default 1).
	Weight int `yaml:"weight"`
}

// Route maps requests to an upstream. Routes match by host (exact, case
// insensitive; empty matches any) and path prefix; the longest matching
// prefix wins, a host-specific route beats a host-less one of equal length.
type Route struct {
	// Name labels metrics and logs (bounded cardinality); defaults to the
	// path prefix.
	Name string `yaml:"name"`
	// Host restricts the route to one Host header value (no port).
	Host string `yaml:"host"`
	// PathPrefix must start with "/".
	PathPrefix string `yaml:"path_prefix"`
	// Upstream names the pool that serves the route.
	Upstream string `yaml:"upstream"`
	// Timeout bounds the whole upstream exchange for one request.
	Timeout time.Duration `yaml:"timeout"`
	// MaxBodyBytes overrides server.max_body_bytes for this route (0: inherit).
	MaxBodyBytes int `yaml:"max_body_bytes"`
	// BodyTimeout overrides server.body_timeout for this route (0: inherit).
	BodyTimeout time.Duration `yaml:"body_timeout"`
	// WriteTimeout overrides server.write_timeout for this route (0: inherit).
	WriteTimeout time.Duration `yaml:"write_timeout"`
	// StreamRequestBody forwards request bodies as they arrive instead of
	// buffering them whole first (uploads). A streamed request is never
	// retried on another instance once its body started to flow.
	StreamRequestBody bool `yaml:"stream_request_body"`
	// StreamResponseBody relays upstream response bodies as they arrive
	// instead of buffering them whole (downloads, exports). Streamed
	// responses are not compressed.
	StreamResponseBody bool `yaml:"stream_response_body"`
	// DisableCompression turns response compression off for this route.
	DisableCompression bool `yaml:"disable_compression"`
	// WebSocket lets "Upgrade: websocket" requests through to the upstream
	// as a tunnel; on other routes the Upgrade header is dropped and the
	// request is served as plain HTTP.
	WebSocket bool `yaml:"websocket"`
	// WebSocketIdleTimeout closes a tunnel after no byte flowed either way
	// for this long.
	WebSocketIdleTimeout time.Duration `yaml:"websocket_idle_timeout"`
}
