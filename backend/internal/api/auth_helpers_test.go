package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"golang.org/x/crypto/bcrypt"

	"github.com/campshub360/edge/backend/internal/api"
	"github.com/campshub360/edge/backend/internal/auth"
	"github.com/campshub360/edge/backend/internal/keyring"
	"github.com/campshub360/edge/backend/internal/pii"
	"github.com/campshub360/edge/backend/internal/store/postgres"
	"github.com/campshub360/edge/backend/internal/testdb"
)

// clock is a fake clock tests move by hand.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// stack is the API with real authentication on PostgreSQL and Redis.
type stack struct {
	*server
	db      *testdb.DB
	clock   *clock
	store   *postgres.AuthStore
	svc     *auth.Service
	authn   *auth.Authenticator
	deny    *auth.Denylist
	keys    *auth.Keys
	vault   *pii.Vault
	audit   *recorder
	dataKey *keyring.Ring
	rdb     *redis.Client
}

type stackOptions struct {
	redisURL string // "" uses TEST_REDIS_URL; "none" runs without Redis
	lockout  auth.Lockout
	ipLock   auth.Lockout
	stateTTL time.Duration
	cost     int // bcrypt cost (default the minimum)
}

func newStack(t testing.TB, o stackOptions) *stack {
	t.Helper()
	db := testdb.New(t)
	return newStackOn(t, db, o)
}

func newStackOn(t testing.TB, db *testdb.DB, o stackOptions) *stack {
	t.Helper()
	ctx := context.Background()
	ck := &clock{now: time.Now().UTC().Truncate(time.Second)}
	st := &stack{db: db, clock: ck, audit: &recorder{}}
	st.store = postgres.NewAuthStore(db.Pool, 5*time.Second)
	var err error
	k1, _, _ := keyring.Generate("data-1", nil)
	st.dataKey, _ = keyring.New([]keyring.Key{k1}, nil)
	k2, _, _ := keyring.Generate("seal-1", nil)
	seal, _ := keyring.New([]keyring.Key{k2}, nil)
	st.keys, err = auth.NewKeys(ctx, auth.KeysOptions{Store: st.store, Seal: seal, TokenTTL: 15 * time.Minute,
		Leeway: 5 * time.Second, Rotation: 0, PublishDelay: 10 * time.Minute, RefreshInterval: time.Minute, Now: ck.Now})
	if err != nil {
		t.Fatal(err)
	}
	dopts := auth.DenylistOptions{Store: st.store, CacheTTL: o.stateTTL, Now: ck.Now}
	switch o.redisURL {
	case "none":
	default:
		url := o.redisURL
		if url == "" {
			url = testdb.RedisURL(t)
		}
		opts, err := redis.ParseURL(url)
		if err != nil {
			t.Fatal(err)
		}
		opts.MaxRetries = -1
		opts.DialTimeout = 200 * time.Millisecond
		st.rdb = redis.NewClient(opts)
		t.Cleanup(func() { st.rdb.Close() })
		dopts.Redis = st.rdb
		dopts.RedisTimeout = 300 * time.Millisecond
	}
	st.deny, err = auth.NewDenylist(dopts)
	if err != nil {
		t.Fatal(err)
	}
	st.authn, err = auth.NewAuthenticator(auth.AuthenticatorOptions{Keys: st.keys, Issuer: "campshub360", Audience: "campus-api",
		Leeway: 5 * time.Second, Denylist: st.deny, Store: st.store, StateTTL: o.stateTTL, Now: ck.Now})
	if err != nil {
		t.Fatal(err)
	}
	cost := o.cost
	if cost == 0 {
		cost = bcrypt.MinCost
	}
	hasher, _ := auth.NewHasher(cost, 4, time.Minute)
	policy, _ := auth.NewPolicy(12)
	lock := o.lockout
	if lock.Threshold == 0 {
		lock = auth.Lockout{Threshold: 5, Window: 15 * time.Minute, Base: time.Minute, Max: time.Hour}
	}
	ipLock := o.ipLock
	if ipLock.Threshold == 0 {
		ipLock = auth.Lockout{Threshold: 1000, Window: 15 * time.Minute, Base: time.Minute, Max: time.Hour}
	}
	reg := prometheus.NewRegistry()
	metrics, _ := auth.NewMetrics(reg)
	st.svc, err = auth.NewService(auth.Options{Store: st.store, Hasher: hasher, Policy: policy, Keys: st.keys, Denylist: st.deny,
		Authn: st.authn, Seal: st.dataKey, Audit: recorderAdapter{st.audit}, Metrics: metrics, Issuer: "campshub360", Audience: "campus-api",
		AccessTTL: 15 * time.Minute, RefreshTTL: 24 * time.Hour, SessionMaxAge: 72 * time.Hour,
		AccountLockout: lock, IPLockout: ipLock, MFAChallengeTTL: 5 * time.Minute, MFAMaxAttempts: 3, Now: ck.Now})
	if err != nil {
		t.Fatal(err)
	}
	st.vault = pii.New(st.dataKey, postgres.NewPIIStore(db.Pool, 5*time.Second))
	st.server = start(t, api.Deps{
		Store:    postgres.NewStore(db.Pool, postgres.StoreOptions{Timeout: 5 * time.Second}),
		Registry: reg,
		Authn:    st.authn,
		Auth:     st.svc,
		Vault:    st.vault,
		Audit:    recorderAdapter{st.audit},
		Security: metrics,
	})
	return st
}

