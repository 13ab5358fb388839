package api

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"strings"

	"github.com/cespare/xxhash/v2"
	"github.com/valyala/fasthttp"
)

// cachePolicy is the cacheability a response declares (RFC 9111 §5.2.2).
type cachePolicy uint8

const (
	// noStore: writes and errors, never stored anywhere.
	noStore cachePolicy = iota
	// publicCache: reference data (catalogue); shared caches may store it
	// for s-maxage and are purged by surrogate key on change; browsers
	// keep it briefly.
	publicCache
	// privateCache: a user's own data; only the user agent may store it,
	// and it revalidates (ETag) every time.
	privateCache
	// personalNoStore: responses carrying decrypted personal data or
	// account details; addressed to one user and stored by no cache.
	personalNoStore
)

// Cache-Control values of the policies.
const (
	ccNoStore  = "no-store"
	ccPublic   = "public, max-age=60, s-maxage=300, stale-while-revalidate=30"
	ccPrivate  = "private, no-cache"
	ccPersonal = "private, no-store"
)

// headerSurrogateKey carries the space-separated cache tags of a response
// (the gateway purges by them).
const headerSurrogateKey = "Surrogate-Key"

func (p cachePolicy) header() string {
	switch p {
	case publicCache:
		return ccPublic
	case privateCache:
		return ccPrivate
	case personalNoStore:
		return ccPersonal
	default:
		return ccNoStore
	}
}

// sendJSON answers with status and body (already JSON), the policy's
// Cache-Control and the tags as Surrogate-Key. Cacheable 200 answers to GET
// and HEAD carry a strong ETag (64-bit xxHash of the body), and a request
// whose If-None-Match matches it gets 304 Not Modified with the same
// validators and no body (RFC 9110 §13.1.2, §15.4.5).
func sendJSON(ctx *fasthttp.RequestCtx, status int, body []byte, pol cachePolicy, keys ...string) {
	h := &ctx.Response.Header
	h.Set(fasthttp.HeaderCacheControl, pol.header())
	if len(keys) > 0 {
		h.Set(headerSurrogateKey, strings.Join(keys, " "))
	}
	if (pol == publicCache || pol == privateCache) && status == fasthttp.StatusOK && (ctx.IsGet() || ctx.IsHead()) {
		var tag [20]byte
		tag[0] = '"'
		sum := xxhash.Sum64(body)
		var raw [8]byte
		for i := range raw {
			raw[i] = byte(sum >> (56 - 8*i))
		}
		hex.Encode(tag[1:17], raw[:])
		tag[17] = '"'
		etag := tag[:18]
		h.SetBytesV(fasthttp.HeaderETag, etag)
		if inm := ctx.Request.Header.Peek(fasthttp.HeaderIfNoneMatch); len(inm) > 0 && etagMatches(inm, etag) {
			ctx.SetStatusCode(fasthttp.StatusNotModified)
			ctx.Response.ResetBody()
			return
		}
	}
	ctx.SetStatusCode(status)
	ctx.SetContentType("application/json")
	ctx.SetBody(body)
}

// etagMatches implements If-None-Match's weak comparison (RFC 9110
// §13.1.2): "*" matches anything; otherwise any listed entity tag whose
// opaque part equals ours, with or without W/.
func etagMatches(header, etag []byte) bool {
	header = bytes.TrimSpace(header)
	if bytes.Equal(header, []byte("*")) {
		return true
	}
	for len(header) > 0 {
		var item []byte
		if i := bytes.IndexByte(header, ','); i >= 0 {
			item, header = header[:i], header[i+1:]
		} else {
			item, header = header, nil
		}
		item = bytes.TrimSpace(item)
		item = bytes.TrimPrefix(item, []byte("W/"))
		if bytes.Equal(item, etag) {
			return true
		}
	}
	return false
}

// writeJSON encodes v with encoding/json and sends it.
func writeJSON(ctx *fasthttp.RequestCtx, status int, v any, pol cachePolicy, keys ...string) error {
	body, err := json.Marshal(v)
	if err != nil {
		return err
	}
	sendJSON(ctx, status, body, pol, keys...)
	return nil
}

// noContent answers 204 for a write.
func noContent(ctx *fasthttp.RequestCtx) {
	ctx.Response.Header.Set(fasthttp.HeaderCacheControl, ccNoStore)
	ctx.SetStatusCode(fasthttp.StatusNoContent)
}
