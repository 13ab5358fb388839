package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/campshub360/edge/backend/internal/domain"
)

// studentColumns are the columns of a student view, in scanStudent order.
const studentColumns = `s.id, s.roll_number, s.first_name, s.last_name, coalesce(s.email::text, ''), coalesce(s.gender, ''),
	d.code, p.code, s.year_of_study, s.section, s.status, s.created_at, s.updated_at`

const studentFrom = ` FROM students s
	JOIN departments d ON d.id = s.department_id
	JOIN programs p ON p.id = s.program_id`

func scanStudent(row pgx.Row) (domain.Student, error) {
	var (
		st             domain.Student
		year           int16
		status, gender string
	)
	err := row.Scan(&st.ID, &st.RollNumber, &st.FirstName, &st.LastName, &st.Email, &gender,
		&st.Department, &st.Program, &year, &st.Section, &status, &st.CreatedAt, &st.UpdatedAt)
	st.YearOfStudy = int(year)
	st.Status = domain.StudentStatus(status)
	st.Gender = domain.Gender(gender)
	return st, err
}

// scopeStudents restricts a query over students s to sc: a faculty member
// sees the students ENROLLED in their sections, a student themselves.
func scopeStudents(b *builder, sc domain.Scope) {
	switch sc.Kind {
	case domain.ScopeFaculty:
		b.w(`EXISTS (SELECT 1 FROM enrollments e JOIN sections sec ON sec.id = e.section_id
			WHERE e.student_id = s.id AND e.status = 'ENROLLED' AND sec.faculty_id = ?)`, sc.ID)
	case domain.ScopeStudent:
		b.w("s.id = ?", sc.ID)
	}
}

// likePattern escapes LIKE wildcards in q and wraps it in %...%, lower-cased.
func likePattern(q string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return "%" + r.Replace(strings.ToLower(q)) + "%"
}

// ListStudents implements domain.StudentStore with keyset pagination in
// roll number order: it reads Limit+1 rows from the index matching the
// filters (department, year, program/year/section, or the trigram index
// for q), so it knows whether another page follows without counting.
func (s *Store) ListStudents(ctx context.Context, sc domain.Scope, q domain.StudentQuery) (domain.Page[domain.Student], error) {
	if err := q.Validate(); err != nil {
		return domain.Page[domain.Student]{}, err
	}
	ctx, cancel := s.call(ctx)
	defer cancel()

	var b builder
	b.sql.Grow(768)
	b.s("SELECT ", studentColumns, studentFrom)
	f := q.Filter
	if f.Department != "" {
		// A scalar subquery, so the planner picks the (department_id, ...)
		// index with a known value.
		b.w("s.department_id = (SELECT id FROM departments WHERE code = ?)", f.Department)
	}
	if f.Program != "" {
		b.w("s.program_id = (SELECT id FROM programs WHERE code = ?)", f.Program)
	}
	if f.Year != 0 {
		b.w("s.year_of_study = ?", int16(f.Year))
	}
	if f.Section != "" {
		b.w("s.section = ?", f.Section)
	}
	if f.Status != "" {
		b.w("s.status = ?", string(f.Status))
	}
	if f.SectionID != uuid.Nil {
		b.w("EXISTS (SELECT 1 FROM enrollments en WHERE en.section_id = ? AND en.student_id = s.id AND en.status = 'ENROLLED')", f.SectionID)
	}
	if f.Q != "" {
		b.w("student_search_text(s.roll_number, s.first_name, s.last_name, s.email::text) LIKE ?", likePattern(f.Q))
	}
	scopeStudents(&b, sc)
	if q.Page.After != nil {
		b.w("s.roll_number > ?", q.Page.After.Sort)
	}
	b.s(" ORDER BY s.roll_number LIMIT ", b.arg(q.Page.Limit+1))

	rows, err := s.read.Query(ctx, b.sql.String(), b.args...)
	if err != nil {
		return domain.Page[domain.Student]{}, mapErr("list students", err)
	}
	items := make([]domain.Student, 0, min(q.Page.Limit+1, 64))
	for rows.Next() {
		st, err := scanStudent(rows)
		if err != nil {
			rows.Close()
			return domain.Page[domain.Student]{}, mapErr("list students", err)
		}
		items = append(items, st)
	}
	if err := rows.Err(); err != nil {
		return domain.Page[domain.Student]{}, mapErr("list students", err)
	}
	if len(items) == 0 && (f.Department != "" || f.Program != "") {
		// An empty page: tell "no such department/program" from "no students".
		var dept, prog bool
		err := s.read.QueryRow(ctx, `SELECT $1 = '' OR EXISTS (SELECT 1 FROM departments WHERE code = $1),
			$2 = '' OR EXISTS (SELECT 1 FROM programs WHERE code = $2)`, f.Department, f.Program).Scan(&dept, &prog)
		if err != nil {
			return domain.Page[domain.Student]{}, mapErr("look up codes", err)
		}
		var v domain.Violations
		if !dept {
			v.Add("department", domain.UnknownDepartmentMessage)
		}
		if !prog {
			v.Add("program", domain.UnknownProgramMessage)
		}
		if err := v.Err(); err != nil {
			return domain.Page[domain.Student]{}, err
		}
	}
	return page(items, q.Page.Limit, func(st domain.Student) domain.Key { return domain.Key{Sort: st.RollNumber, ID: st.ID} }), nil
}

