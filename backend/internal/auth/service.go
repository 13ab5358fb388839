package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/campshub360/edge/shared/token"
	"github.com/google/uuid"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/campshub360/edge/backend/internal/audit"
	"github.com/campshub360/edge/backend/internal/authz"
	"github.com/campshub360/edge/backend/internal/keyring"
	"github.com/campshub360/edge/backend/internal/pii"
)

// Options configure a Service. Every field is required unless noted.
type Options struct {
	Store    Store
	Hasher   *Hasher
	Policy   *Policy
	Keys     *Keys
	Denylist *Denylist
	// Authn is told to forget cached state when this instance changes it.
	Authn *Authenticator
	// Seal seals TOTP secrets.
	Seal *keyring.Ring
	// Audit receives security events (may be nil in tests).
	Audit audit.Recorder
	// Metrics counts security events (may be nil).
	Metrics *Metrics
	// Log receives audit recording failures.
	Log *slog.Logger
	// Issuer and Audience go into access tokens.
	Issuer, Audience string
	// AccessTTL is the access token lifetime (e.g. 15m).
	AccessTTL time.Duration
	// RefreshTTL is the idle lifetime of a refresh token (each rotation
	// starts a new one), bounded by SessionMaxAge from sign-in.
	RefreshTTL    time.Duration
	SessionMaxAge time.Duration
	// AccountLockout applies to account names, IPLockout to client
	// addresses.
	AccountLockout, IPLockout Lockout
	// MFAChallengeTTL bounds the second sign-in step; MFAMaxAttempts the
	// codes tried against one challenge.
	MFAChallengeTTL time.Duration
	MFAMaxAttempts  int
	// TOTPIssuer names the service in authenticator apps.
	TOTPIssuer string
	// Now is the clock; Rand the randomness (crypto/rand when nil).
	Now  func() time.Time
	Rand io.Reader
}

// Service holds the authentication use cases, account administration
// (Accounts) included. Safe for concurrent use.
type Service struct {
	o Options
	*Accounts
}

