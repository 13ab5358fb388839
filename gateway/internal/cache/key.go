package cache

import (
	"bytes"
	"encoding/binary"
	"slices"
	"strconv"

	"github.com/valyala/fasthttp"
)

// keyVersion starts every key; bump it when the layout changes.
const keyVersion = "k1"

// classGet is the method class of GET and HEAD, which share entries.
var classGet = []byte("G")

// URL is the canonical identity of a request target, as stored in an
// entry and compared by purges: Scheme "http" or "https", Host lower-case
// without the scheme's default port, Path in fasthttp's normalized form
// (dot-segments removed, percent-decoded: the same form routing matches
// and the proxy forwards), Query the parameters stably sorted by name and
// re-encoded. Fragments never reach a server. The slices are borrowed;
// see the function that returned the URL for their lifetime.
type URL struct {
	// Scheme is "http" or "https" (empty in a purge target without one).
	Scheme []byte
	// Host is lower-case, without the scheme's default port.
	Host []byte
	// Path is decoded and normalized.
	Path []byte
	// Query is the canonical query (sorted by name, re-encoded).
	Query []byte
}

// appendPart appends one length-prefixed key part (uvarint length, bytes):
// no choice of values can make two different part lists encode the same.
func appendPart(dst, p []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(p)))
	return append(dst, p...)
}

// appendKey appends the primary key of a URL in a partition: key version,
// method class (GET and HEAD share "G"), scheme, host, path, query,
// partition. Raw tokens and cookies never enter it; the partition of a
// user is an HMAC of the verified subject.
func appendKey(dst []byte, u *URL, partition []byte) []byte {
	dst = append(dst, keyVersion...)
	dst = appendPart(dst, classGet)
	dst = appendPart(dst, u.Scheme)
	dst = appendPart(dst, u.Host)
	dst = appendPart(dst, u.Path)
	dst = appendPart(dst, u.Query)
	return appendPart(dst, partition)
}

// appendLowerHost appends host lower-cased, without the default port of
// scheme.
func appendLowerHost(dst, host []byte, https bool) []byte {
	if i := bytes.LastIndexByte(host, ':'); i >= 0 && bytes.IndexByte(host[i:], ']') < 0 {
		port := host[i+1:]
		if (https && string(port) == "443") || (!https && string(port) == "80") {
			host = host[:i]
		}
	}
	for _, c := range host {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		dst = append(dst, c)
	}
	return dst
}

// kv is one decoded query parameter.
type kv struct{ k, v []byte }

// appendCanonicalQuery appends args sorted stably by name (the relative
// order of repeated names is kept: it can be meaningful) and re-encoded,
// as k=v pairs joined by '&'. scratch is reused between calls.
func appendCanonicalQuery(dst []byte, args *fasthttp.Args, scratch *[]kv) []byte {
	s := (*scratch)[:0]
	for k, v := range args.All() {
		s = append(s, kv{k, v})
	}
	slices.SortStableFunc(s, func(a, b kv) int { return bytes.Compare(a.k, b.k) })
	for i, p := range s {
		if i > 0 {
			dst = append(dst, '&')
		}
		dst = fasthttp.AppendQuotedArg(dst, p.k)
		dst = append(dst, '=')
		dst = fasthttp.AppendQuotedArg(dst, p.v)
	}
	*scratch = s[:0]
	return dst
}

// forEachToken calls f for every non-empty comma-separated token of the
// lines, trimmed of whitespace.
func forEachToken(lines [][]byte, f func(tok []byte)) {
	for _, line := range lines {
		for len(line) > 0 {
			var tok []byte
			if i := bytes.IndexByte(line, ','); i >= 0 {
				tok, line = line[:i], line[i+1:]
			} else {
				tok, line = line, nil
			}
			if tok = bytes.TrimSpace(tok); len(tok) > 0 {
				f(tok)
			}
		}
	}
}

