// Package pii keeps personal data encrypted at rest: students' phone
// numbers, dates of birth and addresses, and users' TOTP secrets are
// sealed with the keyring (AES-256-GCM, key id inside each ciphertext)
// with associated data naming the column and the row, so a ciphertext
// cannot be moved to another person. Rotate re-seals, in batches, every
// value sealed under a key other than the primary one, and seals any date
// of birth still stored in clear.
package pii

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/campshub360/edge/backend/internal/keyring"
)

// Contact is a student's personal data. Zero values mean "not on record".
type Contact struct {
	Phone string
	// DateOfBirth is a calendar date (midnight UTC).
	DateOfBirth time.Time
	Address     string
}

// StudentRow is one student's sealed columns as stored. ClearDOB is a date
// of birth still stored in clear (zero when none).
type StudentRow struct {
	ID                  uuid.UUID
	Phone, DOB, Address []byte
	ClearDOB            time.Time
	OldPhone, OldDOB    []byte
	OldAddress          []byte
	HadClearDOB         bool
}

// UserRow is one user's sealed TOTP secret.
type UserRow struct {
	ID                uuid.UUID
	Secret, OldSecret []byte
}

// Store reads and writes sealed columns. Updates are conditional on the
// Old* values still being stored (a concurrent change wins). Safe for
// concurrent use.
type Store interface {
	// StudentPII returns a student's sealed columns; ErrNotFound (domain)
	// when no such student.
	StudentPII(ctx context.Context, id uuid.UUID) (StudentRow, error)
	// SetStudentPII stores sealed columns (nil clears one) and clears the
	// clear-text date of birth.
	SetStudentPII(ctx context.Context, r StudentRow) error
	// StudentPIIBatch returns up to limit students with any sealed or
	// clear personal data and an id after after, in id order.
	StudentPIIBatch(ctx context.Context, after uuid.UUID, limit int) ([]StudentRow, error)
	// UpdateStudentPII stores re-sealed rows and returns how many changed.
	UpdateStudentPII(ctx context.Context, rows []StudentRow) (int, error)
	// MFASecretBatch returns up to limit users with a TOTP secret after after.
	MFASecretBatch(ctx context.Context, after uuid.UUID, limit int) ([]UserRow, error)
	// UpdateMFASecrets stores re-sealed secrets and returns how many changed.
	UpdateMFASecrets(ctx context.Context, rows []UserRow) (int, error)
}

// Column associated data.
func phoneAAD(id uuid.UUID) []byte   { return []byte("students.phone:" + id.String()) }
func dobAAD(id uuid.UUID) []byte     { return []byte("students.date_of_birth:" + id.String()) }
func addressAAD(id uuid.UUID) []byte { return []byte("students.address:" + id.String()) }

// MFAAAD is the associated data of a user's TOTP secret (shared with the
// auth package, which seals it).
func MFAAAD(id uuid.UUID) []byte { return []byte("users.mfa_secret:" + id.String()) }

// Vault seals and opens personal data. Safe for concurrent use.
type Vault struct {
	ring  *keyring.Ring
	store Store
}

// New returns a Vault.
func New(ring *keyring.Ring, store Store) *Vault { return &Vault{ring: ring, store: store} }

// Contact returns a student's personal data, decrypted.
func (v *Vault) Contact(ctx context.Context, student uuid.UUID) (Contact, error) {
	r, err := v.store.StudentPII(ctx, student)
	if err != nil {
		return Contact{}, err
	}
	var c Contact
	if r.Phone != nil {
		b, err := v.ring.Open(r.Phone, phoneAAD(student))
		if err != nil {
			return Contact{}, fmt.Errorf("open phone of student %s: %w", student, err)
		}
		c.Phone = string(b)
	}
	if r.Address != nil {
		b, err := v.ring.Open(r.Address, addressAAD(student))
		if err != nil {
			return Contact{}, fmt.Errorf("open address of student %s: %w", student, err)
		}
		c.Address = string(b)
	}
	switch {
	case r.DOB != nil:
		b, err := v.ring.Open(r.DOB, dobAAD(student))
		if err != nil {
			return Contact{}, fmt.Errorf("open date of birth of student %s: %w", student, err)
		}
		d, err := time.Parse(time.DateOnly, string(b))
		if err != nil {
			return Contact{}, fmt.Errorf("date of birth of student %s: %w", student, err)
		}
		c.DateOfBirth = d
	case !r.ClearDOB.IsZero():
		c.DateOfBirth = r.ClearDOB
	}
	return c, nil
}

// SetContact seals and stores a student's personal data (zero fields are
// cleared).
func (v *Vault) SetContact(ctx context.Context, student uuid.UUID, c Contact) error {
	r, err := v.Seal(student, c)
	if err != nil {
		return err
	}
	return v.store.SetStudentPII(ctx, r)
}

