package server

import (
	"encoding/json"
	"strings"
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
		if got := headerValue(e.Headers, k); got != want {
			t.Errorf("%s = %q, want %q (all: %v)", k, got, want, e.Headers)
		}
	}
}

// headerValue looks a header up in an echoed set case-insensitively.
func headerValue(h map[string]string, name string) string {
	for k, v := range h {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return ""
}

// TestConnectionCannotStripForwardingHeaders: fields named in Connection
// are dropped as hop-by-hop, except the ones the gateway sets itself.
func TestConnectionCannotStripForwardingHeaders(t *testing.T) {
	a := startEcho(t, "a")
	g := startWith(t, "", plainRoutes+"forwarding: {forwarded: true}\n", a.addr)
	resp, body := g.get(t, "/api/v1/x", map[string]string{
		"Connection":   "keep-alive, X-Forwarded-For, X-Real-IP, X-Request-ID, Forwarded, X-Forwarded-Proto, X-Forwarded-Host, X-Custom-Hop",
		"X-Custom-Hop": "drop me",
		"Keep-Alive":   "timeout=5",
		"TE":           "trailers",
	})
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	var e echoed
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"X-Forwarded-For", "X-Real-IP", "X-Request-ID", "Forwarded", "X-Forwarded-Proto", "X-Forwarded-Host"} {
		if headerValue(e.Headers, k) == "" {
			t.Errorf("%s was stripped: %v", k, e.Headers)
		}
	}
	for _, k := range []string{"X-Custom-Hop", "Keep-Alive", "TE", "Connection"} {
		if headerValue(e.Headers, k) != "" {
			t.Errorf("hop-by-hop %s forwarded", k)
		}
	}
}
