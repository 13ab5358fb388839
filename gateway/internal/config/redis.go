package config

import (
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// Redis configures the optional shared store: the cluster-wide rate-limit
// budget and cache invalidation fan-out. With URL empty the gateway runs
// standalone (local limits, local invalidation) and says so once at start.
type Redis struct {
	// URL is redis://[user:password@]host:port/db or rediss:// for TLS.
	URL string `yaml:"url"`
	// DialTimeout bounds connecting.
	DialTimeout time.Duration `yaml:"dial_timeout"`
	// ReadTimeout and WriteTimeout bound one command; features add their
	// own, shorter, per-call deadlines on the request path.
	ReadTimeout  time.Duration `yaml:"read_timeout"`
	WriteTimeout time.Duration `yaml:"write_timeout"`
	// PoolSize caps connections (0: go-redis default, 10 per CPU).
	PoolSize int `yaml:"pool_size"`
}

func (c *Config) fillRedisDefaults() {
	r := &c.Redis
	if r.DialTimeout == 0 {
		r.DialTimeout = 200 * time.Millisecond
	}
	if r.ReadTimeout == 0 {
		r.ReadTimeout = 100 * time.Millisecond
	}
	if r.WriteTimeout == 0 {
		r.WriteTimeout = 100 * time.Millisecond
	}
}

func (c *Config) validateRedis(ck *checker) {
	r := c.Redis
	if r.URL != "" {
		if _, err := redis.ParseURL(r.URL); err != nil {
			// The parse error may quote the URL, password included.
			ck.add("redis.url", "not a redis:// or rediss:// URL")
		}
	}
	for _, d := range []struct {
		path string
		v    time.Duration
	}{{"redis.dial_timeout", r.DialTimeout}, {"redis.read_timeout", r.ReadTimeout}, {"redis.write_timeout", r.WriteTimeout}} {
		if d.v <= 0 {
			ck.add(d.path, "must be positive")
		}
	}
	if r.PoolSize < 0 {
		ck.add("redis.pool_size", "must not be negative")
	}
}

// RedisOptions returns go-redis options for the configured URL, or nil
// when Redis is not configured.
func (c *Config) RedisOptions() (*redis.Options, error) {
	if c.Redis.URL == "" {
		return nil, nil
	}
	o, err := redis.ParseURL(c.Redis.URL)
	if err != nil {
		return nil, fmt.Errorf("redis.url: not a redis:// or rediss:// URL")
	}
	o.DialTimeout = c.Redis.DialTimeout
	o.ReadTimeout = c.Redis.ReadTimeout
	o.WriteTimeout = c.Redis.WriteTimeout
	o.ContextTimeoutEnabled = true
	if c.Redis.PoolSize > 0 {
		o.PoolSize = c.Redis.PoolSize
	}
	return o, nil
}
