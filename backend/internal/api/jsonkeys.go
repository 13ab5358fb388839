package api

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
)

// duplicateKey finds repeated member names in JSON objects, which
// encoding/json accepts silently (the last one wins) although RFC 8259
// §4 leaves their meaning undefined: a request must say each thing once.
// It returns the JSON path ("records[3].mark") of the first member name
// repeating an earlier one of the same object. Names are compared as
// encoding/json matches them to struct fields (after unescaping,
// case-insensitively), since every request body decodes into structs.
//
// body must be valid JSON (it is scanned after encoding/json accepted
// it). The scan is one pass; each name is compared with the names before
// it in its object, which are at most the struct's fields (a body with
// unknown fields fails decoding first). It does not allocate for bodies
// nested up to 16 deep with up to 64 names open at once.
func duplicateKey(body []byte) (string, bool) {
	var frameBuf [16]keyFrame
	var nameBuf [64]keySpan
	frames, names := frameBuf[:0], nameBuf[:0]
	for i := 0; i < len(body); i++ {
		switch c := body[i]; c {
		case '{':
			frames = append(frames, keyFrame{object: true, expectKey: true, first: len(names)})
		case '[':
			frames = append(frames, keyFrame{first: len(names)})
		case '}', ']':
			if n := len(frames); n > 0 {
				names = names[:frames[n-1].first]
				frames = frames[:n-1]
			}
		case ',':
			if n := len(frames); n > 0 {
				if f := &frames[n-1]; f.object {
					f.expectKey = true
				} else {
					f.index++
				}
			}
		case '"':
			start := i + 1
			i = closingQuote(body, start)
			n := len(frames)
			if n == 0 || !frames[n-1].object || !frames[n-1].expectKey {
				continue
			}
			f := &frames[n-1]
			f.expectKey = false
			key := keySpan{start: start, end: i, escaped: bytes.IndexByte(body[start:i], '\\') >= 0}
			for _, k := range names[f.first:] {
				if sameName(body, k, key) {
					return keyPath(body, frames, names, key), true
				}
			}
			names = append(names, key)
		}
	}
	return "", false
}

// closingQuote returns the index of the quote ending the JSON string
// whose contents start at body[start] (len(body) when there is none).
func closingQuote(body []byte, start int) int {
	for i := start; ; {
		j := bytes.IndexByte(body[i:], '"')
		if j < 0 {
			return len(body)
		}
		i += j
		// The quote is escaped when an odd number of backslashes
		// precede it.
		k := i
		for k > start && body[k-1] == '\\' {
			k--
		}
		if (i-k)%2 == 0 {
			return i
		}
		i++
	}
}

// duplicateKeyMessage explains a repeated member name.
const duplicateKeyMessage = "is given more than once; give each member once"

// keyFrame is one open container of duplicateKey's scan: an array (index
// counts its elements) or an object (its names so far are names[first:]);
// first is where the names of the objects it holds start.
type keyFrame struct {
	object    bool
	expectKey bool
	index     int
	first     int
}

// keySpan is a member name: body[start:end] between its quotes.
type keySpan struct {
	start, end int
	escaped    bool
}

// sameName reports whether two member names match the same struct field.
func sameName(body []byte, a, b keySpan) bool {
	x, y := body[a.start:a.end], body[b.start:b.end]
	if !a.escaped && !b.escaped {
		return bytes.EqualFold(x, y)
	}
	return strings.EqualFold(unescapeName(body, a), unescapeName(body, b))
}

// unescapeName decodes a member name holding escapes.
func unescapeName(body []byte, k keySpan) string {
	var s string
	if !k.escaped || json.Unmarshal(body[k.start-1:k.end+1], &s) != nil {
		return string(body[k.start:k.end])
	}
	return s
}

// keyPath renders the JSON path of name, the last name in the open
// frames.
func keyPath(body []byte, frames []keyFrame, names []keySpan, name keySpan) string {
	var b strings.Builder
	for i, f := range frames {
		if !f.object {
			b.WriteString("[" + strconv.Itoa(f.index) + "]")
			continue
		}
		k := name
		if i < len(frames)-1 {
			// The member holding the next frame is this object's last name.
			k = names[frames[i+1].first-1]
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(clip([]byte(unescapeName(body, k)), 64))
	}
	return b.String()
}
