package metrics

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestRouteAndInstanceSeries(t *testing.T) {
	m, err := New(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	r := m.Route("api")
	r.Observe([]byte("GET"), 200, 0.002)
	r.Observe([]byte("BREW"), 418, 0.002)
	r.Observe([]byte("GET"), 999, 0.002)
	i := m.Instance("campus", "127.0.0.1:9001")
	i.Observe(503, 0.01)
	i.Observe(0, 0.01)
	for _, tc := range []struct {
		c    prometheus.Collector
		want float64
	}{
		{m.Requests.WithLabelValues("api", "GET", "2xx"), 1},
		{m.Requests.WithLabelValues("api", "OTHER", "4xx"), 1},
		{m.Requests.WithLabelValues("api", "GET", "other"), 1},
		{m.UpstreamRequests.WithLabelValues("campus", "127.0.0.1:9001", "5xx"), 1},
		{m.UpstreamRequests.WithLabelValues("campus", "127.0.0.1:9001", "error"), 1},
	} {
		if got := testutil.ToFloat64(tc.c); got != tc.want {
			t.Errorf("%v = %v, want %v", tc.c, got, tc.want)
		}
	}
	if n := testutil.CollectAndCount(m.Duration, "gateway_http_request_duration_seconds"); n != 1 {
		t.Fatalf("duration series %d", n)
	}
}

func TestObserveDoesNotAllocate(t *testing.T) {
	m, err := New(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	r, i := m.Route("api"), m.Instance("campus", "a:1")
	method := []byte("POST")
	r.Observe(method, 201, 0.001)
	i.Observe(201, 0.001)
	if n := testing.AllocsPerRun(1000, func() {
		r.Observe(method, 201, 0.001)
		i.Observe(201, 0.001)
	}); n != 0 {
		t.Fatalf("Observe allocates %.1f", n)
	}
}
