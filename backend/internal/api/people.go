package api

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"mime"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/valyala/fasthttp"

	"github.com/campshub360/edge/backend/internal/authz"
	"github.com/campshub360/edge/backend/internal/domain"
	"github.com/campshub360/edge/backend/internal/pii"
	"github.com/campshub360/edge/backend/internal/tags"
)

// studentRequest creates a student (or is one row of an import).
type studentRequest struct {
	RollNumber  string `json:"roll_number" required:"true" doc:"3-32 upper-case letters, digits, '/' or '-'"`
	FirstName   string `json:"first_name" required:"true"`
	LastName    string `json:"last_name" required:"true"`
	Email       string `json:"email" format:"email"`
	Gender      string `json:"gender" enum:"female,male,other,undisclosed"`
	Department  string `json:"department" doc:"department code; defaults to the program's"`
	Program     string `json:"program" required:"true" doc:"program code"`
	YearOfStudy int    `json:"year_of_study" required:"true" doc:"1 to 6"`
	Section     string `json:"section" required:"true" doc:"section letter A-Z"`
	Status      string `json:"status" enum:"ACTIVE,INACTIVE,GRADUATED,SUSPENDED,DROPPED" doc:"default ACTIVE"`
	Phone       string `json:"phone" doc:"personal data, sealed at rest: 6 to 15 digits, optionally +, spaces, '-', '.', parentheses"`
	DateOfBirth string `json:"date_of_birth" format:"date" doc:"personal data, sealed at rest"`
	Address     string `json:"address" doc:"personal data, sealed at rest: up to 500 characters"`
}

func (r studentRequest) input() domain.StudentInput {
	in := domain.StudentInput{RollNumber: r.RollNumber, FirstName: r.FirstName, LastName: r.LastName, Email: r.Email,
		Gender: r.Gender, Department: r.Department, Program: r.Program, YearOfStudy: r.YearOfStudy, Section: r.Section, Status: r.Status}
	in.Normalize()
	return in
}

// contact validates the personal data of r (field names prefixed with
// prefix, e.g. "students[3]") into v.
func (r studentRequest) contact(v *domain.Violations, prefix string, today time.Time) pii.Contact {
	return parseContact(v, prefix, r.Phone, r.DateOfBirth, r.Address, today)
}

// parseContact validates personal data fields ("" is not on record),
// adding a violation per bad field to v.
func parseContact(v *domain.Violations, prefix, phone, dob, address string, today time.Time) pii.Contact {
	name := func(f string) string {
		if prefix == "" {
			return f
		}
		return prefix + "." + f
	}
	var c pii.Contact
	if c.Phone = strings.TrimSpace(phone); c.Phone != "" && !domain.ValidPhone(c.Phone) {
		v.Add(name("phone"), domain.PhoneMessage)
	}
	if dob = strings.TrimSpace(dob); dob != "" {
		d, ok := domain.ParseDateOfBirth(dob, today)
		if !ok {
			v.Add(name("date_of_birth"), domain.DateOfBirthMessage)
		}
		c.DateOfBirth = d
	}
	if address = strings.TrimSpace(address); address != "" {
		var av domain.Violations
		c.Address = domain.CheckText(&av, name("address"), address, domain.MaxAddressLen)
		*v = append(*v, av...)
	}
	return c
}

// sealContact seals c for the student with id (nil when c is empty).
// Without a vault, personal data is refused (400 naming the field).
func (a *API) sealContact(id uuid.UUID, c pii.Contact, prefix string) (*domain.SealedPII, error) {
	if c == (pii.Contact{}) {
		return nil, nil
	}
	if a.vault == nil {
		field := "phone"
		switch {
		case c.Phone != "":
		case !c.DateOfBirth.IsZero():
			field = "date_of_birth"
		default:
			field = "address"
		}
		if prefix != "" {
			field = prefix + "." + field
		}
		return nil, domain.Invalid(field, "cannot be stored: this server has no personal data encryption key")
	}
	r, err := a.vault.Seal(id, c)
	if err != nil {
		return nil, err
	}
	return &domain.SealedPII{Phone: r.Phone, DateOfBirth: r.DOB, Address: r.Address}, nil
}