// StudentByID implements domain.StudentStore. It reads the primary: a
// student just created or updated is visible at once.
func (s *Store) StudentByID(ctx context.Context, sc domain.Scope, id uuid.UUID) (domain.Student, error) {
	ctx, cancel := s.call(ctx)
	defer cancel()
	var b builder
	b.s("SELECT ", studentColumns, studentFrom)
	b.w("s.id = ?", id)
	scopeStudents(&b, sc)
	st, err := scanStudent(s.primary.QueryRow(ctx, b.sql.String(), b.args...))
	return one(st, err, "get student")
}

// insertStudentSQL inserts one student with its sealed personal data,
// resolving the program code (and checking the department code when given)
// in the same statement, and returns its view. No row means the program is
// unknown or not the department's.
const insertStudentSQL = `WITH p AS (
		SELECT p.id, p.department_id FROM programs p JOIN departments d ON d.id = p.department_id
		WHERE p.code = $7 AND ($6 = '' OR d.code = $6)),
	s AS (INSERT INTO students (id, roll_number, first_name, last_name, email, gender, department_id, program_id,
			year_of_study, section, status, phone_ciphertext, date_of_birth_ciphertext, address_ciphertext)
		SELECT coalesce($11::uuid, gen_random_uuid()), $1, $2, $3, $4, $5, p.department_id, p.id, $8, $9, $10,
			$12, $13, $14 FROM p RETURNING *)
	SELECT ` + studentColumns + ` FROM s JOIN departments d ON d.id = s.department_id JOIN programs p ON p.id = s.program_id`

func studentArgs(in domain.StudentInput) []any {
	phone, dob, addr := sealedColumns(in.PII)
	return []any{in.RollNumber, in.FirstName, in.LastName, nullText(in.Email), nullText(in.Gender),
		in.Department, in.Program, int16(in.YearOfStudy), in.Section, in.Status, nullUUID(in.ID), phone, dob, addr}
}

// sealedColumns returns the sealed personal data columns of p (NULL when
// p or a field is nil).
func sealedColumns(p *domain.SealedPII) (phone, dob, addr []byte) {
	if p == nil {
		return nil, nil, nil
	}
	return p.Phone, p.DateOfBirth, p.Address
}

// programProblem explains why a program/department pair did not resolve.
func (s *Store) programProblem(ctx context.Context, q Querier, department, program string) error {
	var progDept string
	err := q.QueryRow(ctx, `SELECT d.code FROM programs p JOIN departments d ON d.id = p.department_id WHERE p.code = $1`, program).Scan(&progDept)
	if errors.Is(err, pgx.ErrNoRows) {
		return domain.Invalid("program", domain.UnknownProgramMessage)
	}
	if err != nil {
		return err
	}
	return domain.Invalid("department", "must be the program's department ("+progDept+")")
}

