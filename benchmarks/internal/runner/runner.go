// Package runner drives HTTP load against one target and measures it.
//
// Open loop (Mode Open) sends requests on a fixed schedule (package pacer):
// a bounded pool of workers, one per connection, takes the next request
// index, waits for its intended send time and sends it; latency runs from
// the intended send time to the response. When every connection is busy the
// next request goes out late and its latency includes the wait, the send lag
// is recorded, and requests due before the end that were never sent are
// reported as unsent: a stalled server cannot hide behind a stalled
// generator (coordinated omission).
//
// Closed loop (Mode Closed) runs N workers, one per connection, each sending
// its next request as soon as the previous response arrived (after an
// optional think time): the peak throughput the target sustains at that
// concurrency. Latency runs from the actual send.
//
// Every run is bounded by a maximum duration and a maximum request count;
// after the bound, requests in flight finish within the request timeout.
package runner

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/campshub360/edge/benchmarks/internal/hist"
	"github.com/campshub360/edge/benchmarks/internal/pacer"
	"github.com/campshub360/edge/benchmarks/internal/report"
)

// Defaults for the bounds and knobs of a run; callers apply them when
// building a Config (Run itself never falls back to a default).
const (
	DefaultMaxDuration      = 10 * time.Second
	DefaultMaxRequests      = 1_000_000
	DefaultTimeout          = 5 * time.Second
	DefaultConnections      = 32
	DefaultProgressInterval = time.Second
)

// Mode selects open-loop or closed-loop load.
type Mode int

// The modes.
const (
	// Open sends on a fixed schedule regardless of responses.
	Open Mode = iota + 1
	// Closed sends each worker's next request after its previous response.
	Closed
)

// String returns "open" or "closed".
func (m Mode) String() string {
	switch m {
	case Open:
		return "open"
	case Closed:
		return "closed"
	default:
		return "mode(" + strconv.Itoa(int(m)) + ")"
	}
}

// Kind is one kind of request in a run's mix, as named in reports.
type Kind struct {
	// Name labels the kind in reports.
	Name string
	// Expect lists the statuses that count as success; empty means any
	// status below 400.
	Expect []int
}

// Source produces the requests of a run. Kinds and NewFiller are called
// before the workers start; the Source must not change during the run.
type Source interface {
	// Kinds lists the request kinds; Filler.Fill returns an index into it.
	// At least one.
	Kinds() []Kind
	// NewFiller returns the filler of one worker (0-based index), drawing
	// any randomness from rng, which only that worker uses.
	NewFiller(worker int, rng *rand.Rand) Filler
}

// Filler writes requests for one worker; it is never used concurrently.
type Filler interface {
	// Fill sets the method, absolute URI (on the Client's BaseURL), headers
	// and body of req, which is freshly reset, for the request with global
	// index seq (0-based), and returns the request's kind index.
	Fill(req *fasthttp.Request, seq int64) (kind int)
}

// Observer is implemented by Fillers that look at each response of the
// requests they filled (to capture values from it, or to release state
// held for the request). The worker calls Observe after every exchange,
// before the next Fill, with the kind Fill returned, the response and the
// transport error (resp is meaningful only when err is nil).
type Observer interface {
	Observe(kind int, resp *fasthttp.Response, err error)
}

// Snapshot is the progress of a running load, for a live progress line.
type Snapshot struct {
	// Elapsed since the start.
	Elapsed time.Duration
	// Sent counts requests sent so far (some may still be in flight).
	Sent int64
	// Completed counts responses and transport errors so far.
	Completed int64
	// Errors counts transport errors and unexpected statuses so far.
	Errors int64
	// RPS is completions per second since the previous snapshot.
	RPS float64
	// TargetRPS is the open-loop schedule's intended rate now; 0 in closed
	// loop.
	TargetRPS float64
	// Backlog is, in open loop, the requests due more than 5 ms ago but not
	// yet sent because every connection was busy.
	Backlog int64
	// P99 is the 99th percentile latency of all responses so far.
	P99 time.Duration
}