// mayReadPII reports whether p may see the personal data of the student
// with id: administrators, registrars (who keep the records) and the
// student themself. Faculty see their students' academic fields only;
// DOMAIN.md gives them no part in personal records.
func mayReadPII(p *authz.Principal, id uuid.UUID) bool {
	if p == nil {
		return false
	}
	switch p.Role {
	case authz.RoleAdmin, authz.RoleRegistrar:
		return true
	case authz.RoleStudent:
		return p.StudentID != uuid.Nil && p.StudentID == id
	}
	return false
}

// studentDetail is s as the caller may see it: with its personal data,
// decrypted, when mayReadPII (then the response must not be cached:
// personal says so).
func (a *API) studentDetail(ctx *fasthttp.RequestCtx, s domain.Student) (out studentDetailJSON, personal bool, err error) {
	out.studentJSON = toStudent(s)
	if a.vault == nil || !mayReadPII(caller(ctx), s.ID) {
		return out, false, nil
	}
	c, err := a.vault.Contact(queryContext(ctx), s.ID)
	if err != nil {
		return out, false, err
	}
	out.Contact = toContact(c)
	return out, true, nil
}

// studentPatchRequest changes some fields of a student; email null removes
// the address.
type studentPatchRequest struct {
	RollNumber  nullable[string] `json:"roll_number"`
	FirstName   nullable[string] `json:"first_name"`
	LastName    nullable[string] `json:"last_name"`
	Email       nullable[string] `json:"email" format:"email" doc:"null removes the address"`
	Gender      nullable[string] `json:"gender" enum:"female,male,other,undisclosed"`
	Program     nullable[string] `json:"program" doc:"program code; the department follows the program"`
	YearOfStudy nullable[int]    `json:"year_of_study"`
	Section     nullable[string] `json:"section"`
	Status      nullable[string] `json:"status" enum:"ACTIVE,INACTIVE,GRADUATED,SUSPENDED,DROPPED"`
	Phone       nullable[string] `json:"phone" doc:"personal data, sealed at rest; null removes it"`
	DateOfBirth nullable[string] `json:"date_of_birth" format:"date" doc:"personal data, sealed at rest; null removes it"`
	Address     nullable[string] `json:"address" doc:"personal data, sealed at rest; null removes it"`
}

type importRequest struct {
	Students []studentRequest `json:"students" required:"true" doc:"1 to 5000 rows, all written or none"`
}

type importResult struct {
	Created int `json:"created"`
}

func listStudents(a *API, ctx *fasthttp.RequestCtx) error {
	q := parseQuery(ctx.QueryArgs(), true, "department", "program", "year", "section", "status", "section_id", "q")
	f := domain.StudentFilter{
		Department: q.code("department", domain.ValidDepartmentCode, domain.DepartmentCodeMessage),
		Program:    q.code("program", domain.ValidProgramCode, domain.ProgramCodeMessage),
		Year:       q.integer("year", domain.MinYearOfStudy, domain.MaxYearOfStudy, 0, domain.YearMessage),
		Section:    q.code("section", domain.ValidSectionLetter, domain.SectionLetterMessage),
		Status:     domain.StudentStatus(q.enum("status", domain.StudentStatusValues())),
		SectionID:  q.id("section_id"),
	}
	if s, ok := q.str("q"); ok {
		if n := len([]rune(s)); n < domain.MinSearchLen || n > domain.MaxSearchLen {
			q.bad("q", "must be 2 to 64 characters")
		}
		f.Q = s
	}
	pq := q.page("students")
	if err := q.err(); err != nil {
		return err
	}
	pg, err := a.store.ListStudents(queryContext(ctx), scopeOf(caller(ctx)), domain.StudentQuery{Filter: f, Page: pq})
	if err != nil {
		return err
	}
	next, err := q.next("students", pg.Next)
	if err != nil {
		return err
	}
	withBuf(func(b []byte) []byte {
		b = appendStudentPage(b, pg.Items, next)
		sendJSON(ctx, fasthttp.StatusOK, b, privateCache, tags.Students)
		return b
	})
	return nil
}

