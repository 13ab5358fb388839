package rediscache

import (
	"context"
	"encoding/json"
	"log/slog"
	"slices"
)

// Invalidator bumps the generations of tags (so cached entries carrying
// them are misses from now on) and publishes them as surrogate keys on
// Channel for the gateways. Both are best effort: with Redis down the
// write that caused them still succeeds; the miss is counted and logged,
// and the cache is emptied once Redis answers again. Safe for concurrent
// use.
type Invalidator struct {
	c      *Client
	origin string
	log    *slog.Logger
}

// MaxKeysPerMessage bounds the surrogate keys of one published message;
// longer lists are split over several messages.
const MaxKeysPerMessage = 500

// NewInvalidator returns an Invalidator publishing as origin (this
// instance's id).
func NewInvalidator(c *Client, origin string, log *slog.Logger) *Invalidator {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Invalidator{c: c, origin: origin, log: log}
}

// message is the wire form of one invalidation (absent fields mean none).
type message struct {
	V             int      `json:"v"`
	Origin        string   `json:"origin"`
	SurrogateKeys []string `json:"surrogate_keys"`
}

// Invalidate bumps and publishes tags (duplicates removed) in one
// pipeline. It never fails the caller.
func (iv *Invalidator) Invalidate(ctx context.Context, tags ...string) {
	if len(tags) == 0 {
		return
	}
	tags = slices.Clone(tags)
	slices.Sort(tags)
	tags = slices.Compact(tags)
	if !iv.c.usable() {
		iv.c.dirty.Store(true)
		iv.c.invals.WithLabelValues("skipped").Inc()
		return
	}
	cctx, cancel := iv.c.callCtx(ctx)
	defer cancel()
	pipe := iv.c.rdb.Pipeline()
	for _, t := range tags {
		pipe.Incr(cctx, iv.c.genPrefix+t)
	}
	for chunk := range slices.Chunk(tags, MaxKeysPerMessage) {
		body, _ := json.Marshal(message{V: 1, Origin: iv.origin, SurrogateKeys: chunk})
		pipe.Publish(cctx, Channel, body)
	}
	if _, err := pipe.Exec(cctx); err != nil {
		iv.c.dirty.Store(true)
		iv.c.failed(err)
		iv.c.invals.WithLabelValues("error").Inc()
		iv.log.Warn("cache invalidation not delivered", "tags", len(tags), "error", err.Error())
		return
	}
	iv.c.invals.WithLabelValues("ok").Inc()
	iv.c.succeeded(ctx)
}
