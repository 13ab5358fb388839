package postgres

import (
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
)

// PoolCollector exports a pool's statistics (pgxpool.Stat) as Prometheus
// metrics, read at scrape time:
//
//	campshub_backend_db_pool_connections{state}   gauge: acquired, idle, constructing
//	campshub_backend_db_pool_max_connections      gauge
//	campshub_backend_db_pool_acquires_total       counter: successful acquires
//	campshub_backend_db_pool_empty_acquires_total counter: acquires that had to wait
//	campshub_backend_db_pool_acquire_wait_seconds_total counter: time spent waiting
//
// Every metric carries a constant label pool="<name>" (primary, replica),
// so one registry can hold a collector per pool. Register it on the
// registry the caller passes around. Safe for concurrent use.
type PoolCollector struct {
	pool         *pgxpool.Pool
	conns        *prometheus.Desc
	maxConns     *prometheus.Desc
	acquires     *prometheus.Desc
	emptyAcquire *prometheus.Desc
	acquireWait  *prometheus.Desc
}

// NewPoolCollector returns a collector for pool, labelled pool=name.
func NewPoolCollector(pool *pgxpool.Pool, name string) *PoolCollector {
	l := prometheus.Labels{"pool": name}
	return &PoolCollector{
		pool: pool,
		conns: prometheus.NewDesc("campshub_backend_db_pool_connections",
			"Connections in the PostgreSQL pool by state.", []string{"state"}, l),
		maxConns: prometheus.NewDesc("campshub_backend_db_pool_max_connections",
			"Maximum size of the PostgreSQL pool.", nil, l),
		acquires: prometheus.NewDesc("campshub_backend_db_pool_acquires_total",
			"Successful connection acquires from the PostgreSQL pool.", nil, l),
		emptyAcquire: prometheus.NewDesc("campshub_backend_db_pool_empty_acquires_total",
			"Acquires that waited because the PostgreSQL pool had no idle connection.", nil, l),
		acquireWait: prometheus.NewDesc("campshub_backend_db_pool_acquire_wait_seconds_total",
			"Total time spent waiting for a PostgreSQL pool connection, in seconds.", nil, l),
	}
}

// Describe implements prometheus.Collector.
func (c *PoolCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.conns
	ch <- c.maxConns
	ch <- c.acquires
	ch <- c.emptyAcquire
	ch <- c.acquireWait
}

// Collect implements prometheus.Collector.
func (c *PoolCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.pool.Stat()
	ch <- prometheus.MustNewConstMetric(c.conns, prometheus.GaugeValue, float64(s.AcquiredConns()), "acquired")
	ch <- prometheus.MustNewConstMetric(c.conns, prometheus.GaugeValue, float64(s.IdleConns()), "idle")
	ch <- prometheus.MustNewConstMetric(c.conns, prometheus.GaugeValue, float64(s.ConstructingConns()), "constructing")
	ch <- prometheus.MustNewConstMetric(c.maxConns, prometheus.GaugeValue, float64(s.MaxConns()))
	ch <- prometheus.MustNewConstMetric(c.acquires, prometheus.CounterValue, float64(s.AcquireCount()))
	ch <- prometheus.MustNewConstMetric(c.emptyAcquire, prometheus.CounterValue, float64(s.EmptyAcquireCount()))
	ch <- prometheus.MustNewConstMetric(c.acquireWait, prometheus.CounterValue, s.AcquireDuration().Seconds())
}