func getStudent(a *API, ctx *fasthttp.RequestCtx) error {
	id, err := pathID(ctx, "id")
	if err != nil {
		return err
	}
	s, err := a.store.StudentByID(queryContext(ctx), scopeOf(caller(ctx)), id)
	if err != nil {
		return err
	}
	out, personal, err := a.studentDetail(ctx, s)
	if err != nil {
		return err
	}
	if personal {
		return writeJSON(ctx, fasthttp.StatusOK, out, personalNoStore, tags.Student(s.ID))
	}
	return writeJSON(ctx, fasthttp.StatusOK, out, privateCache, tags.Student(s.ID))
}

// studentTags are invalidated by a write to a student: lists, the
// student's own resources and rosters showing their name.
func studentTags(s domain.Student) []string {
	return []string{tags.Students, tags.Student(s.ID), tags.Summary(s.ID)}
}

func createStudent(a *API, ctx *fasthttp.RequestCtx) error {
	var req studentRequest
	if err := decodeJSON(ctx, &req, smallBody); err != nil {
		return err
	}
	in := req.input()
	var v domain.Violations
	v.AddAll("", in.Validate())
	c := req.contact(&v, "", a.today())
	if err := v.Err(); err != nil {
		return err
	}
	in.ID = uuid.New()
	sealed, err := a.sealContact(in.ID, c, "")
	if err != nil {
		return err
	}
	in.PII = sealed
	s, err := a.store.CreateStudent(queryContext(ctx), in)
	if err != nil {
		return err
	}
	a.committed(ctx, []change{{"student.create", "student", s.ID.String(), nil, studentAudit(s, contactFields(c))}}, studentTags(s)...)
	out := studentDetailJSON{studentJSON: toStudent(s)}
	if a.vault != nil {
		out.Contact = toContact(c) // the caller is staff: mayReadPII
	}
	return created(ctx, "/api/v1/students/"+s.ID.String(), out)
}

// studentAuditJSON is a student in an audit event: never the personal
// data itself (the trail is not encrypted), only which of its fields
// were written.
type studentAuditJSON struct {
	studentJSON
	PersonalData []string `json:"personal_data_written,omitempty"`
}

func studentAudit(s domain.Student, personal []string) studentAuditJSON {
	return studentAuditJSON{studentJSON: toStudent(s), PersonalData: personal}
}

// contactFields names the personal data fields c holds.
func contactFields(c pii.Contact) []string {
	var out []string
	if c.Phone != "" {
		out = append(out, "phone")
	}
	if !c.DateOfBirth.IsZero() {
		out = append(out, "date_of_birth")
	}
	if c.Address != "" {
		out = append(out, "address")
	}
	return out
}

