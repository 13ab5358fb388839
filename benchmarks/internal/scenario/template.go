package scenario

import (
	"math/rand/v2"
	"strconv"
	"strings"
	"time"
)

// Built-in template parameters.
const (
	// BuiltinToday expands to the current date, YYYY-MM-DD, in the
	// scenario's time zone.
	BuiltinToday = "today"
	// BuiltinNow expands to the current instant, RFC 3339 in UTC;
	// {now+D} and {now-D} add or subtract a Go duration D ({now+50m}).
	BuiltinNow = "now"
	// BuiltinUnix expands to the current Unix time in seconds.
	BuiltinUnix = "unix"
	// BuiltinUUID expands to a random UUID (version 4).
	BuiltinUUID = "uuid"
	// BuiltinSeq expands to the request's 0-based index in the run.
	BuiltinSeq = "seq"
	// UserPrefix starts a reference to a field of the request's logged-in
	// user, e.g. {user.student_id}.
	UserPrefix = "user."
)

// refKind says what a template placeholder stands for.
type refKind int

const (
	refParam refKind = iota
	refUser
	refToday
	refNow
	refUnix
	refUUID
	refSeq
)

func builtinKind(name string) (refKind, bool) {
	switch name {
	case BuiltinToday:
		return refToday, true
	case BuiltinNow:
		return refNow, true
	case BuiltinUnix:
		return refUnix, true
	case BuiltinUUID:
		return refUUID, true
	case BuiltinSeq:
		return refSeq, true
	}
	return 0, false
}

// Template is a string with {name} placeholders: a parameter, a built-in
// (today, now, unix, uuid, seq) or a field of the logged-in user
// (user.FIELD). A placeholder is "{", a name of letters, digits, "_", "-"
// and "." starting with a letter or "_", and "}"; any other brace is a
// literal, so JSON bodies need no escaping. A Template is immutable and safe
// for concurrent use.
type Template struct {
	raw   string
	parts []part
}

// part is a literal (isRef false) or a placeholder.
type part struct {
	lit    string
	isRef  bool
	kind   refKind
	name   string        // parameter name, or the user field without "user."
	param  int           // index into Scenario.Params for refParam, set by bind
	offset time.Duration // refNow: added to the current instant
}

// String returns the template's source text.
func (t *Template) String() string { return t.raw }

// parseTemplate splits s into literals and placeholders. It never fails:
// unknown names are reported by bind.
func parseTemplate(s string) *Template {
	t := &Template{raw: s}
	lit := 0
	for i := 0; i < len(s); i++ {
		if s[i] != '{' {
			continue
		}
		if d, n, ok := nowOffset(s[i+1:]); ok {
			if lit < i {
				t.parts = append(t.parts, part{lit: s[lit:i]})
			}
			t.parts = append(t.parts, part{isRef: true, kind: refNow, name: BuiltinNow, offset: d})
			i += n
			lit = i + 1
			continue
		}
		j := i + 1
		for j < len(s) && isNameByte(s[j], j == i+1) {
			j++
		}
		if j == i+1 || j >= len(s) || s[j] != '}' {
			continue
		}
		if lit < i {
			t.parts = append(t.parts, part{lit: s[lit:i]})
		}
		name := s[i+1 : j]
		p := part{isRef: true, name: name, kind: refParam}
		if k, ok := builtinKind(name); ok {
			p.kind = k
		} else if f, ok := strings.CutPrefix(name, UserPrefix); ok {
			p.kind, p.name = refUser, f
		}
		t.parts = append(t.parts, p)
		i = j
		lit = j + 1
	}
	if lit < len(s) {
		t.parts = append(t.parts, part{lit: s[lit:]})
	}
	return t
}

// nowOffset recognizes "now+D}" or "now-D}" at the start of s (D a Go
// duration) and returns the signed offset and the length up to and
// including the "}".
func nowOffset(s string) (time.Duration, int, bool) {
	rest, ok := strings.CutPrefix(s, BuiltinNow)
	if !ok || rest == "" || rest[0] != '+' && rest[0] != '-' {
		return 0, 0, false
	}
	end := strings.IndexByte(rest, '}')
	if end < 2 {
		return 0, 0, false
	}
	d, err := time.ParseDuration(rest[1:end])
	if err != nil {
		return 0, 0, false
	}
	if rest[0] == '-' {
		d = -d
	}
	return d, len(BuiltinNow) + end + 1, true
}

func isNameByte(c byte, first bool) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c == '_':
		return true
	case c >= '0' && c <= '9', c == '.', c == '-':
		return !first
	}
	return false
}

