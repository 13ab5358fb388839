package authn

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/campshub360/edge/shared/token"
)

// KeysOptions configure a Keys source.
type KeysOptions struct {
	// URLs serve the JWK Set (RFC 7517 §5); a fetch tries them in order
	// until one answers 200 (or 304 to a conditional request).
	URLs []string
	// Client performs fetches; nil: a client with Timeout and no
	// redirects.
	Client *http.Client
	// RefreshInterval is the time between fetches after a success.
	RefreshInterval time.Duration
	// MinRefreshInterval is the least time between fetch attempts: the
	// retry delay after a failure and the rate limit of fetches triggered
	// by tokens with an unknown key id.
	MinRefreshInterval time.Duration
	// Timeout bounds one fetch (all URLs).
	Timeout time.Duration
	// Fallback is the pinned key set used until the first successful
	// fetch (nil: none).
	Fallback *token.KeySet
	// Seed is a key set fetched earlier (by the previous configuration
	// generation); it counts as fetched, so it replaces Fallback.
	Seed *token.KeySet
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// Log receives fetch failures and key set changes.
	Log *slog.Logger
	// Metrics records fetches (nil: none).
	Metrics *Metrics
}

// Keys is the gateway's view of the backend's signing keys: a JWK Set
// fetched from URLs in the background every RefreshInterval, refetched
// early (at most once per MinRefreshInterval) when a token names a key id
// the set lacks, kept as it is when a fetch fails (the last good set), and
// seeded from a pinned fallback file until the first fetch succeeds. Safe
// for concurrent use; Close stops the background fetches.
type Keys struct {
	o   KeysOptions
	cur atomic.Pointer[token.KeySet]
	// gen increases when a key id disappears from the set or changes its
	// key: verification results cached under an older generation are
	// void (a removed key may be a revoked one).
	gen atomic.Uint64
	// fetched reports that cur came from a fetch (or Seed), not Fallback.
	fetched atomic.Bool

	mu          sync.Mutex // serializes fetches; guards the fields below
	lastAttempt time.Time
	etag        string
	failing     bool

	stop chan struct{}
	wg   sync.WaitGroup
	once sync.Once
}

// NewKeys returns a ready source (holding Seed or Fallback, possibly
// nothing yet) and starts fetching in the background at once when URLs
// are configured.
func NewKeys(o KeysOptions) *Keys {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Client == nil {
		o.Client = &http.Client{
			Timeout:       o.Timeout,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	k := &Keys{o: o, stop: make(chan struct{})}
	switch {
	case o.Seed != nil:
		k.cur.Store(o.Seed)
		k.fetched.Store(true)
	case o.Fallback != nil:
		k.cur.Store(o.Fallback)
	}
	k.gauge()
	if len(o.URLs) > 0 {
		k.wg.Add(1)
		go k.run()
	}
	return k
}

// Current returns the key set in force, or nil when none was ever loaded.
func (k *Keys) Current() *token.KeySet { return k.cur.Load() }

// Fetched returns the key set in force when it came from a fetch (or
// Seed), nil while only the fallback (or nothing) is loaded.
func (k *Keys) Fetched() *token.KeySet {
	if !k.fetched.Load() {
		return nil
	}
	return k.cur.Load()
}

// Generation returns the key set generation (see Keys.gen).
func (k *Keys) Generation() uint64 { return k.gen.Load() }

func (k *Keys) run() {
	defer k.wg.Done()
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-k.stop:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), k.o.Timeout)
		err := k.Fetch(ctx)
		cancel()
		if err != nil {
			t.Reset(k.o.MinRefreshInterval)
		} else {
			t.Reset(k.o.RefreshInterval)
		}
	}
}

// Fetch fetches the key set now and installs it; on failure the current
// set stays and the error says which URLs failed and why.
func (k *Keys) Fetch(ctx context.Context) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.fetchLocked(ctx)
}

