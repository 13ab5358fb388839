package cache

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"
	"github.com/valyala/fasthttp"

	"github.com/campshub360/edge/shared/testkit"
)

// testRedis returns a client for TEST_REDIS_URL, skipping (or failing,
// with CAMPSHUB_INTEGRATION=required) when it is unset.
func testRedis(t *testing.T) *redis.Client {
	t.Helper()
	o, err := redis.ParseURL(testkit.Env(t, "TEST_REDIS_URL"))
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(o)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func uniqueChannel(t *testing.T) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return "campshub360:invalidate:test-" + hex.EncodeToString(b[:])
}

// fanoutCache is a cache wired to Redis with a fixed origin response.
func fanoutCache(t *testing.T, rdb *redis.Client, channel, id string) (*Cache, fasthttp.RequestHandler) {
	t.Helper()
	c, err := New(Options{
		Store:     StoreOptions{MaxBytes: 4 << 20, HotBytes: 1 << 20, MaxObjectBytes: 64 << 10, LifeWindow: time.Hour},
		Encodings: []string{"gzip"}, PartitionKey: []byte(id), CoalesceWait: time.Second, HitForMiss: time.Second,
		Redis: rdb, Channel: channel, InstanceID: id,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	pol := c.Policy("api", true, 0)
	h := c.Middleware(func(*fasthttp.RequestCtx) *Policy { return pol }, func(ctx *fasthttp.RequestCtx) {
		ctx.Response.Header.Set("Cache-Control", "public, max-age=600")
		ctx.Response.Header.Set("Surrogate-Key", "session:7")
		ctx.SetBodyString("x")
	})
	return c, h
}

func cachedIn(h fasthttp.RequestHandler, path string) bool {
	var ctx fasthttp.RequestCtx
	var req fasthttp.Request
	req.SetRequestURI("http://campus.test" + path)
	req.Header.Set("Cache-Control", "only-if-cached")
	ctx.Init(&req, nil, nil)
	h(&ctx)
	return ctx.Response.StatusCode() == 200
}

func fill(h fasthttp.RequestHandler, path string) {
	var ctx fasthttp.RequestCtx
	var req fasthttp.Request
	req.SetRequestURI("http://campus.test" + path)
	ctx.Init(&req, nil, nil)
	h(&ctx)
}

func TestFanoutAppliesOtherInstancesAndBackendMessagesAndResubscribes(t *testing.T) {
	rdb := testRedis(t)
	ch := uniqueChannel(t)
	a, ha := fanoutCache(t, rdb, ch, "gw-a")
	b, hb := fanoutCache(t, rdb, ch, "gw-b")
	for _, c := range []*Cache{a, b} {
		waitFor(t, "subscription", func() bool { return testutil.ToFloat64(c.metrics.degraded) == 0 })
	}
	fill(ha, "/s/7")
	fill(hb, "/s/7")
	if !cachedIn(ha, "/s/7") || !cachedIn(hb, "/s/7") {
		t.Fatal("not filled")
	}
	n, fanned, err := a.Purge(Invalidation{SurrogateKeys: []string{"session:7"}})
	if err != nil || n != 1 || !fanned {
		t.Fatalf("purge: %d %v %v", n, fanned, err)
	}
	waitFor(t, "remote purge on b", func() bool { return !cachedIn(hb, "/s/7") })
	if got := testutil.ToFloat64(b.metrics.invalidations.WithLabelValues(SourceRemote)); got != 1 {
		t.Fatalf("b remote invalidations %v", got)
	}
	if got := testutil.ToFloat64(a.metrics.invalidations.WithLabelValues(SourceRemote)); got != 0 {
		t.Fatalf("a applied its own message: %v", got)
	}

	// A backend publishes on the same channel.
	fill(ha, "/s/7")
	fill(hb, "/s/7")
	msg, _ := json.Marshal(map[string]any{"v": 1, "origin": "backend-1", "urls": []string{"https://campus.test/s/7"}})
	if err := rdb.Publish(context.Background(), ch, msg).Err(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "backend purge", func() bool { return !cachedIn(ha, "/s/7") && !cachedIn(hb, "/s/7") })

	// Kill b's subscription connection: it resubscribes and keeps applying.
	fill(hb, "/s/7")
	ctx := context.Background()
	if err := rdb.Do(ctx, "CLIENT", "KILL", "TYPE", "pubsub").Err(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "resubscribed", func() bool {
		// The probe re-publishes until b, back on the channel, applies it.
		_ = rdb.Publish(ctx, ch, `{"v":1,"origin":"probe","prefixes":["/s/"]}`).Err()
		return !cachedIn(hb, "/s/7")
	})
	waitFor(t, "fan-out up again", func() bool { return testutil.ToFloat64(b.metrics.degraded) == 0 })
	// Malformed and unknown-version messages are ignored.
	_ = rdb.Publish(ctx, ch, `{"v":2,"urls":["/s/7"]}`).Err()
	_ = rdb.Publish(ctx, ch, `not json`).Err()
}

func TestFanoutDownStillInvalidatesLocally(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := ln.Addr().String()
	ln.Close()
	rdb := redis.NewClient(&redis.Options{Addr: dead, DialTimeout: 100 * time.Millisecond})
	defer rdb.Close()
	c, h := fanoutCache(t, rdb, "campshub360:invalidate", "gw-x")
	fill(h, "/s/7")
	n, fanned, err := c.Purge(Invalidation{URLs: []string{"/s/7"}})
	if err != nil || n != 1 || fanned {
		t.Fatalf("purge with Redis down: %d fanned=%v %v", n, fanned, err)
	}
	if cachedIn(h, "/s/7") {
		t.Fatal("local purge did not apply")
	}
	if testutil.ToFloat64(c.metrics.degraded) != 1 {
		t.Fatal("degraded fan-out not reported")
	}
}
