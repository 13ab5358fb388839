package balancer

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// ErrOverloaded is the class of admission failures: the chosen instance is
// at its concurrency cap and the request could not wait for a slot. The
// proxy answers 503 with Retry-After.
var ErrOverloaded = errors.New("balancer: instance at its concurrency limit")

// ErrQueueFull reports that the instance's admission queue was full (or
// the pool has none). It wraps ErrOverloaded.
var ErrQueueFull = fmt.Errorf("%w: admission queue full", ErrOverloaded)

// ErrQueueTimeout reports that a request waited in the admission queue for
// its whole queue timeout. It wraps ErrOverloaded.
var ErrQueueTimeout = fmt.Errorf("%w: admission queue timeout", ErrOverloaded)

// ErrNoInstance reports that no instance of the pool may take the request:
// every one is down, ejected or draining. The proxy answers 503 at once.
var ErrNoInstance = errors.New("balancer: no available instance")

// gate is per-instance admission control: a counting semaphore of limit
// slots with a bounded FIFO queue of waiters (HAProxy's maxconn + queue,
// per server). The fast path is one CAS; the queue is touched only when
// the instance is full. With limit 0 it only counts requests in flight.
type gate struct {
	limit    int64
	maxQueue int

	active atomic.Int64 // admitted, not yet released
	queued atomic.Int64 // waiting; mirrors len(waiters) for lock-free reads

	mu      sync.Mutex
	waiters []chan struct{}
	// chans recycles the one-slot channels queued requests wait on.
	chans sync.Pool
}

func (g *gate) full() bool { return g.limit > 0 && g.active.Load() >= g.limit }

func (g *gate) tryAcquire() bool {
	for {
		a := g.active.Load()
		if a >= g.limit {
			return false
		}
		if g.active.CompareAndSwap(a, a+1) {
			return true
		}
	}
}

func (g *gate) acquire(wait time.Duration) error {
	if g.limit <= 0 {
		g.active.Add(1)
		return nil
	}
	if g.tryAcquire() {
		return nil
	}
	g.mu.Lock()
	if len(g.waiters) >= g.maxQueue || wait <= 0 {
		g.mu.Unlock()
		return ErrQueueFull
	}
	// Announce the wait before the re-check: a release that misses this
	// increment must have freed its slot before the re-check sees it.
	g.queued.Add(1)
	if g.tryAcquire() {
		g.queued.Add(-1)
		g.mu.Unlock()
		return nil
	}
	ch, _ := g.chans.Get().(chan struct{})
	if ch == nil {
		ch = make(chan struct{}, 1)
	}
	g.waiters = append(g.waiters, ch)
	g.mu.Unlock()

	t := time.NewTimer(wait)
	select {
	case <-ch:
		t.Stop()
		g.chans.Put(ch)
		return nil
	case <-t.C:
	}
	g.mu.Lock()
	for i, w := range g.waiters {
		if w == ch {
			g.waiters = append(g.waiters[:i], g.waiters[i+1:]...)
			g.queued.Add(-1)
			g.mu.Unlock()
			g.chans.Put(ch)
			return ErrQueueTimeout
		}
	}
	g.mu.Unlock()
	// A release handed us the slot as the timer fired: keep it.
	<-ch
	g.chans.Put(ch)
	return nil
}

func (g *gate) release() {
	g.active.Add(-1)
	if g.limit <= 0 || g.queued.Load() == 0 {
		return
	}
	g.mu.Lock()
	for len(g.waiters) > 0 && g.tryAcquire() {
		ch := g.waiters[0]
		g.waiters[0] = nil
		g.waiters = g.waiters[1:]
		g.queued.Add(-1)
		ch <- struct{}{}
	}
	g.mu.Unlock()
}
