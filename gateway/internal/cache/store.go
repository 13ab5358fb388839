package cache

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/allegro/bigcache/v3"
	"github.com/cespare/xxhash/v2"
)

// StoreOptions configure a Store.
type StoreOptions struct {
	// MaxBytes is the byte budget of the bigcache arena (rounded up to
	// whole MiB, at least 1 MiB). Oldest entries are evicted past it.
	MaxBytes int64
	// HotBytes is the budget of the hot tier: decoded entries served
	// without copying (0 disables it).
	HotBytes int64
	// MaxObjectBytes is the largest encoded entry stored.
	MaxObjectBytes int
	// UserQuotaBytes caps the bytes of one user partition; past it that
	// user's oldest entries are evicted, never anyone else's.
	UserQuotaBytes int64
	// LifeWindow is bigcache's global life window: no entry is kept longer,
	// whatever its own freshness.
	LifeWindow time.Duration
	// Hash maps a full key to its 64-bit hash (xxhash when nil). Tests
	// inject a colliding hash; entries keep and compare the full key.
	Hash func([]byte) uint64
	// OnEvict is called (under a store lock: keep it cheap) when an entry
	// is evicted for space or age, not when it is deleted.
	OnEvict func()
}

// ErrTooLarge is returned by Put for an entry over the per-object limit
// or over the user quota on its own.
var ErrTooLarge = errors.New("cache: entry too large")

// Item is one stored value as read: the immutable encoded bytes and their
// decoded view. Items are shared between goroutines and never modified,
// except for the refresh flag.
type Item struct {
	Entry
	blob []byte
	// refreshing is set while a background fetch for the item runs.
	refreshing atomic.Bool
	// hits counts hits inside the refresh-ahead window.
	hits atomic.Uint32
}

// Store is the bigcache-backed entry store with a hot tier in front and an
// index for purges (URL, prefix, surrogate key, partition) and per-user
// quotas. Keys are hashed; the bigcache key is the 8-byte hash and the
// entry carries the full key, compared on every read. Safe for concurrent
// use.
//
// Lock order: a key stripe, then (inside bigcache's shard lock during its
// remove callback) the index mutex. The index and hot-tier mutexes are
// leaves: nothing calls into bigcache while holding them.
type Store struct {
	bc        *bigcache.BigCache
	hash      func([]byte) uint64
	maxObject int
	quota     int64
	onEvict   func()
	hot       hotTier
	idx       index
	stripes   [256]sync.Mutex
	bytes     atomic.Int64
	entries   atomic.Int64
}

// NewStore creates a Store. Close releases it.
func NewStore(o StoreOptions) (*Store, error) {
	if o.MaxObjectBytes <= 0 || o.MaxBytes <= 0 {
		return nil, fmt.Errorf("cache: budget and object limit must be positive")
	}
	if o.Hash == nil {
		o.Hash = xxhash.Sum64
	}
	if o.LifeWindow < time.Second {
		o.LifeWindow = time.Second
	}
	mb := int((o.MaxBytes + (1 << 20) - 1) >> 20)
	// Each shard must hold several of the largest objects.
	shards := 256
	for shards > 1 && (int64(mb)<<20)/int64(shards) < 8*int64(o.MaxObjectBytes) {
		shards >>= 1
	}
	if int64(o.MaxObjectBytes) > (int64(mb)<<20)/int64(shards) {
		return nil, fmt.Errorf("cache: max object size %d does not fit a budget of %d MiB", o.MaxObjectBytes, mb)
	}
	s := &Store{hash: o.Hash, maxObject: o.MaxObjectBytes, quota: o.UserQuotaBytes, onEvict: o.OnEvict}
	s.idx.init()
	s.hot.init(o.HotBytes)
	bc, err := bigcache.New(context.Background(), bigcache.Config{
		Shards:             shards,
		LifeWindow:         o.LifeWindow,
		CleanWindow:        min(o.LifeWindow, 30*time.Second),
		MaxEntriesInWindow: shards * 16,
		MaxEntrySize:       1024,
		HardMaxCacheSize:   mb,
		Hasher:             keyHasher{},
		OnRemoveWithReason: s.removed,
		Verbose:            false,
	})
	if err != nil {
		return nil, fmt.Errorf("cache: %w", err)
	}
	s.bc = bc
	return s, nil
}

