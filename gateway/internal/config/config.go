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
	// Headers configures the security headers sent on every response and
	// HSTS on HTTPS responses (headers.go).
	Headers Headers `yaml:"headers"`
	// Auth configures access-token verification at the edge: the issuer,
	// audience and JWKS the routes marked `auth:` verify against (auth.go).
	Auth Auth `yaml:"auth"`
	// RateLimit holds the rate-limit policies routes reference and the
	// in-flight limits (ratelimit.go).
	RateLimit RateLimit `yaml:"ratelimit"`
	// Cache sizes the response cache (cache.go); routes opt in.
	Cache Cache `yaml:"cache"`
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

// TLS configures TLS termination (tls.go validates it).
type TLS struct {
	// Certificates are PEM cert/key file pairs served by SNI. With neither
	// Certificates nor CertificatesDir, a self-signed certificate for
	// localhost is generated once under RuntimeDir.
	Certificates []Certificate `yaml:"certificates"`
	// CertificatesDir is scanned for more pairs: NAME.crt or NAME.pem with
	// NAME.key, and subdirectories NAME/ holding tls.crt+tls.key
	// (Kubernetes secret) or fullchain.pem+privkey.pem (ACME clients).
	CertificatesDir string `yaml:"certificates_dir"`
	// DefaultCertificate names the pair served to clients without SNI or
	// with a name no certificate covers; empty: the first listed pair, else
	// the first pair of the directory in name order.
	DefaultCertificate string `yaml:"default_certificate"`
	// MinVersion is "1.2" or "1.3".
	MinVersion string `yaml:"min_version"`
	// HandshakeTimeout bounds a TLS handshake; a client that has not
	// finished it by then is disconnected.
	HandshakeTimeout time.Duration `yaml:"handshake_timeout"`
	// Watch reloads certificates when their files (or the directory)
	// change, without a configuration reload.
	Watch bool `yaml:"watch"`
}

// Certificate is one PEM certificate chain and its private key.
type Certificate struct {
	// Name labels the pair in logs and in the
	// gateway_tls_cert_expiry_timestamp_seconds metric and may be named by
	// tls.default_certificate; default: the certificate's subject CN, else
	// its first DNS name.
	Name     string `yaml:"name"`
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
	// Balancer selects an instance per request: round_robin,
	// weighted_round_robin, least_conn, p2c (default) or hash
	// (balancing.go).
	Balancer string `yaml:"balancer"`
	// Instances are the pool's members.
	Instances []Instance `yaml:"instances"`
	// DialTimeout bounds opening a TCP connection to an instance.
	DialTimeout time.Duration `yaml:"dial_timeout"`
	// MaxConnsPerInstance caps connections to one instance.
	MaxConnsPerInstance int `yaml:"max_conns_per_instance"`
	// MaxIdleConnDuration closes pooled keep-alive connections idle this long.
	MaxIdleConnDuration time.Duration `yaml:"max_idle_conn_duration"`
	// TLS makes connections to the pool's instances TLS (tls.go).
	TLS UpstreamTLS `yaml:"tls"`

	// Balancing, health checks, admission control and retries
	// (balancing.go documents each).
	HashKey            string        `yaml:"hash_key"`
	ReadTimeout        time.Duration `yaml:"read_timeout"`
	WriteTimeout       time.Duration `yaml:"write_timeout"`
	MaxConnWaitTimeout time.Duration `yaml:"max_conn_wait_timeout"`
	// SlowStart is the window over which a recovered instance's share
	// ramps up (default 10s; a negative value turns slow start off).
	SlowStart      time.Duration `yaml:"slow_start"`
	EWMADecay      time.Duration `yaml:"ewma_decay"`
	PanicThreshold int           `yaml:"panic_threshold"`
	Admission      Admission     `yaml:"admission"`
	HealthCheck    HealthCheck   `yaml:"health_check"`
	Passive        Passive       `yaml:"passive"`
	Retry          Retry         `yaml:"retry"`
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
	// Headers overrides the security headers on this route's responses.
	Headers RouteHeaders `yaml:"headers"`
	// CORS answers cross-origin requests for this route at the edge; off
	// while AllowOrigins is empty (headers.go).
	CORS CORS `yaml:"cors"`
	// Auth is "none" (default), "optional" (a bearer token is verified
	// when present) or "required" (auth.go).
	Auth string `yaml:"auth"`
	// Roles, when not empty, are the "role" claim values allowed on the
	// route (auth: required only); other roles get 403.
	Roles []string `yaml:"roles"`
	// PerTryTimeout overrides the upstream's retry.per_try_timeout for
	// this route (0: the upstream's).
	PerTryTimeout time.Duration `yaml:"per_try_timeout"`
	// RateLimits names the ratelimit.policies that apply to the route; a
	// request must pass every one (e.g. per IP and per user).
	RateLimits []string `yaml:"rate_limits"`
	// Cache is the route's response caching policy (cache.go).
	Cache RouteCache `yaml:"cache"`
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