// appendVaryNames appends the canonical form of the Vary field lines:
// lower-case names, deduplicated, sorted, comma-joined. star reports "*";
// credential reports a name whose values are secrets (Authorization,
// Proxy-Authorization, Cookie).
func appendVaryNames(dst []byte, lines [][]byte, scratch *[][]byte) (out []byte, star, credential bool) {
	names := (*scratch)[:0]
	start := len(dst)
	forEachToken(lines, func(tok []byte) {
		if len(tok) == 1 && tok[0] == '*' {
			star = true
			return
		}
		if eqFold(tok, "authorization") || eqFold(tok, "proxy-authorization") || eqFold(tok, "cookie") {
			credential = true
		}
		off := len(dst)
		for _, c := range tok {
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			dst = append(dst, c)
		}
		names = append(names, dst[off:len(dst):len(dst)])
	})
	if len(names) == 0 {
		*scratch = names
		return dst[:start], star, credential
	}
	slices.SortFunc(names, bytes.Compare)
	names = slices.CompactFunc(names, bytes.Equal)
	// Rewrite the names in order after the raw tokens, then move them down.
	mid := len(dst)
	for i, n := range names {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, n...)
	}
	n := copy(dst[start:], dst[mid:])
	*scratch = names[:0]
	return dst[:start+n], star, credential
}

// encodings is the set of content codings the gateway serves, sorted.
type encodings []string

// appendAcceptEncoding appends the canonical Accept-Encoding of a request:
// the served codings it accepts (q > 0, listed or covered by "*"), sorted
// and comma-joined; "" when it accepts none of them (RFC 9110 §12.5.3).
// All field lines count, duplicates included.
func (enc encodings) appendAcceptEncoding(dst []byte, lines [][]byte) []byte {
	var accepted, listed uint32 // bit i: enc[i]
	starQ := -1
	forEachToken(lines, func(tok []byte) {
		name, q := tok, 1000
		if i := bytes.IndexByte(tok, ';'); i >= 0 {
			name = bytes.TrimSpace(tok[:i])
			q = parseQ(tok[i+1:])
		}
		if len(name) == 1 && name[0] == '*' {
			starQ = q
			return
		}
		for i, e := range enc {
			if eqFold(name, e) {
				listed |= 1 << i
				if q > 0 {
					accepted |= 1 << i
				} else {
					accepted &^= 1 << i
				}
			}
		}
	})
	first := true
	for i, e := range enc {
		if accepted&(1<<i) != 0 || (listed&(1<<i) == 0 && starQ > 0) {
			if !first {
				dst = append(dst, ',')
			}
			dst = append(dst, e...)
			first = false
		}
	}
	return dst
}

// parseQ parses the q parameter of an Accept-* member ("q=0.5") into
// thousandths; 1000 when absent, 0 when malformed.
func parseQ(params []byte) int {
	for len(params) > 0 {
		var p []byte
		if i := bytes.IndexByte(params, ';'); i >= 0 {
			p, params = params[:i], params[i+1:]
		} else {
			p, params = params, nil
		}
		p = bytes.TrimSpace(p)
		if len(p) < 2 || (p[0] != 'q' && p[0] != 'Q') || p[1] != '=' {
			continue
		}
		v := p[2:]
		if len(v) == 0 || (v[0] != '0' && v[0] != '1') {
			return 0
		}
		q := int(v[0]-'0') * 1000
		if len(v) > 1 {
			if v[1] != '.' || len(v) > 5 {
				return 0
			}
			mult := 100
			for _, c := range v[2:] {
				if c < '0' || c > '9' {
					return 0
				}
				q += int(c-'0') * mult
				mult /= 10
			}
		}
		return min(q, 1000)
	}
	return 1000
}

// appendFieldValue appends the canonical value of a request field for a
// Vary key: every line joined by ',', members trimmed of whitespace.
func appendFieldValue(dst []byte, lines [][]byte) []byte {
	first := true
	forEachToken(lines, func(tok []byte) {
		if !first {
			dst = append(dst, ',')
		}
		dst = append(dst, tok...)
		first = false
	})
	return dst
}

// appendUint appends n in decimal.
func appendUint(dst []byte, n int64) []byte { return strconv.AppendInt(dst, n, 10) }
