// Package cache is the gateway's RFC 9111 shared response cache, in
// memory, and its pipeline stage.
//
// Layout: directives.go parses Cache-Control (RFC 9111 §5.2); policy.go
// holds the storing, freshness, age and reuse decisions as pure functions;
// key.go builds keys from length-prefixed canonical parts; entry.go is the
// binary entry format (per-entry freshness, validators and stale windows
// in a small header, since bigcache's life window is global); store.go is
// the bigcache store with a hot tier of decoded entries, the purge index
// and per-user quotas; flight.go coalesces concurrent misses; this file is
// the middleware; invalidate.go and fanout.go are purges and their
// cluster-wide fan-out over Redis Pub/Sub.
//
// What is stored: GET responses (HEAD is answered from them; a HEAD miss
// is fetched as GET) on routes with caching enabled. Partitions: the shared
// one, and per verified user (an HMAC of the subject) for responses marked
// private on routes configured for per-user caching. Responses carry Age
// and a Cache-Status field (RFC 9211) named "campshub360".
package cache

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"hash"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/valyala/fasthttp"

	"github.com/campshub360/edge/gateway/internal/exchange"
	"github.com/campshub360/edge/shared/problem"
)

// Name is this cache's identifier in Cache-Status (RFC 9211 §2).
const Name = "campshub360"

// Options configure a Cache.
type Options struct {
	// Store sizes the entry store.
	Store StoreOptions
	// Encodings are the content codings the gateway serves; Accept-Encoding
	// is reduced to them, in keys and towards the origin.
	Encodings []string
	// PartitionKey is the HMAC key that turns a verified subject into a
	// partition id. Random per process is fine: purges carry subjects.
	PartitionKey []byte
	// CoalesceWait bounds how long a request waits for another request's
	// origin fetch of the same URL before fetching itself.
	CoalesceWait time.Duration
	// HitForMiss is how long an unstorable response stops coalescing for
	// its URL.
	HitForMiss time.Duration
	// RefreshAhead is the fraction of the freshness lifetime before expiry
	// within which a hot entry is refreshed in the background (0: off).
	RefreshAhead float64
	// MaxBackground caps concurrent background fetches (revalidation,
	// refresh-ahead); more are skipped.
	MaxBackground int
	// Registry receives the cache metrics.
	Registry prometheus.Registerer
	// Log receives fan-out and background-fetch problems.
	Log *slog.Logger
	// Now is the clock.
	Now func() time.Time
	// Redis, when set, carries cluster-wide invalidations (fanout.go).
	Redis *redis.Client
	// Channel is the Pub/Sub channel (DefaultChannel when empty).
	Channel string
	// InstanceID names this process as the origin of its messages.
	InstanceID string
}

// Cache is the response cache. Create with New; Close stops its
// background work. Safe for concurrent use.
type Cache struct {
	store    *Store
	enc      encodings
	macKey   []byte
	wait     time.Duration
	hfm      time.Duration
	ahead    float64
	now      func() time.Time
	log      *slog.Logger
	metrics  *Metrics
	flights  flights
	bg       chan struct{}
	bgWG     sync.WaitGroup
	states   sync.Pool
	fanout   *fanout
	waiting  atomic.Int64
	closed   atomic.Bool
	closeMu  sync.RWMutex
	instance string
}

// New creates a Cache, registers its metrics and, with Redis, subscribes to
// the invalidation channel.
func New(o Options) (*Cache, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if len(o.PartitionKey) == 0 {
		return nil, errors.New("cache: partition key required")
	}
	if o.MaxBackground <= 0 {
		o.MaxBackground = 64
	}
	c := &Cache{
		enc: append(encodings(nil), o.Encodings...), macKey: o.PartitionKey, wait: o.CoalesceWait,
		hfm: o.HitForMiss, ahead: o.RefreshAhead, now: o.Now, log: o.Log,
		bg: make(chan struct{}, o.MaxBackground), instance: o.InstanceID,
	}
	if len(c.enc) > 32 {
		return nil, errors.New("cache: at most 32 encodings")
	}
	c.flights.m = map[string]*flight{}
	userEvict := o.Store.OnEvict
	o.Store.OnEvict = func() {
		if c.metrics != nil {
			c.metrics.evictions.Inc()
		}
		if userEvict != nil {
			userEvict()
		}
	}
	st, err := NewStore(o.Store)
	if err != nil {
		return nil, err
	}
	c.store = st
	if o.Registry != nil {
		m, err := newMetrics(o.Registry, st)
		if err != nil {
			st.Close()
			return nil, err
		}
		c.metrics = m
	} else {
		c.metrics = newUnregisteredMetrics(st)
	}
	c.fanout = startFanout(c, o.Redis, o.Channel, o.InstanceID)
	return c, nil
}

