package cache

import (
	"bytes"
	"io"
	"net"
	"time"
	"unsafe"

	"github.com/valyala/fasthttp"

	"github.com/campshub360/edge/gateway/internal/exchange"
)

// Header names as strings, for PeekAll (which takes a string).
const (
	hdrCacheControl   = "Cache-Control"
	hdrVary           = "Vary"
	hdrAcceptEncoding = "Accept-Encoding"
)

func unsafeString(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

// cacheStatus is one Cache-Status member (RFC 9211 §2).
type cacheStatus struct {
	hit       bool
	fwd       string
	fwdStatus int
	stored    bool
	collapsed bool
	hasTTL    bool
	ttl       time.Duration
	detail    string
}

// setCacheStatus writes the Cache-Status field: this cache's member only
// (an upstream's Cache-Status is not forwarded; the backend is not a cache).
func (c *Cache) setCacheStatus(ctx *fasthttp.RequestCtx, st *state, s cacheStatus) {
	b := append(st.status[:0], Name...)
	if s.hit {
		b = append(b, "; hit"...)
	}
	if s.fwd != "" {
		b = append(b, "; fwd="...)
		b = append(b, s.fwd...)
		if s.fwdStatus > 0 {
			b = append(b, "; fwd-status="...)
			b = appendUint(b, int64(s.fwdStatus))
		}
	}
	if s.stored {
		b = append(b, "; stored"...)
	}
	if s.collapsed {
		b = append(b, "; collapsed"...)
	}
	if s.hasTTL {
		b = append(b, "; ttl="...)
		b = appendUint(b, int64(s.ttl/time.Second))
	}
	if s.detail != "" {
		b = append(b, "; detail="...)
		b = append(b, s.detail...)
	}
	st.status = b
	ctx.Response.Header.SetBytesKV(hCacheStatus, b)
}

// writeStatus sets Cache-Status on a forwarded response that was not
// served from an entry.
func (c *Cache) writeStatus(ctx *fasthttp.RequestCtx, st *state, fwd, detail string) {
	s := cacheStatus{fwd: fwd, detail: detail}
	if fwd != "" && fwd != "bypass" {
		s.fwdStatus = ctx.Response.StatusCode()
	}
	c.setCacheStatus(ctx, st, s)
}

// storedHeader reports whether a response field is kept in an entry.
// Framing, hop-by-hop, per-message and per-request fields are not; Date is
// managed by the server; Set-Cookie responses are never stored.
func storedHeader(name []byte) bool {
	switch len(name) {
	case 3:
		return !eqFold(name, "age")
	case 4:
		return !eqFold(name, "date")
	case 6:
		return !eqFold(name, "server")
	case 7:
		return !eqFold(name, "trailer") && !eqFold(name, "upgrade")
	case 10:
		return !eqFold(name, "connection") && !eqFold(name, "keep-alive") && !eqFold(name, "set-cookie")
	case 12:
		return !eqFold(name, "x-request-id") && !eqFold(name, "cache-status")
	case 13:
		return !eqFold(name, "surrogate-key")
	case 14:
		return !eqFold(name, "content-length")
	case 16:
		return !eqFold(name, "proxy-connection")
	case 17:
		return !eqFold(name, "transfer-encoding") && !eqFold(name, "surrogate-control")
	}
	return true
}

// notModifiedHeader reports the fields a 304 carries (RFC 9110 §15.4.5).
func notModifiedHeader(name []byte) bool {
	return eqFold(name, "etag") || eqFold(name, "cache-control") || eqFold(name, "content-location") ||
		eqFold(name, "expires") || eqFold(name, "vary")
}

// writeEntry answers the client from a stored item: the stored status,
// header fields and body (HEAD: the server drops the body), Age, and
// Cache-Status. A 200 whose validators match the client's conditionals
// (RFC 9110 §13.1.2 If-None-Match with weak comparison, else §13.1.3
// If-Modified-Since) becomes a 304. For hits (fwd "") the conditionals are
// read from the request; after a forward, from the saved copies. The body
// is not copied: items are immutable. It does not allocate.
func (c *Cache) writeEntry(ctx *fasthttp.RequestCtx, st *state, it *Item, age time.Duration, s cacheStatus, inm, ims []byte) {
	resp := &ctx.Response
	if s.fwd == "" {
		inm = ctx.Request.Header.PeekBytes(hIfNoneMatch)
		ims = ctx.Request.Header.PeekBytes(hIfModSince)
	} else {
		resp.Reset()
	}
	notMod := it.Status == fasthttp.StatusOK && notModified(it, inm, ims)
	if notMod {
		resp.SetStatusCode(fasthttp.StatusNotModified)
	} else {
		resp.SetStatusCode(it.Status)
	}
	block := it.Headers
	for {
		name, value, rest, ok := nextHeader(block)
		if !ok {
			break
		}
		block = rest
		if notMod && !notModifiedHeader(name) {
			continue
		}
		resp.Header.AddBytesKV(name, value)
	}
	st.buf = appendUint(st.buf[:0], int64(max(0, age/time.Second)))
	resp.Header.SetBytesKV(hAge, st.buf)
	s.hasTTL, s.ttl = true, time.Duration(it.Lifetime)-age
	c.setCacheStatus(ctx, st, s)
	if !notMod {
		resp.SetBodyRaw(it.Body)
	}
}

// writeHit answers a hit.
func (c *Cache) writeHit(ctx *fasthttp.RequestCtx, st *state, it *Item, age time.Duration) {
	c.writeEntry(ctx, st, it, age, cacheStatus{hit: true}, nil, nil)
}

// writeEntryCollapsed answers a request that waited for another's fetch.
func (c *Cache) writeEntryCollapsed(ctx *fasthttp.RequestCtx, st *state, it *Item, age time.Duration) {
	c.writeEntry(ctx, st, it, age, cacheStatus{hit: true, collapsed: true}, nil, nil)
}

// notModified evaluates the client's conditionals against an entry.
func notModified(it *Item, inm, ims []byte) bool {
	if len(inm) > 0 {
		return etagMatch(inm, it.ETag)
	}
	if len(ims) > 0 && it.LastModified > 0 {
		t, err := fasthttp.ParseHTTPDate(ims)
		return err == nil && it.LastModified <= t.Unix()
	}
	return false
}

// etagMatch reports whether the If-None-Match list matches etag using the
// weak comparison (RFC 9110 §8.8.3.2): "*" matches any stored entity;
// W/ prefixes are ignored.
func etagMatch(list, etag []byte) bool {
	if len(etag) == 0 {
		return false
	}
	etag = bytes.TrimPrefix(etag, []byte("W/"))
	for len(list) > 0 {
		list = bytes.TrimLeft(list, " \t,")
		if len(list) == 0 {
			break
		}
		if list[0] == '*' {
			return true
		}
		list = bytes.TrimPrefix(list, []byte("W/"))
		if len(list) == 0 || list[0] != '"' {
			// Malformed member: skip to the next comma.
			if i := bytes.IndexByte(list, ','); i >= 0 {
				list = list[i+1:]
				continue
			}
			return false
		}
		end := bytes.IndexByte(list[1:], '"')
		if end < 0 {
			return false
		}
		tag := list[:end+2]
		if bytes.Equal(tag, etag) {
			return true
		}
		list = list[end+2:]
	}
	return false
}

// admit decides whether the response in ctx may be stored and, if so,
// stores it (with a Vary marker when it varies) and returns the item.
// Otherwise it returns nil and the Cache-Status detail.
func (c *Cache) admit(ctx *fasthttp.RequestCtx, st *state, p *Policy, req RequestDirectives,
	reqTime, respTime int64, auth, user bool) (*Item, Placement, string) {
	resp := &ctx.Response
	h := &resp.Header
	status := resp.StatusCode()
	cc := ParseResponseDirectives(h.PeekAll(hdrCacheControl))
	maxObj := c.store.maxObject
	if p.MaxObjectBytes > 0 && p.MaxObjectBytes < maxObj {
		maxObj = p.MaxObjectBytes
	}
	complete, tooLarge := true, false
	if resp.IsBodyStream() {
		// A streamed body is read whole only when its length is declared
		// and within the limit; a short read is a framing error.
		cl := h.ContentLength()
		if cl < 0 || cl > maxObj {
			complete = false
			tooLarge = cl > maxObj
		} else {
			buf := make([]byte, cl)
			_, err := io.ReadFull(resp.BodyStream(), buf)
			_ = resp.CloseBodyStream()
			if err != nil {
				badGateway(ctx)
				return nil, NotStored, DetailIncomplete
			}
			resp.SetBodyRaw(buf)
		}
	}
	var body []byte
	if complete {
		body = resp.Body()
		// A declared length must match what arrived (RFC 9112 §6.3); a
		// handler-built response may leave it unset (0).
		if cl := h.ContentLength(); cl > 0 && cl != len(body) {
			complete = false
		}
		if len(body) > maxObj {
			tooLarge = true
		}
	}
	ev := h.PeekBytes(hExpires)
	var expires int64
	expOK := false
	if len(ev) > 0 {
		if t, err := fasthttp.ParseHTTPDate(ev); err == nil {
			expires, expOK = t.Unix(), true
		}
	}
	var date int64
	if dv := h.PeekBytes(hDate); len(dv) > 0 {
		if t, err := fasthttp.ParseHTTPDate(dv); err == nil {
			date = t.Unix()
		}
	}
	var star, cred bool
	st.vary, star, cred = appendVaryNames(st.vary[:0], h.PeekAll(hdrVary), &st.names)

	// Header block, Set-Cookie and Surrogate-Key in one pass.
	setCookie := false
	st.hdrs = st.hdrs[:0]
	st.tags = st.tags[:0]
	for k, v := range h.All() {
		switch {
		case eqFold(k, "set-cookie"):
			setCookie = true
		case eqFold(k, "surrogate-key"):
			for _, t := range bytes.Fields(v) {
				if len(st.tags) > 0 {
					st.tags = append(st.tags, ' ')
				}
				st.tags = append(st.tags, t...)
			}
		}
		if storedHeader(k) {
			st.hdrs = appendHeader(st.hdrs, k, v)
		}
	}
	h.DelBytes(hSurrogateKey)

	placement, detail := Storability(StoreInput{
		Status: status, Req: req, Resp: cc, HasExpires: len(ev) > 0, VaryStar: star, VaryCredential: cred,
		SetCookie: setCookie, Authorization: auth, PerUserRoute: p.PerUser, Subject: user,
		Complete: complete, TooLarge: tooLarge,
	})
	if placement == NotStored {
		return nil, NotStored, detail
	}
	var partition []byte
	primary := st.pkey
	if placement == PerUser {
		partition, primary = st.part, st.ukey
	}
	key := primary
	if len(st.vary) > 0 {
		st.vkey = c.appendVariant(st.vkey[:0], primary, st.vary, &ctx.Request.Header)
		key = st.vkey
	}
	dateForLifetime := date
	if dateForLifetime == 0 {
		dateForLifetime = respTime / int64(time.Second)
	}
	ageVal, _ := parseDelta(h.Peek("Age"))
	var lm int64
	if lv := h.PeekBytes(hLastModified); len(lv) > 0 {
		if t, err := fasthttp.ParseHTTPDate(lv); err == nil {
			lm = t.Unix()
		}
	}
	e := Entry{
		Kind:         KindResponse,
		ResponseTime: respTime,
		InitialAge:   int64(InitialAge(ageVal, date, reqTime, respTime)),
		Lifetime:     int64(FreshnessLifetime(cc, len(ev) > 0, expOK, expires, dateForLifetime)),
		LastModified: lm,
		Status:       status,
		Key:          key, Host: st.url.Host, Path: st.url.Path, Query: st.url.Query,
		Partition: partition, ETag: h.PeekBytes(hETag), Vary: st.vary, Surrogate: st.tags,
		Headers: st.hdrs, Body: body,
	}
	if cc.StaleWhileRevalidate > 0 {
		e.SWR = cc.StaleWhileRevalidate * int64(time.Second)
	}
	if cc.StaleIfError > 0 {
		e.SIE = cc.StaleIfError * int64(time.Second)
	}
	if cc.NoCache {
		e.Flags |= FlagNoCache
	}
	if cc.MustRevalidate || cc.ProxyRevalidate || cc.SMaxAge != Absent {
		e.Flags |= FlagMustRevalidate
	}
	if sharedAuthOK(cc) {
		e.Flags |= FlagAuthOK
	}
	if e.Size() > c.store.maxObject {
		return nil, NotStored, DetailTooLarge
	}
	blob := e.AppendBinary(make([]byte, 0, e.Size()))
	if len(st.vary) > 0 {
		m := Entry{Kind: KindVary, ResponseTime: respTime, Key: primary, Host: st.url.Host, Path: st.url.Path,
			Query: st.url.Query, Partition: partition, Vary: st.vary}
		if err := c.store.Put(&m, m.AppendBinary(make([]byte, 0, m.Size()))); err != nil {
			return nil, NotStored, DetailStoreFull
		}
	}
	if err := c.store.Put(&e, blob); err != nil {
		if err == ErrTooLarge && placement == PerUser {
			return nil, NotStored, DetailQuota
		}
		return nil, NotStored, DetailStoreFull
	}
	it := &Item{blob: blob}
	if DecodeEntry(blob, &it.Entry) != nil {
		return nil, NotStored, DetailStoreFull
	}
	return it, placement, ""
}

// mergeNotModified rebuilds the response in ctx as the stored response
// freshened by the 304's header fields (RFC 9111 §3.2, §4.3.4): every
// field of the 304 replaces the stored fields of that name, except
// Content-Length and the representation's Content-Type and
// Content-Encoding.
func (c *Cache) mergeNotModified(ctx *fasthttp.RequestCtx, st *state, stored *Item) {
	resp := &ctx.Response
	st.upd = st.upd[:0]
	for k, v := range resp.Header.All() {
		if !storedHeader(k) || eqFold(k, "content-type") || eqFold(k, "content-encoding") {
			if eqFold(k, "date") || eqFold(k, "surrogate-key") {
				st.upd = appendHeader(st.upd, k, v)
			}
			continue
		}
		st.upd = appendHeader(st.upd, k, v)
	}
	resp.Reset()
	resp.SetStatusCode(stored.Status)
	block := stored.Headers
	for {
		name, value, rest, ok := nextHeader(block)
		if !ok {
			break
		}
		block = rest
		if !blockHas(st.upd, name) {
			resp.Header.AddBytesKV(name, value)
		}
	}
	block = st.upd
	for {
		name, value, rest, ok := nextHeader(block)
		if !ok {
			break
		}
		block = rest
		resp.Header.AddBytesKV(name, value)
	}
	if !blockHas(st.upd, hSurrogateKey) && len(stored.Surrogate) > 0 {
		resp.Header.SetBytesKV(hSurrogateKey, stored.Surrogate)
	}
	resp.SetBodyRaw(stored.Body)
	resp.Header.SetContentLength(len(stored.Body))
}

func blockHas(block, name []byte) bool {
	for {
		n, _, rest, ok := nextHeader(block)
		if !ok {
			return false
		}
		if bytes.EqualFold(n, name) {
			return true
		}
		block = rest
	}
}

// maybeRefreshAhead starts a background refresh of a hot entry (one hit
// before in the window) that is within the refresh-ahead window of its
// expiry, so that it never goes stale while in demand.
func (c *Cache) maybeRefreshAhead(ctx *fasthttp.RequestCtx, st *state, p *Policy, it *Item, now int64, next fasthttp.RequestHandler) {
	if c.ahead <= 0 || it.Lifetime <= 0 || it.Flags&FlagNoCache != 0 {
		return
	}
	ttl := it.TTL(now)
	if ttl > time.Duration(float64(it.Lifetime)*c.ahead) {
		return
	}
	if it.hits.Add(1) < 2 || !it.refreshing.CompareAndSwap(false, true) {
		return
	}
	c.background(ctx, st, p, it, next)
}

// background revalidates or refreshes an entry off the request path: the
// request is copied (the handler's buffers are reused after it returns)
// and sent through the rest of the chain as GET, at most MaxBackground at
// a time and once per URL (it joins the URL's flight or skips).
func (c *Cache) background(ctx *fasthttp.RequestCtx, st *state, p *Policy, it *Item, next fasthttp.RequestHandler) {
	c.closeMu.RLock()
	defer c.closeMu.RUnlock()
	if c.closed.Load() {
		it.refreshing.Store(false)
		return
	}
	select {
	case c.bg <- struct{}{}:
	default:
		it.refreshing.Store(false)
		return
	}
	req := fasthttp.AcquireRequest()
	ctx.Request.CopyTo(req)
	req.Header.SetMethodBytes(mGET)
	req.Header.DelBytes(hCacheControl)
	src := exchange.From(ctx)
	exCopy := exchange.Exchange{
		Start: time.Time{}, RequestID: append([]byte(nil), src.RequestID...), PeerTrusted: src.PeerTrusted,
		ClientIP: src.ClientIP, Route: src.Route, Matched: src.Matched, Subject: src.Subject, Role: src.Role,
	}
	bst := c.acquire()
	bst.copyKeys(st)
	bst.background = true
	auth := len(req.Header.PeekBytes(hAuthorization)) > 0
	user := len(bst.part) > 0
	var conn net.Conn = bgConn{remote: ctx.RemoteAddr()}
	if ctx.IsTLS() {
		conn = tlsBGConn{bgConn{remote: ctx.RemoteAddr()}}
	}
	c.bgWG.Add(1)
	go func() {
		defer c.bgWG.Done()
		defer func() { <-c.bg }()
		defer c.release(bst)
		defer it.refreshing.Store(false)
		var bctx fasthttp.RequestCtx
		bctx.Init2(conn, discardLogger{}, true)
		req.CopyTo(&bctx.Request)
		fasthttp.ReleaseRequest(req)
		ex := exchange.From(&bctx)
		*ex = exCopy
		fl, leader := c.flights.join(bst.pkey)
		if !leader {
			return
		}
		none := RequestDirectives{MaxAge: Absent, MaxStale: Absent, MinFresh: Absent, StaleIfError: Absent}
		c.fetch(&bctx, bst, p, none, it, false, auth, user, "stale", "", next, fl)
	}()
}

// copyKeys copies the URL and keys of another state.
func (st *state) copyKeys(o *state) {
	st.host = append(st.host[:0], o.host...)
	st.path = append(st.path[:0], o.path...)
	st.query = append(st.query[:0], o.query...)
	st.url = URL{Scheme: o.url.Scheme, Host: st.host, Path: st.path, Query: st.query}
	st.pkey = append(st.pkey[:0], o.pkey...)
	st.ukey = append(st.ukey[:0], o.ukey...)
	st.part = append(st.part[:0], o.part...)
}

// serveUnsafe forwards an unsafe request and, on a non-error response,
// invalidates the target URI and the same-origin Location and
// Content-Location (RFC 9111 §4.4), here and cluster-wide.
func (c *Cache) serveUnsafe(ctx *fasthttp.RequestCtx, next fasthttp.RequestHandler) {
	st := c.acquire()
	defer c.release(st)
	ex := exchange.From(ctx)
	c.buildURL(ctx, ex, st)
	ctx.URI().CopyTo(&st.uri)
	method := append(st.buf[:0], ctx.Method()...)
	st.buf = method
	next(ctx)
	if !Invalidates(method, ctx.Response.StatusCode()) {
		return
	}
	urls := []URL{{Scheme: st.url.Scheme, Host: st.url.Host, Path: st.url.Path, Query: st.url.Query}}
	for _, name := range [][]byte{hLocation, hContentLoc} {
		if v := ctx.Response.Header.PeekBytes(name); len(v) > 0 {
			if u, ok := sameOrigin(&st.uri, v); ok {
				urls = append(urls, u)
			}
		}
	}
	c.invalidateURLs(urls, SourceWrite)
}

// sameOrigin resolves ref against base and returns its canonical URL when
// it has the same scheme and host (RFC 9111 §4.4 "same origin").
func sameOrigin(base *fasthttp.URI, ref []byte) (URL, bool) {
	var u fasthttp.URI
	base.CopyTo(&u)
	u.UpdateBytes(ref)
	if !bytes.EqualFold(u.Scheme(), base.Scheme()) || !bytes.EqualFold(u.Host(), base.Host()) {
		return URL{}, false
	}
	https := bytes.EqualFold(u.Scheme(), schemeHTTPS)
	var scratch []kv
	out := URL{Scheme: append([]byte(nil), u.Scheme()...), Host: appendLowerHost(nil, u.Host(), https),
		Path: append([]byte(nil), u.Path()...)}
	out.Query = appendCanonicalQuery(nil, u.QueryArgs(), &scratch)
	return out, true
}
