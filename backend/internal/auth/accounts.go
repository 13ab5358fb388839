package auth

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/campshub360/edge/backend/internal/audit"
	"github.com/campshub360/edge/backend/internal/authz"
)

// AccountsOptions configure Accounts. Store, Hasher, Policy and Denylist
// are required.
type AccountsOptions struct {
	Store    Store
	Hasher   *Hasher
	Policy   *Policy
	Denylist *Denylist
	// Authn, when set, is told to forget cached state of the accounts
	// this instance changes.
	Authn *Authenticator
	// Audit receives the account events (may be nil in tests).
	Audit audit.Recorder
	// Log receives audit recording failures (discarded when nil).
	Log *slog.Logger
	// Now is the clock (time.Now when nil); Rand the randomness of
	// one-time passwords (crypto/rand when nil).
	Now  func() time.Time
	Rand io.Reader
}

// Accounts holds account administration: creating accounts, replacing
// passwords, activating and deactivating, each ending sessions and
// recording audit events as needed. It is the one way accounts are
// written: Service embeds it for the API, and the command line uses it on
// its own to bootstrap an administrator (it needs no token signing keys).
//
// Every method takes the acting Principal; a zero Principal (UserID
// uuid.Nil) is the system itself, recorded as an audit event without an
// actor (audit_events.actor_id NULL). Authorization is the caller's
// business (route declarations in the API). Safe for concurrent use.
type Accounts struct{ o AccountsOptions }

