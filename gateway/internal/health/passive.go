// Package health decides whether upstream instances should get traffic:
// active checks (a prober per instance sending HTTP requests on a
// schedule, with rise/fall thresholds) and passive checks (outlier
// detection on live traffic, ejecting an instance for a growing back-off).
// Both write their verdicts into the instances' live state
// (balancer.Upstream), which the balancing policies read.
//
// The model is Envoy's: active health checking
// (envoy.config.core.v3.HealthCheck) and outlier detection
// (envoy.config.cluster.v3.OutlierDetection), with HAProxy's rise/fall
// naming.
package health

import (
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/campshub360/edge/gateway/internal/balancer"
)

// Outcome classifies one upstream try for passive health checking.
type Outcome uint8

const (
	// Success is a response with a status below 500.
	Success Outcome = iota
	// ServerError is a 5xx response other than 502, 503 and 504.
	ServerError
	// GatewayError is a try without a usable response (connect failure,
	// reset, timeout) or a 502, 503 or 504 response.
	GatewayError
)

// Ejection reasons, the values of the reason label of
// gateway_upstream_ejections_total.
const (
	ReasonConsecutiveErrors = "consecutive_errors"
	ReasonConsecutive5xx    = "consecutive_5xx"
	ReasonFailureRatio      = "failure_ratio"
)

// ClassifyStatus returns the Outcome of a response status.
func ClassifyStatus(status int) Outcome {
	switch {
	case status == 502 || status == 503 || status == 504:
		return GatewayError
	case status >= 500:
		return ServerError
	}
	return Success
}

// PassiveOptions configure outlier detection for one pool. A zero
// threshold turns its rule off.
type PassiveOptions struct {
	// ConsecutiveErrors ejects after this many consecutive GatewayError
	// outcomes.
	ConsecutiveErrors int
	// Consecutive5xx ejects after this many consecutive ServerError or
	// GatewayError outcomes.
	Consecutive5xx int
	// FailureRatio ejects when at least this fraction of the tries seen in
	// the sliding Window failed, once MinRequests were seen.
	FailureRatio float64
	Window       time.Duration
	MinRequests  int
	// BaseEjection is the first ejection's length; the n-th lasts n times
	// as long, capped at MaxEjection. The count steps down by one for
	// every BaseEjection the instance then stays in service.
	BaseEjection, MaxEjection time.Duration
	// MaxEjectionPercent caps the share of the pool ejected at once; the
	// check counts the candidate (with 3 instances and 50, one may be
	// ejected, not two). 0: never eject.
	MaxEjectionPercent int
}

// Passive is outlier detection for one pool: Observe feeds it each try's
// outcome; it ejects instances through balancer.Upstream.Eject. Safe for
// concurrent use: per-instance counters have their own mutex, ejection
// decisions take the pool's.
type Passive struct {
	pool     *balancer.Pool
	o        PassiveOptions
	log      *slog.Logger
	counters map[string]prometheus.Counter

	mu   sync.Mutex // serializes ejection decisions (the percent cap)
	inst []passiveState
}

type passiveState struct {
	mu                   sync.Mutex
	consecErr, consec5xx int
	win                  window
	ejections            int   // back-off multiplier
	lastUntil            int64 // end of the latest ejection, Unix ns
	refusedLogged        int64 // last time a capped ejection was logged
}

// NewPassive returns outlier detection for pool, counting ejections on
// ejections (gateway_upstream_ejections_total{upstream,reason}) and
// logging them on log.
func NewPassive(pool *balancer.Pool, o PassiveOptions, ejections *prometheus.CounterVec, log *slog.Logger) *Passive {
	p := &Passive{pool: pool, o: o, log: log, inst: make([]passiveState, len(pool.Instances)), counters: map[string]prometheus.Counter{}}
	for _, r := range []string{ReasonConsecutiveErrors, ReasonConsecutive5xx, ReasonFailureRatio} {
		p.counters[r] = ejections.WithLabelValues(pool.Name, r)
	}
	if p.o.Window <= 0 {
		p.o.FailureRatio = 0 // no window, no ratio
	}
	for i := range p.inst {
		p.inst[i].win.size = max(int64(o.Window), 1)
	}
	return p
}