func updateStudent(a *API, ctx *fasthttp.RequestCtx) error {
	id, err := pathID(ctx, "id")
	if err != nil {
		return err
	}
	var req studentPatchRequest
	if err := decodeJSON(ctx, &req, smallBody); err != nil {
		return err
	}
	p := domain.StudentPatch{RollNumber: req.RollNumber.ptr(), FirstName: req.FirstName.ptr(), LastName: req.LastName.ptr(),
		Email: req.Email.ptr(), ClearEmail: req.Email.Null, Gender: req.Gender.ptr(), Program: req.Program.ptr(),
		YearOfStudy: req.YearOfStudy.ptr(), Section: req.Section.ptr(), Status: req.Status.ptr()}
	var v domain.Violations
	for _, f := range []struct {
		name string
		null bool
	}{{"roll_number", req.RollNumber.Null}, {"first_name", req.FirstName.Null}, {"last_name", req.LastName.Null},
		{"program", req.Program.Null}, {"year_of_study", req.YearOfStudy.Null}, {"section", req.Section.Null}, {"status", req.Status.Null}} {
		if f.null {
			v.Add(f.name, "must not be null")
		}
	}
	if req.Gender.Null {
		empty := ""
		p.Gender = &empty
	}
	// Personal data: each field set (sealed) or cleared (null).
	c := parseContact(&v, "", req.Phone.Value, req.DateOfBirth.Value, req.Address.Value, a.today())
	if err := v.Err(); err != nil {
		return err
	}
	// Each personal data field given is sealed (or, null or blank,
	// cleared) in the same statement as the rest of the change.
	var seal pii.Contact
	var written []string
	for _, f := range []struct {
		name string
		in   nullable[string]
		set  func()
	}{{"phone", req.Phone, func() { seal.Phone = c.Phone }},
		{"date_of_birth", req.DateOfBirth, func() { seal.DateOfBirth = c.DateOfBirth }},
		{"address", req.Address, func() { seal.Address = c.Address }}} {
		if f.in.Set {
			written = append(written, f.name)
			f.set()
		}
	}
	sealed, err := a.sealContact(id, seal, "")
	if err != nil {
		return err
	}
	if sealed == nil {
		sealed = &domain.SealedPII{}
	}
	p.Phone = domain.SealedChange{Set: req.Phone.Set, Value: sealed.Phone}
	p.DateOfBirth = domain.SealedChange{Set: req.DateOfBirth.Set, Value: sealed.DateOfBirth}
	p.Address = domain.SealedChange{Set: req.Address.Set, Value: sealed.Address}
	before, after, err := a.store.UpdateStudent(queryContext(ctx), id, p)
	if err != nil {
		return err
	}
	a.committed(ctx, []change{{"student.update", "student", id.String(), toStudent(before), studentAudit(after, written)}},
		studentTags(after)...)
	out, personal, err := a.studentDetail(ctx, after)
	if err != nil {
		return err
	}
	if personal {
		return writeJSON(ctx, fasthttp.StatusOK, out, personalNoStore)
	}
	return writeJSON(ctx, fasthttp.StatusOK, out, noStore)
}

func deleteStudent(a *API, ctx *fasthttp.RequestCtx) error {
	id, err := pathID(ctx, "id")
	if err != nil {
		return err
	}
	s, err := a.store.DeleteStudent(queryContext(ctx), id)
	if err != nil {
		return err
	}
	a.committed(ctx, []change{{"student.delete", "student", id.String(), toStudent(s), nil}}, studentTags(s)...)
	noContent(ctx)
	return nil
}

// importStudents serves POST /api/v1/students/import: a JSON body
// {"students":[...]} or a CSV body (text/csv, header row naming the
// columns), at most 5,000 rows, all written in one transaction or none;
// every bad row is reported as students[i].field (i counts data rows from
// 0).
func importStudents(a *API, ctx *fasthttp.RequestCtx) error {
	var reqs []studentRequest
	ct := string(ctx.Request.Header.ContentType())
	mt, _, _ := mime.ParseMediaType(ct)
	if mt == "text/csv" {
		body := ctx.PostBody()
		if len(body) > importBody {
			return errTooLarge(importBody)
		}
		var err error
		if reqs, err = parseStudentCSV(body); err != nil {
			return err
		}
	} else {
		var req importRequest
		if err := decodeJSON(ctx, &req, importBody); err != nil {
			return err
		}
		reqs = req.Students
	}
	// Personal data is checked and sealed here (the store sees only
	// ciphertexts), each row under the id it will have.
	rows := make([]domain.StudentInput, len(reqs))
	contacts := make([]pii.Contact, len(reqs))
	var v domain.Violations
	today := a.today()
	for i, r := range reqs {
		rows[i] = r.input()
		contacts[i] = r.contact(&v, "students["+strconv.Itoa(i)+"]", today)
	}
	if len(v) > 0 {
		for i := range rows {
			v.AddAll("students["+strconv.Itoa(i)+"]", rows[i].Validate())
		}
		return v.Err()
	}
	for i := range rows {
		rows[i].ID = uuid.New()
		sealed, err := a.sealContact(rows[i].ID, contacts[i], "students["+strconv.Itoa(i)+"]")
		if err != nil {
			return err
		}
		rows[i].PII = sealed
	}
	n, err := a.store.ImportStudents(queryContext(ctx), rows)
	if err != nil {
		return err
	}
	a.committed(ctx, []change{{"student.import", "student", "import", nil, importResult{Created: n}}}, tags.Students)
	return writeJSON(ctx, fasthttp.StatusCreated, importResult{Created: n}, noStore)
}

