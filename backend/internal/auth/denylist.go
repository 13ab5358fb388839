package auth

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// denyKeyPrefix prefixes the Redis key of each revoked jti; denySentinel
// marks a Redis that holds the whole denylist (a Redis restarted empty
// lacks it, and the next Sync refills every unexpired entry).
const (
	denyKeyPrefix = "campshub:auth:revoked:"
	denySentinel  = "campshub:auth:revoked-loaded"
)

// DenylistOptions configure a Denylist.
type DenylistOptions struct {
	// Store is the durable denylist (required).
	Store Store
	// Redis is the fast denylist; nil runs on PostgreSQL alone.
	Redis redis.UniversalClient
	// CacheTTL is how long this instance trusts a "not revoked" answer for
	// one jti (0: ask every time). A revocation made on this instance is
	// seen at once; one made on another instance within CacheTTL.
	CacheTTL time.Duration
	// RedisTimeout bounds one Redis call before falling back to PostgreSQL.
	RedisTimeout time.Duration
	// SyncInterval is how often Run copies new PostgreSQL entries to Redis.
	SyncInterval time.Duration
	// Log receives Redis failures (once per outage).
	Log *slog.Logger
	// Now is the clock.
	Now func() time.Time
	// OnFallback, when set, is called each time a check falls back to
	// PostgreSQL because Redis failed (a metric).
	OnFallback func()
}

// Denylist holds revoked access tokens (by jti) until they expire: in
// PostgreSQL (durable, the source of truth) and Redis (the fast path,
// shared by every instance), with a small local cache. A check asks Redis
// and, when Redis fails or is not configured, PostgreSQL, so a revocation
// holds while Redis is down. Revocations written while Redis was down, or
// lost by a Redis restart, are copied back by Sync. Safe for concurrent use.
type Denylist struct {
	o DenylistOptions

	mu    sync.RWMutex
	local map[string]denyEntry

	syncMu    sync.Mutex
	watermark time.Time
	redisDown atomic.Bool
}

type denyEntry struct {
	revoked bool
	until   time.Time // revoked: the token's expiry; not revoked: cache end
}

// maxLocal bounds the local cache; past it, expired entries are dropped
// and then the cache is cleared.
const maxLocal = 100_000

// NewDenylist returns a ready Denylist.
func NewDenylist(o DenylistOptions) (*Denylist, error) {
	if o.Store == nil {
		return nil, errors.New("auth: denylist needs a store")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.RedisTimeout <= 0 {
		o.RedisTimeout = 100 * time.Millisecond
	}
	if o.SyncInterval <= 0 {
		o.SyncInterval = 10 * time.Second
	}
	return &Denylist{o: o, local: map[string]denyEntry{}}, nil
}

// Revoke denies tokens until their expiry: PostgreSQL first (the call
// fails when it fails), then Redis (best effort: Sync repairs a miss).
func (d *Denylist) Revoke(ctx context.Context, tokens []Revoked) error {
	if len(tokens) == 0 {
		return nil
	}
	if err := d.o.Store.DenyTokens(ctx, tokens); err != nil {
		return err
	}
	d.mu.Lock()
	for _, t := range tokens {
		d.local[t.JTI] = denyEntry{revoked: true, until: t.ExpiresAt}
	}
	d.mu.Unlock()
	if d.o.Redis != nil {
		if err := d.pushRedis(ctx, tokens); err != nil {
			d.redisFailed(err)
		}
	}
	return nil
}

func (d *Denylist) pushRedis(ctx context.Context, tokens []Revoked) error {
	ctx, cancel := context.WithTimeout(ctx, d.o.RedisTimeout*time.Duration(1+len(tokens)/500))
	defer cancel()
	now := d.o.Now()
	_, err := d.o.Redis.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, t := range tokens {
			if t.ExpiresAt.After(now) {
				p.SetArgs(ctx, denyKeyPrefix+t.JTI, "1", redis.SetArgs{ExpireAt: t.ExpiresAt})
			}
		}
		return nil
	})
	return err
}