// Close stops the invalidation subscriber, waits for background fetches
// and releases the store.
func (c *Cache) Close() error {
	c.closeMu.Lock()
	c.closed.Store(true)
	c.closeMu.Unlock()
	c.fanout.close()
	c.bgWG.Wait()
	return c.store.Close()
}

// Store returns the entry store (for metrics and tests).
func (c *Cache) Store() *Store { return c.store }

// Policy is the compiled caching policy of one route. Build with
// Cache.Policy; immutable.
type Policy struct {
	// Route is the route name (metric label).
	Route string
	// PerUser stores private responses in the verified user's partition.
	PerUser bool
	// MaxObjectBytes is the route's largest stored body (0: store limit).
	MaxObjectBytes int

	counters [nResults]prometheus.Counter
}

// Policy compiles a route's policy, resolving its metric series once so
// the request path does not look them up.
func (c *Cache) Policy(route string, perUser bool, maxObject int) *Policy {
	p := &Policy{Route: route, PerUser: perUser, MaxObjectBytes: maxObject}
	for r := range p.counters {
		p.counters[r] = c.metrics.requests.WithLabelValues(route, resultNames[r])
	}
	return p
}

// state is the pooled per-request scratch space.
type state struct {
	url       URL
	host      []byte
	path      []byte
	query     []byte
	pkey      []byte // primary key, shared partition
	ukey      []byte // primary key, user partition
	vkey      []byte // variant key
	part      []byte // user partition id
	qs        []kv
	names     [][]byte
	inm, ims  []byte
	buf       []byte
	status    []byte
	hk        [8]byte
	mac       hash.Hash
	sum       []byte
	vary      []byte
	hdrs      []byte
	tags      []byte
	upd       []byte
	uri       fasthttp.URI
	validated bool
	// background marks a state used by a background fetch.
	background bool
}

func (c *Cache) acquire() *state {
	st, _ := c.states.Get().(*state)
	if st == nil {
		st = &state{mac: hmac.New(sha256.New, c.macKey)}
	}
	return st
}

func (c *Cache) release(st *state) {
	st.validated, st.background = false, false
	st.part = st.part[:0]
	c.states.Put(st)
}

var (
	hCacheControl   = []byte("Cache-Control")
	hCacheStatus    = []byte("Cache-Status")
	hAge            = []byte("Age")
	hRange          = []byte("Range")
	hAuthorization  = []byte("Authorization")
	hIfNoneMatch    = []byte("If-None-Match")
	hIfModSince     = []byte("If-Modified-Since")
	hAcceptEncoding = []byte("Accept-Encoding")
	hXFHost         = []byte("X-Forwarded-Host")
	hXFProto        = []byte("X-Forwarded-Proto")
	hSurrogateKey   = []byte("Surrogate-Key")
	hETag           = []byte("ETag")
	hLastModified   = []byte("Last-Modified")
	hExpires        = []byte("Expires")
	hDate           = []byte("Date")
	hLocation       = []byte("Location")
	hContentLoc     = []byte("Content-Location")
	mGET            = []byte("GET")
	mHEAD           = []byte("HEAD")
	schemeHTTPS     = []byte("https")
	schemeHTTP      = []byte("http")
)

// Middleware returns the cache stage. policy returns the matched route's
// policy, or nil when the route does not cache (requests then pass
// through untouched, except that unsafe methods still invalidate).
func (c *Cache) Middleware(policy func(ctx *fasthttp.RequestCtx) *Policy, next fasthttp.RequestHandler) fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) {
		m := ctx.Method()
		head := bytes.Equal(m, mHEAD)
		if !head && !bytes.Equal(m, mGET) {
			if Unsafe(m) {
				c.serveUnsafe(ctx, next)
				return
			}
			next(ctx)
			return
		}
		p := policy(ctx)
		if p == nil {
			next(ctx)
			return
		}
		c.serve(ctx, p, head, next)
	}
}

