package api_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/uuid"
)

// studentDoc is a student detail answer.
type studentDoc struct {
	ID         string `json:"id"`
	RollNumber string `json:"roll_number"`
	Contact    *struct {
		Phone       *string `json:"phone"`
		DateOfBirth *string `json:"date_of_birth"`
		Address     *string `json:"address"`
	} `json:"contact"`
}

func orNull(p *string) string {
	if p == nil {
		return "<null>"
	}
	return *p
}

// TestStudentPersonalDataSealedAndShownToWhomItMayConcern writes a
// student's phone, date of birth and address through the API and checks
// they are sealed at rest (never in clear, never in the audit trail),
// shown decrypted to administrators, registrars and the student, and to
// nobody else (faculty, lists).
func TestStudentPersonalDataSealedAndShownToWhomItMayConcern(t *testing.T) {
	t.Parallel()
	db := seededDB(t, 40)
	st := newStackOn(t, db, stackOptions{})
	ctx := context.Background()
	st.user(t, "registrar@staff.example", "registrar", goodPassword, false)
	reg := st.login(t, "registrar@staff.example", goodPassword).AccessToken

	var program string
	if err := db.Pool.QueryRow(ctx, `SELECT code FROM programs ORDER BY code LIMIT 1`).Scan(&program); err != nil {
		t.Fatal(err)
	}
	create := map[string]any{"roll_number": "PII2026A001", "first_name": "Meera", "last_name": "Iyer",
		"email": "meera.iyer@students.example", "program": program, "year_of_study": 1, "section": "A",
		"phone": "+91 98450 12345", "date_of_birth": "2007-08-15", "address": "4 Residency Road, Bengaluru"}

	// Bad personal data is a 400 naming each field; nothing is written.
	bad := map[string]any{}
	for k, v := range create {
		bad[k] = v
	}
	bad["phone"], bad["date_of_birth"], bad["address"] = "call me", "2999-01-01", " "
	r := st.call(t, "POST", "/api/v1/students", reg, bad, nil)
	if r.status != 400 || !strings.Contains(string(r.body), `"field":"phone"`) || !strings.Contains(string(r.body), `"field":"date_of_birth"`) {
		t.Fatalf("bad personal data: %d %s", r.status, r.body)
	}
	var n int
	_ = db.Pool.QueryRow(ctx, `SELECT count(*) FROM students WHERE roll_number = 'PII2026A001'`).Scan(&n)
	if n != 0 {
		t.Fatal("a student was written despite the 400")
	}

	var created studentDoc
	r = st.call(t, "POST", "/api/v1/students", reg, create, &created)
	if r.status != 201 || created.Contact == nil || orNull(created.Contact.Phone) != "+91 98450 12345" ||
		orNull(created.Contact.DateOfBirth) != "2007-08-15" || orNull(created.Contact.Address) != "4 Residency Road, Bengaluru" {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	id := uuid.MustParse(created.ID)

	// At rest: ciphertexts only, the clear date of birth column unused.
	var phone, dob, addr []byte
	var clearDOB *string
	if err := db.Pool.QueryRow(ctx, `SELECT phone_ciphertext, date_of_birth_ciphertext, address_ciphertext, date_of_birth::text
		FROM students WHERE id = $1`, id).Scan(&phone, &dob, &addr, &clearDOB); err != nil {
		t.Fatal(err)
	}
	raw := string(phone) + string(dob) + string(addr)
	if phone == nil || dob == nil || addr == nil || clearDOB != nil || strings.Contains(raw, "98450") ||
		strings.Contains(raw, "2007") || strings.Contains(raw, "Residency") {
		t.Fatalf("personal data at rest: clear dob %v, ciphertexts %q", clearDOB, raw)
	}

	// Registrar: decrypted, and not cacheable.
	var got studentDoc
	r = st.call(t, "GET", "/api/v1/students/"+id.String(), reg, nil, &got)
	if r.status != 200 || got.Contact == nil || orNull(got.Contact.Phone) != "+91 98450 12345" ||
		r.header.Get("Cache-Control") != "private, no-store" || r.header.Get("ETag") != "" {
		t.Fatalf("registrar read: %d %v %s", r.status, r.header, r.body)
	}
	// Lists never carry it.
	r = st.call(t, "GET", "/api/v1/students?q=PII2026A001", reg, nil, nil)
	if r.status != 200 || !strings.Contains(string(r.body), "PII2026A001") || strings.Contains(string(r.body), "98450") ||
		strings.Contains(string(r.body), "contact") {
		t.Fatalf("list: %d %s", r.status, r.body)
	}

	// A faculty member teaching the student sees the academic fields only.
	var section uuid.UUID
	if err := db.Pool.QueryRow(ctx, `SELECT id FROM sections ORDER BY id LIMIT 1`).Scan(&section); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Pool.Exec(ctx, `INSERT INTO enrollments (student_id, section_id) VALUES ($1, $2)`, id, section); err != nil {
		t.Fatal(err)
	}
	fid := st.user(t, "teacher@staff.example", "faculty", goodPassword, false)
	if _, err := db.Pool.Exec(ctx, `UPDATE faculty SET user_id = $1 WHERE id = (SELECT faculty_id FROM sections WHERE id = $2)`, fid, section); err != nil {
		t.Fatal(err)
	}
	fac := st.login(t, "teacher@staff.example", goodPassword).AccessToken
	got = studentDoc{}
	r = st.call(t, "GET", "/api/v1/students/"+id.String(), fac, nil, &got)
	if r.status != 200 || got.Contact != nil || strings.Contains(string(r.body), "98450") || r.header.Get("Cache-Control") != "private, no-cache" {
		t.Fatalf("faculty read: %d %v %s", r.status, r.header, r.body)
	}

	// The student themself, once signed in with their own password; before
	// that, only the password change is served.
	var prov struct {
		OneTimePassword string `json:"one_time_password"`
	}
	if r := st.call(t, "POST", "/api/v1/students/"+id.String()+"/account", reg, nil, &prov); r.status != 201 {
		t.Fatalf("provision: %d %s", r.status, r.body)
	}
	first := st.login(t, "PII2026A001", prov.OneTimePassword).AccessToken
	for _, path := range []string{"/api/v1/students/" + id.String(), "/api/v1/me/timetable", "/api/v1/me/attendance"} {
		if r := st.call(t, "GET", path, first, nil, nil); r.status != 403 || problemType(t, r) != "password-change-required" {
			t.Fatalf("%s before the password change: %d %s", path, r.status, r.body)
		}
	}
	if r := st.call(t, "POST", "/api/v1/auth/password", first, map[string]string{"current_password": prov.OneTimePassword,
		"new_password": "a passphrase of her own"}, nil); r.status != 204 {
		t.Fatalf("password change: %d %s", r.status, r.body)
	}
	self := st.login(t, "PII2026A001", "a passphrase of her own").AccessToken
	got = studentDoc{}
	r = st.call(t, "GET", "/api/v1/students/"+id.String(), self, nil, &got)
	if r.status != 200 || got.Contact == nil || orNull(got.Contact.Address) != "4 Residency Road, Bengaluru" {
		t.Fatalf("self read: %d %s", r.status, r.body)
	}

	// PATCH: null clears one field, others stay; a new date of birth
	// replaces the sealed one; the audit trail names fields, not values.
	var patched studentDoc
	r = st.call(t, "PATCH", "/api/v1/students/"+id.String(), reg, map[string]any{"phone": nil, "date_of_birth": "2007-08-16"}, &patched)
	if r.status != 200 || patched.Contact == nil || patched.Contact.Phone != nil || orNull(patched.Contact.DateOfBirth) != "2007-08-16" ||
		orNull(patched.Contact.Address) != "4 Residency Road, Bengaluru" {
		t.Fatalf("patch: %d %s", r.status, r.body)
	}
	for _, ev := range st.audit.find("student.update") {
		if strings.Contains(string(ev.After), "2007") || strings.Contains(string(ev.Before), "98450") ||
			!strings.Contains(string(ev.After), `"personal_data_written":["phone","date_of_birth"]`) {
			t.Fatalf("audit event: before %s after %s", ev.Before, ev.After)
		}
	}
	if len(st.audit.find("student.update")) != 1 || len(st.audit.find("student.create")) != 1 ||
		strings.Contains(string(st.audit.find("student.create")[0].After), "98450") {
		t.Fatalf("audit events: %v", st.audit.actions())
	}

	// A seeded student's clear date of birth (the seed writes it) is shown
	// until it is sealed; writing a new one clears the clear column.
	var seeded uuid.UUID
	if err := db.Pool.QueryRow(ctx, `SELECT id FROM students WHERE date_of_birth IS NOT NULL AND date_of_birth_ciphertext IS NULL
		ORDER BY roll_number LIMIT 1`).Scan(&seeded); err != nil {
		t.Fatal(err)
	}
	got = studentDoc{}
	r = st.call(t, "GET", "/api/v1/students/"+seeded.String(), reg, nil, &got)
	if r.status != 200 || got.Contact == nil || got.Contact.DateOfBirth == nil {
		t.Fatalf("seeded student: %d %s", r.status, r.body)
	}
	if r := st.call(t, "PATCH", "/api/v1/students/"+seeded.String(), reg, map[string]any{"address": "Hostel 3"}, nil); r.status != 200 {
		t.Fatalf("patch address: %d %s", r.status, r.body)
	}
	_ = db.Pool.QueryRow(ctx, `SELECT date_of_birth::text FROM students WHERE id = $1`, seeded).Scan(&clearDOB)
	if clearDOB == nil {
		t.Fatal("an address change cleared the date of birth")
	}
	if r := st.call(t, "PATCH", "/api/v1/students/"+seeded.String(), reg, map[string]any{"date_of_birth": "2006-01-02"}, nil); r.status != 200 {
		t.Fatalf("patch date of birth: %d %s", r.status, r.body)
	}
	_ = db.Pool.QueryRow(ctx, `SELECT date_of_birth::text FROM students WHERE id = $1`, seeded).Scan(&clearDOB)
	if clearDOB != nil {
		t.Fatalf("clear date of birth %s kept beside the sealed one", *clearDOB)
	}

	// Bulk import seals each row under its own id.
	imp := map[string]any{"students": []map[string]any{
		{"roll_number": "PII2026A002", "first_name": "Arjun", "last_name": "Rao", "program": program, "year_of_study": 1, "section": "B",
			"phone": "080 2345 6789"},
		{"roll_number": "PII2026A003", "first_name": "Divya", "last_name": "Nair", "program": program, "year_of_study": 1, "section": "B"},
	}}
	if r := st.call(t, "POST", "/api/v1/students/import", reg, imp, nil); r.status != 201 {
		t.Fatalf("import: %d %s", r.status, r.body)
	}
	var imported uuid.UUID
	_ = db.Pool.QueryRow(ctx, `SELECT id FROM students WHERE roll_number = 'PII2026A002'`).Scan(&imported)
	c, err := st.vault.Contact(ctx, imported)
	if err != nil || c.Phone != "080 2345 6789" {
		t.Fatalf("imported contact: %+v %v", c, err)
	}
	var body json.RawMessage
	if r := st.call(t, "POST", "/api/v1/students/import", reg, map[string]any{"students": []map[string]any{
		{"roll_number": "PII2026A004", "first_name": "X", "last_name": "Y", "program": program, "year_of_study": 9, "section": "B", "phone": "x"},
	}}, &body); r.status != 400 || !strings.Contains(string(r.body), `students[0].phone`) || !strings.Contains(string(r.body), `students[0].year_of_study`) {
		t.Fatalf("bad import row: %d %s", r.status, r.body)
	}
}
