package ratelimit

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
)

// Options are the process-level dependencies of an Engine.
type Options struct {
	// Redis is the shared store; nil runs every policy locally.
	Redis *redis.Client
	// KeyPrefix starts every Redis key the limiter writes
	// (e.g. "campshub360:rl:").
	KeyPrefix string
	// Registry receives the limiter's metrics.
	Registry prometheus.Registerer
	// Log receives store outages, recoveries and dry-run rejections.
	Log *slog.Logger
	// Clock is the monotonic clock decisions use (SystemClock when nil).
	Clock Clock
	// Rand supplies the instance id and the per-process secrets
	// (crypto/rand when nil).
	Rand io.Reader
	// Heartbeat is the presence refresh and store probe interval (1s when
	// zero); presence entries live for three heartbeats.
	Heartbeat time.Duration
	// Background, when false, starts no goroutines (no sweeper, no
	// heartbeat): tests drive Sweep and Heartbeat themselves.
	Background bool
}

// Engine owns the limiter state that outlives configuration reloads: the
// buckets of every policy (kept across a reload while the policy's rate,
// burst, key and scope are unchanged, so a reload never refills anyone's
// bucket), the in-flight counters, the Redis store with its heartbeat,
// the idle sweeper and the metrics. Create with New; Compile builds the
// per-generation view; Close stops the goroutines. Safe for concurrent
// use.
type Engine struct {
	clock    Clock
	log      *slog.Logger
	store    *store // nil without Redis
	metrics  *metrics
	inflight *inflight
	seed     uint64
	secret   []byte // per-process API key HMAC key when none is configured

	mu     sync.Mutex
	states map[string]*policyState // by policy name, the live generation's

	sweepEvery atomic.Int64
	heartbeat  time.Duration
	stop       chan struct{}
	wg         sync.WaitGroup
	closeOnce  sync.Once
}

// policyState is the long-lived part of one policy.
type policyState struct {
	fingerprint string
	local       *Buckets
	shared      *Shared
}

