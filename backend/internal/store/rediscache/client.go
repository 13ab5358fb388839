// Package rediscache is the Redis side of the backend: a read-through
// cache decorator of domain.Store for expensive reads (student summaries,
// section reports, the public catalogue), and the Invalidator that keeps
// it, and the gateways' caches, fresh after writes.
//
// # Consistency
//
// Every cached entry is tagged (the same tags as the HTTP Surrogate-Key:
// "courses", "section:<id>", "summary:student:<id>"...). Each tag has a
// generation counter in Redis (key ch360:v1:g:<tag>). A reader fetches the
// entry and the current generations of its tags in one MGET before it
// queries PostgreSQL, and stores the result stamped with the generations
// it read. Invalidating a tag is one INCR. An entry whose stamp differs
// from the current generations is a miss, so a value computed from a
// snapshot older than an invalidation can never be served after it, even
// when it is stored after the invalidation ran.
//
// # Failure
//
// Redis is optional: every Redis call has a short deadline; an error opens
// a circuit breaker for Cooldown, during which reads go straight to
// PostgreSQL and invalidations are skipped (counted, logged once). An
// invalidation that could not be delivered marks the cache dirty; the
// first successful Redis call afterwards bumps the global generation
// (tag "all", carried by every entry), discarding every entry written
// before, so a missed invalidation cannot outlive the outage. Entries also
// expire after their TTL.
package rediscache

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
)

// DefaultKeyPrefix namespaces the cache's Redis keys: entries are
// <prefix>c:<key>, tag generations <prefix>g:<tag>.
const DefaultKeyPrefix = "ch360:v1:"

// globalTag is carried by every entry; bumping it empties the cache.
const globalTag = "all"

// Channel is the Pub/Sub channel of cluster-wide invalidations shared with
// the gateway: messages are JSON {"v":1,"origin":"<instance>",
// "surrogate_keys":[...]}.
const Channel = "campshub360:invalidate"

// Options configure a Client.
type Options struct {
	// Timeout bounds every Redis call (default 50ms): a slow Redis must
	// not slow requests down.
	Timeout time.Duration
	// Cooldown is how long Redis is bypassed after an error (default 2s).
	Cooldown time.Duration
	// Log receives breaker transitions (once per outage, not per call).
	Log *slog.Logger
	// Registry receives the cache metrics (required).
	Registry prometheus.Registerer
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// KeyPrefix namespaces the keys (DefaultKeyPrefix when empty).
	KeyPrefix string
}

// Client is a go-redis client behind a circuit breaker, with metrics:
//
//	campshub_backend_cache_requests_total{cache,result}   hit, miss, error, bypass
//	campshub_backend_cache_invalidations_total{result}    ok, error, skipped
//	campshub_backend_cache_redis_available                1 while the breaker is closed
//
// Safe for concurrent use. Close closes the underlying client.
type Client struct {
	rdb       redis.UniversalClient
	genPrefix string
	valPrefix string
	timeout   time.Duration
	cooldown  time.Duration
	log       *slog.Logger
	now       func() time.Time
	openUntil atomic.Int64 // unix nanos; 0 when closed
	dirty     atomic.Bool
	requests  *prometheus.CounterVec
	invals    *prometheus.CounterVec
	available prometheus.Gauge
}

// NewClient wraps rdb. It fails only when the metrics cannot be
// registered.
func NewClient(rdb redis.UniversalClient, o Options) (*Client, error) {
	if o.Timeout <= 0 {
		o.Timeout = 50 * time.Millisecond
	}
	if o.Cooldown <= 0 {
		o.Cooldown = 2 * time.Second
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.KeyPrefix == "" {
		o.KeyPrefix = DefaultKeyPrefix
	}
	c := &Client{rdb: rdb, genPrefix: o.KeyPrefix + "g:", valPrefix: o.KeyPrefix + "c:", timeout: o.Timeout, cooldown: o.Cooldown, log: o.Log, now: o.Now,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "campshub_backend_cache_requests_total",
			Help: "Read-through cache lookups by cache and result (hit, miss, error, bypass).",
		}, []string{"cache", "result"}),
		invals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "campshub_backend_cache_invalidations_total",
			Help: "Cache invalidations (generation bumps and surrogate-key publications) by result.",
		}, []string{"result"}),
		available: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "campshub_backend_cache_redis_available",
			Help: "1 while Redis is used, 0 while the circuit breaker bypasses it.",
		}),
	}
	c.available.Set(1)
	for _, col := range []prometheus.Collector{c.requests, c.invals, c.available} {
		if err := o.Registry.Register(col); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// Close closes the Redis client.
func (c *Client) Close() error { return c.rdb.Close() }

// usable reports whether the breaker lets calls through.
func (c *Client) usable() bool {
	until := c.openUntil.Load()
	return until == 0 || c.now().UnixNano() >= until
}

// callCtx bounds one Redis call.
func (c *Client) callCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), c.timeout)
}

// failed opens the breaker after a Redis error (redis.Nil is not one).
func (c *Client) failed(err error) {
	until := c.now().Add(c.cooldown).UnixNano()
	if c.openUntil.Swap(until) == 0 {
		c.available.Set(0)
		c.log.Warn("Redis unavailable; serving from PostgreSQL without the cache", "cooldown", c.cooldown.String(), "error", err.Error())
	}
}

// succeeded closes the breaker, and when invalidations were missed while
// Redis was unreachable, discards every entry by bumping the global
// generation.
func (c *Client) succeeded(ctx context.Context) {
	if c.openUntil.Load() != 0 && c.openUntil.Swap(0) != 0 {
		c.available.Set(1)
		c.log.Info("Redis available again; cache in use")
	}
	if c.dirty.Load() {
		cctx, cancel := c.callCtx(ctx)
		defer cancel()
		if err := c.rdb.Incr(cctx, c.genPrefix+globalTag).Err(); err == nil {
			c.dirty.Store(false)
			c.log.Info("discarded cached entries written before missed invalidations")
		}
	}
}

func (c *Client) count(cache, result string) { c.requests.WithLabelValues(cache, result).Inc() }
