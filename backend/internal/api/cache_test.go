package api_test

import (
	"context"
	"encoding/json"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"

	"github.com/campshub360/edge/backend/internal/api"
	"github.com/campshub360/edge/backend/internal/store/rediscache"
	"github.com/campshub360/edge/backend/internal/testdb"
)

// withRedis wires the Redis read-through cache and invalidator (on addr,
// under a key prefix of the test's own) into a campus.
func withRedis(t *testing.T, addr string, reg *prometheus.Registry) func(d *api.Deps) {
	return func(d *api.Deps) {
		rdb := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
		t.Cleanup(func() { _ = rdb.Close() })
		cl, err := rediscache.NewClient(rdb, rediscache.Options{Registry: reg, KeyPrefix: "t:" + t.Name() + ":", Timeout: 500 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		d.Registry = reg
		d.Store = rediscache.NewStore(d.Store, cl, time.Minute)
		d.Invalidator = rediscache.NewInvalidator(cl, "origin-"+t.Name(), nil)
	}
}

func cacheCount(t *testing.T, reg *prometheus.Registry, cache, result string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "campshub_backend_cache_requests_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["cache"] == cache && labels["result"] == result {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

func TestConditionalRequestsAndCacheHeaders(t *testing.T) {
	t.Parallel()
	c := newCampus(t, campusOpts{students: 30})
	r := c.anon.get(t, "/api/v1/courses?limit=5")
	etag := r.header.Get("ETag")
	if r.status != 200 || len(etag) != 18 || r.header.Get("Cache-Control") != "public, max-age=60, s-maxage=300, stale-while-revalidate=30" ||
		r.header.Get("Surrogate-Key") != "courses" {
		t.Fatalf("catalogue: %d %v", r.status, r.header)
	}
	for _, inm := range []string{etag, "W/" + etag, `"other", ` + etag, "*"} {
		r2 := c.anon.s.send(t, "GET", "/api/v1/courses?limit=5", nil, map[string]string{"If-None-Match": inm, "Authorization": ""})
		if r2.status != 304 || len(r2.body) != 0 || r2.header.Get("ETag") != etag || r2.header.Get("Cache-Control") == "" {
			t.Fatalf("If-None-Match %s: %d %v", inm, r2.status, r2.header)
		}
	}
	r2 := c.anon.s.send(t, "GET", "/api/v1/courses?limit=5", nil, map[string]string{"If-None-Match": `"nope"`, "Authorization": ""})
	if r2.status != 200 {
		t.Fatalf("non-matching If-None-Match: %d", r2.status)
	}
	// A user's own data is private; writes and errors are never stored.
	r = c.student.get(t, "/api/v1/me/attendance")
	if r.status != 200 || r.header.Get("Cache-Control") != "private, no-cache" || !strings.Contains(r.header.Get("Surrogate-Key"), "summary:student:"+id(c.studentID)) {
		t.Fatalf("summary headers: %d %v", r.status, r.header)
	}
	s := c.newSession(t)
	r = c.faculty.send(t, "POST", "/api/v1/sessions/"+s.ID+"/open", nil)
	if r.header.Get("Cache-Control") != "no-store" || r.header.Get("ETag") != "" {
		t.Fatalf("write headers: %v", r.header)
	}
	if r := c.anon.get(t, "/api/v1/courses?limit=0"); r.header.Get("Cache-Control") != "no-store" || r.header.Get("ETag") != "" {
		t.Fatalf("error headers: %v", r.header)
	}
}

func TestRedisReadThroughAndInvalidation(t *testing.T) {
	t.Parallel()
	opts, err := redis.ParseURL(testdb.RedisURL(t))
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	c := newCampus(t, campusOpts{deps: withRedis(t, opts.Addr, reg)})
	sub := redis.NewClient(opts)
	t.Cleanup(func() { _ = sub.Close() })
	ps := sub.Subscribe(context.Background(), rediscache.Channel)
	t.Cleanup(func() { _ = ps.Close() })
	if _, err := ps.Receive(context.Background()); err != nil {
		t.Fatal(err)
	}
	msgs := ps.Channel()

	s := c.openSession(t)
	summary := "/api/v1/me/attendance?section_id=" + id(c.sec.ID) + "&from=" + s.Date + "&to=" + s.Date
	var before, after summaryView
	ok(t, c.student.get(t, summary), 200, &before)
	ok(t, c.student.get(t, summary), 200, &before)
	if hits := cacheCount(t, reg, "summary", "hit"); hits != 1 {
		t.Fatalf("%v summary hits, want 1", hits)
	}
	// Marking and closing invalidate the summary: the next read is fresh.
	c.mark(t, s.ID, [2]string{id(c.studentID), "late"})
	ok(t, c.faculty.send(t, "POST", "/api/v1/sessions/"+s.ID+"/close", nil), 200, nil)
	ok(t, c.student.get(t, summary), 200, &after)
	if after.Overall.Late != 1 || after.Overall.Total != 1 {
		t.Fatalf("summary after marking and closing: %+v (stale cache?)", after.Overall)
	}
	// The gateways are told, on the shared channel.
	want := []string{"session:" + s.ID, "section:" + id(c.sec.ID), "summary:student:" + id(c.studentID)}
	var got []string
	deadline := time.After(10 * time.Second)
	for !containsAll(got, want) {
		select {
		case m := <-msgs:
			var msg struct {
				V             int      `json:"v"`
				Origin        string   `json:"origin"`
				SurrogateKeys []string `json:"surrogate_keys"`
			}
			if err := json.Unmarshal([]byte(m.Payload), &msg); err != nil || msg.V != 1 {
				t.Fatalf("message %s: %v", m.Payload, err)
			}
			if msg.Origin == "origin-"+t.Name() {
				got = append(got, msg.SurrogateKeys...)
			}
		case <-deadline:
			t.Fatalf("published %v, want %v among them", got, want)
		}
	}
	// Catalogue reads are cached and a write refreshes them.
	var courses struct{ Items []struct{ Code string } }
	ok(t, c.anon.get(t, "/api/v1/courses?limit=500"), 200, &courses)
	n := len(courses.Items)
	ok(t, c.registrar.send(t, "POST", "/api/v1/courses", map[string]any{"code": "ZZZ999", "title": "Late addition", "credits": 1, "department": "CSE"}), 201, nil)
	ok(t, c.anon.get(t, "/api/v1/courses?limit=500"), 200, &courses)
	if len(courses.Items) != n+1 {
		t.Fatalf("course list after a write: %d items, want %d", len(courses.Items), n+1)
	}
}

func containsAll(have, want []string) bool {
	for _, w := range want {
		if !slices.Contains(have, w) {
			return false
		}
	}
	return true
}

func TestRedisDownNothingFails(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()
	reg := prometheus.NewRegistry()
	c := newCampus(t, campusOpts{deps: withRedis(t, dead, reg)})
	s := c.openSession(t)
	c.mark(t, s.ID, [2]string{id(c.studentID), "present"})
	ok(t, c.faculty.send(t, "POST", "/api/v1/sessions/"+s.ID+"/close", nil), 200, nil)
	var sum summaryView
	for range 3 {
		ok(t, c.student.get(t, "/api/v1/me/attendance?from="+s.Date+"&to="+s.Date), 200, &sum)
	}
	if sum.Overall.Present != 1 {
		t.Fatalf("summary without Redis: %+v", sum.Overall)
	}
	ok(t, c.anon.get(t, "/api/v1/courses"), 200, nil)
	if cacheCount(t, reg, "summary", "error")+cacheCount(t, reg, "summary", "bypass") != 3 {
		t.Fatal("Redis failures not counted")
	}
	if v := testutil.ToFloat64(gaugeNamed(t, reg, "campshub_backend_cache_redis_available")); v != 0 {
		t.Fatalf("redis_available = %v with Redis down", v)
	}
}

func gaugeNamed(t *testing.T, reg *prometheus.Registry, name string) prometheus.Collector {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			v := mf.GetMetric()[0].GetGauge().GetValue()
			g := prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: "copy"})
			g.Set(v)
			return g
		}
	}
	t.Fatalf("no metric %s", name)
	return nil
}