// NewService returns a Service.
func NewService(o Options) (*Service, error) {
	if o.Store == nil || o.Hasher == nil || o.Policy == nil || o.Keys == nil || o.Denylist == nil || o.Seal == nil {
		return nil, errors.New("auth: service needs a store, hasher, policy, keys, denylist and seal keyring")
	}
	if o.AccessTTL <= 0 || o.RefreshTTL <= 0 || o.SessionMaxAge <= 0 || o.MFAChallengeTTL <= 0 || o.MFAMaxAttempts <= 0 {
		return nil, errors.New("auth: service lifetimes and MFA attempts must be positive")
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
	if o.TOTPIssuer == "" {
		o.TOTPIssuer = "CampsHub360"
	}
	accts, err := NewAccounts(AccountsOptions{Store: o.Store, Hasher: o.Hasher, Policy: o.Policy, Denylist: o.Denylist,
		Authn: o.Authn, Audit: o.Audit, Log: o.Log, Now: o.Now, Rand: o.Rand})
	if err != nil {
		return nil, err
	}
	return &Service{o: o, Accounts: accts}, nil
}

// Policy returns the password policy.
func (s *Service) Policy() *Policy { return s.o.Policy }

// JWKS returns the JWK Set document of the token signing keys.
func (s *Service) JWKS() []byte { return s.o.Keys.JWKS() }

// Meta describes the request behind a use case, for lockout and audit.
type Meta struct {
	IP        netip.Addr
	UserAgent string
	RequestID string
}

// TokenPair is what a successful sign-in or refresh returns.
type TokenPair struct {
	AccessToken  string
	RefreshToken string
	// ExpiresIn is the access token lifetime.
	ExpiresIn time.Duration
	// PasswordChangeRequired: the account signed in with a one-time
	// password and must set its own before anything else.
	PasswordChangeRequired bool
}

// LoginResult is a sign-in's answer: tokens, or an MFA challenge.
type LoginResult struct {
	Tokens *TokenPair
	// MFAToken is the challenge to redeem with a code (when MFA is on).
	MFAToken     string
	MFAExpiresIn time.Duration
}

// loginRE accepts an e-mail address or a roll number (never anything that
// could be confused with both).
var (
	emailRE = regexp.MustCompile(`^[^@\s\x00-\x1f\x7f]{1,64}@[^@\s\x00-\x1f\x7f]{1,255}$`)
	rollRE  = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9/-]{2,31}$`)
)

// normalizeLogin returns the canonical form of a user name (trimmed;
// roll numbers upper-cased; e-mail compared case-insensitively by the
// store) and whether it has the shape of one.
func normalizeLogin(s string) (string, bool) {
	s = strings.TrimSpace(s)
	switch {
	case strings.Contains(s, "@"):
		return strings.ToLower(s), emailRE.MatchString(s)
	case rollRE.MatchString(s):
		return strings.ToUpper(s), true
	}
	return s, false
}

// Login checks a user name (e-mail or roll number) and password. It
// answers ErrInvalidCredentials for any wrong or unknown combination,
// *LockedError while the name or the client address is locked out, and
// takes the same time whether or not the account exists. With MFA on, the
// result is a challenge for LoginMFA instead of tokens.
func (s *Service) Login(ctx context.Context, username, password string, m Meta) (LoginResult, error) {
	now := s.o.Now()
	login, wellFormed := normalizeLogin(username)
	ipKey, nameKey := throttleIPKey(m.IP), "name:"+digestHex(login)
	counters, err := s.o.Store.Throttles(ctx, ipKey, nameKey)
	if err != nil {
		return LoginResult{}, err
	}
	if locked, retry := s.o.IPLockout.Locked(counters[0], now); locked {
		s.o.Metrics.Inc(EventLoginLocked)
		return LoginResult{}, &LockedError{RetryAfter: retry}
	}
	var acct Account
	known := false
	if wellFormed {
		acct, err = s.o.Store.AccountByLogin(ctx, login)
		switch {
		case err == nil:
			known = true
		case !errors.Is(err, ErrNotFound):
			return LoginResult{}, err
		}
	}
	nameCounter := counters[1]
	if known {
		nameCounter = acct.Failures
	}
	if locked, retry := s.o.AccountLockout.Locked(nameCounter, now); locked {
		s.o.Metrics.Inc(EventLoginLocked)
		return LoginResult{}, &LockedError{RetryAfter: retry}
	}
	var hash []byte
	if known {
		hash = acct.PasswordHash
	}
	ok, stale, err := s.o.Hasher.Compare(ctx, hash, password)
	if err != nil {
		return LoginResult{}, err
	}
	if !ok || !acct.Active {
		if err := s.recordFailure(ctx, acct, known, nameKey, ipKey, now, m, "auth.login_failed"); err != nil {
			return LoginResult{}, err
		}
		return LoginResult{}, ErrInvalidCredentials
	}
	var rehash []byte
	if stale {
		if rehash, err = s.o.Hasher.Hash(ctx, password); err != nil {
			rehash = nil // the old hash still works; upgrade next time
		}
	}
	if err := s.o.Store.RecordLogin(ctx, acct.ID, now, rehash); err != nil {
		return LoginResult{}, err
	}
	if acct.MFAEnabled {
		tok, hash, err := s.opaque("mfa_")
		if err != nil {
			return LoginResult{}, err
		}
		if err := s.o.Store.CreateChallenge(ctx, hash, acct.ID, now.Add(s.o.MFAChallengeTTL)); err != nil {
			return LoginResult{}, err
		}
		s.o.Metrics.Inc(EventMFAChallenge)
		s.record(ctx, m, acct.ID, "auth.mfa_challenge", "user", acct.ID.String(), nil)
		return LoginResult{MFAToken: tok, MFAExpiresIn: s.o.MFAChallengeTTL}, nil
	}
	pair, err := s.startSession(ctx, acct, false, m)
	if err != nil {
		return LoginResult{}, err
	}
	s.o.Metrics.Inc(EventLoginSuccess)
	s.record(ctx, m, acct.ID, "auth.login", "user", acct.ID.String(), map[string]any{"mfa": false})
	return LoginResult{Tokens: &pair}, nil
}

// recordFailure counts a failed attempt against the client address and
// the account (or, for unknown names, the name), audits it and counts a
// lockout when this failure started one.
func (s *Service) recordFailure(ctx context.Context, acct Account, known bool, nameKey, ipKey string, now time.Time, m Meta, action string) error {
	s.o.Metrics.Inc(EventLoginFailure)
	if ipKey != "" {
		if _, err := s.o.Store.UpdateThrottle(ctx, ipKey, func(c Counter) Counter { return s.o.IPLockout.Fail(c, now) }); err != nil {
			return err
		}
	}
	var after Counter
	var err error
	entity, id := "login_name", strings.TrimPrefix(nameKey, "name:")
	if known {
		entity, id = "user", acct.ID.String()
		after, err = s.o.Store.UpdateAccountFailures(ctx, acct.ID, func(c Counter) Counter { return s.o.AccountLockout.Fail(c, now) })
	} else {
		after, err = s.o.Store.UpdateThrottle(ctx, nameKey, func(c Counter) Counter { return s.o.AccountLockout.Fail(c, now) })
	}
	if err != nil {
		return err
	}
	var actor uuid.UUID
	if known {
		actor = acct.ID
	}
	s.record(ctx, m, actor, action, entity, id, map[string]any{"failures": after.Failures})
	// Sign-in is refused while locked, so a failure that leaves the counter
	// locked is the one that started the lock.
	if locked, retry := s.o.AccountLockout.Locked(after, now); locked {
		s.o.Metrics.Inc(EventLockout)
		s.record(ctx, m, actor, "auth.lockout", entity, id, map[string]any{"seconds": int(retry.Seconds())})
	}
	return nil
}

// LoginMFA redeems an MFA challenge with a TOTP code (6 digits) or an
// unused recovery code and returns tokens. Wrong codes count against the
// challenge (MFAMaxAttempts) and the account's lockout.
func (s *Service) LoginMFA(ctx context.Context, challenge, code string, m Meta) (TokenPair, error) {
	now := s.o.Now()
	if !validOpaque(challenge, "mfa_") {
		s.o.Metrics.Inc(EventMFAFailure)
		return TokenPair{}, ErrInvalidCredentials
	}
	hash := sha256.Sum256([]byte(challenge))
	var acct Account
	var lockErr error
	uid, err := s.o.Store.UseChallenge(ctx, hash, now, s.o.MFAMaxAttempts, func(uid uuid.UUID) (bool, error) {
		a, err := s.o.Store.AccountByID(ctx, uid)
		if err != nil {
			return false, err
		}
		acct = a
		if locked, retry := s.o.AccountLockout.Locked(a.Failures, now); locked {
			lockErr = &LockedError{RetryAfter: retry}
			return false, lockErr
		}
		if !a.Active || !a.MFAEnabled {
			return false, nil
		}
		return s.checkSecondFactor(ctx, a, code, now)
	})
	if lockErr != nil {
		s.o.Metrics.Inc(EventLoginLocked)
		return TokenPair{}, lockErr
	}
	if errors.Is(err, ErrInvalidCredentials) {
		s.o.Metrics.Inc(EventMFAFailure)
		if acct.ID != uuid.Nil {
			if ferr := s.recordFailure(ctx, acct, true, "", throttleIPKey(m.IP), now, m, "auth.mfa_failed"); ferr != nil {
				return TokenPair{}, ferr
			}
		}
		return TokenPair{}, ErrInvalidCredentials
	}
	if err != nil {
		return TokenPair{}, err
	}
	if acct.ID != uid {
		return TokenPair{}, ErrInvalidCredentials
	}
	pair, err := s.startSession(ctx, acct, true, m)
	if err != nil {
		return TokenPair{}, err
	}
	s.o.Metrics.Inc(EventLoginSuccess)
	s.record(ctx, m, acct.ID, "auth.login", "user", acct.ID.String(), map[string]any{"mfa": true})
	return pair, nil
}

// totpOpts are the RFC 6238 parameters every authenticator app uses.
var totpOpts = totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}

// checkSecondFactor checks a TOTP code (one step of skew each way, each
// step accepted once) or a recovery code (used once).
func (s *Service) checkSecondFactor(ctx context.Context, a Account, code string, now time.Time) (bool, error) {
	code = strings.TrimSpace(code)
	if isDigits(code, 6) {
		secret, err := s.o.Seal.Open(a.MFASecretSealed, mfaAAD(a.ID))
		if err != nil {
			return false, fmt.Errorf("open MFA secret: %w", err)
		}
		step, ok := matchTOTP(string(secret), code, now)
		if !ok {
			return false, nil
		}
		return s.o.Store.AcceptTOTPStep(ctx, a.ID, step)
	}
	norm, ok := normalizeRecoveryCode(code)
	if !ok {
		return false, nil
	}
	return s.o.Store.UseRecoveryCode(ctx, a.ID, sha256.Sum256([]byte(norm)), now)
}

// matchTOTP returns the time step whose code equals code, within one step
// of now.
func matchTOTP(secret, code string, now time.Time) (int64, bool) {
	for _, skew := range []int64{0, -1, 1} {
		at := now.Add(time.Duration(skew) * 30 * time.Second)
		want, err := totp.GenerateCodeCustom(secret, at, totpOpts)
		if err != nil {
			return 0, false
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 {
			return at.Unix() / 30, true
		}
	}
	return 0, false
}

func isDigits(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// startSession creates a family and issues its first pair.
func (s *Service) startSession(ctx context.Context, a Account, mfa bool, m Meta) (TokenPair, error) {
	now := s.o.Now()
	access, jti, exp, err := s.sign(a.ID, a.Role)
	if err != nil {
		return TokenPair{}, err
	}
	refresh, hash, err := s.opaque("rt_")
	if err != nil {
		return TokenPair{}, err
	}
	sess := Session{ID: uuid.New(), UserID: a.ID, CreatedAt: now, LastUsedAt: now,
		ExpiresAt: now.Add(s.o.SessionMaxAge), MFA: mfa, UserAgent: printableOnly(clipStr(m.UserAgent, 256)), IP: m.IP}
	rec := RefreshRecord{Hash: hash, ExpiresAt: minTime(now.Add(s.o.RefreshTTL), sess.ExpiresAt), AccessJTI: jti, AccessExpiresAt: exp}
	if err := s.o.Store.CreateSession(ctx, sess, rec); err != nil {
		return TokenPair{}, err
	}
	return TokenPair{AccessToken: access, RefreshToken: refresh, ExpiresIn: s.o.AccessTTL,
		PasswordChangeRequired: a.MustChangePassword}, nil
}

// sign issues an access token for user with role.
func (s *Service) sign(user uuid.UUID, role authz.Role) (tok, jti string, exp time.Time, err error) {
	var raw [16]byte
	if _, err := io.ReadFull(s.o.Rand, raw[:]); err != nil {
		return "", "", time.Time{}, err
	}
	jti = base64.RawURLEncoding.EncodeToString(raw[:])
	kid, key := s.o.Keys.Signer()
	signer := token.Signer{KeyID: kid, Key: key, Issuer: s.o.Issuer, Audience: s.o.Audience, TTL: s.o.AccessTTL, Now: s.o.Now}
	tok, exp, err = signer.Sign(user.String(), string(role), jti)
	return tok, jti, exp, err
}

// opaque returns a new opaque token "<tag>" + 43 base64url characters (256
// random bits) and its SHA-256.
func (s *Service) opaque(tag string) (string, [32]byte, error) {
	var raw [32]byte
	if _, err := io.ReadFull(s.o.Rand, raw[:]); err != nil {
		return "", [32]byte{}, err
	}
	tok := tag + base64.RawURLEncoding.EncodeToString(raw[:])
	return tok, sha256.Sum256([]byte(tok)), nil
}

var opaqueBody = regexp.MustCompile(`^[A-Za-z0-9_-]{43}$`)

func validOpaque(tok, tag string) bool {
	body, ok := strings.CutPrefix(tok, tag)
	return ok && opaqueBody.MatchString(body)
}

// Refresh rotates a refresh token: it returns a new pair and retires the
// presented token. A token presented a second time revokes its whole
// family, denies the family's live access tokens, and answers
// ErrRefreshReuse; anything else invalid answers ErrInvalidCredentials.
func (s *Service) Refresh(ctx context.Context, refresh string, m Meta) (TokenPair, error) {
	now := s.o.Now()
	if !validOpaque(refresh, "rt_") {
		s.o.Metrics.Inc(EventRefreshFailure)
		return TokenPair{}, ErrInvalidCredentials
	}
	var pair TokenPair
	out, err := s.o.Store.RotateRefresh(ctx, sha256.Sum256([]byte(refresh)), now, func(sess Session, st State) (RefreshRecord, error) {
		access, jti, exp, err := s.sign(st.UserID, st.Role)
		if err != nil {
			return RefreshRecord{}, err
		}
		next, hash, err := s.opaque("rt_")
		if err != nil {
			return RefreshRecord{}, err
		}
		pair = TokenPair{AccessToken: access, RefreshToken: next, ExpiresIn: s.o.AccessTTL, PasswordChangeRequired: st.MustChangePassword}
		return RefreshRecord{Hash: hash, ExpiresAt: minTime(now.Add(s.o.RefreshTTL), sess.ExpiresAt), AccessJTI: jti, AccessExpiresAt: exp}, nil
	})
	if errors.Is(err, ErrInvalidCredentials) {
		s.o.Metrics.Inc(EventRefreshFailure)
		return TokenPair{}, err
	}
	if err != nil {
		return TokenPair{}, err
	}
	if out.Reused {
		s.o.Metrics.Inc(EventRefreshReuse)
		s.record(ctx, m, out.Session.UserID, "auth.refresh_reuse", "auth_session", out.Session.ID.String(),
			map[string]any{"revoked_access_tokens": len(out.Denied)})
		if err := s.o.Denylist.Revoke(ctx, out.Denied); err != nil {
			return TokenPair{}, err
		}
		return TokenPair{}, ErrRefreshReuse
	}
	s.o.Metrics.Inc(EventRefresh)
	return pair, nil
}

// Logout revokes the caller's session (its refresh-token family and its
// access tokens, the presented one included).
func (s *Service) Logout(ctx context.Context, p *authz.Principal, m Meta) error {
	if p.TokenID == "" {
		return ErrNotUserSession
	}
	now := s.o.Now()
	sid, err := s.o.Store.SessionOfAccessToken(ctx, p.TokenID)
	if err != nil {
		return err
	}
	denied, err := s.o.Store.RevokeSession(ctx, p.UserID, sid, "logout", now)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return err
	}
	if err := s.o.Denylist.Revoke(ctx, denied); err != nil {
		return err
	}
	s.o.Metrics.Inc(EventLogout)
	s.record(ctx, m, p.UserID, "auth.logout", "auth_session", sid.String(), nil)
	return nil
}

// LogoutAll revokes every session of the caller and returns how many.
func (s *Service) LogoutAll(ctx context.Context, p *authz.Principal, m Meta) (int, error) {
	if p.TokenID == "" {
		return 0, ErrNotUserSession
	}
	n, err := s.revokeAll(ctx, p.UserID, uuid.Nil, "logout_all")
	if err != nil {
		return 0, err
	}
	// The presented token is denied even if its family was already gone.
	if err := s.o.Denylist.Revoke(ctx, []Revoked{{JTI: p.TokenID, UserID: p.UserID, ExpiresAt: s.o.Now().Add(s.o.AccessTTL)}}); err != nil {
		return 0, err
	}
	s.o.Metrics.Inc(EventLogout)
	s.record(ctx, m, p.UserID, "auth.logout_all", "user", p.UserID.String(), map[string]any{"sessions": n})
	return n, nil
}

// SessionView is a signed-in device as shown to its user.
type SessionView struct {
	Session
	// Current marks the session of the calling access token.
	Current bool
}

// Sessions lists the caller's signed-in devices.
func (s *Service) Sessions(ctx context.Context, p *authz.Principal) ([]SessionView, error) {
	list, err := s.o.Store.Sessions(ctx, p.UserID, s.o.Now())
	if err != nil {
		return nil, err
	}
	var current uuid.UUID
	if p.TokenID != "" {
		current, err = s.o.Store.SessionOfAccessToken(ctx, p.TokenID)
		if err != nil && !errors.Is(err, ErrNotFound) {
			return nil, err
		}
	}
	out := make([]SessionView, len(list))
	for i, ss := range list {
		out[i] = SessionView{Session: ss, Current: ss.ID == current}
	}
	return out, nil
}

// Me returns the caller's account.
func (s *Service) Me(ctx context.Context, p *authz.Principal) (Account, error) {
	return s.o.Store.AccountByID(ctx, p.UserID)
}

// reauthenticate confirms that the caller of a sensitive account change
// still knows the password: p must be a user session (ErrNotUserSession
// otherwise), the account must not be locked out (*LockedError), and a
// wrong password counts towards lockout, is audited as failAction and
// returns ErrPasswordMismatch. It returns the account and the time of the
// check.
func (s *Service) reauthenticate(ctx context.Context, p *authz.Principal, password string, m Meta, failAction string) (Account, time.Time, error) {
	if p.TokenID == "" {
		return Account{}, time.Time{}, ErrNotUserSession
	}
	now := s.o.Now()
	acct, err := s.o.Store.AccountByID(ctx, p.UserID)
	if err != nil {
		return Account{}, time.Time{}, err
	}
	if locked, retry := s.o.AccountLockout.Locked(acct.Failures, now); locked {
		return Account{}, time.Time{}, &LockedError{RetryAfter: retry}
	}
	ok, _, err := s.o.Hasher.Compare(ctx, acct.PasswordHash, password)
	if err != nil {
		return Account{}, time.Time{}, err
	}
	if !ok {
		if err := s.recordFailure(ctx, acct, true, "", "", now, m, failAction); err != nil {
			return Account{}, time.Time{}, err
		}
		return Account{}, time.Time{}, ErrPasswordMismatch
	}
	return acct, now, nil
}

// ChangePassword replaces the caller's password after checking the
// current one (a wrong one counts towards lockout): the new one must pass
// the policy and differ from the current one. Every other session of the
// caller is revoked; the current one stays signed in.
func (s *Service) ChangePassword(ctx context.Context, p *authz.Principal, current, next string, m Meta) error {
	acct, now, err := s.reauthenticate(ctx, p, current, m, "auth.password_change_failed")
	if err != nil {
		return err
	}
	if err := s.o.Policy.Check(next, acct.Email, acct.RollNumber, acct.EmployeeID); err != nil {
		return err
	}
	if same, _, err := s.o.Hasher.Compare(ctx, acct.PasswordHash, next); err != nil {
		return err
	} else if same {
		return &PolicyError{Reasons: []string{"must differ from the current password"}}
	}
	hash, err := s.o.Hasher.Hash(ctx, next)
	if err != nil {
		return err
	}
	if err := s.o.Store.SetPassword(ctx, acct.ID, hash, false, now); err != nil {
		return err
	}
	keep, err := s.o.Store.SessionOfAccessToken(ctx, p.TokenID)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return err
	}
	if _, err := s.revokeAll(ctx, acct.ID, keep, "password_change"); err != nil {
		return err
	}
	s.forget(acct.ID, "")
	s.o.Metrics.Inc(EventPasswordChanged)
	s.record(ctx, m, acct.ID, "auth.password_change", "user", acct.ID.String(), nil)
	return nil
}

// MFAEnrollment is a new TOTP secret, shown once.
type MFAEnrollment struct {
	// Secret is the base32 secret; URL the otpauth:// URI for QR codes.
	Secret, URL string
}

// mfaAAD binds a sealed TOTP secret to its user (the rotation job in
// package pii re-seals it with the same associated data).
func mfaAAD(user uuid.UUID) []byte { return pii.MFAAAD(user) }

// EnrollMFA creates a pending TOTP secret for the caller (replacing a
// pending one); it becomes active with VerifyMFA. ErrConflict when MFA is
// already on.
func (s *Service) EnrollMFA(ctx context.Context, p *authz.Principal, m Meta) (MFAEnrollment, error) {
	if p.TokenID == "" {
		return MFAEnrollment{}, ErrNotUserSession
	}
	acct, err := s.o.Store.AccountByID(ctx, p.UserID)
	if err != nil {
		return MFAEnrollment{}, err
	}
	if acct.MFAEnabled {
		return MFAEnrollment{}, ErrConflict
	}
	key, err := totp.Generate(totp.GenerateOpts{Issuer: s.o.TOTPIssuer, AccountName: acct.Email,
		Period: 30, SecretSize: 20, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1, Rand: s.o.Rand})
	if err != nil {
		return MFAEnrollment{}, err
	}
	sealed, err := s.o.Seal.Seal([]byte(key.Secret()), mfaAAD(acct.ID))
	if err != nil {
		return MFAEnrollment{}, err
	}
	if err := s.o.Store.SetPendingMFA(ctx, acct.ID, sealed); err != nil {
		return MFAEnrollment{}, err
	}
	s.record(ctx, m, acct.ID, "auth.mfa_enroll", "user", acct.ID.String(), nil)
	return MFAEnrollment{Secret: key.Secret(), URL: key.URL()}, nil
}

// VerifyMFA turns MFA on with a code from the pending secret and returns
// ten recovery codes, shown once. Other sessions are revoked.
func (s *Service) VerifyMFA(ctx context.Context, p *authz.Principal, code string, m Meta) ([]string, error) {
	if p.TokenID == "" {
		return nil, ErrNotUserSession
	}
	acct, err := s.o.Store.AccountByID(ctx, p.UserID)
	if err != nil {
		return nil, err
	}
	if acct.MFAEnabled || acct.MFASecretSealed == nil {
		return nil, ErrConflict
	}
	secret, err := s.o.Seal.Open(acct.MFASecretSealed, mfaAAD(acct.ID))
	if err != nil {
		return nil, fmt.Errorf("open MFA secret: %w", err)
	}
	step, ok := matchTOTP(string(secret), strings.TrimSpace(code), s.o.Now())
	if !ok {
		s.o.Metrics.Inc(EventMFAFailure)
		return nil, &FieldError{Field: "code", Message: "does not match the authenticator app; check the device clock and try the current code"}
	}
	codes, hashes, err := s.recoveryCodes()
	if err != nil {
		return nil, err
	}
	if err := s.o.Store.EnableMFA(ctx, acct.ID, step, hashes); err != nil {
		return nil, err
	}
	keep, _ := s.o.Store.SessionOfAccessToken(ctx, p.TokenID)
	if _, err := s.revokeAll(ctx, acct.ID, keep, "mfa_change"); err != nil {
		return nil, err
	}
	s.record(ctx, m, acct.ID, "auth.mfa_enable", "user", acct.ID.String(), nil)
	return codes, nil
}

// DisableMFA turns MFA off after checking the caller's password.
func (s *Service) DisableMFA(ctx context.Context, p *authz.Principal, password string, m Meta) error {
	acct, _, err := s.reauthenticate(ctx, p, password, m, "auth.mfa_disable_failed")
	if err != nil {
		return err
	}
	if !acct.MFAEnabled && acct.MFASecretSealed == nil {
		return ErrConflict
	}
	if err := s.o.Store.DisableMFA(ctx, acct.ID); err != nil {
		return err
	}
	s.record(ctx, m, acct.ID, "auth.mfa_disable", "user", acct.ID.String(), nil)
	return nil
}

var recoveryEnc = base32.StdEncoding.WithPadding(base32.NoPadding)

// recoveryCodes makes ten codes of 80 random bits, "abcd-efgh-ijkl-mnop".
func (s *Service) recoveryCodes() ([]string, [][32]byte, error) {
	codes := make([]string, 10)
	hashes := make([][32]byte, 10)
	for i := range codes {
		var raw [10]byte
		if _, err := io.ReadFull(s.o.Rand, raw[:]); err != nil {
			return nil, nil, err
		}
		c := strings.ToLower(recoveryEnc.EncodeToString(raw[:])) // 16 characters
		codes[i] = c[0:4] + "-" + c[4:8] + "-" + c[8:12] + "-" + c[12:16]
		hashes[i] = sha256.Sum256([]byte(c))
	}
	return codes, hashes, nil
}

// normalizeRecoveryCode strips dashes and spaces and lower-cases.
func normalizeRecoveryCode(s string) (string, bool) {
	s = strings.ToLower(strings.NewReplacer("-", "", " ", "").Replace(s))
	if len(s) != 16 {
		return "", false
	}
	if _, err := recoveryEnc.DecodeString(strings.ToUpper(s)); err != nil {
		return "", false
	}
	return s, true
}

// APIKeyInput asks for a key.
type APIKeyInput struct {
	Name      string
	Scopes    []string
	ExpiresIn time.Duration
}

// MaxAPIKeyLifetime bounds ExpiresIn.
const MaxAPIKeyLifetime = 730 * 24 * time.Hour

// CreateAPIKey creates a key owned by the caller (a user session only)
// with scopes over resources (the first path segments API keys may use);
// the whole key is returned once.
func (s *Service) CreateAPIKey(ctx context.Context, p *authz.Principal, in APIKeyInput, resources map[string]bool, m Meta) (APIKey, string, error) {
	if p.TokenID == "" {
		return APIKey{}, "", ErrNotUserSession
	}
	name := strings.TrimSpace(in.Name)
	if name == "" || len(name) > 100 || !printable(name) {
		return APIKey{}, "", &FieldError{Field: "name", Message: "is required: at most 100 printable characters"}
	}
	if err := checkScopes(in.Scopes, resources); err != nil {
		return APIKey{}, "", err
	}
	if in.ExpiresIn <= 0 || in.ExpiresIn > MaxAPIKeyLifetime {
		return APIKey{}, "", &FieldError{Field: "expires_in_days", Message: "must be from 1 to 730"}
	}
	prefix, key, hash, err := NewAPIKey(s.o.Rand)
	if err != nil {
		return APIKey{}, "", err
	}
	now := s.o.Now()
	k := APIKey{ID: uuid.New(), OwnerID: p.UserID, Name: name, Prefix: prefix, SecretHash: hash,
		Scopes: dedupe(in.Scopes), CreatedAt: now, ExpiresAt: now.Add(in.ExpiresIn)}
	if err := s.o.Store.CreateAPIKey(ctx, k); err != nil {
		return APIKey{}, "", err
	}
	s.record(ctx, m, p.UserID, "api_key.create", "api_key", k.ID.String(), map[string]any{"prefix": prefix, "scopes": k.Scopes})
	return k, key, nil
}

// APIKeys lists the caller's keys (an administrator sees every key).
func (s *Service) APIKeys(ctx context.Context, p *authz.Principal) ([]APIKey, error) {
	owner := p.UserID
	if p.Role == authz.RoleAdmin {
		owner = uuid.Nil
	}
	return s.o.Store.APIKeys(ctx, owner)
}

// RevokeAPIKey revokes a key of the caller (an administrator: any key).
func (s *Service) RevokeAPIKey(ctx context.Context, p *authz.Principal, id uuid.UUID, m Meta) error {
	owner := p.UserID
	if p.Role == authz.RoleAdmin {
		owner = uuid.Nil
	}
	if err := s.o.Store.RevokeAPIKey(ctx, id, owner, s.o.Now()); err != nil {
		return err
	}
	if s.o.Authn != nil {
		s.o.Authn.forgetKey(id)
	}
	s.record(ctx, m, p.UserID, "api_key.revoke", "api_key", id.String(), nil)
	return nil
}

// printable reports whether s is valid UTF-8 without control characters.
func printable(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return false
		}
	}
	return true
}

// printableOnly drops invalid UTF-8 and control characters (for values
// stored from headers, such as User-Agent).
func printableOnly(s string) string {
	if printable(s) {
		return s
	}
	return strings.Map(func(r rune) rune {
		if r == utf8.RuneError || unicode.IsControl(r) {
			return -1
		}
		return r
	}, s)
}

func throttleIPKey(ip netip.Addr) string {
	if !ip.IsValid() {
		return ""
	}
	return "ip:" + ip.String()
}

// digestHex is the first 32 hex digits of SHA-256(s): a name key that
// does not store what was typed (which may be a mistyped password).
func digestHex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:16])
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func nilIfZero(id uuid.UUID) any {
	if id == uuid.Nil {
		return nil
	}
	return id.String()
}

func dedupe(ss []string) []string {
	seen := map[string]bool{}
	out := make([]string, 0, len(ss))
	for _, s := range ss {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}
