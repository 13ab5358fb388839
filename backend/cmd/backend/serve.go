package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/campshub360/edge/shared/logging"
	"github.com/campshub360/edge/shared/requestid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"

	"github.com/campshub360/edge/backend/internal/api"
	"github.com/campshub360/edge/backend/internal/audit"
	"github.com/campshub360/edge/backend/internal/config"
	"github.com/campshub360/edge/backend/internal/domain"
	"github.com/campshub360/edge/backend/internal/jobs"
	"github.com/campshub360/edge/backend/internal/qr"
	"github.com/campshub360/edge/backend/internal/store/postgres"
	"github.com/campshub360/edge/backend/internal/store/rediscache"
)

// sessionJobBatch is how many sessions one run of the session job opens
// or closes at most (it repeats while batches come back full).
const sessionJobBatch = 500

// serve runs the HTTP API until ctx is cancelled, then shuts down
// gracefully: for cfg.ShutdownDrainDelay the instance keeps serving while
// /ready and /health/ answer 503 "draining" (api.Drain), then the
// listener closes, in-flight requests get
// cfg.ShutdownTimeout to finish, background jobs stop, queued audit events
// are written, and the pools close.
func serve(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, err := config.LoadServe(args, getenv)
	if err != nil {
		var ce *config.Error
		if errors.As(err, &ce) || errors.Is(err, flag.ErrHelp) {
			return err
		}
		return &flagError{err: err}
	}
	if cfg.CheckConfig {
		fmt.Fprintln(stdout, "configuration ok")
		return nil
	}
	log, err := logging.New(stderr, cfg.LogLevel, cfg.LogFormat)
	if err != nil {
		return err
	}

	pool, err := postgres.Open(ctx, cfg.Database, postgres.Options{
		ApplicationName:  "campshub360-backend",
		StatementTimeout: max(cfg.Database.QueryTimeout, cfg.Database.ReportTimeout),
	})
	if err != nil {
		return err
	}
	defer pool.Close()

	if err := checkSchema(ctx, pool, cfg.Database.ConnectTimeout); err != nil {
		return err
	}
	ensure := func(ctx context.Context) (int, error) {
		from, to := postgres.PartitionWindow(time.Now(), cfg.Attendance.TimeZone, cfg.PartitionMonthsAhead)
		ctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		return postgres.EnsurePartitions(ctx, pool, from, to)
	}
	if n, err := ensure(ctx); err != nil {
		return fmt.Errorf("create partitions: %w", err)
	} else if n > 0 {
		log.Info("created monthly partitions", "count", n)
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		postgres.NewPoolCollector(pool, "primary"),
	)
	var replica *pgxpool.Pool
	if cfg.Database.ReplicaURL != "" {
		rcfg := cfg.Database
		rcfg.URL = rcfg.ReplicaURL
		replica, err = postgres.Open(ctx, rcfg, postgres.Options{
			ApplicationName:  "campshub360-backend",
			StatementTimeout: max(cfg.Database.QueryTimeout, cfg.Database.ReportTimeout),
			Lazy:             true,
		})
		if err != nil {
			return fmt.Errorf("read replica: %w", err)
		}
		defer replica.Close()
		if err := replica.Ping(ctx); err != nil {
			log.Warn("read replica unreachable; reads fall back to the primary until it answers", "error", err.Error())
		}
		reg.MustRegister(postgres.NewPoolCollector(replica, "replica"))
	}

	checks := []api.Check{{Name: "postgres", Ping: pool.Ping}}
	var rdb *redis.Client
	if cfg.RedisURL == "" {
		log.Warn("REDIS_URL is not set; serving without Redis")
	} else {
		rdb, err = openRedis(ctx, cfg.RedisURL, cfg.ReadyTimeout, log)
		if err != nil {
			return err
		}
		defer rdb.Close()
		// Optional: without Redis the backend serves from PostgreSQL, so
		// /ready reports it degraded instead of taking the instance out.
		checks = append(checks, api.Optional(api.Check{Name: "redis", Ping: func(ctx context.Context) error { return rdb.Ping(ctx).Err() }}))
	}

	auditor := audit.NewWriter(pool, audit.WriterOptions{Log: log})
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := auditor.Close(cctx); err != nil {
			log.Error("audit events still queued at exit were logged instead", "error", err.Error())
		}
	}()
	w, err := buildAPI(ctx, cfg, stores{primary: pool, replica: replica, redis: rdb}, auditor, reg, log, checks)
	if err != nil {
		return err
	}
	jm, err := jobs.NewMetrics(reg)
	if err != nil {
		return err
	}

	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Listen, err)
	}
	srv := w.api.NewServer(api.ServerOptions{})
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	addr := ln.Addr().String()

	if cfg.RuntimeDir != "" {
		path, err := writeStateFile(cfg.RuntimeDir, addr)
		if err != nil {
			_ = srv.Shutdown()
			_ = ln.Close()
			<-served
			return err
		}
		defer os.Remove(path)
	}
	log.Info("serving", "addr", addr, "redis", cfg.RedisURL != "", "replica", replica != nil, "instance", w.instance)

	// Background jobs: authentication upkeep on every instance; sessions
	// and partition maintenance leader-elected per run in PostgreSQL.
	bg, stopBG := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { w.authn.Run(bg) })
	defer func() { stopBG(); wg.Wait() }()
	var jobInval jobs.Invalidator
	if w.inval != nil {
		jobInval = w.inval
	}
	runner := jobs.Start(log, jm,
		jobs.Job{Name: "sessions", Interval: cfg.Jobs.SessionInterval,
			Run: jobs.Sessions(w.store, auditor, jobInval, sessionJobBatch, log)},
		jobs.Job{Name: "partitions", Interval: cfg.Jobs.MaintenanceInterval,
			Run: jobs.Maintenance(func(ctx context.Context) (postgres.MaintenanceResult, error) {
				ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
				defer cancel()
				return postgres.RunMaintenance(ctx, pool, postgres.MaintenanceOptions{Now: time.Now(), Location: cfg.Attendance.TimeZone,
					MonthsAhead: cfg.PartitionMonthsAhead, AuditRetentionMonths: cfg.Jobs.AuditRetentionMonths})
			}, log)},
	)
	defer runner.Stop()

	select {
	case err := <-served:
		if err == nil {
			err = errors.New("listener closed unexpectedly")
		}
		return fmt.Errorf("serve on %s: %w", addr, err)
	case <-ctx.Done():
	}
	if d := cfg.ShutdownDrainDelay; d > 0 {
		// Fail the health endpoints while still serving, so that the
		// gateways' health checks (and any load balancer) take the
		// instance out before its connections close; Connection: close
		// on every response meanwhile moves keep-alive clients elsewhere.
		w.api.Drain()
		log.Info("draining", "delay", d.String())
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case err := <-served:
			t.Stop()
			if err == nil {
				err = errors.New("listener closed unexpectedly")
			}
			return fmt.Errorf("serve on %s: %w", addr, err)
		}
	}
	log.Info("shutting down", "deadline", cfg.ShutdownTimeout.String())
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.ShutdownWithContext(sctx); err != nil {
		return fmt.Errorf("graceful shutdown: requests still in flight after %s", cfg.ShutdownTimeout)
	}
	// ShutdownWithContext skips a listener Serve has not registered yet (a
	// signal right at startup); closing it makes Serve return regardless.
	_ = ln.Close()
	<-served
	log.Info("stopped")
	return nil
}