// CreateStudent implements domain.StudentStore.
func (s *Store) CreateStudent(ctx context.Context, in domain.StudentInput) (domain.Student, error) {
	in.Normalize()
	if err := in.Validate(); err != nil {
		return domain.Student{}, err
	}
	ctx, cancel := s.call(ctx)
	defer cancel()
	st, err := scanStudent(s.primary.QueryRow(ctx, insertStudentSQL, studentArgs(in)...))
	if errors.Is(err, pgx.ErrNoRows) {
		return domain.Student{}, mapErr("create student", s.programProblem(ctx, s.primary, in.Department, in.Program))
	}
	return st, mapErr("create student", err)
}

// UpdateStudent implements domain.StudentStore: it locks the row, applies
// and validates the patch, and writes it, in one transaction.
func (s *Store) UpdateStudent(ctx context.Context, id uuid.UUID, p domain.StudentPatch) (before, after domain.Student, err error) {
	err = s.tx(ctx, func(tx pgx.Tx) error {
		before, err = found(scanStudent(tx.QueryRow(ctx, "SELECT "+studentColumns+studentFrom+" WHERE s.id = $1 FOR UPDATE OF s", id)))
		if err != nil {
			return err
		}
		in := p.Apply(before)
		if err := in.Validate(); err != nil {
			return err
		}
		// Sealed columns change only where the patch sets them; a new or
		// cleared date of birth also clears a clear-text one.
		after, err = scanStudent(tx.QueryRow(ctx, `WITH p AS (SELECT id, department_id FROM programs WHERE code = $6),
			s AS (UPDATE students SET roll_number = $1, first_name = $2, last_name = $3, email = $4, gender = $5,
					department_id = p.department_id, program_id = p.id, year_of_study = $7, section = $8, status = $9,
					phone_ciphertext = CASE WHEN $11 THEN $12::bytea ELSE phone_ciphertext END,
					date_of_birth_ciphertext = CASE WHEN $13 THEN $14::bytea ELSE date_of_birth_ciphertext END,
					date_of_birth = CASE WHEN $13 THEN NULL ELSE date_of_birth END,
					address_ciphertext = CASE WHEN $15 THEN $16::bytea ELSE address_ciphertext END,
					updated_at = now()
				FROM p WHERE students.id = $10 RETURNING students.*)
			SELECT `+studentColumns+` FROM s JOIN departments d ON d.id = s.department_id JOIN programs p ON p.id = s.program_id`,
			in.RollNumber, in.FirstName, in.LastName, nullText(in.Email), nullText(in.Gender), in.Program,
			int16(in.YearOfStudy), in.Section, in.Status, id,
			p.Phone.Set, p.Phone.Value, p.DateOfBirth.Set, p.DateOfBirth.Value, p.Address.Set, p.Address.Value))
		if errors.Is(err, pgx.ErrNoRows) {
			return domain.Invalid("program", domain.UnknownProgramMessage)
		}
		return err
	})
	return before, after, mapErr("update student", err)
}

// DeleteStudent implements domain.StudentStore.
func (s *Store) DeleteStudent(ctx context.Context, id uuid.UUID) (domain.Student, error) {
	ctx, cancel := s.call(ctx)
	defer cancel()
	st, err := scanStudent(s.primary.QueryRow(ctx, `WITH s AS (DELETE FROM students WHERE id = $1 RETURNING *)
		SELECT `+studentColumns+` FROM s JOIN departments d ON d.id = s.department_id JOIN programs p ON p.id = s.program_id`, id))
	if err != nil && errors.Is(mapErr("", err), domain.ErrConflict) {
		return domain.Student{}, domain.Conflict("in_use", "", "the student has enrollments or attendance records; set the status (e.g. DROPPED) instead of deleting")
	}
	return one(st, err, "delete student")
}

// maxImportViolations bounds the per-row errors one import reports.
const maxImportViolations = 500

