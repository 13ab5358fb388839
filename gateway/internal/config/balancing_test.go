package config

import (
	"strings"
	"testing"
	"time"
)

const pool = `
upstreams:
  - name: campus
    instances: [{addr: "127.0.0.1:9001"}, {addr: "127.0.0.1:9002"}]
%s
routes:
  - {path_prefix: /api/, upstream: campus}
`

func parsePool(t *testing.T, extra string) (*Config, error) {
	t.Helper()
	return Parse([]byte(strings.Replace(pool, "%s", extra, 1)), nil)
}

func TestBalancingDefaults(t *testing.T) {
	c, err := parsePool(t, "")
	if err != nil {
		t.Fatal(err)
	}
	u := c.Upstreams[0]
	if u.Balancer != "p2c" || u.SlowStart != 10*time.Second || u.PanicThreshold != 50 || u.ReadTimeout != 60*time.Second {
		t.Fatalf("pool defaults %+v", u)
	}
	if u.Admission != (Admission{MaxConcurrent: 256, MaxQueue: 512, QueueTimeout: time.Second}) {
		t.Fatalf("admission %+v", u.Admission)
	}
	h := u.HealthCheck
	if h.Path != "" || h.Interval != 5*time.Second || h.Jitter != 500*time.Millisecond || h.Rise != 2 || h.Fall != 3 ||
		h.ExpectedStatus != "200-399" || h.InitialState != "healthy" {
		t.Fatalf("health check %+v", h)
	}
	if p := u.Passive; p.ConsecutiveErrors != 5 || p.FailureRatio != 0.5 || p.MaxEjectionPercent != 50 || p.BaseEjectionTime != 30*time.Second {
		t.Fatalf("passive %+v", p)
	}
	if r := u.Retry; r.MaxAttempts != 3 || r.BudgetPercent != 20 || r.MinRetryConcurrency != 3 || r.MinRetriesPerSecond != 10 || len(r.RetryOnStatus) != 3 {
		t.Fatalf("retry %+v", r)
	}
}

func TestBalancingSwitchesAndOverrides(t *testing.T) {
	c, err := parsePool(t, `    balancer: hash
    hash_key: cookie:session
    panic_threshold: -1
    admission: {max_concurrent: -1, max_queue: -1}
    passive: {consecutive_5xx: -1, failure_ratio: -1}
    retry: {retry_on_status: []}
    health_check: {path: /health/, expected_status: "204", initial_state: unhealthy}`)
	if err != nil {
		t.Fatal(err)
	}
	u := c.Upstreams[0]
	if u.PanicThreshold != -1 || u.Admission.MaxConcurrent != -1 || u.Passive.FailureRatio != -1 || len(u.Retry.RetryOnStatus) != 0 {
		t.Fatalf("switches not kept off: %+v", u)
	}
	if r, ok := ParseStatusRange(u.HealthCheck.ExpectedStatus); !ok || r != (StatusRange{204, 204}) {
		t.Fatalf("status range %v %v", r, ok)
	}
	// Environment overrides reach the new keys.
	c, err = Parse([]byte(strings.Replace(pool, "%s", "", 1)), []string{
		"GATEWAY__UPSTREAMS__0__BALANCER=least_conn", "GATEWAY__UPSTREAMS__0__HEALTH_CHECK__PATH=/health/",
		"GATEWAY__UPSTREAMS__0__RETRY__RETRY_ON_STATUS__0=503",
	})
	if err != nil {
		t.Fatal(err)
	}
	if u := c.Upstreams[0]; u.Balancer != "least_conn" || u.HealthCheck.Path != "/health/" || u.Retry.RetryOnStatus[0] != 503 || len(u.Retry.RetryOnStatus) != 1 {
		t.Fatalf("env overrides %+v", u)
	}
}

func TestBalancingValidation(t *testing.T) {
	_, err := parsePool(t, `    balancer: hash
    panic_threshold: 150
    admission: {max_concurrent: -2, queue_timeout: -1s}
    passive: {failure_ratio: 1.5, max_ejection_time: 1s}
    retry: {max_attempts: 20, budget_percent: 101, min_retries_per_second: -3, retry_on_status: [404]}
    health_check: {path: health, interval: 1s, timeout: 2s, rise: 0, expected_status: "600", initial_state: maybe}`)
	if err == nil {
		t.Fatal("accepted")
	}
	for _, want := range []string{
		"upstreams[0].hash_key: must be set",
		"upstreams[0].panic_threshold: out of range",
		"upstreams[0].admission.max_concurrent: out of range",
		"upstreams[0].admission.queue_timeout: out of range",
		"upstreams[0].passive.failure_ratio: out of range",
		"upstreams[0].passive.max_ejection_time: out of range",
		"upstreams[0].retry.max_attempts: out of range",
		"upstreams[0].retry.budget_percent: out of range",
		"upstreams[0].retry.min_retries_per_second: out of range",
		"upstreams[0].retry.retry_on_status[0]: 404",
		"upstreams[0].health_check.path:",
		"upstreams[0].health_check.timeout: out of range",
		"upstreams[0].health_check.expected_status:",
		"upstreams[0].health_check.initial_state:",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in:\n%v", want, err)
		}
	}
	if _, err := parsePool(t, "    hash_key: client_ip"); err == nil || !strings.Contains(err.Error(), "only used by the hash balancer") {
		t.Fatalf("hash_key without hash: %v", err)
	}
	if _, err := parsePool(t, "    balancer: hash\n    hash_key: 'header:bad name'"); err == nil {
		t.Fatal("bad header name accepted")
	}
}
