package auth

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"sync/atomic"
	"time"

	"github.com/campshub360/edge/shared/token"

	"github.com/campshub360/edge/backend/internal/keyring"
)

// KeysOptions configure Keys.
type KeysOptions struct {
	// Store holds the keys shared by every instance.
	Store Store
	// Seal seals the private keys at rest.
	Seal *keyring.Ring
	// TokenTTL is the access token lifetime: a retired key stays published
	// this long (plus Leeway) after it stopped signing.
	TokenTTL time.Duration
	// Leeway is the clock skew verifiers tolerate.
	Leeway time.Duration
	// Rotation is how often a new key is made (0: only on demand, with
	// Rotate).
	Rotation time.Duration
	// PublishDelay is how long a new key is published before it signs, so
	// every instance and every verifier caching the JWK Set (the gateway)
	// learns it first. It must exceed RefreshInterval and the verifiers'
	// JWK Set refresh interval.
	PublishDelay time.Duration
	// RefreshInterval is how often Run reloads the keys and rotates when due.
	RefreshInterval time.Duration
	// Log receives rotation events.
	Log *slog.Logger
	// Now is the clock; Rand the randomness for new keys (crypto/rand when nil).
	Now  func() time.Time
	Rand io.Reader
}

// signingKey is a usable key.
type signingKey struct {
	kid         string
	public      ed25519.PublicKey
	private     ed25519.PrivateKey // nil when the seal key is gone (verify only)
	activatesAt time.Time
}

// keyState is an immutable snapshot of the keys.
type keyState struct {
	signer *signingKey
	set    *token.KeySet
	jwks   []byte
}

// Keys manages the Ed25519 token signing keys: it loads them from the
// Store, signs with the newest active one, publishes the JWK Set (RFC
// 7517) of every key whose tokens may still be alive or that is about to
// sign, and rotates on schedule with one instance at a time creating the
// next key. Reads are lock-free snapshots; safe for concurrent use.
type Keys struct {
	o     KeysOptions
	state atomic.Pointer[keyState]
}

