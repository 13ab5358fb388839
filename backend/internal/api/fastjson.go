package api

import (
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/campshub360/edge/backend/internal/domain"
)

// Append-style JSON encoding for the hot read paths (student list pages,
// session lists, summaries, marking and check-in results). encoding/json
// reflects over every field of every item; these appenders write the same
// documents straight into one buffer (BenchmarkStudentPageJSON compares
// them, TestFastJSONMatchesEncodingJSON checks they agree).

const hexDigits = "0123456789abcdef"

// bufPool holds encode buffers of the hot paths: a handler appends its
// document into one, hands it to sendJSON (fasthttp copies the body) and
// puts it back, so steady-state responses allocate no body buffer.
var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 16<<10); return &b }}

// withBuf runs f with a pooled buffer; f's result must not be kept past f.
func withBuf(f func(b []byte) []byte) {
	p := bufPool.Get().(*[]byte)
	out := f((*p)[:0])
	if cap(out) <= 1<<20 { // do not keep huge buffers alive
		*p = out
		bufPool.Put(p)
	}
}

// appendString appends s as a JSON string, escaping like encoding/json:
// quote, backslash, control characters, <, >, &, U+2028, U+2029, and
// invalid UTF-8 as U+FFFD.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// appendOptString appends s, or null when s is "".
func appendOptString(b []byte, s string) []byte {
	if s == "" {
		return append(b, "null"...)
	}
	return appendString(b, s)
}

// appendUUID appends id as a JSON string.
func appendUUID(b []byte, id uuid.UUID) []byte {
	var buf [36]byte
	hexEncode := func(dst []byte, src []byte) {
		for i, v := range src {
			dst[2*i], dst[2*i+1] = hexDigits[v>>4], hexDigits[v&0xf]
		}
	}
	hexEncode(buf[0:8], id[0:4])
	buf[8] = '-'
	hexEncode(buf[9:13], id[4:6])
	buf[13] = '-'
	hexEncode(buf[14:18], id[6:8])
	buf[18] = '-'
	hexEncode(buf[19:23], id[8:10])
	buf[23] = '-'
	hexEncode(buf[24:], id[10:])
	b = append(b, '"')
	b = append(b, buf[:]...)
	return append(b, '"')
}

// appendOptUUID appends id, or null for uuid.Nil.
func appendOptUUID(b []byte, id uuid.UUID) []byte {
	if id == uuid.Nil {
		return append(b, "null"...)
	}
	return appendUUID(b, id)
}

// appendInstant appends t in timeLayout as a JSON string.
func appendInstant(b []byte, t time.Time) []byte {
	b = append(b, '"')
	b = t.UTC().AppendFormat(b, timeLayout)
	return append(b, '"')
}

// appendDate appends a calendar date as a JSON string.
func appendDate(b []byte, t time.Time) []byte {
	b = append(b, '"')
	b = t.AppendFormat(b, time.DateOnly)
	return append(b, '"')
}

// appendKey appends `,"name":` (or `{"name":` with first).
func appendKey(b []byte, name string, first bool) []byte {
	if first {
		b = append(b, '{')
	} else {
		b = append(b, ',')
	}
	b = append(b, '"')
	b = append(b, name...)
	return append(b, '"', ':')
}

// appendStudent appends a studentJSON document.
func appendStudent(b []byte, s domain.Student) []byte {
	b = appendKey(b, "id", true)
	b = appendUUID(b, s.ID)
	b = appendKey(b, "roll_number", false)
	b = appendString(b, s.RollNumber)
	b = appendKey(b, "first_name", false)
	b = appendString(b, s.FirstName)
	b = appendKey(b, "last_name", false)
	b = appendString(b, s.LastName)
	b = appendKey(b, "email", false)
	b = appendOptString(b, s.Email)
	b = appendKey(b, "gender", false)
	b = appendOptString(b, string(s.Gender))
	b = appendKey(b, "department", false)
	b = appendString(b, s.Department)
	b = appendKey(b, "program", false)
	b = appendString(b, s.Program)
	b = appendKey(b, "year_of_study", false)
	b = strconv.AppendInt(b, int64(s.YearOfStudy), 10)
	b = appendKey(b, "section", false)
	b = appendString(b, s.Section)
	b = appendKey(b, "status", false)
	b = appendString(b, string(s.Status))
	b = appendKey(b, "created_at", false)
	b = appendInstant(b, s.CreatedAt)
	b = appendKey(b, "updated_at", false)
	b = appendInstant(b, s.UpdatedAt)
	return append(b, '}')
}

// appendPage appends {"items":[...],"next_cursor":...} with item.
func appendPage[T any](b []byte, items []T, next *string, item func([]byte, T) []byte) []byte {
	b = append(b, `{"items":[`...)
	for i, x := range items {
		if i > 0 {
			b = append(b, ',')
		}
		b = item(b, x)
	}
	b = append(b, `],"next_cursor":`...)
	if next == nil {
		b = append(b, "null"...)
	} else {
		b = appendString(b, *next)
	}
	return append(b, '}')
}

// appendStudentPage appends a page of students.
func appendStudentPage(b []byte, items []domain.Student, next *string) []byte {
	return appendPage(b, items, next, appendStudent)
}

// appendSession appends a sessionJSON document.
func appendSession(b []byte, s domain.AttendanceSession) []byte {
	b = appendKey(b, "id", true)
	b = appendUUID(b, s.ID)
	b = appendKey(b, "section_id", false)
	b = appendUUID(b, s.SectionID)
	b = appendKey(b, "course_code", false)
	b = appendString(b, s.CourseCode)
	b = appendKey(b, "course_title", false)
	b = appendString(b, s.CourseTitle)
	b = appendKey(b, "section_code", false)
	b = appendString(b, s.SectionCode)
	b = appendKey(b, "faculty_id", false)
	b = appendUUID(b, s.FacultyID)
	b = appendKey(b, "slot_id", false)
	b = appendOptUUID(b, s.SlotID)
	b = appendKey(b, "room", false)
	b = appendOptString(b, s.Room)
	b = appendKey(b, "date", false)
	b = appendDate(b, s.Date)
	b = appendKey(b, "starts_at", false)
	b = appendInstant(b, s.StartsAt)
	b = appendKey(b, "ends_at", false)
	b = appendInstant(b, s.EndsAt)
	b = appendKey(b, "status", false)
	b = appendString(b, string(s.Status))
	b = appendKey(b, "updated_at", false)
	b = appendInstant(b, s.UpdatedAt)
	return append(b, '}')
}

// appendTally appends a tallyJSON document's members (no braces).
func appendTallyMembers(b []byte, t domain.Tally, threshold domain.Percent) []byte {
	b = append(b, `"present":`...)
	b = strconv.AppendInt(b, t.Present, 10)
	b = append(b, `,"late":`...)
	b = strconv.AppendInt(b, t.Late, 10)
	b = append(b, `,"absent":`...)
	b = strconv.AppendInt(b, t.Absent, 10)
	b = append(b, `,"excused":`...)
	b = strconv.AppendInt(b, t.Excused, 10)
	b = append(b, `,"total":`...)
	b = strconv.AppendInt(b, t.Total(), 10)
	b = append(b, `,"percentage":`...)
	b = t.Percentage().Append(b)
	b = append(b, `,"eligible":`...)
	return strconv.AppendBool(b, t.Eligible(threshold))
}
