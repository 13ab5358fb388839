package cache

import "sync"

// flight is one origin fetch that concurrent requests for the same URL
// wait on instead of fetching themselves (request coalescing). done is
// closed when the outcome is known; item is then the stored response or
// nil when nothing storable came back.
type flight struct {
	done chan struct{}
	mu   sync.Mutex
	item *Item
}

func (f *flight) result() *Item {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.item
}

// flights tracks the fetches in progress by shared primary key. Safe for
// concurrent use.
type flights struct {
	mu sync.Mutex
	m  map[string]*flight
}

// join returns the flight for key, creating it (and making the caller its
// leader) when none is in progress.
func (fs *flights) join(key []byte) (*flight, bool) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if f := fs.m[string(key)]; f != nil {
		return f, false
	}
	f := &flight{done: make(chan struct{})}
	fs.m[string(key)] = f
	return f, true
}

// finish records the outcome, removes the flight and wakes its waiters.
func (fs *flights) finish(key []byte, f *flight, it *Item) {
	f.mu.Lock()
	f.item = it
	f.mu.Unlock()
	fs.mu.Lock()
	if fs.m[string(key)] == f {
		delete(fs.m, string(key))
	}
	fs.mu.Unlock()
	close(f.done)
}
