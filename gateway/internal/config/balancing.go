package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Balancing, health checking, admission control and retries of one
// upstream pool. Defaults are filled by fillBalancingDefaults; for the
// numeric switches below, 0 (or absent) takes the default and -1 turns the
// feature off.

// Balancers are the accepted `balancer` values.
var Balancers = []string{"round_robin", "weighted_round_robin", "least_conn", "p2c", "hash"}

// Admission is per-instance admission control: a concurrency cap with a
// bounded FIFO queue (HAProxy's maxconn + timeout queue, per server).
type Admission struct {
	// MaxConcurrent caps requests in flight to one instance (default 256;
	// -1: no cap).
	MaxConcurrent int `yaml:"max_concurrent"`
	// MaxQueue bounds requests waiting for a slot per instance (default
	// 512; -1: no queue, reject at once).
	MaxQueue int `yaml:"max_queue"`
	// QueueTimeout is the longest a request waits in the queue before a
	// 503 with Retry-After (default 1s; the route timeout also bounds it).
	QueueTimeout time.Duration `yaml:"queue_timeout"`
}

// HealthCheck is an active HTTP health check, probing every instance of
// the pool. It is off while Path is empty.
type HealthCheck struct {
	// Path is the request target probed with GET, e.g. /health/.
	Path string `yaml:"path"`
	// Host is the Host header of probes (default: the instance address).
	Host string `yaml:"host"`
	// Interval separates probes of a healthy instance (default 5s).
	Interval time.Duration `yaml:"interval"`
	// UnhealthyInterval separates probes of an unhealthy instance, so a
	// recovery is seen sooner (default 1s).
	UnhealthyInterval time.Duration `yaml:"unhealthy_interval"`
	// Jitter adds a random delay in [0, jitter) to every interval so
	// probes of many gateways do not align (default 10% of interval; a
	// negative value turns it off).
	Jitter time.Duration `yaml:"jitter"`
	// Timeout bounds one probe, connect included; at most Interval
	// (default 1s, or Interval when shorter).
	Timeout time.Duration `yaml:"timeout"`
	// ExpectedStatus is the inclusive status range that passes, "200-399"
	// (default) or a single code "204".
	ExpectedStatus string `yaml:"expected_status"`
	// Rise is the number of consecutive passes that make an unhealthy
	// instance healthy (default 2); Fall the consecutive failures that
	// make a healthy one unhealthy (default 3).
	Rise int `yaml:"rise"`
	Fall int `yaml:"fall"`
	// InitialState is healthy (default) or unhealthy: the state instances
	// start in after a start or reload, until the first probe, which runs
	// at once, settles it.
	InitialState string `yaml:"initial_state"`
}

// Passive is passive health checking (outlier detection): instances that
// fail live traffic are ejected for a back-off that grows with repeated
// ejections.
type Passive struct {
	// ConsecutiveErrors ejects after this many consecutive gateway errors:
	// connect failures, resets, timeouts, 502/503/504 (default 5; -1 off).
	ConsecutiveErrors int `yaml:"consecutive_errors"`
	// Consecutive5xx ejects after this many consecutive 5xx responses or
	// gateway errors (default 10; -1 off).
	Consecutive5xx int `yaml:"consecutive_5xx"`
	// FailureRatio ejects when this fraction of the requests in the last
	// FailureRatioWindow failed (gateway errors or 5xx) (default 0.5; -1
	// off), once at least FailureRatioMinRequests were seen (default 20).
	FailureRatio            float64       `yaml:"failure_ratio"`
	FailureRatioWindow      time.Duration `yaml:"failure_ratio_window"`
	FailureRatioMinRequests int           `yaml:"failure_ratio_min_requests"`
	// BaseEjectionTime is the first ejection's length; the n-th
	// consecutive ejection lasts n times as long, up to MaxEjectionTime
	// (defaults 30s and 300s).
	BaseEjectionTime time.Duration `yaml:"base_ejection_time"`
	MaxEjectionTime  time.Duration `yaml:"max_ejection_time"`
	// MaxEjectionPercent caps the share of the pool's instances ejected
	// at once, checked counting the candidate (default 50; -1: no
	// ejections at all).
	MaxEjectionPercent int `yaml:"max_ejection_percent"`
}

