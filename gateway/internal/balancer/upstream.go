// Package balancer holds upstream pools: each Upstream (one backend
// instance) pairs its immutable configuration with atomic live state
// (in-flight requests, latency EWMA, health, ejection, drain, slow start),
// and a Policy picks the instance for a request by reading that state only.
//
// The split follows Caddy's reverseproxy (config apart from live counters,
// selection policies behind one interface). Time and randomness are
// injected: every method that depends on time takes the current time as
// Unix nanoseconds, and policies draw from a Rand given at construction, so
// tests are deterministic.
package balancer

import (
	"context"
	"crypto/tls"
	"math"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/valyala/fasthttp"
)

// MaxInstances is the largest pool size; instance sets are 64-bit masks.
const MaxInstances = 64

// minSlowStartFactor is the share an instance gets at the very start of its
// slow-start window (Envoy's min_weight_percent default, 10%), so that a
// recovered instance sees traffic at once and its EWMA warms up.
const minSlowStartFactor = 0.1

// unmeasuredPenalty is the P2C cost, in nanoseconds, of an instance with
// requests in flight but no latency sample yet (Finagle's PeakEWMA
// penalty): new instances are tried, but not flooded before their first
// answer.
const unmeasuredPenalty = float64(time.Second)

// Upstream is one backend instance of a pool. Config fields are immutable
// after NewUpstream; live state is atomic (admin-only details sit behind a
// small mutex), so an Upstream is safe for concurrent use.
type Upstream struct {
	// Pool is the name of the pool the instance belongs to.
	Pool string
	// Addr is the instance's host:port.
	Addr string
	// Weight is the instance's configured relative share (1..1000) for
	// weighted policies; slow start scales it down temporarily.
	Weight int
	// Index is the instance's position in its pool (0..MaxInstances-1).
	Index int
	// Client is the instance's keep-alive connection pool.
	Client *fasthttp.HostClient

	hashSeed  uint64  // rendezvous hashing seed, from Addr
	slowStart int64   // slow-start window, ns; 0 disables
	decay     float64 // EWMA decay time constant, ns

	gate gate // admission control; its active count is the in-flight count

	healthy      atomic.Bool  // active health state (true without active checks)
	draining     atomic.Bool  // taken out by an operator
	ejectedUntil atomic.Int64 // passive ejection end, Unix ns (0: never ejected)
	upSince      atomic.Int64 // start of the current slow start, Unix ns (0: none)
	stateChanges atomic.Int64 // health, ejection and drain transitions

	ewmaMu    sync.Mutex    // serializes EWMA updates; reads are lock-free
	ewma      atomic.Uint64 // latency EWMA in ns, float64 bits
	ewmaStamp atomic.Int64  // time of the last EWMA update, Unix ns

	infoMu    sync.Mutex // guards the admin-only details below
	lastCheck CheckResult
	ejection  EjectionInfo
}

// ClientOptions configure an instance's keep-alive connection pool.
// Zero durations mean "no limit" except DialTimeout, which must be set.
type ClientOptions struct {
	// DialTimeout bounds opening a TCP connection.
	DialTimeout time.Duration
	// ReadTimeout bounds reading one whole response (headers and body).
	ReadTimeout time.Duration
	// WriteTimeout bounds writing one whole request.
	WriteTimeout time.Duration
	// MaxConns caps open connections to the instance.
	MaxConns int
	// MaxConnWaitTimeout is how long a request waits for a free connection
	// when MaxConns are busy before failing with fasthttp.ErrNoFreeConns
	// (0: fail at once).
	MaxConnWaitTimeout time.Duration
	// MaxIdleConnDuration closes keep-alive connections idle this long.
	MaxIdleConnDuration time.Duration
	// TLS, when not nil, makes every connection a TLS connection with this
	// client configuration (ServerName empty: the host part of the
	// address). The handshake is part of the dial, bounded by the dial
	// timeout; a failed handshake is a *DialError (no request byte sent).
	TLS *tls.Config
}

