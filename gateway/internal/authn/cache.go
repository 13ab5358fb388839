package authn

import (
	"sync"
	"sync/atomic"
)

// cacheShards is the number of independently locked shards.
const cacheShards = 64

// maxCachedClaimBytes bounds the subject+role bytes of a cached result, so
// the cache's memory is bounded by its entry count (real subjects are
// UUIDs; an oversized one is verified every time instead).
const maxCachedClaimBytes = 256

// Cache holds verification results by the SHA-256 of the token: subject,
// role, the key set generation they were verified under, and the window
// [from, until) (Unix nanoseconds) in which they may be used: from the
// token's nbf (a clock stepping back cannot revive a not-yet-valid token)
// until shortly before its exp. It holds at most
// its capacity in entries, each shard evicting its least recently used
// entry when full. Safe for concurrent use.
//
// Keying by a cryptographic hash means a hit proves the client sent the
// very bytes that were verified; the token itself is not kept.
type Cache struct {
	shards   [cacheShards]cacheShard
	perShard int
	entries  atomic.Int64
	closed   atomic.Bool
	metrics  *Metrics
}

type cacheShard struct {
	mu    sync.Mutex
	items map[[32]byte]*cacheEntry
	// head is the most recently used entry, tail the least.
	head, tail *cacheEntry
	_          [32]byte // keeps hot shards off each other's cache lines
}

type cacheEntry struct {
	key           [32]byte
	subject, role string
	from, until   int64
	gen           uint64
	prev, next    *cacheEntry
}

// NewCache returns a cache of capacity entries (rounded up to a multiple
// of the shard count), or nil when capacity is 0 (no caching; a nil
// *Cache misses every lookup and drops every store).
func NewCache(capacity int, m *Metrics) *Cache {
	if capacity <= 0 {
		return nil
	}
	c := &Cache{perShard: (capacity + cacheShards - 1) / cacheShards, metrics: m}
	for i := range c.shards {
		c.shards[i].items = make(map[[32]byte]*cacheEntry)
	}
	return c
}

func (c *Cache) shard(key *[32]byte) *cacheShard { return &c.shards[key[0]%cacheShards] }

// Get returns the cached result for key when it is still usable at now
// (Unix nanoseconds) under key set generation gen. It does not allocate.
func (c *Cache) Get(key [32]byte, now int64, gen uint64) (subject, role string, ok bool) {
	if c == nil {
		return "", "", false
	}
	s := c.shard(&key)
	s.mu.Lock()
	e := s.items[key]
	if e == nil {
		s.mu.Unlock()
		return "", "", false
	}
	if now >= e.until || now < e.from || e.gen != gen {
		s.remove(e)
		s.mu.Unlock()
		c.dropped(1, false)
		return "", "", false
	}
	s.moveToFront(e)
	subject, role = e.subject, e.role
	s.mu.Unlock()
	return subject, role, true
}

// Put stores a result usable in [from, until) (Unix nanoseconds).
func (c *Cache) Put(key [32]byte, subject, role string, from, until int64, gen uint64) {
	if c == nil || len(subject)+len(role) > maxCachedClaimBytes || c.closed.Load() {
		return
	}
	s := c.shard(&key)
	s.mu.Lock()
	if e := s.items[key]; e != nil {
		e.subject, e.role, e.from, e.until, e.gen = subject, role, from, until, gen
		s.moveToFront(e)
		s.mu.Unlock()
		return
	}
	evicted := 0
	for len(s.items) >= c.perShard && s.tail != nil {
		s.remove(s.tail)
		evicted++
	}
	e := &cacheEntry{key: key, subject: subject, role: role, from: from, until: until, gen: gen}
	s.items[key] = e
	s.pushFront(e)
	s.mu.Unlock()
	c.entries.Add(1)
	if c.metrics != nil {
		c.metrics.CacheEntries.Inc()
	}
	c.dropped(evicted, true)
}

// Len returns the number of entries.
func (c *Cache) Len() int {
	if c == nil {
		return 0
	}
	return int(c.entries.Load())
}

// Close drops every entry (and its count in the entries gauge); later
// Puts are ignored.
func (c *Cache) Close() {
	if c == nil {
		return
	}
	c.closed.Store(true)
	n := 0
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		n += len(s.items)
		s.items = make(map[[32]byte]*cacheEntry)
		s.head, s.tail = nil, nil
		s.mu.Unlock()
	}
	c.dropped(n, false)
}

func (c *Cache) dropped(n int, evicted bool) {
	if n == 0 {
		return
	}
	c.entries.Add(int64(-n))
	if c.metrics != nil {
		c.metrics.CacheEntries.Sub(float64(n))
		if evicted {
			c.metrics.CacheEvictions.Add(float64(n))
		}
	}
}

func (s *cacheShard) pushFront(e *cacheEntry) {
	e.prev, e.next = nil, s.head
	if s.head != nil {
		s.head.prev = e
	}
	s.head = e
	if s.tail == nil {
		s.tail = e
	}
}

func (s *cacheShard) unlink(e *cacheEntry) {
	if e.prev != nil {
		e.prev.next = e.next
	} else {
		s.head = e.next
	}
	if e.next != nil {
		e.next.prev = e.prev
	} else {
		s.tail = e.prev
	}
	e.prev, e.next = nil, nil
}

func (s *cacheShard) moveToFront(e *cacheEntry) {
	if s.head == e {
		return
	}
	s.unlink(e)
	s.pushFront(e)
}

func (s *cacheShard) remove(e *cacheEntry) {
	s.unlink(e)
	delete(s.items, e.key)
}
