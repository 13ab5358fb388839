package ratelimit

import (
	"sync"
	"sync/atomic"
)

// numShards splits a table so that concurrent requests for different
// keys rarely share a lock. A power of two.
const numShards = 64

// evictScan bounds the entries an insertion at the cap inspects looking
// for an idle one to evict (Go map iteration starts at a random slot, so
// the scan samples the shard).
const evictScan = 8

// table is a sharded map from 64-bit key hashes to per-key state with a
// hard cap on entries. Keys are hashes of built keys (keyHash) with a
// per-process seed: two keys collide with probability about n²/2⁶⁵ (for
// ten million keys, about one in 370,000), and a collision merely makes
// two clients share a bucket. Safe for concurrent use.
type table[V any] struct {
	shards   [numShards]shard[V]
	perShard int
	count    atomic.Int64
}

type shard[V any] struct {
	mu sync.RWMutex
	m  map[uint64]V
	_  [32]byte // keeps neighbouring shard locks off one cache line
}

func newTable[V any](maxKeys int) *table[V] {
	t := &table[V]{perShard: max(1, maxKeys/numShards)}
	for i := range t.shards {
		t.shards[i].m = make(map[uint64]V)
	}
	return t
}

// get returns the entry for h. It does not allocate.
func (t *table[V]) get(h uint64) (V, bool) {
	s := &t.shards[h&(numShards-1)]
	s.mu.RLock()
	v, ok := s.m[h]
	s.mu.RUnlock()
	return v, ok
}

// getOrInsert returns the entry for h, inserting mk() when absent. When
// the shard is at its cap it first evicts idle entries found in a bounded
// scan; when none is idle it inserts nothing and reports false: the
// caller then charges the request to its overflow bucket.
func (t *table[V]) getOrInsert(h uint64, mk func() V, idle func(V) bool) (V, bool) {
	s := &t.shards[h&(numShards-1)]
	s.mu.Lock()
	defer s.mu.Unlock()
	if v, ok := s.m[h]; ok {
		return v, true
	}
	if len(s.m) >= t.perShard {
		n := 0
		for k, v := range s.m {
			if idle(v) {
				delete(s.m, k)
				t.count.Add(-1)
			}
			if n++; n >= evictScan {
				break
			}
		}
		if len(s.m) >= t.perShard {
			var zero V
			return zero, false
		}
	}
	v := mk()
	s.m[h] = v
	t.count.Add(1)
	return v, true
}

// sweep deletes every idle entry, one shard at a time, and returns how
// many it deleted.
func (t *table[V]) sweep(idle func(V) bool) int {
	n := 0
	for i := range t.shards {
		s := &t.shards[i]
		s.mu.Lock()
		for k, v := range s.m {
			if idle(v) {
				delete(s.m, k)
				n++
			}
		}
		s.mu.Unlock()
	}
	t.count.Add(int64(-n))
	return n
}

// len returns the number of entries.
func (t *table[V]) len() int { return int(t.count.Load()) }
