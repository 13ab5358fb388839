package domain

import (
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Shapes of identifiers and codes, mirroring the CHECK constraints of the
// schema (backend/migrations) so that valid input never trips one.
var (
	rollNumberRE  = regexp.MustCompile(`^[A-Z0-9][A-Z0-9/-]{2,31}$`)
	employeeIDRE  = regexp.MustCompile(`^[A-Z0-9][A-Z0-9-]{2,31}$`)
	emailRE       = regexp.MustCompile(`^[^@\s]+@[^@\s]+$`)
	programCodeRE = regexp.MustCompile(`^[A-Z][A-Z0-9-]{1,19}$`)
	courseCodeRE  = regexp.MustCompile(`^[A-Z][A-Z0-9-]{2,19}$`)
	sectionCodeRE = regexp.MustCompile(`^[A-Z0-9]{1,8}$`)
)

// Client-safe messages for the shapes above.
const (
	RollNumberMessage        = "must be 3 to 32 upper-case letters, digits, '/' or '-', starting with a letter or digit"
	EmployeeIDMessage        = "must be 3 to 32 upper-case letters, digits or '-', starting with a letter or digit"
	EmailMessage             = "must be an e-mail address (at most 254 characters)"
	DepartmentCodeMessage    = "must be a department code: 2 to 10 letters or digits, starting with a letter"
	ProgramCodeMessage       = "must be a program code: 2 to 20 letters, digits or '-', starting with a letter"
	CourseCodeMessage        = "must be a course code: 3 to 20 letters, digits or '-', starting with a letter"
	SectionCodeMessage       = "must be 1 to 8 letters or digits"
	SectionLetterMessage     = "must be one letter A-Z"
	YearMessage              = "must be an integer from 1 to 6"
	LimitMessage             = "must be an integer from 1 to 500"
	UnknownDepartmentMessage = "no department has this code"
	UnknownProgramMessage    = "no program has this code"
)

// Year of study bounds (inclusive).
const (
	MinYearOfStudy = 1
	MaxYearOfStudy = 6
)

// MaxNameLen is the longest name, title or reason line accepted, in
// characters.
const MaxNameLen = 200

// MaxTextLen is the longest free text (reasons, notes) accepted, in
// characters.
const MaxTextLen = 2000

// Personal data of a student (sealed at rest by package pii, so the
// database cannot check it: these rules are the only ones).
const (
	PhoneMessage       = "must be a phone number: 6 to 15 digits, optionally a leading +, spaces, '-', '.' or parentheses"
	DateOfBirthMessage = "must be a date YYYY-MM-DD after 1900-01-01 and not in the future"
	// MaxAddressLen is the longest postal address accepted, in characters.
	MaxAddressLen = 500
)

var phoneRE = regexp.MustCompile(`^\+?[0-9 ().-]{6,30}$`)

// ValidPhone reports whether s (trimmed) has the shape of a phone number:
// digits with common separators, an optional leading +, and 6 to 15 digits
// in all (E.164 allows at most 15).
func ValidPhone(s string) bool {
	if !phoneRE.MatchString(s) {
		return false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] >= '0' && s[i] <= '9' {
			n++
		}
	}
	return n >= 6 && n <= 15
}

// ParseDateOfBirth parses a YYYY-MM-DD date of birth: after 1900-01-01
// (the schema's bound) and not after today (a calendar date in the
// institution's time zone, midnight UTC like every date here). It returns
// the date at midnight UTC.
func ParseDateOfBirth(s string, today time.Time) (time.Time, bool) {
	d, err := time.Parse(time.DateOnly, s)
	if err != nil || !d.After(time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC)) {
		return time.Time{}, false
	}
	t := time.Date(today.Year(), today.Month(), today.Day(), 0, 0, 0, 0, time.UTC)
	return d, !d.After(t)
}

// NormalizeCode trims s and upper-cases it (codes and roll numbers are
// case-insensitive on input and stored upper-case).
func NormalizeCode(s string) string { return strings.ToUpper(strings.TrimSpace(s)) }

// ValidRollNumber reports whether s (normalized) is a roll number.
func ValidRollNumber(s string) bool { return rollNumberRE.MatchString(s) }

// ValidEmployeeID reports whether s (normalized) is an employee id.
func ValidEmployeeID(s string) bool { return employeeIDRE.MatchString(s) }

// ValidEmail reports whether s has the shape of an e-mail address.
func ValidEmail(s string) bool { return len(s) <= 254 && emailRE.MatchString(s) }

// ValidProgramCode reports whether s is a program code.
func ValidProgramCode(s string) bool { return programCodeRE.MatchString(s) }

// ValidCourseCode reports whether s is a course code.
func ValidCourseCode(s string) bool { return courseCodeRE.MatchString(s) }

// ValidSectionCode reports whether s is a section code.
func ValidSectionCode(s string) bool { return sectionCodeRE.MatchString(s) }

// ValidSectionLetter reports whether s is a student's section letter.
func ValidSectionLetter(s string) bool { return len(s) == 1 && s[0] >= 'A' && s[0] <= 'Z' }

// ValidDepartmentCode reports whether code has the shape of a department
// code: 2 to 10 upper-case ASCII letters or digits, starting with a letter.
func ValidDepartmentCode(code string) bool {
	if len(code) < 2 || len(code) > 10 {
		return false
	}
	for i := 0; i < len(code); i++ {
		c := code[i]
		switch {
		case c >= 'A' && c <= 'Z':
		case c >= '0' && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

// CheckText validates free text: not blank, at most maxLen characters,
// valid UTF-8 without control characters other than newline and tab. It
// adds a violation for field and returns the trimmed text.
func CheckText(v *Violations, field, s string, maxLen int) string {
	t := strings.TrimSpace(s)
	switch {
	case t == "":
		v.Add(field, "must not be blank")
	case !utf8.ValidString(t) || utf8.RuneCountInString(t) > maxLen:
		v.Add(field, "must be at most "+itoa(maxLen)+" characters of text")
	case strings.IndexFunc(t, func(r rune) bool { return unicode.IsControl(r) && r != '\n' && r != '\t' }) >= 0:
		v.Add(field, "must not contain control characters")
	}
	return t
}

// CheckName validates a single-line name (no newlines or tabs either).
func CheckName(v *Violations, field, s string) string {
	t := strings.TrimSpace(s)
	if strings.ContainsAny(t, "\n\t") {
		v.Add(field, "must be a single line")
		return t
	}
	return CheckText(v, field, t, MaxNameLen)
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b [20]byte
	i := len(b)
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	return string(b[i:])
}
