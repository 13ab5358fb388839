package cache

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// DefaultChannel is the Redis Pub/Sub channel of cluster-wide cache
// invalidation.
const DefaultChannel = "campshub360:invalidate"

// Message is one cluster-wide invalidation, published as JSON on the
// invalidation channel (Redis Pub/Sub, DefaultChannel unless configured):
//
//	{"v":1, "origin":"<publisher instance id>",
//	 "surrogate_keys":["session:42"], "urls":["https://campus.example.edu/api/v1/students/7"],
//	 "prefixes":["/api/v1/sections/42/"], "partitions":["user:<subject>"]}
//
// Absent fields mean none; the targets are those of Invalidation. Every
// gateway applies every message it receives except its own (it applied
// those before publishing); applying is idempotent, so a message seen
// twice does no harm. Gateways publish their admin purges and their
// write-driven invalidations (RFC 9111 §4.4); the backend publishes the
// surrogate keys its writes affect (marking attendance: the session's
// and the student's summary tags). Messages with another "v" are ignored.
// Pub/Sub is fire-and-forget: a gateway that is disconnected misses the
// messages of that time, says so (log, gateway_cache_fanout_degraded) and
// relies on the entries' freshness lifetimes until it resubscribes.
type Message struct {
	// V is the message version, 1.
	V int `json:"v"`
	// Origin is the publisher's instance id.
	Origin string `json:"origin"`
	// Invalidation holds the targets (inlined in the JSON object).
	Invalidation
}

// fanout publishes invalidations and applies those of other instances.
type fanout struct {
	c       *Cache
	rdb     *redis.Client
	channel string
	origin  string
	out     chan []byte
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	up      atomic.Bool
}

func startFanout(c *Cache, rdb *redis.Client, channel, origin string) *fanout {
	if channel == "" {
		channel = DefaultChannel
	}
	f := &fanout{c: c, rdb: rdb, channel: channel, origin: origin, out: make(chan []byte, 1024)}
	c.metrics.degraded.Set(1)
	if rdb == nil {
		c.log.Warn("cache invalidation fan-out degraded: no Redis configured; purges apply to this instance only")
		return f
	}
	ctx, cancel := context.WithCancel(context.Background())
	f.cancel = cancel
	f.wg.Add(2)
	go f.subscribe(ctx)
	go f.publisher(ctx)
	return f
}

func (f *fanout) close() {
	if f.cancel != nil {
		f.cancel()
		f.wg.Wait()
	}
}

// publish queues inv for the channel; it reports false when the fan-out
// is degraded or its queue is full (the invalidation is then local only).
func (f *fanout) publish(inv Invalidation) bool {
	if f.rdb == nil || inv.Targets() == 0 {
		return false
	}
	b, err := json.Marshal(Message{V: 1, Origin: f.origin, Invalidation: inv})
	if err != nil {
		return false
	}
	select {
	case f.out <- b:
		return f.up.Load()
	default:
		f.c.log.Warn("cache invalidation fan-out queue full; invalidation applied locally only")
		return false
	}
}

func (f *fanout) publisher(ctx context.Context) {
	defer f.wg.Done()
	for {
		select {
		case <-ctx.Done():
			return
		case b := <-f.out:
			pctx, cancel := context.WithTimeout(ctx, time.Second)
			err := f.rdb.Publish(pctx, f.channel, b).Err()
			cancel()
			if err != nil && ctx.Err() == nil {
				f.c.log.Warn("cache invalidation not published to other instances", "error", err.Error())
			}
		}
	}
}

// subscribe keeps a subscription to the channel, resubscribing with
// backoff after any failure.
func (f *fanout) subscribe(ctx context.Context) {
	defer f.wg.Done()
	backoff := 50 * time.Millisecond
	for ctx.Err() == nil {
		ps := f.rdb.Subscribe(ctx, f.channel)
		err := f.receive(ctx, ps)
		_ = ps.Close()
		if ctx.Err() != nil {
			return
		}
		if f.up.Swap(false) {
			f.c.log.Warn("cache invalidation fan-out degraded: subscription lost; invalidations from other instances are missed until it is back",
				"error", err.Error())
		}
		f.c.metrics.degraded.Set(1)
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		backoff = min(backoff*2, 5*time.Second)
		if f.up.Load() {
			backoff = 50 * time.Millisecond
		}
	}
}

var errNoPong = errors.New("no reply to ping")

// receive reads messages until the subscription fails; a silent connection
// is probed with PING and dropped when the PING goes unanswered.
func (f *fanout) receive(ctx context.Context, ps *redis.PubSub) error {
	pinged := false
	for {
		msg, err := ps.ReceiveTimeout(ctx, 5*time.Second)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() && ctx.Err() == nil {
				if pinged {
					return errNoPong
				}
				if err := ps.Ping(ctx); err != nil {
					return err
				}
				pinged = true
				continue
			}
			return err
		}
		pinged = false
		switch m := msg.(type) {
		case *redis.Subscription:
			if m.Kind == "subscribe" {
				if !f.up.Swap(true) {
					f.c.log.Info("cache invalidation fan-out subscribed", "channel", f.channel)
				}
				f.c.metrics.degraded.Set(0)
			}
		case *redis.Message:
			f.handle(m.Payload)
		}
	}
}

// handle applies one message from the channel.
func (f *fanout) handle(payload string) {
	var m Message
	if err := json.Unmarshal([]byte(payload), &m); err != nil {
		f.c.log.Warn("malformed cache invalidation message ignored", "error", err.Error())
		return
	}
	if m.V != 1 {
		f.c.log.Warn("cache invalidation message of unknown version ignored", "v", m.V)
		return
	}
	if m.Origin == f.origin && f.origin != "" {
		return
	}
	if _, err := f.c.Invalidate(m.Invalidation, SourceRemote); err != nil {
		f.c.log.Warn("cache invalidation message with malformed targets ignored", "origin", m.Origin, "error", err.Error())
	}
}