// Retry is the pool's retry policy. Retries go to another instance and
// only when safe: idempotent methods, a request whose bytes never reached
// the upstream, or a POST/PATCH with Idempotency-Key.
type Retry struct {
	// MaxAttempts is the most tries per request, the first included
	// (default 3; 1: no retries).
	MaxAttempts int `yaml:"max_attempts"`
	// PerTryTimeout bounds one try (default: none; the route timeout
	// bounds all tries together). Routes may override it.
	PerTryTimeout time.Duration `yaml:"per_try_timeout"`
	// BackoffBase and BackoffMax shape the full-jitter exponential
	// back-off between tries (defaults 25ms and 250ms).
	BackoffBase time.Duration `yaml:"backoff_base"`
	BackoffMax  time.Duration `yaml:"backoff_max"`
	// BudgetPercent caps retries in flight at this share of the pool's
	// active requests (default 20; Envoy's retry budget), but always
	// allows MinRetryConcurrency (default 3).
	BudgetPercent       int `yaml:"budget_percent"`
	MinRetryConcurrency int `yaml:"min_retry_concurrency"`
	// MinRetriesPerSecond is the budget's reserve (Finagle's RetryBudget
	// minRetriesPerSec): beyond the share above, a retry may take a token
	// of a bucket refilled at this rate and holding 10 seconds of it, so
	// that a burst of failures at low concurrency (an instance killed or
	// restarted with a few requests in flight) is retried whole, while in
	// an outage the reserve adds at most this many retries per second
	// once spent (default 10; -1: no reserve).
	MinRetriesPerSecond float64 `yaml:"min_retries_per_second"`
	// RetryOnStatus lists response statuses retried like errors
	// (default [502, 503, 504]; [] for none).
	RetryOnStatus []int `yaml:"retry_on_status"`
}

// StatusRange is an inclusive range of HTTP status codes.
type StatusRange struct{ Min, Max int }

// ParseStatusRange parses "200-399" or "204".
func ParseStatusRange(s string) (StatusRange, bool) {
	lo, hi, isRange := strings.Cut(strings.TrimSpace(s), "-")
	a, err := strconv.Atoi(strings.TrimSpace(lo))
	if err != nil {
		return StatusRange{}, false
	}
	b := a
	if isRange {
		if b, err = strconv.Atoi(strings.TrimSpace(hi)); err != nil {
			return StatusRange{}, false
		}
	}
	if a < 100 || b > 599 || a > b {
		return StatusRange{}, false
	}
	return StatusRange{a, b}, true
}

func (u *Upstream) fillBalancingDefaults() {
	def := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	defInt := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	if u.Balancer == "" {
		u.Balancer = "p2c"
	}
	def(&u.ReadTimeout, 60*time.Second)
	def(&u.WriteTimeout, 10*time.Second)
	def(&u.MaxConnWaitTimeout, 250*time.Millisecond)
	def(&u.SlowStart, 10*time.Second)
	def(&u.EWMADecay, 10*time.Second)
	defInt(&u.PanicThreshold, 50)

	a := &u.Admission
	defInt(&a.MaxConcurrent, 256)
	defInt(&a.MaxQueue, 512)
	def(&a.QueueTimeout, time.Second)

	h := &u.HealthCheck
	def(&h.Interval, 5*time.Second)
	def(&h.UnhealthyInterval, time.Second)
	def(&h.Jitter, h.Interval/10)
	def(&h.Timeout, min(time.Second, h.Interval))
	if h.ExpectedStatus == "" {
		h.ExpectedStatus = "200-399"
	}
	defInt(&h.Rise, 2)
	defInt(&h.Fall, 3)
	if h.InitialState == "" {
		h.InitialState = "healthy"
	}

	p := &u.Passive
	defInt(&p.ConsecutiveErrors, 5)
	defInt(&p.Consecutive5xx, 10)
	if p.FailureRatio == 0 {
		p.FailureRatio = 0.5
	}
	def(&p.FailureRatioWindow, 10*time.Second)
	defInt(&p.FailureRatioMinRequests, 20)
	def(&p.BaseEjectionTime, 30*time.Second)
	def(&p.MaxEjectionTime, 300*time.Second)
	defInt(&p.MaxEjectionPercent, 50)

	r := &u.Retry
	defInt(&r.MaxAttempts, 3)
	def(&r.BackoffBase, 25*time.Millisecond)
	def(&r.BackoffMax, 250*time.Millisecond)
	defInt(&r.BudgetPercent, 20)
	defInt(&r.MinRetryConcurrency, 3)
	if r.MinRetriesPerSecond == 0 {
		r.MinRetriesPerSecond = 10
	}
	if r.RetryOnStatus == nil {
		r.RetryOnStatus = []int{502, 503, 504}
	}
}

// switchOK reports whether a "0 default, -1 off" value is in range
// (-1, or lo..hi).
func switchOK(v, lo, hi int) bool { return v == -1 || v >= lo && v <= hi }

