package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
)

// gcraScript is the shared limiter: GCRA (the Generic Cell Rate Algorithm
// of ITU-T I.371, the virtual-scheduling form) in one atomic script, on
// Redis server time (TIME), so every gateway instance charges one budget
// on one clock. The key holds the theoretical arrival time (TAT, in
// microseconds) and expires when the bucket would be full again.
//
//	KEYS[1]  bucket key
//	ARGV[1]  emission interval T: microseconds per token (may be fractional)
//	ARGV[2]  burst (tokens); the tolerance tau is T*burst
//	ARGV[3]  refund: tokens leased earlier and not used, given back first
//	ARGV[4]  want: tokens requested (1, or a lease of several)
//
// It grants min(want, room) tokens when at least one fits, where room is
// how many tokens the bucket holds now, and returns {granted, remaining
// tokens, microseconds until one token is available (0 when granted),
// microseconds until the bucket is full}.
const gcraScript = `
if redis.replicate_commands then pcall(redis.replicate_commands) end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local T = tonumber(ARGV[1])
local tau = T * tonumber(ARGV[2])
local refund = tonumber(ARGV[3])
local want = tonumber(ARGV[4])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0') or 0
if tat < now then tat = now end
local changed = false
if refund > 0 then
  tat = math.max(now, tat - refund * T)
  changed = true
end
local room = math.floor((now + tau - tat) / T + 1e-9)
local granted = 0
if room >= 1 then
  granted = math.min(want, room)
  tat = tat + granted * T
  changed = true
end
if changed then
  local ttl = math.ceil((tat - now) / 1000) + 1
  redis.call('SET', KEYS[1], string.format('%.17g', tat), 'PX', ttl)
end
local remaining = math.floor((now + tau - tat) / T + 1e-9)
if remaining < 0 then remaining = 0 end
local retry = 0
if granted == 0 then retry = math.ceil(tat + T - tau - now) end
if retry < 0 then retry = 0 end
return {granted, remaining, retry, math.ceil(tat - now)}
`

// presenceScript records this instance's heartbeat and counts the live
// instances: each instance is a member of one sorted set scored with the
// Redis server time of its last heartbeat; members older than the TTL are
// dropped, and the set itself expires when every instance is gone.
//
//	KEYS[1]  instance set
//	ARGV[1]  instance id
//	ARGV[2]  TTL in milliseconds
//	ARGV[3]  "1" to leave (on Close)
const presenceScript = `
if redis.replicate_commands then pcall(redis.replicate_commands) end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[2])
if ARGV[3] == '1' then
  redis.call('ZREM', KEYS[1], ARGV[1])
  return redis.call('ZCARD', KEYS[1])
end
redis.call('ZADD', KEYS[1], now, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - ttl)
redis.call('PEXPIRE', KEYS[1], ttl * 2)
return redis.call('ZCARD', KEYS[1])
`

// probeEvery is how long a store known to be down is left alone before
// one request tries it again (the heartbeat also retries it).
const probeEvery = 250 * time.Millisecond

// breakerFailures is how many consecutive failed round trips (errors or
// timeouts, across every key and policy) make the store known down. A
// single slow or failed round trip is decided by the local fallback
// bucket whatever the policy; only a store known down (this many failures
// in a row, or a failed heartbeat) makes fail_closed policies refuse.
const breakerFailures = 3

// gcraResult is the reply of gcraScript.
type gcraResult struct {
	granted, remaining int
	retry, reset       time.Duration
}

// store is the Redis connection state every shared policy uses: the
// circuit breaker that opens after breakerFailures consecutive failed
// round trips or a failed heartbeat and skips Redis until a probe (one
// request per probeEvery, or the heartbeat) succeeds, and the live
// instance count kept by the heartbeat.
type store struct {
	rdb       *redis.Client
	prefix    string
	clock     Clock
	log       *slog.Logger
	id        string
	gcra      *redis.Script
	presence  *redis.Script
	timeout   atomic.Int64 // per round trip, nanoseconds (set per generation)
	down      atomic.Bool  // breaker open: the store is known unavailable
	failures  atomic.Int64 // consecutive failed round trips
	probeAt   atomic.Int64 // clock reading after which one request may probe
	instances atomic.Int64 // last known live instance count, at least 1
	trips     atomic.Int64 // GCRA round trips attempted
	errors    prometheus.Counter
}