// Observe records the outcome of one try on u finished at now (Unix ns)
// and ejects u when a rule trips. Tries that end while u is ejected (panic
// mode traffic) are not counted.
func (p *Passive) Observe(u *balancer.Upstream, o Outcome, now int64) {
	if u.Ejected(now) {
		return
	}
	s := &p.inst[u.Index]
	s.mu.Lock()
	switch o {
	case Success:
		s.consecErr, s.consec5xx = 0, 0
	case ServerError:
		s.consecErr = 0
		s.consec5xx++
	case GatewayError:
		s.consecErr++
		s.consec5xx++
	}
	if p.o.FailureRatio > 0 {
		s.win.add(now, o != Success)
	}
	reason := ""
	switch {
	case o == Success:
	case p.o.ConsecutiveErrors > 0 && s.consecErr >= p.o.ConsecutiveErrors:
		reason = ReasonConsecutiveErrors
	case p.o.Consecutive5xx > 0 && s.consec5xx >= p.o.Consecutive5xx:
		reason = ReasonConsecutive5xx
	case p.o.FailureRatio > 0:
		if total, failed := s.win.estimate(now); total >= float64(p.o.MinRequests) && failed >= p.o.FailureRatio*total {
			reason = ReasonFailureRatio
		}
	}
	s.mu.Unlock()
	if reason != "" {
		p.eject(u, reason, now)
	}
}

func (p *Passive) eject(u *balancer.Upstream, reason string, now int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if u.Ejected(now) {
		return
	}
	ejected := 0
	for _, v := range p.pool.Instances {
		if v.Ejected(now) {
			ejected++
		}
	}
	s := &p.inst[u.Index]
	s.mu.Lock()
	defer s.mu.Unlock()
	if (ejected+1)*100 > p.o.MaxEjectionPercent*len(p.pool.Instances) {
		if now-s.refusedLogged >= int64(p.o.BaseEjection) {
			s.refusedLogged = now
			p.log.Warn("upstream instance failing but not ejected: max_ejection_percent reached",
				"upstream", p.pool.Name, "instance", u.Addr, "reason", reason, "ejected", ejected)
		}
		return
	}
	d := EjectionTime(s.ejections, s.lastUntil, now, p.o.BaseEjection, p.o.MaxEjection)
	s.ejections = ejectionCount(s.ejections, s.lastUntil, now, p.o.BaseEjection) + 1
	until := now + int64(d)
	s.lastUntil = until
	s.consecErr, s.consec5xx = 0, 0
	s.win.reset()
	u.Eject(now, until, reason, s.ejections)
	p.counters[reason].Inc()
	p.log.Warn("upstream instance ejected", "upstream", p.pool.Name, "instance", u.Addr, "reason", reason,
		"for", d.String(), "ejections", s.ejections)
}

// ejectionCount returns the back-off multiplier before a new ejection:
// prior, less one for every base the instance has stayed in service since
// its last ejection ended at lastUntil (Envoy's decrement of the ejection
// multiplier), never below zero.
func ejectionCount(prior int, lastUntil, now int64, base time.Duration) int {
	if prior == 0 || now <= lastUntil {
		return prior
	}
	return max(prior-int((now-lastUntil)/int64(base)), 0)
}

// EjectionTime is the length of an instance's next ejection at now, given
// its prior ejection count and the end of its last ejection: base times
// the new count, capped at maxTime. Exported for the admin docs and tests.
func EjectionTime(prior int, lastUntil, now int64, base, maxTime time.Duration) time.Duration {
	n := ejectionCount(prior, lastUntil, now, base) + 1
	d := time.Duration(n) * base
	if d > maxTime || d < 0 {
		d = maxTime
	}
	return d
}

// window is a sliding-window counter of tries and failures: two fixed
// buckets, the previous one weighted by how much of it still overlaps the
// window (the estimate Cloudflare and nginx use for sliding-window rate
// limits). Not safe for concurrent use; passiveState's mutex guards it.
type window struct {
	size                int64 // ns
	start               int64 // current bucket's start, Unix ns
	curTotal, curFail   float64
	prevTotal, prevFail float64
}

func (w *window) reset() { w.start, w.curTotal, w.curFail, w.prevTotal, w.prevFail = 0, 0, 0, 0, 0 }

func (w *window) roll(now int64) {
	if w.start == 0 {
		w.start = now - now%w.size
		return
	}
	switch el := now - w.start; {
	case el < w.size:
	case el < 2*w.size:
		w.prevTotal, w.prevFail = w.curTotal, w.curFail
		w.curTotal, w.curFail = 0, 0
		w.start += w.size
	default:
		w.prevTotal, w.prevFail, w.curTotal, w.curFail = 0, 0, 0, 0
		w.start = now - now%w.size
	}
}

func (w *window) add(now int64, failed bool) {
	w.roll(now)
	w.curTotal++
	if failed {
		w.curFail++
	}
}

// estimate returns the tries and failures in the window ending at now.
func (w *window) estimate(now int64) (total, failed float64) {
	w.roll(now)
	prevWeight := 1 - float64(now-w.start)/float64(w.size)
	return w.curTotal + w.prevTotal*prevWeight, w.curFail + w.prevFail*prevWeight
}