// Config configures a run. Validate reports every problem.
type Config struct {
	// Mode is Open or Closed.
	Mode Mode
	// Schedule is the open-loop schedule; required in Open, unused in
	// Closed. Only its part before MaxDuration is sent.
	Schedule *pacer.Schedule
	// Connections is the number of workers, each with at most one request
	// in flight; it should equal the Client's connection cap. > 0.
	Connections int
	// MaxDuration bounds the sending; > 0.
	MaxDuration time.Duration
	// MaxRequests bounds the requests sent; > 0.
	MaxRequests int64
	// ThinkMin and ThinkMax bound a uniform random pause between a closed-
	// loop worker's response and its next request; both 0 for none. Open
	// loop has no think time.
	ThinkMin, ThinkMax time.Duration
	// Seed seeds the per-worker random sources (request mix, parameters,
	// think time): equal seeds give equal request sequences per worker.
	Seed uint64
	// Clock is the time source; nil means SystemClock.
	Clock Clock
	// Progress, when set, is called from one goroutine every
	// ProgressInterval with a snapshot of the run, never after Run returns.
	Progress func(Snapshot)
	// ProgressInterval is the period of Progress calls; > 0 when Progress is
	// set.
	ProgressInterval time.Duration
}

// Validate returns nil or an error listing every problem of c.
func (c *Config) Validate() error {
	var errs []error
	switch c.Mode {
	case Open:
		if c.Schedule == nil {
			errs = append(errs, errors.New("open loop needs a schedule"))
		}
		if c.ThinkMin != 0 || c.ThinkMax != 0 {
			errs = append(errs, errors.New("think time applies to closed loop only"))
		}
	case Closed:
	default:
		errs = append(errs, fmt.Errorf("mode must be open or closed, got %v", c.Mode))
	}
	if c.Connections <= 0 {
		errs = append(errs, fmt.Errorf("connections must be > 0, got %d", c.Connections))
	}
	if c.MaxDuration <= 0 {
		errs = append(errs, fmt.Errorf("max duration must be > 0, got %v", c.MaxDuration))
	}
	if c.MaxRequests <= 0 {
		errs = append(errs, fmt.Errorf("max requests must be > 0, got %d", c.MaxRequests))
	}
	if c.ThinkMin < 0 || c.ThinkMax < c.ThinkMin {
		errs = append(errs, fmt.Errorf("think time must satisfy 0 <= min <= max, got %v..%v", c.ThinkMin, c.ThinkMax))
	}
	if c.Progress != nil && c.ProgressInterval <= 0 {
		errs = append(errs, fmt.Errorf("progress interval must be > 0, got %v", c.ProgressInterval))
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("runner: invalid config: %w", errors.Join(errs...))
}

// backlogGrace is how late a request must be before Snapshot.Backlog
// counts it, so timer jitter of workers about to send is not reported.
const backlogGrace = 5 * time.Millisecond

// maxShards caps the stats shards; workers share them round-robin.
const maxShards = 8

// Run sends load to client's target as cfg says, with requests from src,
// and returns the measurements. The Result's Target and URL are the
// client's base URL; the caller sets Scenario and may rename Target.
//
// Cancelling ctx stops the run early (Ctrl-C): no new request is sent,
// requests in flight finish within the client's timeout, and Run still
// returns the result with StopReason report.StopInterrupted and a nil
// error. Run fails only for an invalid cfg or src.
func Run(ctx context.Context, cfg Config, client *Client, src Source) (*report.Result, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	kinds := src.Kinds()
	if len(kinds) == 0 {
		return nil, errors.New("runner: the source has no request kind")
	}
	if cfg.Clock == nil {
		cfg.Clock = SystemClock()
	}
	r := &run{cfg: cfg, client: client, clock: cfg.Clock, kinds: kinds}
	nShards := min(cfg.Connections, maxShards)
	for range nShards {
		r.shards = append(r.shards, newShard(len(kinds), cfg.Mode == Open))
	}
	fillers := make([]Filler, cfg.Connections)
	for w := range fillers {
		fillers[w] = src.NewFiller(w, rand.New(rand.NewPCG(cfg.Seed, uint64(w))))
	}
	inBefore, outBefore := client.Bytes()

	r.start = r.clock.Now()
	r.deadline = r.start.Add(cfg.MaxDuration)
	interrupted := make(chan time.Time, 1)
	stopWatch := context.AfterFunc(ctx, func() { interrupted <- r.clock.Now() })

	progressCtx, stopProgress := context.WithCancel(ctx)
	progressDone := make(chan struct{})
	if cfg.Progress != nil {
		go r.progress(progressCtx, progressDone)
	} else {
		close(progressDone)
	}

	var wg sync.WaitGroup
	for w := range cfg.Connections {
		sh := r.shards[w%nShards]
		rng := rand.New(rand.NewPCG(cfg.Seed, uint64(w)|1<<63))
		wg.Go(func() {
			req := fasthttp.AcquireRequest()
			resp := fasthttp.AcquireResponse()
			defer fasthttp.ReleaseRequest(req)
			defer fasthttp.ReleaseResponse(resp)
			if cfg.Mode == Open {
				r.openWorker(ctx, sh, fillers[w], req, resp)
			} else {
				r.closedWorker(ctx, sh, fillers[w], rng, req, resp)
			}
		})
	}
	wg.Wait()
	end := r.clock.Now()
	wasInterrupted := ctx.Err() != nil
	stopProgress()
	<-progressDone

	res := r.result(end)
	if !stopWatch() {
		// ctx ended: wait for the watcher, which noted when.
		at := <-interrupted
		if wasInterrupted {
			res.StopReason = report.StopInterrupted
			if cfg.Mode == Open {
				if at.After(end) {
					at = end
				}
				r.setUnsent(res, at.Sub(r.start))
			}
		}
	}
	in, out := client.Bytes()
	res.BytesIn, res.BytesOut = in-inBefore, out-outBefore
	return res, nil
}

// run is the state of one Run.
type run struct {
	cfg    Config
	client *Client
	clock  Clock
	kinds  []Kind
	shards []*shard

	start, deadline time.Time

	next      atomic.Int64 // next request index to claim
	sent      atomic.Int64
	completed atomic.Int64
	errors    atomic.Int64

	hitDeadline, hitMaxRequests, hitSchedule atomic.Bool
}

// openWorker sends scheduled requests until the schedule, a bound or ctx
// ends.
func (r *run) openWorker(ctx context.Context, sh *shard, f Filler, req *fasthttp.Request, resp *fasthttp.Response) {
	for ctx.Err() == nil {
		i := r.next.Add(1) - 1
		if i >= r.cfg.MaxRequests {
			r.hitMaxRequests.Store(true)
			return
		}
		off, ok := r.cfg.Schedule.At(i)
		if !ok {
			r.hitSchedule.Store(true)
			return
		}
		if off >= r.cfg.MaxDuration {
			r.hitDeadline.Store(true)
			return
		}
		intended := r.start.Add(off)
		if !r.clock.SleepUntil(ctx, intended) {
			return
		}
		now := r.clock.Now()
		if !now.Before(r.deadline) {
			// Due before the deadline but every connection was busy until
			// after it: counted as unsent.
			r.hitDeadline.Store(true)
			return
		}
		r.exchange(sh, f, req, resp, i, intended, now)
	}
}

// closedWorker sends requests back to back (with think time) until a bound
// or ctx ends.
func (r *run) closedWorker(ctx context.Context, sh *shard, f Filler, rng *rand.Rand, req *fasthttp.Request, resp *fasthttp.Response) {
	for ctx.Err() == nil {
		now := r.clock.Now()
		if !now.Before(r.deadline) {
			r.hitDeadline.Store(true)
			return
		}
		i := r.next.Add(1) - 1
		if i >= r.cfg.MaxRequests {
			r.hitMaxRequests.Store(true)
			return
		}
		r.exchange(sh, f, req, resp, i, now, now)
		if r.cfg.ThinkMax > 0 {
			think := r.cfg.ThinkMin
			if span := r.cfg.ThinkMax - r.cfg.ThinkMin; span > 0 {
				think += time.Duration(rng.Int64N(int64(span) + 1))
			}
			until := r.clock.Now().Add(think)
			if until.After(r.deadline) {
				until = r.deadline
			}
			r.clock.SleepUntil(ctx, until)
		}
	}
}

// exchange sends request seq and records its outcome. intended is when it
// was due (open loop) or sent (closed loop); sent is when it was sent.
func (r *run) exchange(sh *shard, f Filler, req *fasthttp.Request, resp *fasthttp.Response, seq int64, intended, sent time.Time) {
	req.Reset()
	kind := f.Fill(req, seq)
	r.sent.Add(1)
	err := r.client.Do(req, resp)
	end := r.clock.Now()
	if o, ok := f.(Observer); ok {
		o.Observe(kind, resp, err)
	}
	var status int
	bad := err != nil
	if !bad {
		status = resp.StatusCode()
		bad = !expected(r.kinds[kind].Expect, status)
	}
	sh.mu.Lock()
	k := &sh.kinds[kind]
	k.requests++
	if sh.lag != nil {
		sh.lag.Record(sent.Sub(intended))
	}
	if err != nil {
		sh.transport[Classify(err)]++
	} else {
		sh.responses++
		sh.countStatus(status)
		sh.latency.Record(end.Sub(intended))
		k.latency.Record(end.Sub(intended))
		if sh.service != nil {
			sh.service.Record(end.Sub(sent))
		}
		if bad {
			sh.badStatus++
		}
	}
	if bad {
		k.errors++
	}
	sh.mu.Unlock()
	if bad {
		r.errors.Add(1)
	}
	r.completed.Add(1)
}

// expected reports whether status counts as success given a kind's Expect.
func expected(expect []int, status int) bool {
	if len(expect) == 0 {
		return status < 400
	}
	for _, s := range expect {
		if s == status {
			return true
		}
	}
	return false
}

// progress calls cfg.Progress every interval until ctx ends, then closes
// done.
func (r *run) progress(ctx context.Context, done chan<- struct{}) {
	defer close(done)
	scratch := hist.New()
	last := r.start
	var lastCompleted int64
	for next := r.start.Add(r.cfg.ProgressInterval); r.clock.SleepUntil(ctx, next); next = next.Add(r.cfg.ProgressInterval) {
		now := r.clock.Now()
		scratch.Reset()
		for _, sh := range r.shards {
			sh.mu.Lock()
			scratch.Merge(sh.latency)
			sh.mu.Unlock()
		}
		completed := r.completed.Load()
		s := Snapshot{
			Elapsed:   now.Sub(r.start),
			Sent:      r.sent.Load(),
			Completed: completed,
			Errors:    r.errors.Load(),
			P99:       scratch.Percentile(99),
		}
		if dt := now.Sub(last).Seconds(); dt > 0 {
			s.RPS = float64(completed-lastCompleted) / dt
		}
		if r.cfg.Mode == Open {
			s.TargetRPS = r.cfg.Schedule.Rate(s.Elapsed)
			due := min(r.cfg.Schedule.Count(min(s.Elapsed-backlogGrace, r.cfg.MaxDuration)), r.cfg.MaxRequests)
			s.Backlog = max(due-s.Sent, 0)
		}
		last, lastCompleted = now, completed
		r.cfg.Progress(s)
	}
}

// result merges the shards into a Result; end is when the last worker
// stopped.
func (r *run) result(end time.Time) *report.Result {
	total := newShard(len(r.kinds), r.cfg.Mode == Open)
	for _, sh := range r.shards {
		total.merge(sh)
	}
	elapsed := end.Sub(r.start)
	res := &report.Result{
		Target:      r.client.BaseURL(),
		URL:         r.client.BaseURL(),
		Mode:        r.cfg.Mode.String(),
		Connections: r.cfg.Connections,
		Seed:        r.cfg.Seed,
		Started:     r.start,
		Elapsed:     report.Seconds(elapsed),
		Requests:    r.sent.Load(),
		Responses:   total.responses,
		Latency:     total.latency.Summarize(),
	}
	var transport int64
	for k, n := range total.transport {
		if n > 0 {
			if res.ErrorsByKind == nil {
				res.ErrorsByKind = map[string]int64{}
			}
			res.ErrorsByKind[ErrorKind(k).String()] = n
			transport += n
		}
	}
	if total.badStatus > 0 {
		if res.ErrorsByKind == nil {
			res.ErrorsByKind = map[string]int64{}
		}
		res.ErrorsByKind[report.KindStatus] = total.badStatus
	}
	res.Errors = transport + total.badStatus
	res.OK = total.responses - total.badStatus
	if res.Requests > 0 {
		res.ErrorRate = float64(res.Errors) / float64(res.Requests)
	}
	if s := elapsed.Seconds(); s > 0 {
		res.AchievedRPS = float64(res.Requests) / s
	}
	for code, n := range total.status {
		if n == 0 {
			continue
		}
		if res.Status == nil {
			res.Status, res.StatusClasses = map[string]int64{}, map[string]int64{}
		}
		res.Status[strconv.Itoa(code)] += n
		res.StatusClasses[strconv.Itoa(code/100)+"xx"] += n
	}
	if total.otherStatus > 0 {
		if res.Status == nil {
			res.Status, res.StatusClasses = map[string]int64{}, map[string]int64{}
		}
		res.Status["other"] += total.otherStatus
		res.StatusClasses["other"] += total.otherStatus
	}
	// Encoding an in-range histogram cannot fail; the field is optional.
	if enc, err := total.latency.Encode(); err == nil {
		res.LatencyHDR = enc
	}
	for i, k := range r.kinds {
		ks := total.kinds[i]
		res.ByRequest = append(res.ByRequest, report.RequestResult{
			Name: k.Name, Requests: ks.requests, Errors: ks.errors, Latency: ks.latency.Summarize(),
		})
	}
	switch {
	case r.hitDeadline.Load():
		res.StopReason = report.StopDuration
	case r.hitMaxRequests.Load():
		res.StopReason = report.StopMaxRequests
	case r.hitSchedule.Load():
		res.StopReason = report.StopSchedule
	default:
		res.StopReason = report.StopDuration
	}
	if r.cfg.Mode == Open {
		sched := r.cfg.Schedule
		res.Schedule = sched.String()
		window := min(sched.Duration(), r.cfg.MaxDuration)
		if window < sched.Duration() {
			res.Schedule += ", cut at " + window.String()
		}
		res.TargetRPS = float64(sched.Count(window)) / window.Seconds()
		svc, lag := total.service.Summarize(), total.lag.Summarize()
		res.Service, res.SendLag = &svc, &lag
		r.setUnsent(res, window)
	}
	return res
}

// setUnsent sets res.Unsent to the requests due before stop (an offset from
// the start) that were never sent.
func (r *run) setUnsent(res *report.Result, stop time.Duration) {
	stop = min(stop, r.cfg.MaxDuration)
	due := min(r.cfg.Schedule.Count(stop), r.cfg.MaxRequests)
	res.Unsent = max(due-res.Requests, 0)
}

// shard holds the stats of some workers; mu guards everything.
type shard struct {
	mu                     sync.Mutex
	latency, service, lag  *hist.Histogram // service and lag: open loop only
	kinds                  []kindStats
	transport              [numKinds]int64
	status                 [600]int64 // by code, 0..599
	otherStatus, badStatus int64
	responses              int64
}

type kindStats struct {
	requests, errors int64
	latency          *hist.Histogram
}

func newShard(kinds int, open bool) *shard {
	sh := &shard{latency: hist.New(), kinds: make([]kindStats, kinds)}
	if open {
		sh.service, sh.lag = hist.New(), hist.New()
	}
	for i := range sh.kinds {
		sh.kinds[i].latency = hist.New()
	}
	return sh
}

func (sh *shard) countStatus(code int) {
	if code >= 0 && code < len(sh.status) {
		sh.status[code]++
	} else {
		sh.otherStatus++
	}
}

// merge adds o's stats to sh; sh must not be shared yet.
func (sh *shard) merge(o *shard) {
	o.mu.Lock()
	defer o.mu.Unlock()
	sh.latency.Merge(o.latency)
	if sh.service != nil {
		sh.service.Merge(o.service)
		sh.lag.Merge(o.lag)
	}
	for i := range sh.kinds {
		sh.kinds[i].requests += o.kinds[i].requests
		sh.kinds[i].errors += o.kinds[i].errors
		sh.kinds[i].latency.Merge(o.kinds[i].latency)
	}
	for i, n := range o.transport {
		sh.transport[i] += n
	}
	for i, n := range o.status {
		sh.status[i] += n
	}
	sh.otherStatus += o.otherStatus
	sh.badStatus += o.badStatus
	sh.responses += o.responses
}