// Close stops bigcache's cleaner.
func (s *Store) Close() error { return s.bc.Close() }

// Bytes is the size of the stored entries plus the hot tier.
func (s *Store) Bytes() int64 { return s.bytes.Load() + s.hot.size.Load() }

// Len is the number of stored entries (markers included).
func (s *Store) Len() int64 { return s.entries.Load() }

// keyHasher reads back the 64-bit hash that is the bigcache key.
type keyHasher struct{}

func (keyHasher) Sum64(k string) uint64 {
	if len(k) != 8 {
		return xxhash.Sum64String(k)
	}
	return binary.LittleEndian.Uint64(unsafe.Slice(unsafe.StringData(k), 8))
}

// bcKey renders h as the bigcache key in buf, without allocating.
func bcKey(buf *[8]byte, h uint64) string {
	binary.LittleEndian.PutUint64(buf[:], h)
	return unsafe.String(&buf[0], 8)
}

// Get returns the item stored under key, or nil. buf is scratch space
// for the bigcache key; it must not be on the stack of a caller that
// wants Get to stay allocation-free (pass a field of a pooled value).
// Hot-tier hits do not allocate.
func (s *Store) Get(key []byte, buf *[8]byte) *Item {
	h := s.hash(key)
	if it := s.hot.get(h); it != nil {
		if bytes.Equal(it.Key, key) {
			return it
		}
		return nil
	}
	epoch := s.hot.epoch(h)
	blob, err := s.bc.Get(bcKey(buf, h))
	if err != nil {
		return nil
	}
	it := &Item{blob: blob}
	if DecodeEntry(blob, &it.Entry) != nil || !bytes.Equal(it.Key, key) {
		return nil
	}
	s.hot.promote(h, it, epoch)
	return it
}

// Put stores the encoded entry blob (decoded as e) under e.Key, replacing
// what was there. User-partition entries are held to the user quota by
// evicting that user's oldest entries first.
func (s *Store) Put(e *Entry, blob []byte) error {
	if len(blob) > s.maxObject {
		return ErrTooLarge
	}
	if len(e.Partition) > 0 && s.quota > 0 {
		if int64(len(blob)) > s.quota {
			return ErrTooLarge
		}
		for _, victim := range s.idx.overQuota(e.Partition, int64(len(blob)), s.quota) {
			s.Delete(victim)
		}
	}
	h := s.hash(e.Key)
	var buf [8]byte
	k := string(bcKey(&buf, h))
	mu := &s.stripes[h&255]
	mu.Lock()
	defer mu.Unlock()
	// Delete first so the remove callback unindexes the old entry:
	// bigcache's Set replaces without calling back.
	_ = s.bc.Delete(k)
	s.idx.add(h, e, int64(len(blob)))
	s.bytes.Add(int64(len(blob)))
	s.entries.Add(1)
	err := s.bc.Set(k, blob)
	s.hot.invalidate(h)
	if err != nil {
		s.idx.remove(h, e, int64(len(blob)))
		s.bytes.Add(-int64(len(blob)))
		s.entries.Add(-1)
		return fmt.Errorf("cache: %w", err)
	}
	return nil
}

// Delete removes the entry with hash h, if any.
func (s *Store) Delete(h uint64) {
	var buf [8]byte
	k := string(bcKey(&buf, h))
	mu := &s.stripes[h&255]
	mu.Lock()
	_ = s.bc.Delete(k)
	s.hot.invalidate(h)
	mu.Unlock()
}

// DeleteKey removes the entry stored under key, if it is that key's.
func (s *Store) DeleteKey(key []byte) {
	var buf [8]byte
	if it := s.Get(key, &buf); it != nil {
		s.Delete(s.hash(key))
	}
}