// serve handles a GET or HEAD on a caching route.
func (c *Cache) serve(ctx *fasthttp.RequestCtx, p *Policy, head bool, next fasthttp.RequestHandler) {
	ex := exchange.From(ctx)
	st := c.acquire()
	defer c.release(st)
	rh := &ctx.Request.Header
	req := ParseRequestDirectives(rh.PeekAll(hdrCacheControl))
	if len(rh.PeekBytes(hRange)) > 0 || req.NoStore {
		// Range requests bypass the cache (partial content is never
		// stored); a request no-store must not be stored nor answered
		// from storage (RFC 9111 §5.2.1.5).
		fwd, detail := "bypass", "range"
		if req.NoStore {
			fwd, detail = "request", DetailRequestNoStore
		}
		c.passThrough(ctx, next)
		c.writeStatus(ctx, st, fwd, detail)
		c.count(st, ex, p, resBypass)
		return
	}
	c.buildURL(ctx, ex, st)
	auth := len(rh.PeekBytes(hAuthorization)) > 0
	user := p.PerUser && ex.Subject != ""
	st.pkey = appendKey(st.pkey[:0], &st.url, nil)
	if user {
		st.part = c.partitionID(st, ex.Subject)
		st.ukey = appendKey(st.ukey[:0], &st.url, st.part)
	}
	now := c.now().UnixNano()

	var it *Item
	fwd, detail, hfm := "uri-miss", "", false
	if user {
		it, fwd, _ = c.lookup(ctx, st, st.ukey, now)
	}
	if it == nil {
		var f2 string
		it, f2, hfm = c.lookup(ctx, st, st.pkey, now)
		if fwd == "uri-miss" {
			fwd = f2
		}
		if it != nil && auth && !AuthorizedReuse(&it.Entry) {
			it, fwd, detail = nil, "miss", DetailAuthorization
		}
	}

	var stored *Item
	if it != nil {
		use, age := Usability(&it.Entry, req, now)
		switch use {
		case UseFresh:
			c.writeHit(ctx, st, it, age)
			c.count(st, ex, p, resHit)
			c.maybeRefreshAhead(ctx, st, p, it, now, next)
			return
		case UseStale:
			c.writeHit(ctx, st, it, age)
			c.count(st, ex, p, resStale)
			return
		case UseStaleRevalidate:
			c.writeEntry(ctx, st, it, age, cacheStatus{hit: true, detail: "stale-while-revalidate"}, nil, nil)
			c.count(st, ex, p, resStale)
			if it.refreshing.CompareAndSwap(false, true) {
				c.background(ctx, st, p, it, next)
			}
			return
		case UseRevalidate:
			fwd, stored = "stale", it
		case UseRequest:
			fwd, stored = "request", it
		}
	}
	if req.OnlyIfCached {
		// RFC 9111 §5.2.1.7: 504 when no stored response can be used.
		problem.Write(ctx, problem.New(fasthttp.StatusGatewayTimeout, "not-cached", "Gateway Timeout",
			"No stored response satisfies only-if-cached."))
		c.writeStatus(ctx, st, fwd, "only-if-cached")
		c.count(st, ex, p, resMiss)
		return
	}
	if hfm && stored == nil {
		// A recent response for this URL was not storable: forward as is,
		// in parallel, and store only if it has become storable.
		c.forwardHitForMiss(ctx, st, p, req, head, auth, user, next)
		return
	}

	// Coalesce: one origin fetch per URL; the others wait for it.
	fl, leader := c.flights.join(st.pkey)
	if !leader {
		if c.awaitFlight(ctx, st, fl, p, req, head, auth, user, now) {
			return
		}
		c.fetch(ctx, st, p, req, stored, head, auth, user, fwd, detail, next, nil)
		return
	}
	c.fetch(ctx, st, p, req, stored, head, auth, user, fwd, detail, next, fl)
}

// lookup reads the entry for a primary key, following a Vary marker to the
// request's variant. It returns the usable response item or nil, the
// Cache-Status fwd reason for a miss, and whether a hit-for-miss marker is
// active.
func (c *Cache) lookup(ctx *fasthttp.RequestCtx, st *state, key []byte, now int64) (*Item, string, bool) {
	it := c.store.Get(key, &st.hk)
	if it == nil {
		return nil, "uri-miss", false
	}
	switch it.Kind {
	case KindHitForMiss:
		if now-it.ResponseTime < it.Lifetime {
			return nil, "miss", true
		}
		return nil, "uri-miss", false
	case KindVary:
		st.vkey = c.appendVariant(st.vkey[:0], key, it.Vary, &ctx.Request.Header)
		v := c.store.Get(st.vkey, &st.hk)
		if v == nil || v.Kind != KindResponse {
			return nil, "vary-miss", false
		}
		return v, "", false
	}
	return it, "", false
}

