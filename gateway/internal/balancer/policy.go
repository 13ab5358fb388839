package balancer

import "sync/atomic"

// Policy selects an instance of a pool for one request. Pick returns nil
// when every instance is unavailable or already tried. Implementations only
// read instance state and must be safe for concurrent use.
type Policy interface {
	Pick(instances []*Upstream, tried Tried) *Upstream
}

// Pool is a named set of instances and the policy that picks among them.
// Immutable after construction; safe for concurrent use.
type Pool struct {
	Name      string
	Instances []*Upstream
	Policy    Policy
}

// Pick returns an available instance not in tried, or nil.
func (p *Pool) Pick(tried Tried) *Upstream { return p.Policy.Pick(p.Instances, tried) }

// Close releases the connections of every instance.
func (p *Pool) Close() {
	for _, u := range p.Instances {
		u.Close()
	}
}

// RoundRobin cycles through instances in order, skipping unavailable and
// tried ones.
type RoundRobin struct{ next atomic.Uint64 }

// Pick implements Policy.
func (r *RoundRobin) Pick(instances []*Upstream, tried Tried) *Upstream {
	n := uint64(len(instances))
	if n == 0 {
		return nil
	}
	start := r.next.Add(1) - 1
	for i := uint64(0); i < n; i++ {
		u := instances[(start+i)%n]
		if u.Available() && !tried.Has(u.Index) {
			return u
		}
	}
	return nil
}
