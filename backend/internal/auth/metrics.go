package auth

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Event names a security event counted in
// campshub_backend_security_events_total{event} (a bounded label set).
type Event string

// The security events.
const (
	EventLoginSuccess     Event = "login_success"
	EventLoginFailure     Event = "login_failure"
	EventLoginLocked      Event = "login_locked"
	EventLockout          Event = "lockout"
	EventMFAChallenge     Event = "mfa_challenge"
	EventMFAFailure       Event = "mfa_failure"
	EventRefresh          Event = "refresh"
	EventRefreshFailure   Event = "refresh_failure"
	EventRefreshReuse     Event = "refresh_reuse"
	EventTokenRejected    Event = "token_rejected"
	EventAPIKeyRejected   Event = "api_key_rejected"
	EventPermissionDenied Event = "permission_denied"
	EventDenylistFallback Event = "denylist_fallback"
	EventPasswordChanged  Event = "password_changed"
	EventLogout           Event = "logout"
)

var allEvents = []Event{EventLoginSuccess, EventLoginFailure, EventLoginLocked, EventLockout,
	EventMFAChallenge, EventMFAFailure, EventRefresh, EventRefreshFailure, EventRefreshReuse,
	EventTokenRejected, EventAPIKeyRejected, EventPermissionDenied, EventDenylistFallback,
	EventPasswordChanged, EventLogout}

// Metrics counts security events on a registry. Safe for concurrent use;
// a nil *Metrics counts nothing.
type Metrics struct {
	counters map[Event]prometheus.Counter
}

// NewMetrics registers campshub_backend_security_events_total on reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	vec := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "campshub_backend_security_events_total",
		Help: "Security events: sign-ins, failures, lockouts, refresh-token reuse, rejected credentials, permission denials.",
	}, []string{"event"})
	if err := reg.Register(vec); err != nil {
		return nil, fmt.Errorf("auth: register metrics: %w", err)
	}
	m := &Metrics{counters: make(map[Event]prometheus.Counter, len(allEvents))}
	for _, e := range allEvents {
		m.counters[e] = vec.WithLabelValues(string(e)) // every series exists from the start
	}
	return m, nil
}

// Inc counts one e.
func (m *Metrics) Inc(e Event) {
	if m == nil {
		return
	}
	if c, ok := m.counters[e]; ok {
		c.Inc()
	}
}