func (c *Config) validateBalancing(ck *checker) {
	for i, u := range c.Upstreams {
		p := fmt.Sprintf("upstreams[%d]", i)
		known := false
		for _, b := range Balancers {
			known = known || u.Balancer == b
		}
		if !known {
			ck.add(p+".balancer", "%q: want one of %s", u.Balancer, strings.Join(Balancers, ", "))
		}
		switch {
		case u.Balancer == "hash" && u.HashKey == "":
			ck.add(p+".hash_key", "must be set for the hash balancer: client_ip, header:NAME, cookie:NAME or subject")
		case u.HashKey != "" && !validHashKey(u.HashKey):
			ck.add(p+".hash_key", "%q: want client_ip, header:NAME, cookie:NAME or subject", u.HashKey)
		case u.HashKey != "" && u.Balancer != "hash":
			ck.add(p+".hash_key", "only used by the hash balancer")
		}
		if len(u.Instances) > 64 {
			ck.add(p+".instances", "at most 64 instances per pool")
		}
		for _, d := range []struct {
			path string
			ok   bool
		}{
			{".read_timeout", u.ReadTimeout > 0},
			{".write_timeout", u.WriteTimeout > 0},
			{".max_conn_wait_timeout", u.MaxConnWaitTimeout >= 0},
			{".max_idle_conn_duration", u.MaxIdleConnDuration > 0},
			{".ewma_decay", u.EWMADecay > 0},
			{".panic_threshold", switchOK(u.PanicThreshold, 1, 100)},
			{".admission.max_concurrent", switchOK(u.Admission.MaxConcurrent, 1, 1<<20)},
			{".admission.max_queue", switchOK(u.Admission.MaxQueue, 1, 1<<20)},
			{".admission.queue_timeout", u.Admission.QueueTimeout > 0},
			{".passive.consecutive_errors", switchOK(u.Passive.ConsecutiveErrors, 1, 1000)},
			{".passive.consecutive_5xx", switchOK(u.Passive.Consecutive5xx, 1, 1000)},
			{".passive.failure_ratio", u.Passive.FailureRatio == -1 || u.Passive.FailureRatio > 0 && u.Passive.FailureRatio <= 1},
			{".passive.failure_ratio_window", u.Passive.FailureRatioWindow > 0},
			{".passive.failure_ratio_min_requests", u.Passive.FailureRatioMinRequests >= 1},
			{".passive.base_ejection_time", u.Passive.BaseEjectionTime > 0},
			{".passive.max_ejection_time", u.Passive.MaxEjectionTime >= u.Passive.BaseEjectionTime},
			{".passive.max_ejection_percent", switchOK(u.Passive.MaxEjectionPercent, 1, 100)},
			{".retry.max_attempts", u.Retry.MaxAttempts >= 1 && u.Retry.MaxAttempts <= 10},
			{".retry.per_try_timeout", u.Retry.PerTryTimeout >= 0},
			{".retry.backoff_base", u.Retry.BackoffBase > 0},
			{".retry.backoff_max", u.Retry.BackoffMax >= u.Retry.BackoffBase},
			{".retry.budget_percent", u.Retry.BudgetPercent >= 1 && u.Retry.BudgetPercent <= 100},
			{".retry.min_retry_concurrency", u.Retry.MinRetryConcurrency >= 0},
			{".retry.min_retries_per_second", u.Retry.MinRetriesPerSecond == -1 || u.Retry.MinRetriesPerSecond > 0 && u.Retry.MinRetriesPerSecond <= 100000},
		} {
			if !d.ok {
				ck.add(p+d.path, "out of range")
			}
		}
		for j, s := range u.Retry.RetryOnStatus {
			if s < 500 || s > 599 {
				ck.add(fmt.Sprintf("%s.retry.retry_on_status[%d]", p, j), "%d: only 5xx statuses are retried", s)
			}
		}
		h := u.HealthCheck
		hp := p + ".health_check"
		if h.Path != "" && (!strings.HasPrefix(h.Path, "/") || strings.ContainsAny(h.Path, "#\x00\r\n ")) {
			ck.add(hp+".path", "%q must be an absolute path", h.Path)
		}
		if strings.ContainsAny(h.Host, "/\x00\r\n ") {
			ck.add(hp+".host", "%q is not a host", h.Host)
		}
		for _, d := range []struct {
			path string
			ok   bool
		}{
			{".interval", h.Interval > 0},
			{".unhealthy_interval", h.UnhealthyInterval > 0},
			{".timeout", h.Timeout > 0 && h.Timeout <= h.Interval},
			{".rise", h.Rise >= 1 && h.Rise <= 100},
			{".fall", h.Fall >= 1 && h.Fall <= 100},
		} {
			if !d.ok {
				ck.add(hp+d.path, "out of range")
			}
		}
		if _, ok := ParseStatusRange(h.ExpectedStatus); !ok {
			ck.add(hp+".expected_status", "%q: want a status or a range such as 200-399", h.ExpectedStatus)
		}
		if h.InitialState != "healthy" && h.InitialState != "unhealthy" {
			ck.add(hp+".initial_state", "%q: want healthy or unhealthy", h.InitialState)
		}
	}
	for i, r := range c.Routes {
		if r.PerTryTimeout < 0 {
			ck.add(fmt.Sprintf("routes[%d].per_try_timeout", i), "must not be negative")
		}
	}
}

func validHashKey(s string) bool {
	if s == "client_ip" || s == "subject" {
		return true
	}
	for _, p := range []string{"header:", "cookie:"} {
		if name, ok := strings.CutPrefix(s, p); ok {
			return name != "" && !strings.ContainsAny(name, " \t\r\n:;,=\"()/<>?@[\\]{}")
		}
	}
	return false
}
