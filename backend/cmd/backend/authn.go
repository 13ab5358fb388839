package main

import (
	"context"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/campshub360/edge/backend/internal/audit"
	"github.com/campshub360/edge/backend/internal/auth"
	"github.com/campshub360/edge/backend/internal/config"
	"github.com/campshub360/edge/backend/internal/keyring"
	"github.com/campshub360/edge/backend/internal/pii"
	"github.com/campshub360/edge/backend/internal/store/postgres"
)

// authn is authentication as the server runs it: the Authenticator every
// non-public route goes through, the use cases behind /auth, /me, /users
// and /api-keys, the personal data vault, and their background jobs.
type authn struct {
	Authenticator *auth.Authenticator
	Service       *auth.Service
	Vault         *pii.Vault
	Proxies       *auth.Proxies
	Metrics       *auth.Metrics

	keys     *auth.Keys
	denylist *auth.Denylist
	store    *postgres.AuthStore
	log      *slog.Logger
}

// Timing constants of authentication that are not configuration.
const (
	leeway          = 10 * time.Second // clock skew between instances
	mfaChallengeTTL = 5 * time.Minute
	mfaMaxAttempts  = 5
	hashWait        = 5 * time.Second // longest wait for a bcrypt slot
	cleanupInterval = time.Hour
	cleanupAge      = 24 * time.Hour
)

// newAuthenticator builds authentication from the configuration: the two
// keyrings (from the environment, or generated under the runtime dir in
// --dev), the signing keys in PostgreSQL (created on first start), the
// denylist on Redis (rdb may be nil) and PostgreSQL, and the service. rec
// receives security events. Run starts its background jobs.
func newAuthenticator(ctx context.Context, cfg config.Serve, pool *pgxpool.Pool, rdb *redis.Client,
	rec audit.Recorder, reg prometheus.Registerer, log *slog.Logger) (*authn, error) {
	a := cfg.Auth
	dataRing, err := loadRing(a.EncryptionKeys, cfg.Dev, cfg.RuntimeDir, devEncryptionFile, log)
	if err != nil {
		return nil, fmt.Errorf("ENCRYPTION_KEYS: %w", err)
	}
	sealRing, err := loadRing(a.SigningKeySecrets, cfg.Dev, cfg.RuntimeDir, devSigningFile, log)
	if err != nil {
		return nil, fmt.Errorf("SIGNING_KEY_SECRETS: %w", err)
	}
	proxies, err := auth.ParseProxies(a.TrustedProxies)
	if err != nil {
		return nil, fmt.Errorf("TRUSTED_PROXIES: %w", err)
	}
	metrics, err := auth.NewMetrics(reg)
	if err != nil {
		return nil, err
	}
	store := postgres.NewAuthStore(pool, cfg.Database.QueryTimeout)
	keys, err := auth.NewKeys(ctx, auth.KeysOptions{Store: store, Seal: sealRing, TokenTTL: a.AccessTTL, Leeway: leeway,
		Rotation: a.KeyRotation, PublishDelay: a.KeyPublishDelay, RefreshInterval: a.KeyRefresh, Log: log})
	if err != nil {
		return nil, fmt.Errorf("token signing keys: %w", err)
	}
	dopts := auth.DenylistOptions{Store: store, CacheTTL: a.StateCacheTTL, Log: log,
		OnFallback: func() { metrics.Inc(auth.EventDenylistFallback) }}
	if rdb != nil {
		dopts.Redis = rdb
	}
	deny, err := auth.NewDenylist(dopts)
	if err != nil {
		return nil, err
	}
	authr, err := auth.NewAuthenticator(auth.AuthenticatorOptions{Keys: keys, Issuer: a.Issuer, Audience: a.Audience,
		Leeway: leeway, Denylist: deny, Store: store, StateTTL: a.StateCacheTTL, Metrics: metrics,
		QueryTimeout: cfg.Database.QueryTimeout})
	if err != nil {
		return nil, err
	}
	hasher, err := auth.NewHasher(a.BcryptCost, max(1, runtime.GOMAXPROCS(0)), hashWait)
	if err != nil {
		return nil, err
	}
	policy, err := auth.NewPolicy(a.PasswordMinLength)
	if err != nil {
		return nil, err
	}
	svc, err := auth.NewService(auth.Options{Store: store, Hasher: hasher, Policy: policy, Keys: keys, Denylist: deny,
		Authn: authr, Seal: dataRing, Audit: rec, Metrics: metrics, Log: log, Issuer: a.Issuer, Audience: a.Audience,
		AccessTTL: a.AccessTTL, RefreshTTL: a.RefreshTTL, SessionMaxAge: a.SessionMaxAge,
		AccountLockout: a.AccountLockout, IPLockout: a.IPLockout,
		MFAChallengeTTL: mfaChallengeTTL, MFAMaxAttempts: mfaMaxAttempts})
	if err != nil {
		return nil, err
	}
	return &authn{Authenticator: authr, Service: svc, Vault: pii.New(dataRing, postgres.NewPIIStore(pool, cfg.Database.QueryTimeout)),
		Proxies: proxies, Metrics: metrics, keys: keys, denylist: deny, store: store, log: log}, nil
}

// Run runs the background jobs until ctx ends: signing key refresh and
// rotation, denylist refill of Redis, and hourly removal of expired
// sessions, tokens and counters.
func (a *authn) Run(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Go(func() { a.keys.Run(ctx) })
	wg.Go(func() { a.denylist.Run(ctx) })
	wg.Go(func() {
		t := time.NewTicker(cleanupInterval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if n, err := a.store.Cleanup(ctx, time.Now().Add(-cleanupAge)); err != nil && ctx.Err() == nil {
					a.log.Error("auth cleanup failed", "error", err.Error())
				} else if n > 0 {
					a.log.Debug("auth cleanup", "rows", n)
				}
			}
		}
	})
	wg.Wait()
}

// rings returns the two keyrings for maintenance commands.
func rings(getenv func(string) string, dev bool, runtimeDir string, log *slog.Logger) (data, seal *keyring.Ring, err error) {
	enc, sig, err := config.LoadSecrets(getenv, dev)
	if err != nil {
		return nil, nil, err
	}
	if data, err = loadRing(enc, dev, runtimeDir, devEncryptionFile, log); err != nil {
		return nil, nil, fmt.Errorf("ENCRYPTION_KEYS: %w", err)
	}
	if seal, err = loadRing(sig, dev, runtimeDir, devSigningFile, log); err != nil {
		return nil, nil, fmt.Errorf("SIGNING_KEY_SECRETS: %w", err)
	}
	return data, seal, nil
}