// ImportStudents implements domain.StudentStore: every row is validated,
// checked against the other rows and the existing students, and only when
// all pass are they copied in, in one transaction.
func (s *Store) ImportStudents(ctx context.Context, rows []domain.StudentInput) (int, error) {
	if len(rows) == 0 {
		return 0, domain.Invalid("students", "must hold at least one row")
	}
	if len(rows) > domain.MaxImportRows {
		return 0, domain.Invalid("students", fmt.Sprintf("must hold at most %d rows", domain.MaxImportRows))
	}
	var v domain.Violations
	add := func(i int, field, msg string) {
		if len(v) < maxImportViolations {
			v.Add(fmt.Sprintf("students[%d].%s", i, field), msg)
		}
	}
	rolls := make(map[string]int, len(rows))
	emails := make(map[string]int, len(rows))
	rollList := make([]string, 0, len(rows))
	emailList := make([]string, 0, len(rows))
	for i := range rows {
		rows[i].Normalize()
		in := rows[i]
		var rv domain.Violations
		if rv.AddAll(fmt.Sprintf("students[%d]", i), in.Validate()) {
			for _, x := range rv {
				if len(v) < maxImportViolations {
					v = append(v, x)
				}
			}
		}
		if j, dup := rolls[in.RollNumber]; dup && in.RollNumber != "" {
			add(i, "roll_number", fmt.Sprintf("duplicates row %d", j))
		} else {
			rolls[in.RollNumber] = i
			rollList = append(rollList, in.RollNumber)
		}
		if in.Email != "" {
			key := strings.ToLower(in.Email)
			if j, dup := emails[key]; dup {
				add(i, "email", fmt.Sprintf("duplicates row %d", j))
			} else {
				emails[key] = i
				emailList = append(emailList, in.Email)
			}
		}
	}

	ctx, cancel := s.report(ctx)
	defer cancel()
	type prog struct {
		id, dept uuid.UUID
		deptCode string
	}
	progs := map[string]prog{}
	prows, err := s.primary.Query(ctx, `SELECT p.code, p.id, p.department_id, d.code FROM programs p JOIN departments d ON d.id = p.department_id`)
	if err != nil {
		return 0, mapErr("import students", err)
	}
	for prows.Next() {
		var code string
		var p prog
		if err := prows.Scan(&code, &p.id, &p.dept, &p.deptCode); err != nil {
			prows.Close()
			return 0, mapErr("import students", err)
		}
		progs[code] = p
	}
	if err := prows.Err(); err != nil {
		return 0, mapErr("import students", err)
	}
	for i, in := range rows {
		p, ok := progs[in.Program]
		switch {
		case !ok && domain.ValidProgramCode(in.Program):
			add(i, "program", domain.UnknownProgramMessage)
		case ok && in.Department != "" && in.Department != p.deptCode:
			add(i, "department", "must be the program's department ("+p.deptCode+")")
		}
	}
	existing, err := s.primary.Query(ctx, `SELECT roll_number, '' FROM students WHERE roll_number = ANY($1)
		UNION ALL SELECT '', lower(email::text) FROM students WHERE email = ANY($2::citext[])`, rollList, emailList)
	if err != nil {
		return 0, mapErr("import students", err)
	}
	for existing.Next() {
		var roll, email string
		if err := existing.Scan(&roll, &email); err != nil {
			existing.Close()
			return 0, mapErr("import students", err)
		}
		if roll != "" {
			add(rolls[roll], "roll_number", "a student with this roll number already exists")
		} else {
			add(emails[email], "email", "a student with this e-mail address already exists")
		}
	}
	if err := existing.Err(); err != nil {
		return 0, mapErr("import students", err)
	}
	if err := v.Err(); err != nil {
		return 0, err
	}

	var n int64
	err = pgx.BeginFunc(ctx, s.primary, func(tx pgx.Tx) error {
		var err error
		n, err = tx.CopyFrom(ctx, pgx.Identifier{"students"},
			[]string{"id", "roll_number", "first_name", "last_name", "email", "gender", "department_id", "program_id", "year_of_study",
				"section", "status", "phone_ciphertext", "date_of_birth_ciphertext", "address_ciphertext"},
			pgx.CopyFromSlice(len(rows), func(i int) ([]any, error) {
				in := rows[i]
				p := progs[in.Program]
				id := in.ID
				if id == uuid.Nil {
					id = uuid.New()
				}
				phone, dob, addr := sealedColumns(in.PII)
				return []any{id, in.RollNumber, in.FirstName, in.LastName, nullText(in.Email), nullText(in.Gender),
					p.dept, p.id, int16(in.YearOfStudy), in.Section, in.Status, phone, dob, addr}, nil
			}))
		return err
	})
	if err != nil {
		return 0, mapErr("import students", err)
	}
	return int(n), nil
}