// appendVariant appends the variant key: the primary key, "V", then each
// Vary field name and the request's canonical value of it.
func (c *Cache) appendVariant(dst, primary, names []byte, h *fasthttp.RequestHeader) []byte {
	dst = append(dst, primary...)
	dst = append(dst, 'V')
	for len(names) > 0 {
		var n []byte
		if i := bytes.IndexByte(names, ','); i >= 0 {
			n, names = names[:i], names[i+1:]
		} else {
			n, names = names, nil
		}
		dst = appendPart(dst, n)
		lines := h.PeekAll(b2s(n))
		off := len(dst)
		// Reserve room for the uvarint length by building the value
		// after it: values are built in place, then length-prefixed.
		if eqFold(n, "accept-encoding") {
			dst = c.enc.appendAcceptEncoding(dst, lines)
		} else {
			dst = appendFieldValue(dst, lines)
		}
		dst = prefixLength(dst, off)
	}
	return dst
}

// prefixLength turns dst[off:] into a length-prefixed part in place.
func prefixLength(dst []byte, off int) []byte {
	n := len(dst) - off
	var lb [10]byte
	l := putUvarint(lb[:], uint64(n))
	dst = append(dst, lb[:l]...)
	copy(dst[off+l:], dst[off:off+n])
	copy(dst[off:], lb[:l])
	return dst
}

func putUvarint(b []byte, x uint64) int {
	i := 0
	for x >= 0x80 {
		b[i] = byte(x) | 0x80
		x >>= 7
		i++
	}
	b[i] = byte(x)
	return i + 1
}

// buildURL fills st.url from the request: the scheme the client used (or
// a trusted proxy reported), the lower-case host, fasthttp's normalized
// path and the canonical query.
func (c *Cache) buildURL(ctx *fasthttp.RequestCtx, ex *exchange.Exchange, st *state) {
	https := ctx.IsTLS()
	if ex.PeerTrusted {
		if p := ctx.Request.Header.PeekBytes(hXFProto); len(p) > 0 {
			https = eqFold(p, "https")
		}
	}
	st.url.Scheme = schemeHTTP
	if https {
		st.url.Scheme = schemeHTTPS
	}
	st.host = appendLowerHost(st.host[:0], ctx.Host(), https)
	st.path = append(st.path[:0], ctx.Path()...)
	st.query = appendCanonicalQuery(st.query[:0], ctx.QueryArgs(), &st.qs)
	st.url.Host, st.url.Path, st.url.Query = st.host, st.path, st.query
}

// partitionID returns the user partition id of subject: "u" and the hex
// of the first 16 bytes of HMAC-SHA256(partition key, subject).
func (c *Cache) partitionID(st *state, subject string) []byte {
	st.mac.Reset()
	st.buf = append(st.buf[:0], subject...)
	st.mac.Write(st.buf)
	st.sum = st.mac.Sum(st.sum[:0])
	out := append(st.part[:0], 'u')
	return hex.AppendEncode(out, st.sum[:16])
}

// PartitionFor returns the partition id of a verified subject, as purges
// name it ("" for the empty subject: the shared partition).
func (c *Cache) PartitionFor(subject string) string {
	if subject == "" {
		return ""
	}
	st := c.acquire()
	defer c.release(st)
	return string(c.partitionID(st, subject))
}

// passThrough forwards the request unchanged, except that an origin 304
// never reaches a client that sent no conditional.
func (c *Cache) passThrough(ctx *fasthttp.RequestCtx, next fasthttp.RequestHandler) {
	cond := len(ctx.Request.Header.PeekBytes(hIfNoneMatch)) > 0 || len(ctx.Request.Header.PeekBytes(hIfModSince)) > 0
	next(ctx)
	if ctx.Response.StatusCode() == fasthttp.StatusNotModified && !cond {
		badGateway(ctx)
	}
	ctx.Response.Header.DelBytes(hSurrogateKey)
}

func badGateway(ctx *fasthttp.RequestCtx) {
	ctx.Response.Reset()
	problem.Write(ctx, problem.New(fasthttp.StatusBadGateway, "upstream-bad-response", "Bad Gateway",
		"The upstream answered with a response that cannot be forwarded."))
}