// user creates an account directly in the database.
func (st *stack) user(t testing.TB, email, role, pw string, mustChange bool) uuid.UUID {
	t.Helper()
	hash, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	var id uuid.UUID
	if err := st.db.Pool.QueryRow(context.Background(), `INSERT INTO users (email, password_hash, role, must_change_password)
		VALUES ($1, $2, $3, $4) RETURNING id`, email, string(hash), role, mustChange).Scan(&id); err != nil {
		t.Fatal(err)
	}
	return id
}

// call sends method path with a JSON body (nil: none) and a bearer token
// ("" none) and decodes a JSON answer into out (when not nil).
func (st *stack) call(t testing.TB, method, path, token string, body any, out any) response {
	t.Helper()
	var rd io.Reader
	if body != nil {
		switch b := body.(type) {
		case string:
			rd = bytes.NewReader([]byte(b))
		case []byte:
			rd = bytes.NewReader(b)
		default:
			raw, _ := json.Marshal(body)
			rd = bytes.NewReader(raw)
		}
	}
	req, err := http.NewRequest(method, st.base+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := st.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	r := response{status: res.StatusCode, header: res.Header, body: raw}
	if out != nil && res.StatusCode < 300 && len(raw) > 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s %s: body %s: %v", method, path, raw, err)
		}
	}
	return r
}

type tokens struct {
	AccessToken            string `json:"access_token"`
	RefreshToken           string `json:"refresh_token"`
	TokenType              string `json:"token_type"`
	ExpiresIn              int    `json:"expires_in"`
	PasswordChangeRequired bool   `json:"password_change_required"`
	MFARequired            bool   `json:"mfa_required"`
	MFAToken               string `json:"mfa_token"`
}

func (st *stack) login(t testing.TB, user, pw string) tokens {
	t.Helper()
	var tk tokens
	r := st.call(t, "POST", "/api/v1/auth/login", "", map[string]string{"username": user, "password": pw}, &tk)
	if r.status != 200 {
		t.Fatalf("login %s: %d %s", user, r.status, r.body)
	}
	return tk
}

// postRaw posts body with the given headers and no default token.
func (st *stack) postRaw(t *testing.T, path, body string, header map[string]string) response {
	t.Helper()
	req, err := http.NewRequest("POST", st.base+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	res, err := st.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	return response{status: res.StatusCode, header: res.Header, body: raw}
}

// scrape returns the API's /metrics text.
func scrape(t *testing.T, s *server) string {
	t.Helper()
	r := s.do(t, "GET", "/metrics", nil)
	return string(r.body)
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// closedPort returns a loopback address nobody listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}