// NewAccounts returns ready account administration.
func NewAccounts(o AccountsOptions) (*Accounts, error) {
	if o.Store == nil || o.Hasher == nil || o.Policy == nil || o.Denylist == nil {
		return nil, errors.New("auth: accounts need a store, hasher, policy and denylist")
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
	return &Accounts{o: o}, nil
}

// MaxEmailLength is the longest accepted e-mail address, in bytes (RFC
// 5321 §4.5.3.1.3 bounds a forward path to 256 octets including the angle
// brackets).
const MaxEmailLength = 254

// CheckEmail returns the e-mail address s as accounts store it (surrounding
// white space removed; the store compares case-insensitively), or a
// *FieldError for field "email" when s is not an address.
func CheckEmail(s string) (string, error) {
	email := strings.TrimSpace(s)
	if !emailRE.MatchString(email) || len(email) > MaxEmailLength {
		return "", &FieldError{Field: "email", Message: "is required and must be an e-mail address"}
	}
	return email, nil
}

// ProvisionInput asks for an account: for a student or faculty member
// (PersonID, role from the kind) or for staff (Role admin, registrar or
// auditor). Email overrides the person's e-mail only when they have none.
type ProvisionInput struct {
	Kind     string // "student", "faculty" or "staff"
	PersonID uuid.UUID
	Email    string
	Role     authz.Role
	// Password, when set, is the account's password, chosen by an
	// operator (the command line): it must pass the policy and need not
	// be changed at first sign-in. Empty (the API): a one-time password is
	// generated.
	Password string
}

// Provision creates an account with a random one-time password (returned
// once, never stored in clear) that must be changed at first sign-in, or
// with in.Password (then "" is returned). Errors: *FieldError for a bad
// e-mail or role, *PolicyError for a refused in.Password, ErrConflict when
// the e-mail is taken or the person already has an account, ErrNotFound
// for an unknown person.
func (s *Accounts) Provision(ctx context.Context, p *authz.Principal, in ProvisionInput, m Meta) (Account, string, error) {
	na := NewAccount{MustChangePassword: in.Password == ""}
	email := strings.TrimSpace(in.Email)
	switch in.Kind {
	case "student", "faculty":
		personEmail, linked, err := s.o.Store.PersonEmail(ctx, in.PersonID, in.Kind == "faculty")
		if err != nil {
			return Account{}, "", err
		}
		if linked {
			return Account{}, "", ErrConflict
		}
		if personEmail != "" {
			if email != "" && !strings.EqualFold(email, personEmail) {
				return Account{}, "", &FieldError{Field: "email", Message: "must be omitted or equal the person's e-mail on record"}
			}
			email = personEmail
		}
		na.Role = authz.RoleStudent
		na.StudentID = in.PersonID
		if in.Kind == "faculty" {
			na.Role, na.StudentID, na.FacultyID = authz.RoleFaculty, uuid.Nil, in.PersonID
		}
	case "staff":
		switch in.Role {
		case authz.RoleAdmin, authz.RoleRegistrar, authz.RoleAuditor:
		default:
			return Account{}, "", &FieldError{Field: "role", Message: "must be admin, registrar or auditor (students and faculty get accounts through their records)"}
		}
		na.Role = in.Role
	default:
		return Account{}, "", fmt.Errorf("auth: unknown account kind %q", in.Kind)
	}
	email, err := CheckEmail(email)
	if err != nil {
		return Account{}, "", err
	}
	na.Email = email
	pw, otpw := in.Password, ""
	if pw != "" {
		if err := s.o.Policy.Check(pw, email); err != nil {
			return Account{}, "", err
		}
	} else if otpw, err = NewOneTimePassword(s.o.Rand); err != nil {
		return Account{}, "", err
	} else {
		pw = otpw
	}
	if na.PasswordHash, err = s.o.Hasher.Hash(ctx, pw); err != nil {
		return Account{}, "", err
	}
	acct, err := s.o.Store.CreateAccount(ctx, na)
	if err != nil {
		return Account{}, "", err
	}
	s.record(ctx, m, p.UserID, "user.provision", "user", acct.ID.String(), map[string]any{"role": acct.Role,
		"student_id": nilIfZero(acct.StudentID), "faculty_id": nilIfZero(acct.FacultyID),
		"must_change_password": na.MustChangePassword})
	return acct, otpw, nil
}

// ResetPassword gives an account a new one-time password (returned once),
// forces a change at next sign-in and ends its sessions (refresh-token
// families revoked, live access tokens denied). ErrNotFound when there is
// no such account.
func (s *Accounts) ResetPassword(ctx context.Context, p *authz.Principal, user uuid.UUID, m Meta) (string, error) {
	acct, err := s.o.Store.AccountByID(ctx, user)
	if err != nil {
		return "", err
	}
	otpw, err := NewOneTimePassword(s.o.Rand)
	if err != nil {
		return "", err
	}
	if err := s.replacePassword(ctx, p, acct, otpw, true, m); err != nil {
		return "", err
	}
	return otpw, nil
}

// ReplacePassword gives an account a password chosen by an operator (the
// command line): it must pass the policy (*PolicyError otherwise) and need
// not be changed at next sign-in. The account's sessions end as with
// ResetPassword. ErrNotFound when there is no such account.
func (s *Accounts) ReplacePassword(ctx context.Context, p *authz.Principal, user uuid.UUID, password string, m Meta) error {
	acct, err := s.o.Store.AccountByID(ctx, user)
	if err != nil {
		return err
	}
	if err := s.o.Policy.Check(password, acct.Email, acct.RollNumber, acct.EmployeeID); err != nil {
		return err
	}
	return s.replacePassword(ctx, p, acct, password, false, m)
}

// replacePassword stores pw's hash (clearing failed sign-ins and locks),
// ends every session of acct and records user.password_reset.
func (s *Accounts) replacePassword(ctx context.Context, p *authz.Principal, acct Account, pw string, mustChange bool, m Meta) error {
	hash, err := s.o.Hasher.Hash(ctx, pw)
	if err != nil {
		return err
	}
	if err := s.o.Store.SetPassword(ctx, acct.ID, hash, mustChange, s.o.Now()); err != nil {
		return err
	}
	n, err := s.revokeAll(ctx, acct.ID, uuid.Nil, "password_change")
	if err != nil {
		return err
	}
	s.forget(acct.ID, "")
	s.record(ctx, m, p.UserID, "user.password_reset", "user", acct.ID.String(),
		map[string]any{"must_change_password": mustChange, "revoked_access_tokens": n})
	return nil
}

// SetActive activates or deactivates an account; deactivation ends its
// sessions at once. An administrator cannot deactivate themselves.
func (s *Accounts) SetActive(ctx context.Context, p *authz.Principal, user uuid.UUID, active bool, m Meta) error {
	if user == p.UserID && !active {
		return &FieldError{Field: "active", Message: "you cannot deactivate your own account"}
	}
	if err := s.o.Store.SetActive(ctx, user, active); err != nil {
		return err
	}
	if !active {
		if _, err := s.revokeAll(ctx, user, uuid.Nil, "deactivated"); err != nil {
			return err
		}
	}
	s.forget(user, "")
	action := "user.activate"
	if !active {
		action = "user.deactivate"
	}
	s.record(ctx, m, p.UserID, action, "user", user.String(), nil)
	return nil
}

// revokeAll revokes the user's families but keep and denies their access
// tokens; it returns the number of access tokens denied.
func (s *Accounts) revokeAll(ctx context.Context, user, keep uuid.UUID, reason string) (int, error) {
	denied, err := s.o.Store.RevokeSessions(ctx, user, keep, reason, s.o.Now())
	if err != nil {
		return 0, err
	}
	if err := s.o.Denylist.Revoke(ctx, denied); err != nil {
		return 0, err
	}
	return len(denied), nil
}

func (s *Accounts) forget(user uuid.UUID, prefix string) {
	if s.o.Authn != nil {
		s.o.Authn.Forget(user, prefix)
	}
}

// record writes an audit event; failures are logged (the Recorder also
// logs the event itself) and never fail the use case.
func (s *Accounts) record(ctx context.Context, m Meta, actor uuid.UUID, action, entity, id string, after map[string]any) {
	if s.o.Audit == nil {
		return
	}
	var raw json.RawMessage
	if after != nil {
		raw, _ = json.Marshal(after)
	}
	err := s.o.Audit.Record(ctx, audit.Event{At: s.o.Now(), ActorID: actor, Action: action, Entity: entity,
		EntityID: id, After: raw, IP: m.IP, RequestID: clipStr(m.RequestID, 64)})
	if err != nil {
		s.o.Log.Warn("audit event not queued", "action", action, "error", err.Error())
	}
}