// stores are the connections the API is built on: the primary pool, the
// read replica (nil: reads go to the primary) and Redis (nil: served
// without it).
type stores struct {
	primary, replica *pgxpool.Pool
	redis            *redis.Client
}

// wiring is the API as serve runs it, with what runs beside it.
type wiring struct {
	api *api.API
	// authn is authentication, with its background jobs.
	authn *authn
	// store is the PostgreSQL store under the cache (the session job).
	store *postgres.Store
	// inval publishes cache invalidations (nil without Redis).
	inval *rediscache.Invalidator
	// instance names this process as the origin of invalidations.
	instance string
}

// buildAPI wires the API the server serves: the campus store on the
// primary pool and replica behind the Redis read-through cache and its
// invalidation (when there is Redis), authentication (newAuthenticator),
// the personal data vault, the QR signer (QR_SIGNING_KEY, or a dev key),
// audit events to rec and metrics on reg. Tests build their API through
// it too, so they serve exactly what serve serves.
func buildAPI(ctx context.Context, cfg config.Serve, db stores, rec audit.Recorder,
	reg *prometheus.Registry, log *slog.Logger, checks []api.Check) (*wiring, error) {
	authn, err := newAuthenticator(ctx, cfg, db.primary, db.redis, rec, reg, log)
	if err != nil {
		return nil, err
	}
	replicaFallbacks := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "campshub_backend_db_replica_fallbacks_total",
		Help: "Reads meant for the read replica that ran on the primary because the replica could not be reached.",
	})
	if err := reg.Register(replicaFallbacks); err != nil {
		return nil, err
	}
	rules := domain.Rules{
		TimeZone:             cfg.Attendance.TimeZone,
		Grace:                cfg.Attendance.GracePeriod,
		Threshold:            domain.Percent(cfg.Attendance.ThresholdHundredths),
		CorrectionWindowDays: cfg.Attendance.CorrectionWindowDays,
	}
	pgStore := postgres.NewStore(db.primary, postgres.StoreOptions{
		Replica:           db.replica,
		Timeout:           cfg.Database.QueryTimeout,
		ReportTimeout:     cfg.Database.ReportTimeout,
		Rules:             rules,
		OnReplicaFallback: replicaFallbacks.Inc,
	})
	w := &wiring{authn: authn, store: pgStore, instance: cfg.InstanceID}
	if w.instance == "" {
		host, _ := os.Hostname()
		w.instance = host + "-" + strconv.Itoa(os.Getpid())
	}
	var store domain.Store = pgStore
	if db.redis != nil {
		cache, err := rediscache.NewClient(db.redis, rediscache.Options{Log: log, Registry: reg})
		if err != nil {
			return nil, err
		}
		store = rediscache.NewStore(pgStore, cache, cfg.CacheTTL)
		w.inval = rediscache.NewInvalidator(cache, w.instance, log)
	}
	key, err := qrSigningKey(cfg, log)
	if err != nil {
		return nil, err
	}
	signer, err := qr.New(key, cfg.Attendance.QRTokenTTL, 5*time.Second, nil)
	if err != nil {
		return nil, err
	}
	deps := api.Deps{
		Store:        store,
		Authn:        authn.Authenticator,
		Audit:        rec,
		QR:           signer,
		Rules:        rules,
		Auth:         authn.Service,
		Vault:        authn.Vault,
		Proxies:      authn.Proxies,
		Security:     authn.Metrics,
		Checks:       checks,
		ReadyTimeout: cfg.ReadyTimeout,
		Logger:       log,
		Registry:     reg,
		IDs:          requestid.NewGenerator(nil),
	}
	if w.inval != nil {
		deps.Invalidator = w.inval
	}
	if w.api, err = api.New(deps); err != nil {
		return nil, err
	}
	return w, nil
}