// Seal seals c for the student with id student under the primary key,
// without storing it: the row's Phone, DOB and Address are the
// ciphertexts (nil for zero fields), bound to that student, for a caller
// that writes them in its own transaction (creating or updating the
// student). The id must be the row's final id: a ciphertext opens only
// for the student it was sealed for.
func (v *Vault) Seal(student uuid.UUID, c Contact) (StudentRow, error) {
	r := StudentRow{ID: student}
	var err error
	if c.Phone != "" {
		if r.Phone, err = v.ring.Seal([]byte(c.Phone), phoneAAD(student)); err != nil {
			return StudentRow{}, err
		}
	}
	if c.Address != "" {
		if r.Address, err = v.ring.Seal([]byte(c.Address), addressAAD(student)); err != nil {
			return StudentRow{}, err
		}
	}
	if !c.DateOfBirth.IsZero() {
		if r.DOB, err = v.ring.Seal([]byte(c.DateOfBirth.Format(time.DateOnly)), dobAAD(student)); err != nil {
			return StudentRow{}, err
		}
	}
	return r, nil
}

// RotateResult counts a rotation's work.
type RotateResult struct {
	// Scanned rows, Resealed values (old key or clear text), Failed
	// values that could not be opened (their key is not in the ring).
	Scanned, Resealed, Failed int
}

// ErrUnopenable reports values Rotate could not open; the rest was done.
var ErrUnopenable = errors.New("pii: some values are sealed under keys missing from the keyring")

// Rotate re-seals, batch by batch (each batch one conditional update),
// every sealed value whose key is not the primary, and seals clear-text
// dates of birth. progress, when set, is called after each batch. It can
// be run while the API serves and resumed after an interruption.
func (v *Vault) Rotate(ctx context.Context, batch int, progress func(RotateResult)) (RotateResult, error) {
	if batch <= 0 {
		batch = 500
	}
	var res RotateResult
	reseal := func(ct, aad []byte) ([]byte, bool) {
		if ct == nil || !v.ring.NeedsRotation(ct) {
			return ct, false
		}
		pt, err := v.ring.Open(ct, aad)
		if err != nil {
			res.Failed++
			return ct, false
		}
		out, err := v.ring.Seal(pt, aad)
		if err != nil {
			res.Failed++
			return ct, false
		}
		return out, true
	}
	after := uuid.Nil
	for {
		rows, err := v.store.StudentPIIBatch(ctx, after, batch)
		if err != nil {
			return res, err
		}
		if len(rows) == 0 {
			break
		}
		var changed []StudentRow
		for _, r := range rows {
			res.Scanned++
			r.OldPhone, r.OldDOB, r.OldAddress, r.HadClearDOB = r.Phone, r.DOB, r.Address, !r.ClearDOB.IsZero()
			var c1, c2, c3, c4 bool
			r.Phone, c1 = reseal(r.Phone, phoneAAD(r.ID))
			r.DOB, c2 = reseal(r.DOB, dobAAD(r.ID))
			r.Address, c3 = reseal(r.Address, addressAAD(r.ID))
			if r.HadClearDOB && r.DOB == nil {
				sealed, err := v.ring.Seal([]byte(r.ClearDOB.Format(time.DateOnly)), dobAAD(r.ID))
				if err != nil {
					return res, err
				}
				r.DOB, c4 = sealed, true
			}
			if c1 || c2 || c3 || c4 || r.HadClearDOB {
				changed = append(changed, r)
			}
		}
		if len(changed) > 0 {
			n, err := v.store.UpdateStudentPII(ctx, changed)
			if err != nil {
				return res, err
			}
			res.Resealed += n
		}
		after = rows[len(rows)-1].ID
		if progress != nil {
			progress(res)
		}
	}
	after = uuid.Nil
	for {
		rows, err := v.store.MFASecretBatch(ctx, after, batch)
		if err != nil {
			return res, err
		}
		if len(rows) == 0 {
			break
		}
		var changed []UserRow
		for _, r := range rows {
			res.Scanned++
			r.OldSecret = r.Secret
			var c bool
			if r.Secret, c = reseal(r.Secret, MFAAAD(r.ID)); c {
				changed = append(changed, r)
			}
		}
		if len(changed) > 0 {
			n, err := v.store.UpdateMFASecrets(ctx, changed)
			if err != nil {
				return res, err
			}
			res.Resealed += n
		}
		after = rows[len(rows)-1].ID
		if progress != nil {
			progress(res)
		}
	}
	if res.Failed > 0 {
		return res, ErrUnopenable
	}
	return res, nil
}