// New returns a ready Engine: metrics registered and, when
// o.Background, the sweeper and (with Redis) the heartbeat running; the
// first heartbeat runs before New returns so the instance count is known.
// It fails when the metrics cannot be registered or randomness fails.
func New(o Options) (*Engine, error) {
	if o.Clock == nil {
		o.Clock = SystemClock()
	}
	if o.Rand == nil {
		o.Rand = rand.Reader
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Heartbeat <= 0 {
		o.Heartbeat = time.Second
	}
	var rnd [48]byte
	if _, err := io.ReadFull(o.Rand, rnd[:]); err != nil {
		return nil, fmt.Errorf("ratelimit: randomness: %w", err)
	}
	e := &Engine{
		clock: o.Clock, log: o.Log, inflight: newInflight(),
		secret: rnd[16:48], heartbeat: o.Heartbeat, stop: make(chan struct{}),
		states: map[string]*policyState{},
	}
	for _, b := range rnd[:8] {
		e.seed = e.seed<<8 | uint64(b)
	}
	e.sweepEvery.Store(int64(10 * time.Second))
	m, err := newMetrics(o.Registry, e)
	if err != nil {
		return nil, err
	}
	e.metrics = m
	if o.Redis != nil {
		e.store = newStore(o.Redis, o.KeyPrefix, hex.EncodeToString(rnd[8:16]), o.Clock, o.Log, m.storeErrors)
	}
	if o.Background {
		if e.store != nil {
			e.Heartbeat()
			e.wg.Add(1)
			go e.heartbeatLoop()
		}
		e.wg.Add(1)
		go e.sweepLoop()
	}
	return e, nil
}

// Close stops the sweeper and the heartbeat and removes this instance from
// the live set in Redis. The Redis client is not closed (its owner does).
func (e *Engine) Close() {
	e.closeOnce.Do(func() {
		close(e.stop)
		e.wg.Wait()
		if e.store != nil {
			e.store.leave(time.Second)
		}
	})
}

// Heartbeat refreshes this instance's presence in Redis and the live
// instance count once (the background loop calls it every interval).
func (e *Engine) Heartbeat() {
	if e.store != nil {
		e.store.heartbeat(3*e.heartbeat, max(e.heartbeat/2, 50*time.Millisecond))
	}
}

// Instances returns the last known number of live gateway instances (1
// without Redis).
func (e *Engine) Instances() int {
	if e.store == nil {
		return 1
	}
	return int(e.store.instances.Load())
}

func (e *Engine) heartbeatLoop() {
	defer e.wg.Done()
	t := time.NewTicker(e.heartbeat)
	defer t.Stop()
	for {
		select {
		case <-e.stop:
			return
		case <-t.C:
			e.Heartbeat()
		}
	}
}

func (e *Engine) sweepLoop() {
	defer e.wg.Done()
	t := time.NewTimer(time.Duration(e.sweepEvery.Load()))
	defer t.Stop()
	for {
		select {
		case <-e.stop:
			return
		case <-t.C:
			e.Sweep()
			t.Reset(time.Duration(e.sweepEvery.Load()))
		}
	}
}

// Sweep evicts idle (full) buckets and idle pre-check entries of every
// live policy and returns how many it evicted.
func (e *Engine) Sweep() int {
	now := e.clock.Now()
	n := 0
	for _, st := range e.snapshot() {
		if st.local != nil {
			n += st.local.Sweep(now)
		} else {
			n += st.shared.Sweep(now)
		}
	}
	return n
}

func (e *Engine) snapshot() map[string]*policyState {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.states
}

// PolicySpec describes one policy (config.RateLimitPolicy, parsed).
type PolicySpec struct {
	// Name identifies the policy (metrics, logs, headers, Redis keys).
	Name string
	// PerSecond is the refill rate in tokens per second (> 0).
	PerSecond float64
	// Burst is the bucket size in tokens (>= 1).
	Burst int
	// Key lists the key components (config.ParseKey).
	Key []string
	// UsernameField names the JSON body field of the username component.
	UsernameField string
	// Shared selects the global budget in Redis (local without Redis).
	Shared bool
	// FailClosed refuses requests (503) while Redis is known down (shared
	// only); a single failed round trip is decided by the local share.
	FailClosed bool
	// DryRun counts and logs would-be rejections without rejecting.
	DryRun bool
}

// Settings are the per-generation limiter settings.
type Settings struct {
	// Policies are the named policies routes may reference.
	Policies []PolicySpec
	// MaxKeys caps the keys one policy holds in memory.
	MaxKeys int
	// KeySecret keys API key ids; empty uses a random per-process secret.
	KeySecret []byte
	// StoreTimeout bounds one Redis round trip.
	StoreTimeout time.Duration
	// SweepInterval is how often idle buckets are evicted.
	SweepInterval time.Duration
	// InFlightPerIP caps concurrent requests per client IP (429); 0: none.
	InFlightPerIP int
	// InFlightTotal caps concurrent requests overall (503); 0: none.
	InFlightTotal int
}

// Compile builds the limiter view of one configuration generation. Buckets
// of policies whose rate, burst, key, scope and cap are unchanged are
// carried over from the previous generation.
func (e *Engine) Compile(s Settings) (*Generation, error) {
	if s.MaxKeys <= 0 {
		return nil, errors.New("ratelimit: MaxKeys must be positive")
	}
	secret := s.KeySecret
	if len(secret) == 0 {
		secret = e.secret
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	g := &Generation{engine: e, policies: map[string]*policy{}, perIP: s.InFlightPerIP, total: s.InFlightTotal}
	states := map[string]*policyState{}
	for _, ps := range s.Policies {
		if ps.PerSecond <= 0 || math.IsInf(ps.PerSecond, 0) || math.IsNaN(ps.PerSecond) || ps.Burst < 1 {
			return nil, fmt.Errorf("ratelimit: policy %q: rate and burst must be positive", ps.Name)
		}
		if _, dup := g.policies[ps.Name]; dup {
			return nil, fmt.Errorf("ratelimit: duplicate policy %q", ps.Name)
		}
		key, err := NewKeySpec(ps.Key, ps.UsernameField, secret)
		if err != nil {
			return nil, fmt.Errorf("ratelimit: policy %q: %w", ps.Name, err)
		}
		shared := ps.Shared && e.store != nil
		fp := fmt.Sprintf("%g|%d|%s|%v|%v|%d", ps.PerSecond, ps.Burst, strings.Join(ps.Key, "+"), shared, ps.FailClosed, s.MaxKeys)
		st := e.states[ps.Name]
		if st == nil || st.fingerprint != fp {
			st = &policyState{fingerprint: fp}
			if shared {
				st.shared = newShared(ps.Name, e.store, ps.PerSecond, ps.Burst, s.MaxKeys, ps.FailClosed)
			} else {
				st.local = NewBuckets(ps.PerSecond, ps.Burst, s.MaxKeys)
			}
		}
		states[ps.Name] = st
		g.policies[ps.Name] = e.newPolicy(ps, key, st)
	}
	e.states = states
	if s.StoreTimeout > 0 && e.store != nil {
		e.store.timeout.Store(int64(s.StoreTimeout))
	}
	if s.SweepInterval > 0 {
		e.sweepEvery.Store(int64(s.SweepInterval))
	}
	return g, nil
}