// studentCSVColumns are the accepted CSV columns (roll_number, first_name,
// last_name and program are required).
var studentCSVColumns = []string{"roll_number", "first_name", "last_name", "email", "gender", "department", "program",
	"year_of_study", "section", "status", "phone", "date_of_birth", "address"}

// parseStudentCSV reads a header row and up to MaxImportRows data rows.
func parseStudentCSV(body []byte) ([]studentRequest, error) {
	r := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(body, []byte("\xef\xbb\xbf"))))
	r.FieldsPerRecord = 0
	r.ReuseRecord = true
	header, err := r.Read()
	if err != nil {
		return nil, domain.Invalid("body", "must be CSV with a header row naming the columns")
	}
	index := make(map[string]int, len(header))
	var v domain.Violations
	for i, h := range header {
		h = strings.ToLower(strings.TrimSpace(h))
		known := false
		for _, c := range studentCSVColumns {
			known = known || c == h
		}
		if _, dup := index[h]; dup && known {
			v.Add(h, "column is given more than once")
			continue
		}
		if !known {
			v.Add(clip([]byte(h), 64), "is not a known column; accepted: "+strings.Join(studentCSVColumns, ", "))
		}
		index[h] = i
	}
	for _, c := range []string{"roll_number", "first_name", "last_name", "program"} {
		if _, ok := index[c]; !ok {
			v.Add(c, "column is required")
		}
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	var rows []studentRequest
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				return nil, domain.Invalid(fmt.Sprintf("students[%d]", len(rows)), fmt.Sprintf("is not valid CSV (line %d)", pe.Line))
			}
			return nil, domain.Invalid("body", "is not valid CSV")
		}
		if len(rows) == domain.MaxImportRows {
			return nil, domain.Invalid("students", fmt.Sprintf("must hold at most %d rows", domain.MaxImportRows))
		}
		get := func(c string) string {
			if i, ok := index[c]; ok && i < len(rec) {
				return strings.TrimSpace(rec[i])
			}
			return ""
		}
		in := studentRequest{RollNumber: get("roll_number"), FirstName: get("first_name"), LastName: get("last_name"),
			Email: get("email"), Gender: get("gender"), Department: get("department"), Program: get("program"),
			Section: get("section"), Status: get("status"), Phone: get("phone"), DateOfBirth: get("date_of_birth"),
			Address: get("address")}
		if y := get("year_of_study"); y != "" {
			n, err := strconv.Atoi(y)
			if err != nil {
				n = -1
			}
			in.YearOfStudy = n
		}
		rows = append(rows, in)
	}
	return rows, nil
}

// facultyRequest creates a faculty member.
type facultyRequest struct {
	EmployeeID  string `json:"employee_id" required:"true"`
	FirstName   string `json:"first_name" required:"true"`
	LastName    string `json:"last_name" required:"true"`
	Email       string `json:"email" required:"true" format:"email"`
	Designation string `json:"designation" required:"true"`
	Department  string `json:"department" required:"true" doc:"department code"`
	Active      *bool  `json:"active" doc:"default true"`
}

type facultyPatchRequest struct {
	EmployeeID  nullable[string] `json:"employee_id"`
	FirstName   nullable[string] `json:"first_name"`
	LastName    nullable[string] `json:"last_name"`
	Email       nullable[string] `json:"email" format:"email"`
	Designation nullable[string] `json:"designation"`
	Department  nullable[string] `json:"department"`
	Active      nullable[bool]   `json:"active"`
}

