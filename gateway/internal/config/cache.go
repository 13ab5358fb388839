package config

import (
	"fmt"
	"strings"
	"time"
)

// Cache configures the in-memory RFC 9111 response cache (gateway
// internal/cache). The store is sized once at start; changing its sizes
// needs a restart. Which routes cache is per route (RouteCache).
type Cache struct {
	// MaxBytes is the byte budget of the entry store (whole MiB used).
	MaxBytes int64 `yaml:"max_bytes"`
	// HotBytes is the budget of the hot tier: recently read entries kept
	// decoded and served without copying out of the store. 0: max_bytes/8.
	HotBytes int64 `yaml:"hot_bytes"`
	// MaxObjectBytes is the largest stored response (body and header
	// fields); routes may lower it.
	MaxObjectBytes int `yaml:"max_object_bytes"`
	// UserQuotaBytes caps one user partition (private responses cached
	// per verified user); past it that user's oldest entries go.
	UserQuotaBytes int64 `yaml:"user_quota_bytes"`
	// MaxLifetime is how long any entry is kept at most, stale windows
	// included (bigcache's life window).
	MaxLifetime time.Duration `yaml:"max_lifetime"`
	// CoalesceWait bounds how long a request waits for a concurrent fetch
	// of the same URL before fetching itself.
	CoalesceWait time.Duration `yaml:"coalesce_wait"`
	// HitForMiss is how long an unstorable response turns coalescing off
	// for its URL.
	HitForMiss time.Duration `yaml:"hit_for_miss"`
	// RefreshAhead is the fraction (0..0.5) of an entry's freshness
	// lifetime before expiry within which a hot entry is refreshed in the
	// background; 0 disables refresh-ahead.
	RefreshAhead float64 `yaml:"refresh_ahead"`
	// MaxBackground caps concurrent background fetches.
	MaxBackground int `yaml:"max_background"`
	// Encodings are the content codings the gateway serves:
	// Accept-Encoding is reduced to them in keys and towards the origin.
	Encodings []string `yaml:"encodings"`
	// InvalidationChannel is the Redis Pub/Sub channel of cluster-wide
	// invalidation (needs redis.url).
	InvalidationChannel string `yaml:"invalidation_channel"`
}

// RouteCache is a route's caching policy.
type RouteCache struct {
	// Enabled stores and serves GET/HEAD responses of the route.
	Enabled bool `yaml:"enabled"`
	// PerUser stores responses marked private in the verified user's own
	// partition (requests whose token the edge verified). Ignored while
	// Enabled is false.
	PerUser bool `yaml:"per_user"`
	// MaxObjectBytes lowers cache.max_object_bytes for the route (0: inherit).
	MaxObjectBytes int `yaml:"max_object_bytes"`
}

func (c *Config) fillCacheDefaults() {
	k := &c.Cache
	if k.MaxBytes == 0 {
		k.MaxBytes = 256 << 20
	}
	if k.HotBytes == 0 {
		k.HotBytes = k.MaxBytes / 8
	}
	if k.MaxObjectBytes == 0 {
		k.MaxObjectBytes = 1 << 20
	}
	if k.UserQuotaBytes == 0 {
		k.UserQuotaBytes = 1 << 20
	}
	if k.MaxLifetime == 0 {
		k.MaxLifetime = time.Hour
	}
	if k.CoalesceWait == 0 {
		k.CoalesceWait = 5 * time.Second
	}
	if k.HitForMiss == 0 {
		k.HitForMiss = 5 * time.Second
	}
	if k.MaxBackground == 0 {
		k.MaxBackground = 64
	}
	if k.Encodings == nil {
		k.Encodings = []string{"br", "gzip", "zstd"}
	}
	if k.InvalidationChannel == "" {
		k.InvalidationChannel = "campshub360:invalidate"
	}
	for i := range k.Encodings {
		k.Encodings[i] = strings.ToLower(k.Encodings[i])
	}
}

func (c *Config) validateCache(ck *checker) {
	k := c.Cache
	if k.MaxBytes < 1<<20 {
		ck.add("cache.max_bytes", "want at least 1048576 (1 MiB)")
	}
	if k.HotBytes < 0 || k.HotBytes > k.MaxBytes {
		ck.add("cache.hot_bytes", "want 0..cache.max_bytes")
	}
	if k.MaxObjectBytes < 1024 || int64(k.MaxObjectBytes) > k.MaxBytes/8 {
		ck.add("cache.max_object_bytes", "want 1024..cache.max_bytes/8")
	}
	if k.UserQuotaBytes < 0 {
		ck.add("cache.user_quota_bytes", "must not be negative")
	}
	if k.MaxLifetime < time.Second {
		ck.add("cache.max_lifetime", "want at least 1s")
	}
	if k.CoalesceWait <= 0 {
		ck.add("cache.coalesce_wait", "must be positive")
	}
	if k.HitForMiss < 0 {
		ck.add("cache.hit_for_miss", "must not be negative")
	}
	if k.RefreshAhead < 0 || k.RefreshAhead > 0.5 {
		ck.add("cache.refresh_ahead", "%v: want a fraction between 0 and 0.5", k.RefreshAhead)
	}
	if k.MaxBackground < 1 {
		ck.add("cache.max_background", "must be at least 1")
	}
	if len(k.Encodings) > 32 {
		ck.add("cache.encodings", "at most 32 codings")
	}
	for i, e := range k.Encodings {
		if e == "" || strings.ContainsAny(e, " ,;*") || e == "identity" {
			ck.add(fmt.Sprintf("cache.encodings[%d]", i), "%q is not a content coding", e)
		}
	}
	if k.InvalidationChannel == "" || strings.ContainsAny(k.InvalidationChannel, " \t\r\n") {
		ck.add("cache.invalidation_channel", "want a channel name without spaces")
	}
	for i, r := range c.Routes {
		if r.Cache.MaxObjectBytes < 0 {
			ck.add(fmt.Sprintf("routes[%d].cache.max_object_bytes", i), "must not be negative")
		}
	}
}