// StateOptions configure an instance's live state.
type StateOptions struct {
	// SlowStart is the window over which a recovered instance's share
	// ramps linearly from 10% to its full weight (0: no slow start).
	SlowStart time.Duration
	// EWMADecay is the time constant of the latency EWMA: a sample's
	// influence falls to 1/e after this long (Finagle's PeakEWMA decay;
	// default 10s when zero).
	EWMADecay time.Duration
	// MaxConcurrent caps requests in flight to the instance (0: no cap).
	MaxConcurrent int
	// MaxQueue bounds requests waiting for a slot when MaxConcurrent are
	// in flight (0: reject at once).
	MaxQueue int
	// InitiallyUnhealthy starts the instance down until an active health
	// check passes.
	InitiallyUnhealthy bool
}

// NewHostClient returns the fasthttp client for one instance. The client
// never retries on its own (MaxIdemponentCallAttempts 1, RetryIfErr
// false: retries are the proxy's decision) and adds no User-Agent. A
// failure to connect is returned as *DialError. Header names of upstream
// responses are canonicalized on receipt, as the public listener does for
// requests, so that every lookup, replacement and removal the gateway
// makes is case-insensitive (RFC 9110 §5.1): an upstream "server:" or
// "x-request-id:" line cannot slip past them. The request target it sends
// is the canonical path the gateway routed on (fasthttp's normalized,
// re-quoted path), so the upstream cannot be made to see a different path
// than the router. A request that finds its kept-alive connection closed
// by the instance, or whose first write fails, fails with *UnsentError
// (see trackedConn). The health prober uses the same constructor, so
// probes travel exactly as traffic does.
func NewHostClient(addr string, o ClientOptions) *fasthttp.HostClient {
	dialer := &net.Dialer{KeepAlive: 30 * time.Second}
	tlsConf := o.TLS
	if tlsConf != nil && tlsConf.ServerName == "" {
		host, _, _ := net.SplitHostPort(addr)
		tlsConf = tlsConf.Clone()
		tlsConf.ServerName = host
	}
	return &fasthttp.HostClient{
		Addr:                      addr,
		Name:                      "",
		NoDefaultUserAgentHeader:  true,
		MaxConns:                  o.MaxConns,
		MaxConnWaitTimeout:        o.MaxConnWaitTimeout,
		MaxIdleConnDuration:       o.MaxIdleConnDuration,
		ReadTimeout:               o.ReadTimeout,
		WriteTimeout:              o.WriteTimeout,
		MaxIdemponentCallAttempts: 1,
		RetryIfErr:                func(*fasthttp.Request, int, error) (bool, bool) { return false, false },
		// DialTimeout (not Dial) so that a request's remaining time also
		// bounds connecting.
		DialTimeout: func(a string, timeout time.Duration) (net.Conn, error) {
			d := o.DialTimeout
			if timeout > 0 && (d <= 0 || timeout < d) {
				d = timeout
			}
			dl := *dialer
			dl.Timeout = d
			// One deadline bounds connecting and the TLS handshake together.
			ctx, cancel := context.WithTimeout(context.Background(), d)
			defer cancel()
			raw, err := dl.DialContext(ctx, "tcp", a)
			if err != nil {
				return nil, &DialError{Err: err}
			}
			c := newTrackedConn(raw)
			if tlsConf == nil {
				return c, nil
			}
			tc := tls.Client(c, tlsConf)
			if err := tc.HandshakeContext(ctx); err != nil {
				_ = raw.Close()
				return nil, &DialError{Err: err}
			}
			return tc, nil
		},
	}
}

// NewUpstream returns instance index of pool with its own connection pool
// (NewHostClient) and fresh live state: healthy unless
// s.InitiallyUnhealthy, not ejected, not draining, no slow start.
func NewUpstream(pool, addr string, weight, index int, o ClientOptions, s StateOptions) *Upstream {
	u := &Upstream{
		Pool: pool, Addr: addr, Weight: max(weight, 1), Index: index,
		Client:    NewHostClient(addr, o),
		hashSeed:  xxhash.Sum64String(addr),
		slowStart: int64(s.SlowStart),
		decay:     float64(s.EWMADecay),
	}
	if u.decay <= 0 {
		u.decay = float64(10 * time.Second)
	}
	u.gate.limit = int64(s.MaxConcurrent)
	u.gate.maxQueue = s.MaxQueue
	u.healthy.Store(!s.InitiallyUnhealthy)
	return u
}

