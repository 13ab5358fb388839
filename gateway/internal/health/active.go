package health

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"sync"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/campshub360/edge/gateway/internal/balancer"
)

// CheckOptions configure active health checks of one pool.
type CheckOptions struct {
	// Path is the request target probed with GET.
	Path string
	// Host is the probes' Host header ("" : the instance address).
	Host string
	// Interval separates probes of a healthy instance, UnhealthyInterval
	// those of an unhealthy one; a random [0, Jitter) is added to each.
	Interval, UnhealthyInterval, Jitter time.Duration
	// Timeout bounds one probe, connect included.
	Timeout time.Duration
	// MinStatus and MaxStatus bound the passing statuses (inclusive).
	MinStatus, MaxStatus int
	// Rise consecutive passes make an unhealthy instance healthy; Fall
	// consecutive failures make a healthy one unhealthy. The first probe
	// after start or reload settles the initial state either way.
	Rise, Fall int
	// Client configures the probers' connections (dial timeout, TLS);
	// timeouts and the connection cap are set from the fields above.
	Client balancer.ClientOptions
}

// Checker runs one prober goroutine per instance of a pool. Create with
// NewChecker, start with Start, stop with Close (the configuration
// generation that owns it is replaced or the gateway stops). Safe for
// concurrent use.
type Checker struct {
	pool *balancer.Pool
	o    CheckOptions
	log  *slog.Logger
	now  func() time.Time
	rand *balancer.Rand

	mu      sync.Mutex
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	started bool
}

// NewChecker returns a stopped checker for pool. now is the clock and rnd
// the jitter source.
func NewChecker(pool *balancer.Pool, o CheckOptions, log *slog.Logger, now func() time.Time, rnd *balancer.Rand) *Checker {
	return &Checker{pool: pool, o: o, log: log, now: now, rand: rnd}
}

// Start launches the probers; each probes its instance at once, then on
// its schedule. Start after Close, or a second Start, does nothing.
func (c *Checker) Start() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.started {
		return
	}
	c.started = true
	ctx, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	for _, u := range c.pool.Instances {
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			c.run(ctx, u)
		}()
	}
}

// Close stops the probers and waits for them to return (a probe in
// progress is abandoned within its timeout). Idempotent.
func (c *Checker) Close() {
	c.mu.Lock()
	c.started = true
	cancel := c.cancel
	c.cancel = nil
	c.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	c.wg.Wait()
}

func (c *Checker) run(ctx context.Context, u *balancer.Upstream) {
	co := c.o.Client
	if co.DialTimeout <= 0 || co.DialTimeout > c.o.Timeout {
		co.DialTimeout = c.o.Timeout
	}
	co.ReadTimeout, co.WriteTimeout = c.o.Timeout, c.o.Timeout
	co.MaxConns, co.MaxConnWaitTimeout = 1, 0
	co.MaxIdleConnDuration = 2 * max(c.o.Interval, c.o.UnhealthyInterval)
	hc := balancer.NewHostClient(u.Addr, co)
	hc.MaxResponseBodySize = 64 << 10
	defer hc.CloseIdleConnections()

	host := c.o.Host
	if host == "" {
		host = u.Addr
	}
	tr := Tracker{Rise: c.o.Rise, Fall: c.o.Fall, Healthy: u.Healthy()}
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		res := c.probe(hc, host)
		if ctx.Err() != nil {
			return // the generation was replaced mid-probe: its verdict is moot
		}
		u.RecordCheck(res)
		first := !tr.settled
		if tr.Record(res.OK) {
			at := c.now().UnixNano()
			if first {
				at = 0 // settling the initial state is not a recovery
			}
			u.SetHealthy(tr.Healthy, at)
			level := slog.LevelWarn
			if tr.Healthy {
				level = slog.LevelInfo
			}
			c.log.Log(ctx, level, "upstream instance health changed", "upstream", c.pool.Name, "instance", u.Addr,
				"healthy", tr.Healthy, "status", res.Status, "error", res.Error)
		}
		next := c.o.Interval
		if !tr.Healthy {
			next = c.o.UnhealthyInterval
		}
		if c.o.Jitter > 0 {
			next += time.Duration(c.rand.Uint64() % uint64(c.o.Jitter))
		}
		timer.Reset(next)
	}
}

// userAgent identifies probes in upstream access logs.
const userAgent = "campshub360-gateway-health-check"

func (c *Checker) probe(hc *fasthttp.HostClient, host string) balancer.CheckResult {
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI(c.o.Path)
	req.Header.SetHost(host)
	req.Header.SetUserAgent(userAgent)
	start := c.now()
	err := hc.DoTimeout(req, resp, c.o.Timeout)
	end := c.now()
	res := balancer.CheckResult{At: end, DurationMS: float64(end.Sub(start)) / float64(time.Millisecond)}
	if err != nil {
		res.Error = classify(err)
		return res
	}
	res.Status = resp.StatusCode()
	res.OK = res.Status >= c.o.MinStatus && res.Status <= c.o.MaxStatus
	if !res.OK {
		res.Error = "status"
	}
	return res
}

// classify names a probe failure without its text (which may carry
// addresses): timeout, refused, reset or error.
func classify(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, fasthttp.ErrTimeout), errors.Is(err, fasthttp.ErrDialTimeout), errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "refused"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, fasthttp.ErrConnectionClosed), errors.Is(err, io.EOF), errors.Is(err, syscall.EPIPE):
		return "reset"
	}
	return "error"
}

// Tracker turns a series of probe results into a health state with
// rise/fall hysteresis (HAProxy's rise and fall): an unhealthy instance
// needs Rise consecutive passes, a healthy one Fall consecutive failures,
// so an instance alternating pass and fail never changes state. The first
// result after start or reload is decisive either way (the initial state
// is only an assumption). Not safe for concurrent use; each prober owns
// one.
type Tracker struct {
	// Rise and Fall are the thresholds (at least 1).
	Rise, Fall int
	// Healthy is the current verdict; set it to the initial state.
	Healthy bool

	settled  bool
	ok, fail int
}

// Record adds one result and reports whether Healthy changed.
func (t *Tracker) Record(pass bool) bool {
	first := !t.settled
	t.settled = true
	if pass {
		t.ok, t.fail = t.ok+1, 0
	} else {
		t.ok, t.fail = 0, t.fail+1
	}
	switch {
	case first && pass != t.Healthy,
		!t.Healthy && t.ok >= t.Rise,
		t.Healthy && t.fail >= t.Fall:
		t.Healthy = !t.Healthy
		t.ok, t.fail = 0, 0
		return true
	}
	return false
}
