// Package jobs runs the backend's background work: the session job (opens
// scheduled sessions when they start, closes them after their end plus the
// grace period, filling absent/excused marks) and partition maintenance
// (monthly partitions ahead, audit retention). Every instance runs the
// loops; each run is leader-elected in PostgreSQL with
// pg_try_advisory_xact_lock, so only one instance does the work at a time
// and another takes over when it stops.
package jobs

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/campshub360/edge/backend/internal/audit"
	"github.com/campshub360/edge/backend/internal/store/postgres"
	"github.com/campshub360/edge/backend/internal/tags"
)

// Job is a named function run every Interval.
type Job struct {
	Name     string
	Interval time.Duration
	Run      func(ctx context.Context) error
}

// Runner runs jobs on their intervals until Stop. Each job runs once at
// start, then every Interval; a run that fails is logged and counted, and
// the next one happens on schedule. Runs of one job never overlap.
type Runner struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// Metrics are the job metrics:
//
//	campshub_backend_job_runs_total{job,result}   ok, error
//	campshub_backend_job_duration_seconds{job}    histogram
type Metrics struct {
	runs     *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

// NewMetrics registers the job metrics on reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "campshub_backend_job_runs_total", Help: "Background job runs by job and result.",
		}, []string{"job", "result"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "campshub_backend_job_duration_seconds", Help: "Background job run time, in seconds.",
			Buckets: []float64{.001, .005, .01, .05, .1, .5, 1, 5, 30},
		}, []string{"job"}),
	}
	for _, c := range []prometheus.Collector{m.runs, m.duration} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// Start runs jobs in the background; Stop ends them.
func Start(log *slog.Logger, m *Metrics, jobs ...Job) *Runner {
	ctx, cancel := context.WithCancel(context.Background())
	r := &Runner{cancel: cancel}
	for _, j := range jobs {
		r.wg.Go(func() {
			t := time.NewTicker(j.Interval)
			defer t.Stop()
			for {
				start := time.Now()
				err := j.Run(ctx)
				if ctx.Err() != nil {
					return
				}
				m.duration.WithLabelValues(j.Name).Observe(time.Since(start).Seconds())
				if err != nil {
					m.runs.WithLabelValues(j.Name, "error").Inc()
					log.Error("background job failed", "job", j.Name, "error", err.Error())
				} else {
					m.runs.WithLabelValues(j.Name, "ok").Inc()
				}
				select {
				case <-ctx.Done():
					return
				case <-t.C:
				}
			}
		})
	}
	return r
}

// Stop cancels the jobs and waits for running ones to return.
func (r *Runner) Stop() {
	r.cancel()
	r.wg.Wait()
}

// Invalidator is told the tags a job changed.
type Invalidator interface {
	Invalidate(ctx context.Context, tags ...string)
}

// SessionRunner is the store side of the session job.
type SessionRunner interface {
	RunSessionJob(ctx context.Context, batch int) (postgres.SessionJobResult, error)
}

// Sessions returns the session job's run function: it repeats
// RunSessionJob while full batches come back (a backlog after downtime),
// records a system audit event per transition, and invalidates the
// sessions, sections and summaries involved. inval may be nil.
func Sessions(store SessionRunner, rec audit.Recorder, inval Invalidator, batch int, log *slog.Logger) func(context.Context) error {
	return func(ctx context.Context) error {
		for range 100 {
			res, err := store.RunSessionJob(ctx, batch)
			if err != nil || !res.Ran {
				return err
			}
			var tagList []string
			record := func(action, status string, id uuid.UUID) {
				after, _ := json.Marshal(map[string]string{"status": status})
				if err := rec.Record(ctx, audit.Event{Action: action, Entity: "attendance_session", EntityID: id.String(), After: after}); err != nil {
					log.Warn("audit event not queued", "action", action, "error", err.Error())
				}
			}
			for _, s := range res.Opened {
				record("session.open", "open", s.ID)
				tagList = append(tagList, tags.Session(s.ID), tags.Section(s.SectionID))
			}
			for _, s := range res.Closed {
				record("session.close", "closed", s.ID)
				tagList = append(tagList, tags.Session(s.ID), tags.Section(s.SectionID))
			}
			for _, st := range res.Students {
				tagList = append(tagList, tags.Summary(st))
			}
			if len(tagList) > 0 {
				tagList = append(tagList, tags.Sessions)
				if inval != nil {
					inval.Invalidate(ctx, tagList...)
				}
				log.Info("sessions transitioned", "opened", len(res.Opened), "closed", len(res.Closed),
					"absent", res.Absent, "excused", res.Excused)
			}
			if len(res.Opened) < batch && len(res.Closed) < batch {
				return nil
			}
		}
		return nil
	}
}

// Maintenance returns the partition maintenance job's run function.
func Maintenance(run func(ctx context.Context) (postgres.MaintenanceResult, error), log *slog.Logger) func(context.Context) error {
	return func(ctx context.Context) error {
		res, err := run(ctx)
		if err != nil {
			return err
		}
		if res.Created > 0 || len(res.Dropped) > 0 {
			log.Info("partition maintenance", "created", res.Created, "dropped", res.Dropped)
		}
		return nil
	}
}