// checkSchema refuses to serve a database whose schema is not exactly the
// embedded migrations (pending or newer versions).
func checkSchema(ctx context.Context, pool *pgxpool.Pool, timeout time.Duration) error {
	m, err := postgres.NewMigrator(pool)
	if err != nil {
		return err
	}
	defer m.Close()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return m.Check(ctx)
}

// openRedis connects to Redis at url. An unreachable server is logged once
// and tolerated: the readiness check reports it degraded until it answers.
func openRedis(ctx context.Context, url string, timeout time.Duration, log *slog.Logger) (*redis.Client, error) {
	opts, err := redisOptions(url, timeout)
	if err != nil {
		return nil, err
	}
	// go-redis reports pool dial failures through a process-wide logger;
	// route them into ours at debug level (the readiness check reports an
	// unreachable Redis once, at warn).
	redis.SetLogger(redisLogger{log})
	rdb := redis.NewClient(opts)
	pctx, cancel := context.WithTimeout(ctx, opts.DialTimeout)
	defer cancel()
	if err := rdb.Ping(pctx).Err(); err != nil {
		log.Warn("Redis is unreachable; serving without it until it answers", "addr", opts.Addr, "error", err.Error())
	}
	return rdb, nil
}

// redisOptions parses url into client options with every network wait
// bounded by timeout (dialling by at least 500ms) and one retry.
func redisOptions(url string, timeout time.Duration) (*redis.Options, error) {
	opts, err := redis.ParseURL(url)
	if err != nil {
		return nil, errors.New("REDIS_URL is not a valid Redis URL")
	}
	opts.DialTimeout = max(timeout, 500*time.Millisecond)
	opts.ReadTimeout = timeout
	opts.WriteTimeout = timeout
	opts.ContextTimeoutEnabled = true
	opts.MaxRetries = 1
	opts.DialerRetries = 1
	opts.MaintNotificationsConfig = &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
	return opts, nil
}

// stateFile is the JSON written to --runtime-dir while serving.
type stateFile struct {
	PID       int    `json:"pid"`
	Listen    string `json:"listen"`
	StartedAt string `json:"started_at"`
}

// writeStateFile atomically writes dir/backend-<port>.json and returns its
// path.
func writeStateFile(dir, addr string) (string, error) {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", err
	}
	if _, err := strconv.Atoi(port); err != nil {
		return "", fmt.Errorf("listen address %s has no numeric port", addr)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("runtime dir: %w", err)
	}
	body, err := json.Marshal(stateFile{PID: os.Getpid(), Listen: addr, StartedAt: time.Now().UTC().Format(time.RFC3339)})
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, "backend-"+port+".json")
	tmp, err := os.CreateTemp(dir, ".backend-*.tmp")
	if err != nil {
		return "", fmt.Errorf("runtime dir: %w", err)
	}
	if _, err := tmp.Write(append(body, '\n')); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return "", fmt.Errorf("runtime dir: %w", err)
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return "", fmt.Errorf("runtime dir: %w", err)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		os.Remove(tmp.Name())
		return "", fmt.Errorf("runtime dir: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		os.Remove(tmp.Name())
		return "", fmt.Errorf("runtime dir: %w", err)
	}
	return path, nil
}

// redisLogger adapts go-redis's internal logger to slog at debug level.
type redisLogger struct{ l *slog.Logger }

// Printf implements go-redis's internal.Logging.
func (r redisLogger) Printf(ctx context.Context, format string, v ...any) {
	r.l.DebugContext(ctx, "redis client", "detail", fmt.Sprintf(format, v...))
}