// bind resolves parameter references against params (name -> index) and
// returns one message per unknown or disallowed reference. userOK says
// whether {user.*} may appear; builtinsOnly allows nothing but built-ins.
func (t *Template) bind(params map[string]int, userOK, builtinsOnly bool) []string {
	var msgs []string
	for i := range t.parts {
		p := &t.parts[i]
		if !p.isRef {
			continue
		}
		switch p.kind {
		case refParam:
			if builtinsOnly {
				msgs = append(msgs, "{"+p.name+"}: only built-ins (today, now, unix, uuid, seq) are allowed here")
				continue
			}
			idx, ok := params[p.name]
			if !ok {
				msgs = append(msgs, "{"+p.name+"}: no such parameter (declare it under params, or use a built-in: today, now, unix, uuid, seq)")
				continue
			}
			p.param = idx
		case refUser:
			if builtinsOnly || !userOK {
				msgs = append(msgs, "{"+UserPrefix+p.name+"}: user fields need a request with auth")
			} else if p.name == "" {
				msgs = append(msgs, "{"+UserPrefix+"}: name a user field")
			}
		}
	}
	return msgs
}

// userFields returns the user fields the template references.
func (t *Template) userFields() []string {
	var out []string
	for _, p := range t.parts {
		if p.isRef && p.kind == refUser {
			out = append(out, p.name)
		}
	}
	return out
}

// expander holds the per-request state of template expansion for one
// worker: values drawn once per request so every occurrence of a
// placeholder in one request agrees.
type expander struct {
	st     *state
	rng    *rand.Rand
	seq    int64
	user   *user
	now    time.Time
	hasNow bool
	uuid   [36]byte
	hasID  bool
	chosen []int  // per parameter: index of the value drawn, -1 for none yet
	key    []byte // scratch for keys of captured parameters
}

// reset starts a new request.
func (e *expander) reset(seq int64, u *user) {
	e.seq, e.user = seq, u
	e.hasNow, e.hasID = false, false
	for i := range e.chosen {
		e.chosen[i] = -1
	}
}

func (e *expander) clockNow() time.Time {
	if !e.hasNow {
		e.now, e.hasNow = e.st.now(), true
	}
	return e.now
}

// appendTo appends t's expansion to dst.
func (e *expander) appendTo(dst []byte, t *Template) []byte {
	for i := range t.parts {
		p := &t.parts[i]
		if !p.isRef {
			dst = append(dst, p.lit...)
			continue
		}
		switch p.kind {
		case refParam:
			if v := e.st.captured[p.param]; v != nil {
				dst = e.appendCaptured(dst, p.param, v)
			} else {
				dst = append(dst, e.param(p.param)...)
			}
		case refUser:
			if e.user != nil {
				dst = append(dst, e.user.field(p.name)...)
			}
		case refToday:
			dst = e.clockNow().In(e.st.sc.Location).AppendFormat(dst, time.DateOnly)
		case refNow:
			dst = e.clockNow().Add(p.offset).UTC().AppendFormat(dst, time.RFC3339)
		case refUnix:
			dst = strconv.AppendInt(dst, e.clockNow().Unix(), 10)
		case refUUID:
			if !e.hasID {
				newUUID(&e.uuid, e.rng)
				e.hasID = true
			}
			dst = append(dst, e.uuid[:]...)
		case refSeq:
			dst = strconv.AppendInt(dst, e.seq, 10)
		}
	}
	return dst
}

// appendCaptured appends the current value of captured parameter i (for
// the request's user's key when it has one); nothing when there is none.
func (e *expander) appendCaptured(dst []byte, i int, v *variable) []byte {
	e.key = e.appendKey(e.key[:0], e.st.sc.Params[i].Key)
	s, _ := v.get(e.key)
	return append(dst, s...)
}

// appendKey appends the key of a captured parameter (k nil: the empty
// key) for the request's user: k's literals and user fields.
func (e *expander) appendKey(dst []byte, k *Template) []byte {
	if k == nil {
		return dst
	}
	for j := range k.parts {
		kp := &k.parts[j]
		switch {
		case !kp.isRef:
			dst = append(dst, kp.lit...)
		case kp.kind == refUser && e.user != nil:
			dst = append(dst, e.user.field(kp.name)...)
		}
	}
	return dst
}

// param returns the value of parameter i for this request, drawing it on
// first use.
func (e *expander) param(i int) string {
	vals := e.st.values[i]
	if e.chosen[i] < 0 {
		if e.st.sc.Params[i].Pick == PickSequence {
			e.chosen[i] = int((e.st.cursors[i].Add(1) - 1) % uint64(len(vals)))
		} else {
			e.chosen[i] = e.rng.IntN(len(vals))
		}
	}
	return vals[e.chosen[i]]
}

// newUUID writes a random RFC 9562 version 4 UUID in its 36-character form.
func newUUID(dst *[36]byte, rng *rand.Rand) {
	var b [16]byte
	hi, lo := rng.Uint64(), rng.Uint64()
	for i := range 8 {
		b[i] = byte(hi >> (56 - 8*i))
		b[8+i] = byte(lo >> (56 - 8*i))
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	const hex = "0123456789abcdef"
	j := 0
	for i, c := range b {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			dst[j] = '-'
			j++
		}
		dst[j], dst[j+1] = hex[c>>4], hex[c&0x0f]
		j += 2
	}
}