// InFlight returns the number of requests admitted to the instance and not
// yet finished.
func (u *Upstream) InFlight() int64 { return u.gate.active.Load() }

// Queued returns the number of requests waiting for admission.
func (u *Upstream) Queued() int64 { return u.gate.queued.Load() }

// Acquire admits one request to the instance: at once while fewer than
// the concurrency cap are in flight, otherwise after waiting in the
// instance's bounded FIFO queue for at most wait. It returns
// ErrQueueFull when the queue is full (or there is none) and
// ErrQueueTimeout when wait passed; both wrap ErrOverloaded. Every nil
// return must be paired with one Release.
func (u *Upstream) Acquire(wait time.Duration) error { return u.gate.acquire(wait) }

// Release ends a request admitted by Acquire, handing its slot to the
// oldest queued request, if any.
func (u *Upstream) Release() { u.gate.release() }

// Full reports whether the instance is at its concurrency cap.
func (u *Upstream) Full() bool { return u.gate.full() }

// Observe feeds one response time (rtt) seen at now (Unix ns) into the
// latency EWMA. The EWMA is time-weighted and peak-sensitive (Finagle's
// PeakEWMA): a slower sample replaces the average at once; faster samples
// pull it down with weight 1-exp(-Δt/decay).
func (u *Upstream) Observe(now int64, rtt time.Duration) {
	u.ewmaMu.Lock()
	v := math.Float64frombits(u.ewma.Load())
	r := float64(rtt)
	if r > v {
		v = r
	} else {
		dt := float64(max(now-u.ewmaStamp.Load(), 0))
		w := math.Exp(-dt / u.decay)
		v = v*w + r*(1-w)
	}
	u.ewma.Store(math.Float64bits(v))
	u.ewmaStamp.Store(now)
	u.ewmaMu.Unlock()
}

// EWMA returns the latency estimate at now in nanoseconds, decayed towards
// zero for the time since the last sample so that an instance avoided for
// being slow is eventually tried again (0: no sample yet).
func (u *Upstream) EWMA(now int64) float64 {
	v := math.Float64frombits(u.ewma.Load())
	if v == 0 {
		return 0
	}
	if dt := now - u.ewmaStamp.Load(); dt > 0 {
		v *= math.Exp(-float64(dt) / u.decay)
	}
	return v
}

// cost is the P2C load estimate: the decayed latency EWMA times the
// requests in flight plus the one being placed, divided by the effective
// weight.
func (u *Upstream) cost(now int64) float64 {
	inflight := float64(u.InFlight())
	e := u.EWMA(now)
	var c float64
	switch {
	case e > 0:
		c = e * (inflight + 1)
	case inflight > 0:
		c = unmeasuredPenalty + inflight
	}
	return c / u.EffectiveWeight(now)
}

// Healthy reports the active health state (always true without active
// health checks, unless set otherwise).
func (u *Upstream) Healthy() bool { return u.healthy.Load() }

// SetHealthy records an active health check verdict. When the instance
// turns healthy and now is non-zero (a recovery; pass 0 for an instance's
// first verdict after start or reload, which needs no ramp), a slow start
// begins at now, and a passive ejection still running ends at now: the
// errors that caused it belong to the outage the active checks saw end
// (Envoy's successful_active_health_check_uneject_host). An instance the
// active checks never saw down stays ejected. It reports whether the state
// changed.
func (u *Upstream) SetHealthy(healthy bool, now int64) bool {
	if u.healthy.Swap(healthy) == healthy {
		return false
	}
	u.stateChanges.Add(1)
	if healthy && now != 0 {
		u.upSince.Store(now)
		if until := u.ejectedUntil.Load(); now < until && u.ejectedUntil.CompareAndSwap(until, now) {
			u.infoMu.Lock()
			u.ejection.Until = time.Unix(0, now)
			u.infoMu.Unlock()
		}
	}
	return true
}