// removed is bigcache's remove callback; it runs under the shard lock.
func (s *Store) removed(key string, blob []byte, reason bigcache.RemoveReason) {
	var e Entry
	if DecodeEntry(blob, &e) != nil {
		return
	}
	h := keyHasher{}.Sum64(key)
	s.idx.remove(h, &e, int64(len(blob)))
	s.bytes.Add(-int64(len(blob)))
	s.entries.Add(-1)
	if reason != bigcache.Deleted {
		s.hot.invalidate(h)
		if s.onEvict != nil {
			s.onEvict()
		}
	}
}

// Selector picks entries for a purge. Empty fields select nothing.
type Selector struct {
	// URLs are exact URLs; a URL without a host matches every host.
	URLs []URL
	// Prefixes match URL paths (with a host: only that host).
	Prefixes []URL
	// SurrogateKeys match Surrogate-Key tags.
	SurrogateKeys []string
	// Partitions are partition ids ("" is the shared partition).
	Partitions []string
}

// Purge deletes every entry the selector matches and returns how many.
func (s *Store) Purge(sel *Selector) int {
	hs := s.idx.match(sel)
	for _, h := range hs {
		s.Delete(h)
	}
	return len(hs)
}

// ---- index ----

// index maps URLs, surrogate keys and partitions to entry hashes.
type index struct {
	mu    sync.Mutex
	seq   uint64
	urls  map[string]map[uint64]string // path \x00 query -> hash -> host
	tags  map[string]map[uint64]struct{}
	parts map[string]*partIndex
}

type partIndex struct {
	bytes  int64
	hashes map[uint64]partEntry
}

type partEntry struct {
	seq  uint64
	size int64
}

func (x *index) init() {
	x.urls = map[string]map[uint64]string{}
	x.tags = map[string]map[uint64]struct{}{}
	x.parts = map[string]*partIndex{}
}

func urlKey(path, query []byte) string {
	b := make([]byte, 0, len(path)+1+len(query))
	b = append(append(append(b, path...), 0), query...)
	return string(b)
}

func eachTag(tags []byte, f func(tag []byte)) {
	for _, t := range bytes.Fields(tags) {
		f(t)
	}
}

func (x *index) add(h uint64, e *Entry, size int64) {
	x.mu.Lock()
	defer x.mu.Unlock()
	uk := urlKey(e.Path, e.Query)
	m := x.urls[uk]
	if m == nil {
		m = map[uint64]string{}
		x.urls[uk] = m
	}
	m[h] = string(e.Host)
	eachTag(e.Surrogate, func(t []byte) {
		tm := x.tags[string(t)]
		if tm == nil {
			tm = map[uint64]struct{}{}
			x.tags[string(t)] = tm
		}
		tm[h] = struct{}{}
	})
	p := x.parts[string(e.Partition)]
	if p == nil {
		p = &partIndex{hashes: map[uint64]partEntry{}}
		x.parts[string(e.Partition)] = p
	}
	x.seq++
	if old, ok := p.hashes[h]; ok {
		p.bytes -= old.size
	}
	p.hashes[h] = partEntry{seq: x.seq, size: size}
	p.bytes += size
}

func (x *index) remove(h uint64, e *Entry, size int64) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if m := x.urls[string(urlKey(e.Path, e.Query))]; m != nil {
		delete(m, h)
		if len(m) == 0 {
			delete(x.urls, urlKey(e.Path, e.Query))
		}
	}
	eachTag(e.Surrogate, func(t []byte) {
		if tm := x.tags[string(t)]; tm != nil {
			delete(tm, h)
			if len(tm) == 0 {
				delete(x.tags, string(t))
			}
		}
	})
	if p := x.parts[string(e.Partition)]; p != nil {
		if pe, ok := p.hashes[h]; ok {
			p.bytes -= pe.size
			delete(p.hashes, h)
		}
		if len(p.hashes) == 0 {
			delete(x.parts, string(e.Partition))
		}
	}
}