// count records the outcome for metrics and the access log (background
// fetches are not requests and are not counted).
func (c *Cache) count(st *state, ex *exchange.Exchange, p *Policy, r result) {
	if st.background {
		return
	}
	p.counters[r].Inc()
	ex.CacheStatus = resultNames[r]
}

// saveConditionals copies the client's conditional headers (the request
// buffer is rewritten before forwarding) and removes them from the
// request, so that the origin answers with a full, storable response.
func saveConditionals(ctx *fasthttp.RequestCtx, st *state) {
	h := &ctx.Request.Header
	st.inm = append(st.inm[:0], h.PeekBytes(hIfNoneMatch)...)
	st.ims = append(st.ims[:0], h.PeekBytes(hIfModSince)...)
	h.DelBytes(hIfNoneMatch)
	h.DelBytes(hIfModSince)
}

// prepareForward rewrites the request for a cache fill: no client
// conditionals, the stored validators when revalidating (RFC 9111
// §4.3.1), Accept-Encoding reduced to the served codings, unkeyed
// X-Forwarded-Host removed (the proxy sets it from Host), HEAD fetched
// as GET.
func (c *Cache) prepareForward(ctx *fasthttp.RequestCtx, st *state, stored *Item, head bool) {
	saveConditionals(ctx, st)
	h := &ctx.Request.Header
	st.validated = false
	if stored != nil {
		if len(stored.ETag) > 0 {
			h.SetBytesKV(hIfNoneMatch, stored.ETag)
			st.validated = true
		}
		if stored.LastModified > 0 {
			st.buf = fasthttp.AppendHTTPDate(st.buf[:0], time.Unix(stored.LastModified, 0))
			h.SetBytesKV(hIfModSince, st.buf)
			st.validated = true
		}
	}
	st.buf = c.enc.appendAcceptEncoding(st.buf[:0], h.PeekAll(hdrAcceptEncoding))
	if len(st.buf) == 0 {
		h.DelBytes(hAcceptEncoding)
	} else {
		h.SetBytesKV(hAcceptEncoding, st.buf)
	}
	h.DelBytes(hXFHost)
	if head {
		h.SetMethodBytes(mGET)
	}
}

// fetch forwards a cache fill (miss or revalidation), stores what may be
// stored and answers the client. fl, when set, is the flight this request
// leads; it is finished (waiters woken) as soon as the outcome is known.
func (c *Cache) fetch(ctx *fasthttp.RequestCtx, st *state, p *Policy, req RequestDirectives, stored *Item,
	head, auth, user bool, fwd, detail string, next fasthttp.RequestHandler, fl *flight) {
	var result *Item
	if fl != nil {
		defer func() { c.flights.finish(st.pkey, fl, result) }()
	}
	ex := exchange.From(ctx)
	c.prepareForward(ctx, st, stored, head)
	reqTime := c.now().UnixNano()
	next(ctx)
	respTime := c.now().UnixNano()
	if head {
		ctx.Request.Header.SetMethodBytes(mHEAD)
	}
	status := ctx.Response.StatusCode()

	switch {
	case status == fasthttp.StatusNotModified && stored != nil && st.validated:
		// RFC 9111 §4.3.4: freshen the stored response with the 304's
		// header fields, then serve it.
		c.mergeNotModified(ctx, st, stored)
		it, _, d := c.admit(ctx, st, p, req, reqTime, respTime, auth, user)
		if it == nil {
			// Validated but no longer storable: serve the freshened
			// response as it stands, store nothing.
			c.writeStatus(ctx, st, fwd, d)
			c.count(st, ex, p, resRevalidated)
			return
		}
		result = it
		c.writeEntry(ctx, st, it, it.Age(respTime), cacheStatus{fwd: fwd, fwdStatus: status, stored: true}, st.inm, st.ims)
		c.count(st, ex, p, resRevalidated)
		return
	case status == fasthttp.StatusNotModified:
		// Never pass an origin 304 to a client that did not ask for it:
		// the cache removed the client's conditionals and sent none.
		badGateway(ctx)
		c.writeStatus(ctx, st, fwd, "upstream-304")
		c.count(st, ex, p, resMiss)
		return
	case status >= 500 && stored != nil && StaleIfError(&stored.Entry, req, respTime):
		c.writeEntry(ctx, st, stored, stored.Age(respTime),
			cacheStatus{fwd: "stale", fwdStatus: status, detail: "stale-if-error"}, st.inm, st.ims)
		c.count(st, ex, p, resStale)
		return
	}
	it, placement, d := c.admit(ctx, st, p, req, reqTime, respTime, auth, user)
	if it != nil {
		result = it
		if placement == PerUser {
			c.markHitForMiss(st, respTime)
		}
		c.writeEntry(ctx, st, it, it.Age(respTime), cacheStatus{fwd: fwd, fwdStatus: status, stored: true}, st.inm, st.ims)
		c.count(st, ex, p, resMiss)
		return
	}
	if d == "" {
		d = detail
	}
	if d != DetailAuthorization && d != DetailRequestNoStore && status < 500 {
		c.markHitForMiss(st, respTime)
	}
	ctx.Response.Header.DelBytes(hSurrogateKey)
	c.writeStatus(ctx, st, fwd, d)
	c.count(st, ex, p, resMiss)
}

