package api

import (
	"errors"
	"testing"

	"github.com/campshub360/edge/backend/internal/domain"
)

// requestTypes are every JSON body the API decodes.
func requestTypes() []func() any {
	return []func() any{
		func() any { return &departmentRequest{} }, func() any { return &programRequest{} },
		func() any { return &courseRequest{} }, func() any { return &termRequest{} },
		func() any { return &holidayRequest{} }, func() any { return &studentRequest{} },
		func() any { return &studentPatchRequest{} }, func() any { return &importRequest{} },
		func() any { return &facultyRequest{} }, func() any { return &facultyPatchRequest{} },
		func() any { return &sectionRequest{} }, func() any { return &enrollRequest{} },
		func() any { return &slotRequest{} }, func() any { return &sessionRequest{} },
		func() any { return &generateRequest{} }, func() any { return &marksRequest{} },
		func() any { return &checkInRequest{} }, func() any { return &leaveRequest{} },
		func() any { return &correctionRequest{} }, func() any { return &decisionRequest{} },
		func() any { return &struct{}{} },
	}
}

// FuzzDecodeJSON feeds arbitrary bytes to the strict decoder of every
// request type: it never panics, and every failure is a client-safe
// *domain.InvalidError naming a field.
func FuzzDecodeJSON(f *testing.F) {
	for _, seed := range []string{
		`{}`, `{"records":[{"student_id":"x","mark":5}]}`, `{"records":[[[]]]}`, `{"email":null,"year_of_study":"2"}`,
		`{"a":1}`, `[1,2]`, `"str"`, `{"records":[{}, {"mark":{}}]}`, `{"students":[{"year_of_study":1e99}]}`,
		`{"note":"\ud800"}`, "{\"reason\":\"\x00\"}", `{"token":"` + string(make([]byte, 70)) + `"}`, `{} {}`, `{"a":`, ``,
		`{"active":"yes"}`, `{"credits":-0.0}`, `{"records":null}`, `{"x":{"y":[{"z":[1,{"w":true}]}]}}`,
	} {
		for i := range requestTypes() {
			f.Add(uint8(i), []byte(seed))
		}
	}
	f.Fuzz(func(t *testing.T, which uint8, body []byte) {
		types := requestTypes()
		v := types[int(which)%len(types)]()
		err := unmarshalStrict(body, v)
		if err == nil {
			return
		}
		var inv *domain.InvalidError
		if !errors.As(err, &inv) || len(inv.Violations) == 0 || inv.Violations[0].Field == "" {
			t.Fatalf("decode %q: %v is not an InvalidError naming a field", body, err)
		}
	})
}

// FuzzPathAt checks the JSON path locator on arbitrary input.
func FuzzPathAt(f *testing.F) {
	f.Add([]byte(`{"records":[{"mark":5}]}`), int64(22))
	f.Add([]byte(`[[{"a":[1,2,{"b":null}]}]]`), int64(20))
	f.Add([]byte(`{"a":`), int64(100))
	f.Fuzz(func(t *testing.T, body []byte, offset int64) {
		_ = pathAt(body, offset)
	})
}

func TestPathAt(t *testing.T) {
	body := []byte(`{"source":"manual","records":[{"student_id":"a","mark":"present"},{"student_id":"b","mark":5}]}`)
	for _, tc := range []struct {
		after string
		want  string
	}{
		{`"manual"`, "source"},
		{`5`, "records[1].mark"},
		{`"a"`, "records[0].student_id"},
	} {
		i := indexAfter(body, tc.after)
		if got := pathAt(body, int64(i)); got != tc.want {
			t.Errorf("value %s: path %q, want %q", tc.after, got, tc.want)
		}
	}
}

func indexAfter(b []byte, s string) int {
	for i := 0; i+len(s) <= len(b); i++ {
		if string(b[i:i+len(s)]) == s {
			return i + len(s)
		}
	}
	return -1
}
