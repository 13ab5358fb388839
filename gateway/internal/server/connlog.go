package server

import (
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Connection-error log limits: at most connLogBurst lines per
// connLogWindow per listener reach the log; the rest are counted.
const (
	connLogBurst  = 10
	connLogWindow = time.Second
)

// newConnErrorCounter registers gateway_connection_errors_total{listener}
// on reg: connections a listener ended on an error fasthttp reports (a
// malformed request, a failed TLS handshake; fasthttp leaves out timeouts,
// resets and broken pipes), whether or not their log line was suppressed.
// Labels: listener is https, http or admin.
func newConnErrorCounter(reg *prometheus.Registry) (*prometheus.CounterVec, error) {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gateway_connection_errors_total",
		Help: "Connections a listener ended on an error (malformed requests and the like; not timeouts, resets or broken pipes), by listener.",
	}, []string{"listener"})
	if err := reg.Register(c); err != nil {
		return nil, err
	}
	return c, nil
}

// connErrorLog is fasthttp's Logger for one listener. fasthttp logs a line
// for every connection that ends on an error, a malformed request among
// them, so any client could flood the log with lines of parser detail.
// connErrorLog passes at most burst lines per window to the process log
// (as warnings, with the listener's name) and drops the rest; the first
// line let through after a drop is preceded by a line giving the number
// dropped. Every line is counted in errors, dropped or not. Clients never
// see this text: their responses are problems. Safe for concurrent use.
type connErrorLog struct {
	log    *slog.Logger
	errors prometheus.Counter
	now    func() time.Time
	burst  int
	window time.Duration

	mu      sync.Mutex
	start   time.Time // start of the current window
	passed  int       // lines let through in the current window
	dropped int       // lines dropped since the last one let through
}

// connErrorLog returns the connection-error logger of the named listener.
func (s *Server) connErrorLog(listener string) *connErrorLog {
	return &connErrorLog{
		log: s.log.With("listener", listener), errors: s.connErrors.WithLabelValues(listener),
		now: s.now, burst: connLogBurst, window: connLogWindow,
	}
}

// Printf logs (or counts) one fasthttp message.
func (l *connErrorLog) Printf(format string, args ...any) {
	l.errors.Inc()
	l.mu.Lock()
	now := l.now()
	if now.Sub(l.start) >= l.window || now.Before(l.start) {
		l.start, l.passed = now, 0
	}
	if l.passed >= l.burst {
		l.dropped++
		l.mu.Unlock()
		return
	}
	l.passed++
	dropped := l.dropped
	l.dropped = 0
	l.mu.Unlock()
	if dropped > 0 {
		l.log.Warn("connection error lines suppressed", "suppressed", dropped)
	}
	l.log.Warn(fmt.Sprintf(format, args...))
}
