package server

import (
	"encoding/json"
	"testing"
)

// TestForwardedAndTraceHeaders: with forwarding.forwarded on, an untrusted
// client's Forwarded, X-Forwarded-* and X-Real-IP are replaced by the
// gateway's own; traceparent passes unchanged.
func TestForwardedAndTraceHeaders(t *testing.T) {
	a := startEcho(t, "a")
	g := startWith(t, "", plainRoutes+"forwarding: {forwarded: true}\n", a.addr)
	const tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	resp, body := g.get(t, "/api/v1/x", map[string]string{
		"Forwarded":         "for=6.6.6.6;proto=http",
		"X-Forwarded-Proto": "http",
		"X-Forwarded-Host":  "evil.example",
		"X-Real-IP":         "6.6.6.6",
		"traceparent":       tp,
	})
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	var e echoed
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatal(err)
	}
	host := g.addrs.HTTPS
	for k, want := range map[string]string{
		"Forwarded":         `for=127.0.0.1;proto=https;host="` + host + `"`,
		"X-Forwarded-For":   "127.0.0.1",
		"X-Forwarded-Proto": "https",
		"X-Forwarded-Host":  host,
		"X-Real-Ip":         "127.0.0.1",
		"Traceparent":       tp,
	} {
		got := e.Headers[k]
		if got == "" {
			got = e.Headers[http1Canonical(k)]
		}
		if got != want {
			t.Errorf("%s = %q, want %q (all: %v)", k, got, want, e.Headers)
		}
	}
}

// http1Canonical returns the spelling fasthttp gives X-Real-IP.
func http1Canonical(k string) string {
	if k == "X-Real-Ip" {
		return "X-Real-IP"
	}
	return k
}