// RefreshUnknown is called when a token names a key id the current set
// lacks: it fetches the set unless a fetch was attempted within
// MinRefreshInterval (a flood of made-up key ids costs at most one fetch
// per interval), and reports whether the set changed, by this call or by
// a fetch that finished while it waited.
func (k *Keys) RefreshUnknown(ctx context.Context) bool {
	if len(k.o.URLs) == 0 {
		return false
	}
	before := k.cur.Load()
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.cur.Load() != before {
		return true
	}
	if k.o.Now().Sub(k.lastAttempt) < k.o.MinRefreshInterval {
		return false
	}
	ctx, cancel := context.WithTimeout(ctx, k.o.Timeout)
	defer cancel()
	return k.fetchLocked(ctx) == nil && k.cur.Load() != before
}

// errNotModified marks a 304 answer to a conditional fetch.
var errNotModified = errors.New("not modified")

func (k *Keys) fetchLocked(ctx context.Context) error {
	k.lastAttempt = k.o.Now()
	var errs []error
	for _, u := range k.o.URLs {
		ks, etag, err := k.get(ctx, u)
		if errors.Is(err, errNotModified) {
			k.count("not_modified")
			k.recovered()
			return nil
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", u, err))
			continue
		}
		k.etag = etag
		k.install(ks, u)
		k.count("success")
		k.recovered()
		if k.o.Metrics != nil {
			k.o.Metrics.JWKSLastSuccess.Set(float64(k.o.Now().UnixNano()) / 1e9)
		}
		return nil
	}
	k.count("failure")
	err := errors.Join(errs...)
	level := slog.LevelWarn
	if k.failing {
		level = slog.LevelDebug
	}
	k.failing = true
	k.o.Log.Log(ctx, level, "JWKS fetch failed; the last good key set stays in use", "error", err.Error(),
		"keys", k.size())
	return err
}

func (k *Keys) recovered() {
	if k.failing {
		k.failing = false
		k.o.Log.Info("JWKS fetch succeeded again")
	}
}

func (k *Keys) size() int {
	if ks := k.cur.Load(); ks != nil {
		return ks.Len()
	}
	return 0
}

func (k *Keys) get(ctx context.Context, u string) (*token.KeySet, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, "", err
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	if k.etag != "" && k.fetched.Load() {
		req.Header.Set("If-None-Match", k.etag)
	}
	resp, err := k.o.Client.Do(req)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusNotModified:
		return nil, "", errNotModified
	default:
		return nil, "", fmt.Errorf("status %d", resp.StatusCode)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, token.MaxJWKSBytes+1))
	if err != nil {
		return nil, "", err
	}
	ks, err := token.ParseJWKS(b)
	if err != nil {
		return nil, "", err
	}
	return ks, resp.Header.Get("ETag"), nil
}

// install makes ks current. An identical set keeps the current pointer
// (nothing changes for cached results); a set that drops or changes a key
// id starts a new generation.
func (k *Keys) install(ks *token.KeySet, from string) {
	old := k.cur.Load()
	k.fetched.Store(true)
	if old != nil && old.Equal(ks) {
		return
	}
	if old != nil && !ks.Covers(old) {
		k.gen.Add(1)
	}
	k.cur.Store(ks)
	k.gauge()
	k.o.Log.Info("JWKS key set updated", "url", from, "kids", ks.KeyIDs())
}

func (k *Keys) gauge() {
	if k.o.Metrics != nil {
		k.o.Metrics.JWKSKeys.Set(float64(k.size()))
	}
}

func (k *Keys) count(result string) {
	if k.o.Metrics != nil {
		k.o.Metrics.JWKSFetches.WithLabelValues(result).Inc()
	}
}

// Close stops the background fetches and waits for the one in progress.
// Safe to call more than once; Current keeps working after Close.
func (k *Keys) Close() {
	k.once.Do(func() { close(k.stop) })
	k.wg.Wait()
}
