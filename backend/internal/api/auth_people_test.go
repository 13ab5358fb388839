package api_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/campshub360/edge/backend/internal/keyring"
	"github.com/campshub360/edge/backend/internal/pii"
	"github.com/campshub360/edge/backend/internal/seed"
	"github.com/campshub360/edge/backend/internal/store/postgres"
	"github.com/campshub360/edge/backend/internal/testdb"
)

func seededDB(t testing.TB, students int) *testdb.DB {
	t.Helper()
	db := testdb.New(t)
	loc, _ := time.LoadLocation(seed.DefaultTimeZone)
	c, err := seed.Generate(seed.Options{Students: students, Weeks: 1, Seed: 7, Now: time.Now(), Location: loc})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := seed.Load(context.Background(), db.Pool, c, 1); err != nil {
		t.Fatal(err)
	}
	return db
}

func TestProvisionStudentRollNumberLoginAndPersonalData(t *testing.T) {
	t.Parallel()
	db := seededDB(t, 40)
	st := newStackOn(t, db, stackOptions{})
	st.user(t, "registrar@staff.example", "registrar", goodPassword, false)
	reg := st.login(t, "registrar@staff.example", goodPassword)
	ctx := context.Background()
	var studentID uuid.UUID
	var roll, email string
	if err := db.Pool.QueryRow(ctx, `SELECT id, roll_number, email::text FROM students WHERE email IS NOT NULL ORDER BY roll_number LIMIT 1`).Scan(&studentID, &roll, &email); err != nil {
		t.Fatal(err)
	}
	var prov struct {
		Email           string `json:"email"`
		Role            string `json:"role"`
		OneTimePassword string `json:"one_time_password"`
	}
	if r := st.call(t, "POST", "/api/v1/students/"+studentID.String()+"/account", reg.AccessToken, nil, &prov); r.status != 201 || prov.Role != "student" || prov.Email != email {
		t.Fatalf("provision: %d %s", r.status, r.body)
	}
	if r := st.call(t, "POST", "/api/v1/students/"+studentID.String()+"/account", reg.AccessToken, nil, nil); r.status != 409 {
		t.Fatalf("second provision: %d", r.status)
	}
	if r := st.call(t, "POST", "/api/v1/students/"+uuid.NewString()+"/account", reg.AccessToken, nil, nil); r.status != 404 {
		t.Fatalf("unknown student: %d", r.status)
	}
	// The roll number signs in, case-insensitively.
	tk := st.login(t, strings.ToLower(roll), prov.OneTimePassword)
	if !tk.PasswordChangeRequired {
		t.Fatal("provisioned account not forced to change its password")
	}
	if r := st.call(t, "POST", "/api/v1/auth/password", tk.AccessToken, map[string]string{"current_password": prov.OneTimePassword, "new_password": "my own long passphrase"}, nil); r.status != 204 {
		t.Fatalf("change: %d %s", r.status, r.body)
	}

	// Personal data is sealed at rest and shown to the student only.
	dob := time.Date(2005, 3, 14, 0, 0, 0, 0, time.UTC)
	if err := st.vault.SetContact(ctx, studentID, pii.Contact{Phone: "+91 98765 43210", DateOfBirth: dob, Address: "12 MG Road, Pune"}); err != nil {
		t.Fatal(err)
	}
	var raw []byte
	if err := db.Pool.QueryRow(ctx, `SELECT phone_ciphertext || address_ciphertext || date_of_birth_ciphertext FROM students WHERE id = $1`, studentID).Scan(&raw); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(raw), "98765") || strings.Contains(string(raw), "MG Road") || strings.Contains(string(raw), "2005") {
		t.Fatal("personal data stored in clear")
	}
	var me struct {
		StudentID  string `json:"student_id"`
		RollNumber string `json:"roll_number"`
		Contact    struct {
			Phone       string `json:"phone"`
			DateOfBirth string `json:"date_of_birth"`
			Address     string `json:"address"`
		} `json:"contact"`
	}
	if r := st.call(t, "GET", "/api/v1/me", tk.AccessToken, nil, &me); r.status != 200 || me.Contact.Phone != "+91 98765 43210" ||
		me.Contact.DateOfBirth != "2005-03-14" || me.RollNumber != roll || me.StudentID != studentID.String() {
		t.Fatalf("me: %d %s", r.status, r.body)
	}
	if r := st.call(t, "GET", "/api/v1/me", reg.AccessToken, nil, nil); strings.Contains(string(r.body), "contact") {
		t.Fatalf("staff profile has contact data: %s", r.body)
	}
}