// Revoked reports whether the token jti (expiring at exp) is revoked. An
// error means neither Redis nor PostgreSQL answered: the caller must
// refuse the token (fail closed).
func (d *Denylist) Revoked(ctx context.Context, jti string, exp time.Time) (bool, error) {
	now := d.o.Now()
	d.mu.RLock()
	e, ok := d.local[jti]
	d.mu.RUnlock()
	if ok && now.Before(e.until) {
		return e.revoked, nil
	}
	revoked, err := d.lookup(ctx, jti)
	if err != nil {
		return false, err
	}
	until := exp
	if !revoked {
		until = now.Add(d.o.CacheTTL)
		if exp.Before(until) {
			until = exp
		}
	}
	if revoked || d.o.CacheTTL > 0 {
		d.remember(jti, denyEntry{revoked: revoked, until: until}, now)
	}
	return revoked, nil
}

func (d *Denylist) lookup(ctx context.Context, jti string) (bool, error) {
	if d.o.Redis != nil {
		rctx, cancel := context.WithTimeout(ctx, d.o.RedisTimeout)
		n, err := d.o.Redis.Exists(rctx, denyKeyPrefix+jti).Result()
		cancel()
		if err == nil {
			d.redisUp()
			return n > 0, nil
		}
		d.redisFailed(err)
		if d.o.OnFallback != nil {
			d.o.OnFallback()
		}
	}
	return d.o.Store.TokenDenied(ctx, jti)
}

func (d *Denylist) remember(jti string, e denyEntry, now time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.local) >= maxLocal {
		for k, v := range d.local {
			if !now.Before(v.until) {
				delete(d.local, k)
			}
		}
		if len(d.local) >= maxLocal {
			clear(d.local)
		}
	}
	d.local[jti] = e
}

// Sync copies to Redis every entry revoked since the last Sync (all
// unexpired entries when Redis lacks the sentinel, i.e. after a restart or
// on first use) and drops expired local entries.
func (d *Denylist) Sync(ctx context.Context) error {
	now := d.o.Now()
	d.mu.Lock()
	for k, v := range d.local {
		if !now.Before(v.until) {
			delete(d.local, k)
		}
	}
	d.mu.Unlock()
	if d.o.Redis == nil {
		return nil
	}
	d.syncMu.Lock()
	defer d.syncMu.Unlock()
	rctx, cancel := context.WithTimeout(ctx, d.o.RedisTimeout)
	loaded, err := d.o.Redis.Exists(rctx, denySentinel).Result()
	cancel()
	if err != nil {
		d.redisFailed(err)
		return err
	}
	since := d.watermark
	if loaded == 0 {
		since = time.Time{}
	}
	// Overlap the previous pass a little: rows commit with a revoked_at
	// slightly before they become visible.
	if !since.IsZero() {
		since = since.Add(-5 * time.Second)
	}
	rows, err := d.o.Store.DeniedSince(ctx, since, now)
	if err != nil {
		return err
	}
	if err := d.pushRedis(ctx, rows); err != nil {
		d.redisFailed(err)
		return err
	}
	rctx, cancel = context.WithTimeout(ctx, d.o.RedisTimeout)
	err = d.o.Redis.Set(rctx, denySentinel, now.UTC().Format(time.RFC3339), 0).Err()
	cancel()
	if err != nil {
		d.redisFailed(err)
		return err
	}
	d.redisUp()
	d.watermark = now
	return nil
}

// Run calls Sync every SyncInterval until ctx ends.
func (d *Denylist) Run(ctx context.Context) {
	t := time.NewTicker(d.o.SyncInterval)
	defer t.Stop()
	for {
		if err := d.Sync(ctx); err != nil && ctx.Err() == nil {
			d.o.Log.Debug("denylist sync failed", "error", err.Error())
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (d *Denylist) redisFailed(err error) {
	d.syncState(true, err)
}

func (d *Denylist) redisUp() { d.syncState(false, nil) }

func (d *Denylist) syncState(down bool, err error) {
	if d.redisDown.Load() == down {
		return
	}
	was := d.redisDown.Swap(down)
	switch {
	case down && !was:
		d.o.Log.Warn("Redis denylist unreachable; checking revoked tokens in PostgreSQL", "error", err.Error())
	case !down && was:
		d.o.Log.Info("Redis denylist reachable again")
	}
}