// overQuota returns the oldest entries of a partition to evict so that
// adding size bytes stays within quota.
func (x *index) overQuota(partition []byte, size, quota int64) []uint64 {
	x.mu.Lock()
	defer x.mu.Unlock()
	p := x.parts[string(partition)]
	if p == nil || p.bytes+size <= quota {
		return nil
	}
	type aged struct {
		h uint64
		partEntry
	}
	all := make([]aged, 0, len(p.hashes))
	for h, pe := range p.hashes {
		all = append(all, aged{h, pe})
	}
	// Oldest first.
	for i := 1; i < len(all); i++ {
		for j := i; j > 0 && all[j].seq < all[j-1].seq; j-- {
			all[j], all[j-1] = all[j-1], all[j]
		}
	}
	var out []uint64
	free := p.bytes + size - quota
	for _, a := range all {
		if free <= 0 {
			break
		}
		out = append(out, a.h)
		free -= a.size
	}
	return out
}

func (x *index) match(sel *Selector) []uint64 {
	x.mu.Lock()
	defer x.mu.Unlock()
	set := map[uint64]struct{}{}
	for _, u := range sel.URLs {
		for h, host := range x.urls[urlKey(u.Path, u.Query)] {
			if len(u.Host) == 0 || host == string(u.Host) {
				set[h] = struct{}{}
			}
		}
	}
	if len(sel.Prefixes) > 0 {
		for uk, m := range x.urls {
			path := uk[:strings.IndexByte(uk, 0)]
			for _, p := range sel.Prefixes {
				if len(path) < len(p.Path) || path[:len(p.Path)] != string(p.Path) {
					continue
				}
				for h, host := range m {
					if len(p.Host) == 0 || host == string(p.Host) {
						set[h] = struct{}{}
					}
				}
			}
		}
	}
	for _, t := range sel.SurrogateKeys {
		for h := range x.tags[t] {
			set[h] = struct{}{}
		}
	}
	for _, pid := range sel.Partitions {
		if p := x.parts[pid]; p != nil {
			for h := range p.hashes {
				set[h] = struct{}{}
			}
		}
	}
	out := make([]uint64, 0, len(set))
	for h := range set {
		out = append(out, h)
	}
	return out
}

// ---- hot tier ----

const hotShards = 16

// hotTier keeps recently read items decoded, so a hit needs no copy out of
// bigcache and no decoding. Admission is on every bigcache hit; eviction
// is random within a shard (Go map order) when the shard's budget is
// exceeded. An epoch per shard stops a reader from re-admitting an item
// that was replaced or purged while it was reading.
type hotTier struct {
	shards [hotShards]hotShard
	budget int64 // per shard
	size   atomic.Int64
}

type hotShard struct {
	mu    sync.RWMutex
	m     map[uint64]*Item
	bytes int64
	ep    atomic.Uint64
	_     [32]byte
}

func (t *hotTier) init(total int64) {
	t.budget = total / hotShards
	for i := range t.shards {
		t.shards[i].m = map[uint64]*Item{}
	}
}

func (t *hotTier) shard(h uint64) *hotShard {
	return &t.shards[bits.RotateLeft64(h, 17)%hotShards]
}

func (t *hotTier) get(h uint64) *Item {
	if t.budget <= 0 {
		return nil
	}
	sh := t.shard(h)
	sh.mu.RLock()
	it := sh.m[h]
	sh.mu.RUnlock()
	return it
}

func (t *hotTier) epoch(h uint64) uint64 { return t.shard(h).ep.Load() }

func (t *hotTier) promote(h uint64, it *Item, epoch uint64) {
	size := int64(len(it.blob))
	if t.budget <= 0 || size > t.budget/4 {
		return
	}
	sh := t.shard(h)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.ep.Load() != epoch {
		return
	}
	if old := sh.m[h]; old != nil {
		sh.bytes -= int64(len(old.blob))
		t.size.Add(-int64(len(old.blob)))
	}
	for k, v := range sh.m {
		if sh.bytes+size <= t.budget {
			break
		}
		delete(sh.m, k)
		sh.bytes -= int64(len(v.blob))
		t.size.Add(-int64(len(v.blob)))
	}
	sh.m[h] = it
	sh.bytes += size
	t.size.Add(size)
}

func (t *hotTier) invalidate(h uint64) {
	sh := t.shard(h)
	sh.mu.Lock()
	sh.ep.Add(1)
	if old := sh.m[h]; old != nil {
		delete(sh.m, h)
		sh.bytes -= int64(len(old.blob))
		t.size.Add(-int64(len(old.blob)))
	}
	sh.mu.Unlock()
}