func TestPIIRotationReSealsInBatches(t *testing.T) {
	t.Parallel()
	db := seededDB(t, 60)
	ctx := context.Background()
	k1, _, _ := keyring.Generate("k1", nil)
	k2, _, _ := keyring.Generate("k2", nil)
	old, _ := keyring.New([]keyring.Key{k1}, nil)
	store := postgres.NewPIIStore(db.Pool, 5*time.Second)
	v1 := pii.New(old, store)

	// The seed writes dates of birth in clear; a first rotation seals them.
	var clear int
	if err := db.Pool.QueryRow(ctx, `SELECT count(*) FROM students WHERE date_of_birth IS NOT NULL`).Scan(&clear); err != nil || clear == 0 {
		t.Fatalf("seed without clear dates of birth (%d, %v)", clear, err)
	}
	var ids []uuid.UUID
	rows, _ := db.Pool.Query(ctx, `SELECT id FROM students ORDER BY id LIMIT 5`)
	for rows.Next() {
		var id uuid.UUID
		_ = rows.Scan(&id)
		ids = append(ids, id)
	}
	rows.Close()
	res, err := v1.Rotate(ctx, 7, nil)
	if err != nil || res.Resealed != clear {
		t.Fatalf("first rotation: %+v %v (clear %d)", res, err, clear)
	}
	for _, id := range ids {
		if err := v1.SetContact(ctx, id, pii.Contact{Phone: "+91 90000 0000" + id.String()[:1], Address: "Hostel " + id.String()[:4]}); err != nil {
			t.Fatal(err)
		}
	}
	before, err := v1.Contact(ctx, ids[0])
	if err != nil {
		t.Fatal(err)
	}
	// Rotate to k2 (k1 kept for reading): every value moves to k2.
	both, _ := keyring.New([]keyring.Key{k2, k1}, nil)
	v2 := pii.New(both, store)
	batches := 0
	res, err = v2.Rotate(ctx, 7, func(pii.RotateResult) { batches++ })
	if err != nil || res.Resealed == 0 || batches < 2 {
		t.Fatalf("rotation: %+v %v batches %d", res, err, batches)
	}
	if res, err := v2.Rotate(ctx, 7, nil); err != nil || res.Resealed != 0 {
		t.Fatalf("second rotation did work: %+v %v", res, err)
	}
	rows, _ = db.Pool.Query(ctx, `SELECT phone_ciphertext, date_of_birth_ciphertext FROM students WHERE date_of_birth_ciphertext IS NOT NULL`)
	for rows.Next() {
		var phone, dob []byte
		_ = rows.Scan(&phone, &dob)
		for _, ct := range [][]byte{phone, dob} {
			if ct == nil {
				continue
			}
			if kid, _ := keyring.KeyID(ct); kid != "k2" {
				t.Fatalf("value still under %s", kid)
			}
		}
	}
	rows.Close()
	// Without k1 the data still opens: it all moved.
	only2, _ := keyring.New([]keyring.Key{k2}, nil)
	after, err := pii.New(only2, store).Contact(ctx, ids[0])
	if err != nil || after != before {
		t.Fatalf("after rotation: %+v %v, want %+v", after, err, before)
	}
	// A ciphertext moved to another student does not open there.
	if _, err := db.Pool.Exec(ctx, `UPDATE students SET phone_ciphertext = (SELECT phone_ciphertext FROM students WHERE id = $1) WHERE id = $2`, ids[0], ids[1]); err != nil {
		t.Fatal(err)
	}
	if _, err := pii.New(only2, store).Contact(ctx, ids[1]); err == nil {
		t.Fatal("a ciphertext copied to another row opened")
	}
}