func listFaculty(a *API, ctx *fasthttp.RequestCtx) error {
	q := parseQuery(ctx.QueryArgs(), true, "department", "active", "q")
	fq := domain.FacultyQuery{
		Department: q.code("department", domain.ValidDepartmentCode, domain.DepartmentCodeMessage),
		Active:     q.boolean("active"),
	}
	if s, ok := q.str("q"); ok {
		if n := len([]rune(s)); n < domain.MinSearchLen || n > domain.MaxSearchLen {
			q.bad("q", "must be 2 to 64 characters")
		}
		fq.Q = s
	}
	fq.Page = q.page("faculty")
	if err := q.err(); err != nil {
		return err
	}
	pg, err := a.store.ListFaculty(queryContext(ctx), fq)
	if err != nil {
		return err
	}
	return listed(ctx, q, "faculty", pg, toFaculty, privateCache, tags.Faculty)
}

func getFaculty(a *API, ctx *fasthttp.RequestCtx) error {
	id, err := pathID(ctx, "id")
	if err != nil {
		return err
	}
	f, err := a.store.FacultyByID(queryContext(ctx), id)
	if err != nil {
		return err
	}
	return writeJSON(ctx, fasthttp.StatusOK, toFaculty(f), privateCache, tags.FacultyMember(f.ID))
}

func createFaculty(a *API, ctx *fasthttp.RequestCtx) error {
	var req facultyRequest
	if err := decodeJSON(ctx, &req, smallBody); err != nil {
		return err
	}
	in := domain.FacultyInput{EmployeeID: req.EmployeeID, FirstName: req.FirstName, LastName: req.LastName, Email: req.Email,
		Designation: req.Designation, Department: req.Department, Active: req.Active == nil || *req.Active}
	in.Normalize()
	if err := in.Validate(); err != nil {
		return err
	}
	f, err := a.store.CreateFaculty(queryContext(ctx), in)
	if err != nil {
		return err
	}
	a.committed(ctx, []change{{"faculty.create", "faculty", f.ID.String(), nil, toFaculty(f)}}, tags.Faculty)
	return created(ctx, "/api/v1/faculty/"+f.ID.String(), toFaculty(f))
}

func updateFaculty(a *API, ctx *fasthttp.RequestCtx) error {
	id, err := pathID(ctx, "id")
	if err != nil {
		return err
	}
	var req facultyPatchRequest
	if err := decodeJSON(ctx, &req, smallBody); err != nil {
		return err
	}
	var v domain.Violations
	for _, f := range []struct {
		name string
		null bool
	}{{"employee_id", req.EmployeeID.Null}, {"first_name", req.FirstName.Null}, {"last_name", req.LastName.Null},
		{"email", req.Email.Null}, {"designation", req.Designation.Null}, {"department", req.Department.Null}, {"active", req.Active.Null}} {
		if f.null {
			v.Add(f.name, "must not be null")
		}
	}
	if err := v.Err(); err != nil {
		return err
	}
	p := domain.FacultyPatch{EmployeeID: req.EmployeeID.ptr(), FirstName: req.FirstName.ptr(), LastName: req.LastName.ptr(),
		Email: req.Email.ptr(), Designation: req.Designation.ptr(), Department: req.Department.ptr(), Active: req.Active.ptr()}
	before, after, err := a.store.UpdateFaculty(queryContext(ctx), id, p)
	if err != nil {
		return err
	}
	a.committed(ctx, []change{{"faculty.update", "faculty", id.String(), toFaculty(before), toFaculty(after)}},
		tags.Faculty, tags.FacultyMember(id), tags.Sections)
	return writeJSON(ctx, fasthttp.StatusOK, toFaculty(after), noStore)
}

func deleteFaculty(a *API, ctx *fasthttp.RequestCtx) error {
	id, err := pathID(ctx, "id")
	if err != nil {
		return err
	}
	f, err := a.store.DeleteFaculty(queryContext(ctx), id)
	if err != nil {
		return err
	}
	a.committed(ctx, []change{{"faculty.delete", "faculty", id.String(), toFaculty(f), nil}}, tags.Faculty, tags.FacultyMember(id))
	noContent(ctx)
	return nil
}