func newStore(rdb *redis.Client, prefix, id string, clock Clock, log *slog.Logger, errs prometheus.Counter) *store {
	s := &store{
		rdb: rdb, prefix: prefix, id: id, clock: clock, log: log, errors: errs,
		gcra: redis.NewScript(gcraScript), presence: redis.NewScript(presenceScript),
	}
	s.instances.Store(1)
	s.timeout.Store(int64(50 * time.Millisecond)) // until the engine sets the configured one
	return s
}

// usable reports whether a request should use Redis now: always while it
// is up; while it is down, once per probeEvery (that one request probes).
func (s *store) usable(now time.Duration) bool {
	if !s.down.Load() {
		return true
	}
	p := s.probeAt.Load()
	return int64(now) >= p && s.probeAt.CompareAndSwap(p, int64(now+probeEvery))
}

// failed records a failed round trip (error or timeout): counted, and
// when it is the breakerFailures-th in a row (or the store is already
// down) the breaker opens: Redis is skipped until the next probe, and the
// outage is logged once. It reports whether the store is now known down.
func (s *store) failed(err error) bool {
	s.errors.Inc()
	if s.failures.Add(1) < breakerFailures && !s.down.Load() {
		return false
	}
	s.open(err)
	return true
}

// open marks the store known down until a probe succeeds.
func (s *store) open(err error) {
	s.probeAt.Store(int64(s.clock.Now() + probeEvery))
	if !s.down.Swap(true) {
		s.log.Warn("shared rate-limit store unavailable; policy fallbacks apply until it recovers",
			"error", redactErr(err), "instances", s.instances.Load())
	}
}

// succeeded records a successful round trip: the failure run ends and an
// open breaker closes.
func (s *store) succeeded() {
	if s.failures.Load() != 0 {
		s.failures.Store(0)
	}
	if s.down.Load() && s.down.Swap(false) {
		s.log.Info("shared rate-limit store recovered; global budgets apply again")
	}
}

// take runs the GCRA script for key. It returns within the store timeout.
func (s *store) take(policy string, key []byte, interval, burst string, refund, want int) (gcraResult, error) {
	s.trips.Add(1)
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(s.timeout.Load()))
	defer cancel()
	k := make([]byte, 0, len(s.prefix)+len(policy)+1+len(key))
	k = append(append(append(append(k, s.prefix...), policy...), ':'), key...)
	v, err := s.gcra.Run(ctx, s.rdb, []string{string(k)}, interval, burst, refund, want).Int64Slice()
	if err != nil {
		return gcraResult{}, err
	}
	if len(v) != 4 {
		return gcraResult{}, fmt.Errorf("gcra script: %d values", len(v))
	}
	return gcraResult{
		granted: int(v[0]), remaining: int(v[1]),
		retry: time.Duration(v[2]) * time.Microsecond, reset: time.Duration(v[3]) * time.Microsecond,
	}, nil
}

// heartbeat refreshes this instance's presence and the live instance
// count; an error (within its longer timeout) opens the breaker at once
// (the count keeps its last value).
func (s *store) heartbeat(ttl time.Duration, timeout time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	n, err := s.presence.Run(ctx, s.rdb, []string{s.prefix + "instances"}, s.id, ttl.Milliseconds(), "0").Int64()
	if err != nil {
		s.errors.Inc()
		s.open(err)
		return
	}
	s.instances.Store(max(1, n))
	s.succeeded()
}

// leave removes this instance from the live set.
func (s *store) leave(timeout time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	_ = s.presence.Run(ctx, s.rdb, []string{s.prefix + "instances"}, s.id, 1, "1").Err()
}

// redactErr returns an error's text without anything a URL could carry.
// go-redis errors name addresses, never passwords; a timeout is reported
// as such.
func redactErr(err error) string {
	if errors.Is(err, context.DeadlineExceeded) {
		return "timeout"
	}
	return err.Error()
}

// formatFloat renders a script argument.
func formatFloat(f float64) string {
	if f == math.Trunc(f) && math.Abs(f) < 1e15 {
		return strconv.FormatInt(int64(f), 10)
	}
	return strconv.FormatFloat(f, 'f', -1, 64)
}
