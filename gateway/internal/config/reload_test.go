package config

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestYAMLFaultIsOneProblemWithoutSource(t *testing.T) {
	doc := "listen:\n  https: \":1\"\nredis:\n  url: redis://:hunter2-secret@127.0.0.1:6379/0\nthis: is: not: yaml: [\n"
	_, err := Parse([]byte(doc), nil)
	var ps Problems
	if !errors.As(err, &ps) || len(ps) != 1 {
		t.Fatalf("err %T %v", err, err)
	}
	want := Problem{Line: 5, Column: 7, Msg: "mapping value is not allowed in this context"}
	if ps[0] != want {
		t.Fatalf("problem %+v, want %+v", ps[0], want)
	}
	if got := err.Error(); got != "line 5, column 7: mapping value is not allowed in this context" || strings.Contains(got, "hunter2") {
		t.Fatalf("Error() = %q", got)
	}
	fe := ps.FieldErrors()
	if len(fe) != 1 || fe[0].Field != "line 5, column 7" || fe[0].Message != want.Msg {
		t.Fatalf("field errors %+v", fe)
	}

	// Decode faults (unknown key, wrong type) are located the same way.
	for doc, want := range map[string]string{
		"redis:\n  url: redis://:hunter2-secret@h:1/0\nserver:\n  max_header_bytes: lots\n": "line 4, column 21: cannot unmarshal string",
		"redis:\n  url: redis://:hunter2-secret@h:1/0\n  passwd: x\n":                       `line 3, column 3: unknown field "passwd"`,
	} {
		_, err := Parse([]byte(doc), nil)
		if err == nil || !strings.HasPrefix(err.Error(), want) || strings.Contains(err.Error(), "hunter2") || strings.Contains(err.Error(), "\n") {
			t.Errorf("%q: %v", doc, err)
		}
	}
}

func TestEnvProblemsNameTheVariable(t *testing.T) {
	_, err := Parse(nil, []string{"GATEWAY__SERVER__READ_TIMEOUT=soon", "GATEWAY__LISTEN__NOPE=1"})
	var ps Problems
	if !errors.As(err, &ps) || len(ps) != 2 || ps[0].Where() != "GATEWAY__LISTEN__NOPE" || ps[1].Where() != "GATEWAY__SERVER__READ_TIMEOUT" {
		t.Fatalf("err %v", err)
	}
}

func TestKeepStartOnly(t *testing.T) {
	start, err := Parse([]byte("listen: {https: ':8443', http: ':8080'}\nserver: {max_header_bytes: 16384, max_uri_bytes: 8192}\nredis: {url: 'redis://:old-secret@h:1/0'}\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	next, err := Parse([]byte(`listen: {https: ':8444', http: ':8080'}
server: {max_header_bytes: 32768, max_uri_bytes: 4096, read_timeout: 3s, body_timeout: 5s}
log: {format: text, level: debug}
redis: {url: 'redis://:new-secret@h:1/0'}
cache: {max_bytes: 67108864}
ratelimit: {key_prefix: 'x:'}
headers: {hsts: {max_age: 0s}}
`), nil)
	if err != nil {
		t.Fatal(err)
	}
	eff, pending := next.KeepStartOnly(start)
	want := []string{
		"cache.hot_bytes", "cache.max_bytes", "listen.https", "log.format", "log.level", "ratelimit.key_prefix",
		"redis.url", "server.max_header_bytes", "server.read_timeout",
	}
	if !slices.Equal(pending, want) {
		t.Fatalf("pending %q, want %q", pending, want)
	}
	if eff.Listen.HTTPS != ":8443" || eff.Server.ReadTimeout != start.Server.ReadTimeout || eff.Redis.URL != start.Redis.URL ||
		eff.Log.Format != start.Log.Format || eff.Cache.MaxBytes != start.Cache.MaxBytes || eff.RateLimit.KeyPrefix != start.RateLimit.KeyPrefix {
		t.Fatalf("start-only settings not kept: %+v", eff)
	}
	// Raising the header limit waits for a restart; lowering the URI
	// limit and the rest apply now.
	if eff.Server.MaxHeaderBytes != 16384 || eff.Server.MaxURIBytes != 4096 || eff.Server.BodyTimeout != 5*time.Second || eff.Headers.HSTS.MaxAge != 0 {
		t.Fatalf("reloadable settings not applied: %+v", eff.Server)
	}
	if next.Listen.HTTPS != ":8444" || start.Listen.HTTPS != ":8443" {
		t.Fatal("inputs modified")
	}
	if _, pending := start.KeepStartOnly(start); len(pending) != 0 {
		t.Fatalf("unchanged file reports %q", pending)
	}
}