// NewKeys loads the keys, creating the first one when none can sign, and
// returns a ready Keys. Run keeps it current.
func NewKeys(ctx context.Context, o KeysOptions) (*Keys, error) {
	switch {
	case o.Store == nil || o.Seal == nil:
		return nil, errors.New("auth: keys need a store and a seal keyring")
	case o.TokenTTL <= 0 || o.RefreshInterval <= 0:
		return nil, errors.New("auth: keys need a positive token TTL and refresh interval")
	case o.Rotation > 0 && o.PublishDelay <= o.RefreshInterval:
		return nil, errors.New("auth: the key publish delay must exceed the refresh interval")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Rand == nil {
		o.Rand = rand.Reader
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	k := &Keys{o: o}
	if err := k.Refresh(ctx); err != nil {
		return nil, err
	}
	return k, nil
}

// Signer returns the key to sign with now: its id and private key.
func (k *Keys) Signer() (kid string, key ed25519.PrivateKey) {
	s := k.state.Load().signer
	return s.kid, s.private
}

// Set returns the published public keys, for verification.
func (k *Keys) Set() *token.KeySet { return k.state.Load().set }

// JWKS returns the JWK Set document of the published keys.
func (k *Keys) JWKS() []byte { return k.state.Load().jwks }

// Rotate creates a new key that starts signing after delay (0: at once)
// and reloads. It is the on-demand rotation (`backend keys rotate-signing`).
func (k *Keys) Rotate(ctx context.Context, delay time.Duration) (string, error) {
	var kid string
	err := k.o.Store.AddSigningKey(ctx, func([]SealedSigningKey) (*SealedSigningKey, error) {
		nk, err := k.newKey(k.o.Now().Add(delay))
		if nk != nil {
			kid = nk.KID
		}
		return nk, err
	})
	if err != nil {
		return "", err
	}
	return kid, k.Refresh(ctx)
}

// Refresh reloads the keys; it creates a key when none can sign and, with
// a Rotation period, the next key when the newest is older than it; it
// deletes keys whose tokens have all expired.
func (k *Keys) Refresh(ctx context.Context) error {
	now := k.o.Now()
	stored, err := k.o.Store.SigningKeys(ctx)
	if err != nil {
		return fmt.Errorf("load signing keys: %w", err)
	}
	st, expired := k.build(stored, now)
	if st.signer == nil || k.rotationDue(stored, now) {
		err := k.o.Store.AddSigningKey(ctx, func(current []SealedSigningKey) (*SealedSigningKey, error) {
			if cur, _ := k.build(current, now); cur.signer == nil {
				return k.newKey(now) // nothing can sign: at once
			}
			if k.rotationDue(current, now) {
				return k.newKey(now.Add(k.o.PublishDelay)) // publish first
			}
			return nil, nil // another instance was first
		})
		if err != nil {
			return fmt.Errorf("create signing key: %w", err)
		}
		if stored, err = k.o.Store.SigningKeys(ctx); err != nil {
			return fmt.Errorf("load signing keys: %w", err)
		}
		st, expired = k.build(stored, now)
	}
	if st.signer == nil {
		return errors.New("no signing key can be opened with SIGNING_KEY_SECRETS")
	}
	if prev := k.state.Load(); prev == nil || prev.signer.kid != st.signer.kid {
		k.o.Log.Info("token signing key in use", "kid", st.signer.kid, "published", st.set.Len())
	}
	k.state.Store(st)
	if len(expired) > 0 {
		if err := k.o.Store.DeleteSigningKeys(ctx, expired); err != nil {
			return fmt.Errorf("delete expired signing keys: %w", err)
		}
	}
	return nil
}

// Run refreshes every RefreshInterval until ctx ends, logging failures
// (the last good snapshot keeps serving).
func (k *Keys) Run(ctx context.Context) {
	t := time.NewTicker(k.o.RefreshInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := k.Refresh(ctx); err != nil && ctx.Err() == nil {
				k.o.Log.Error("signing key refresh failed", "error", err.Error())
			}
		}
	}
}

// rotationDue reports whether, with a Rotation period, the newest key is
// older than it and no successor is pending.
func (k *Keys) rotationDue(stored []SealedSigningKey, now time.Time) bool {
	if k.o.Rotation <= 0 || len(stored) == 0 {
		return false
	}
	var newest time.Time
	for _, s := range stored {
		if s.ActivatesAt.After(now) {
			return false // a successor is already published
		}
		if s.CreatedAt.After(newest) {
			newest = s.CreatedAt
		}
	}
	return !now.Before(newest.Add(k.o.Rotation))
}

// newKey generates and seals a key that signs from activatesAt.
func (k *Keys) newKey(activatesAt time.Time) (*SealedSigningKey, error) {
	pub, priv, err := ed25519.GenerateKey(k.o.Rand)
	if err != nil {
		return nil, err
	}
	kid := token.KeyID(pub)
	sealed, err := k.o.Seal.Seal(priv.Seed(), []byte("signing_keys:"+kid))
	if err != nil {
		return nil, err
	}
	return &SealedSigningKey{KID: kid, Public: pub, Sealed: sealed, CreatedAt: k.o.Now(), ActivatesAt: activatesAt}, nil
}

// build makes the snapshot: the signer is the newest key active at now
// that opens; a key is published while pending, while signing, and until
// TokenTTL+Leeway after its successor activated. Keys past that are
// returned as expired.
func (k *Keys) build(stored []SealedSigningKey, now time.Time) (*keyState, []string) {
	sort.Slice(stored, func(i, j int) bool { return stored[i].ActivatesAt.Before(stored[j].ActivatesAt) })
	st := &keyState{}
	pubs := map[string]ed25519.PublicKey{}
	var expired []string
	for i, s := range stored {
		if len(s.Public) != ed25519.PublicKeySize {
			continue
		}
		// The key stopped signing when the next active key activated.
		var retired time.Time
		for _, n := range stored[i+1:] {
			if !n.ActivatesAt.After(now) {
				retired = n.ActivatesAt
				break
			}
		}
		if !retired.IsZero() && now.After(retired.Add(k.o.TokenTTL+k.o.Leeway)) {
			expired = append(expired, s.KID)
			continue
		}
		pubs[s.KID] = ed25519.PublicKey(s.Public)
		if s.ActivatesAt.After(now) {
			continue
		}
		seed, err := k.o.Seal.Open(s.Sealed, []byte("signing_keys:"+s.KID))
		if err != nil || len(seed) != ed25519.SeedSize {
			continue // its seal key was removed: verify only
		}
		st.signer = &signingKey{kid: s.KID, public: ed25519.PublicKey(s.Public), private: ed25519.NewKeyFromSeed(seed), activatesAt: s.ActivatesAt}
	}
	st.set = token.NewKeySet(pubs)
	st.jwks, _ = st.set.MarshalJWKS()
	return st, expired
}
