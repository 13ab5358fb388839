package config

import (
	"reflect"
	"sort"
	"strings"
)

// KeepStartOnly returns the configuration a reload of c can put in force
// in a process that started with start, and the field paths (sorted) of
// the settings c changes that need a restart to apply.
//
// Settings read only when the process starts keep their start values in
// the returned copy, so the running configuration (/admin/config, the
// next reload's comparison) states what is actually in force:
//
//   - listen.https, listen.http, listen.admin: the sockets are bound once;
//   - server.read_timeout, idle_timeout, max_conns_per_ip, concurrency:
//     fixed in the listeners;
//   - server.max_header_bytes, max_uri_bytes: they size the read buffer at
//     start; lowering them applies at once, raising them past the start
//     value needs a restart (until then the start value is the limit);
//   - log.level, log.format, log.access.flush_interval: the process log
//     and the access-log writer are created once;
//   - redis.*: one client for the life of the process;
//   - cache.*: the store is sized once (routes' cache policies do apply);
//   - ratelimit.heartbeat, ratelimit.key_prefix: read by the limiter once.
//
// Values are never reported, only paths: redis.url holds a password.
// c and start are not modified. A nil start returns c unchanged.
func (c *Config) KeepStartOnly(start *Config) (*Config, []string) {
	if start == nil {
		return c, nil
	}
	out := *c
	var changed []string
	keep := func(path string, cur, old any) {
		changed = append(changed, diffPaths(path, reflect.ValueOf(cur), reflect.ValueOf(old))...)
	}
	keep("listen", out.Listen, start.Listen)
	out.Listen = start.Listen

	sv, ss := &out.Server, start.Server
	for _, f := range []struct {
		path     string
		cur, old any
	}{
		{"server.read_timeout", sv.ReadTimeout, ss.ReadTimeout},
		{"server.idle_timeout", sv.IdleTimeout, ss.IdleTimeout},
		{"server.max_conns_per_ip", sv.MaxConnsPerIP, ss.MaxConnsPerIP},
		{"server.concurrency", sv.Concurrency, ss.Concurrency},
	} {
		keep(f.path, f.cur, f.old)
	}
	sv.ReadTimeout, sv.IdleTimeout, sv.MaxConnsPerIP, sv.Concurrency = ss.ReadTimeout, ss.IdleTimeout, ss.MaxConnsPerIP, ss.Concurrency
	if sv.MaxHeaderBytes > ss.MaxHeaderBytes {
		changed = append(changed, "server.max_header_bytes")
		sv.MaxHeaderBytes = ss.MaxHeaderBytes
	}
	if sv.MaxURIBytes > ss.MaxURIBytes {
		changed = append(changed, "server.max_uri_bytes")
		sv.MaxURIBytes = ss.MaxURIBytes
	}

	keep("log.level", out.Log.Level, start.Log.Level)
	keep("log.format", out.Log.Format, start.Log.Format)
	keep("log.access.flush_interval", out.Log.Access.FlushInterval, start.Log.Access.FlushInterval)
	out.Log.Level, out.Log.Format, out.Log.Access.FlushInterval = start.Log.Level, start.Log.Format, start.Log.Access.FlushInterval

	keep("redis", out.Redis, start.Redis)
	out.Redis = start.Redis
	keep("cache", out.Cache, start.Cache)
	out.Cache = start.Cache

	keep("ratelimit.heartbeat", out.RateLimit.Heartbeat, start.RateLimit.Heartbeat)
	keep("ratelimit.key_prefix", out.RateLimit.KeyPrefix, start.RateLimit.KeyPrefix)
	out.RateLimit.Heartbeat, out.RateLimit.KeyPrefix = start.RateLimit.Heartbeat, start.RateLimit.KeyPrefix

	sort.Strings(changed)
	return &out, changed
}

// diffPaths compares two values of one type and returns the YAML paths
// (below path) where they differ: struct fields are compared one by one,
// anything else whole.
func diffPaths(path string, a, b reflect.Value) []string {
	if a.Kind() != reflect.Struct || a.Type() == durationType {
		if reflect.DeepEqual(a.Interface(), b.Interface()) {
			return nil
		}
		return []string{path}
	}
	var out []string
	t := a.Type()
	for i := 0; i < t.NumField(); i++ {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		if name == "" || name == "-" {
			continue
		}
		out = append(out, diffPaths(path+"."+name, a.Field(i), b.Field(i))...)
	}
	return out
}
