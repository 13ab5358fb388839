package config

import (
	"strings"
	"testing"
	"time"
)

func TestCacheDefaultsAndRoutePolicy(t *testing.T) {
	c, err := Load("", nil)
	if err != nil {
		t.Fatal(err)
	}
	k := c.Cache
	if k.MaxBytes != 256<<20 || k.HotBytes != 32<<20 || k.MaxObjectBytes != 1<<20 || k.CoalesceWait != 5*time.Second ||
		k.InvalidationChannel != "campshub360:invalidate" || len(k.Encodings) != 3 {
		t.Fatalf("cache defaults: %+v", k)
	}
	if !c.Routes[0].Cache.Enabled || !c.Routes[0].Cache.PerUser || c.Routes[1].Cache.Enabled {
		t.Fatalf("route cache policies: %+v %+v", c.Routes[0].Cache, c.Routes[1].Cache)
	}
}

func TestCacheValidationReportsEveryProblem(t *testing.T) {
	doc := `
upstreams: [{name: campus, instances: [{addr: "127.0.0.1:1"}]}]
routes:
  - {path_prefix: /api/, upstream: campus, cache: {per_user: true, max_object_bytes: -1}}
cache:
  max_bytes: 1000
  max_object_bytes: 10
  refresh_ahead: 0.9
  coalesce_wait: -1s
  encodings: ["gzip", "identity", "a b"]
  invalidation_channel: "has space"
`
	_, err := Parse([]byte(doc), nil)
	if err == nil {
		t.Fatal("invalid cache config accepted")
	}
	for _, want := range []string{
		"cache.max_bytes", "cache.max_object_bytes", "cache.refresh_ahead", "cache.coalesce_wait",
		"cache.encodings[1]", "cache.encodings[2]", "cache.invalidation_channel",
		"routes[0].cache.max_object_bytes",
	} {
		if !strings.Contains(err.Error(), want+":") {
			t.Errorf("problems lack %s:\n%v", want, err)
		}
	}
}

func TestCacheEnvOverride(t *testing.T) {
	c, err := Load("", []string{"GATEWAY__CACHE__MAX_BYTES=67108864", "GATEWAY__ROUTES__0__CACHE__ENABLED=false"})
	if err != nil {
		t.Fatal(err)
	}
	if c.Cache.MaxBytes != 64<<20 || c.Routes[0].Cache.Enabled {
		t.Fatalf("%+v %+v", c.Cache, c.Routes[0].Cache)
	}
}