// forwardHitForMiss forwards a request for a URL under a hit-for-miss
// marker: unchanged (client conditionals included), without coalescing; a
// response that has become storable replaces the marker.
func (c *Cache) forwardHitForMiss(ctx *fasthttp.RequestCtx, st *state, p *Policy, req RequestDirectives, head, auth, user bool, next fasthttp.RequestHandler) {
	ex := exchange.From(ctx)
	cond := len(ctx.Request.Header.PeekBytes(hIfNoneMatch)) > 0 || len(ctx.Request.Header.PeekBytes(hIfModSince)) > 0
	ctx.Request.Header.DelBytes(hXFHost)
	reqTime := c.now().UnixNano()
	next(ctx)
	respTime := c.now().UnixNano()
	status := ctx.Response.StatusCode()
	if status == fasthttp.StatusNotModified && !cond {
		badGateway(ctx)
	}
	if !head && !cond && status < 300 {
		if it, _, _ := c.admit(ctx, st, p, req, reqTime, respTime, auth, user); it != nil {
			c.writeEntry(ctx, st, it, it.Age(respTime), cacheStatus{fwd: "miss", fwdStatus: status, stored: true}, nil, nil)
			c.count(st, ex, p, resMiss)
			return
		}
	}
	ctx.Response.Header.DelBytes(hSurrogateKey)
	c.writeStatus(ctx, st, "miss", "hit-for-miss")
	c.count(st, ex, p, resMiss)
}

// markHitForMiss stores a short-lived hit-for-miss marker under the
// shared primary key.
func (c *Cache) markHitForMiss(st *state, now int64) {
	if c.hfm <= 0 {
		return
	}
	e := Entry{Kind: KindHitForMiss, ResponseTime: now, Lifetime: int64(c.hfm),
		Key: st.pkey, Host: st.url.Host, Path: st.url.Path, Query: st.url.Query}
	_ = c.store.Put(&e, e.AppendBinary(make([]byte, 0, e.Size())))
}

// awaitFlight waits (bounded) for the flight leader's outcome and serves
// it when it is usable for this request. It reports whether the request
// was answered; if not, the caller fetches on its own, at once.
func (c *Cache) awaitFlight(ctx *fasthttp.RequestCtx, st *state, fl *flight, p *Policy, req RequestDirectives,
	head, auth, user bool, now int64) bool {
	c.waiting.Add(1)
	t := time.NewTimer(c.wait)
	select {
	case <-fl.done:
	case <-t.C:
	}
	t.Stop()
	c.waiting.Add(-1)
	it := fl.result()
	if it == nil || it.Kind != KindResponse {
		return false
	}
	var primary []byte
	switch {
	case len(it.Partition) == 0:
		if auth && !AuthorizedReuse(&it.Entry) {
			return false
		}
		primary = st.pkey
	case user && bytes.Equal(it.Partition, st.part):
		primary = st.ukey
	default:
		return false
	}
	key := primary
	if len(it.Vary) > 0 {
		st.vkey = c.appendVariant(st.vkey[:0], primary, it.Vary, &ctx.Request.Header)
		key = st.vkey
	}
	if !bytes.Equal(key, it.Key) {
		return false
	}
	nowT := c.now().UnixNano()
	use, age := Usability(&it.Entry, req, nowT)
	if use != UseFresh && use != UseStale {
		return false
	}
	c.writeEntryCollapsed(ctx, st, it, age)
	c.count(st, exchange.From(ctx), p, resCoalesced)
	return true
}

// b2s views b as a string without copying; the string must not outlive b.
func b2s(b []byte) string { return unsafeString(b) }