// Draining reports whether an operator has taken the instance out.
func (u *Upstream) Draining() bool { return u.draining.Load() }

// SetDraining takes the instance out of selection (true; requests in
// flight finish) or puts it back (false) with a slow start from now. It
// reports whether the state changed.
func (u *Upstream) SetDraining(draining bool, now int64) bool {
	if u.draining.Swap(draining) == draining {
		return false
	}
	u.stateChanges.Add(1)
	if !draining {
		u.upSince.Store(now)
	}
	return true
}

// Ejected reports whether passive health checking has ejected the
// instance at now (Unix ns).
func (u *Upstream) Ejected(now int64) bool { return now < u.ejectedUntil.Load() }

// Eject takes the instance out of selection until until (Unix ns), for
// reason; count is the instance's ejection count including this one. When
// the ejection ends the instance comes back with a slow start.
func (u *Upstream) Eject(now, until int64, reason string, count int) {
	u.ejectedUntil.Store(until)
	u.stateChanges.Add(1)
	u.infoMu.Lock()
	u.ejection = EjectionInfo{Count: count, Reason: reason, At: time.Unix(0, now), Until: time.Unix(0, until)}
	u.infoMu.Unlock()
}

// Available reports whether policies may pick the instance at now:
// healthy, not ejected and not draining.
func (u *Upstream) Available(now int64) bool {
	return u.healthy.Load() && !u.draining.Load() && now >= u.ejectedUntil.Load()
}

// SlowStartFactor returns the share of its weight the instance gets at now:
// 1 outside a slow start, otherwise the elapsed fraction of the window,
// at least 10%. A slow start begins when the instance turns healthy, comes
// back from an ejection, or is put back after a drain.
func (u *Upstream) SlowStartFactor(now int64) float64 {
	if u.slowStart <= 0 {
		return 1
	}
	since := max(u.upSince.Load(), u.ejectedUntil.Load())
	if since == 0 {
		return 1
	}
	el := now - since
	if el >= u.slowStart {
		return 1
	}
	return max(float64(el)/float64(u.slowStart), minSlowStartFactor)
}

// EffectiveWeight is Weight scaled by SlowStartFactor.
func (u *Upstream) EffectiveWeight(now int64) float64 {
	return float64(u.Weight) * u.SlowStartFactor(now)
}

// RecordCheck stores the latest active health check result for the admin
// view.
func (u *Upstream) RecordCheck(r CheckResult) {
	u.infoMu.Lock()
	u.lastCheck = r
	u.infoMu.Unlock()
}

// Close releases idle connections to the instance.
func (u *Upstream) Close() { u.Client.CloseIdleConnections() }

// CheckResult is the outcome of one active health check.
type CheckResult struct {
	// At is when the check finished.
	At time.Time `json:"at"`
	// OK reports a pass (expected status within the timeout).
	OK bool `json:"ok"`
	// Status is the response status (0 when none arrived).
	Status int `json:"status,omitempty"`
	// DurationMS is the check's round trip in milliseconds.
	DurationMS float64 `json:"duration_ms"`
	// Error classifies a failure: timeout, refused, reset, status or
	// error. Never the raw error text.
	Error string `json:"error,omitempty"`
}

// EjectionInfo describes an instance's latest passive ejection.
type EjectionInfo struct {
	// Count is the number of ejections so far (drives the back-off).
	Count int `json:"count"`
	// Reason is consecutive_errors, consecutive_5xx or failure_ratio.
	Reason string `json:"reason"`
	// At and Until bound the ejection.
	At    time.Time `json:"at"`
	Until time.Time `json:"until"`
}

// DialError marks a failure to open a connection to an instance: the
// request's bytes never left the gateway, so any request, even a POST, may
// be retried on another instance.
type DialError struct{ Err error }

func (e *DialError) Error() string { return "dial upstream: " + e.Err.Error() }

// Unwrap returns the dialer's error (a *net.OpError, often a timeout).
func (e *DialError) Unwrap() error { return e.Err }
