package balancer

import "fmt"

// Request is what a policy knows about the request being placed. It is
// passed by value and never retained.
type Request struct {
	// Now is the current time in Unix nanoseconds (slow start, EWMA decay).
	Now int64
	// Key is the request's hash key for the hash policy, valid when HasKey.
	Key    uint64
	HasKey bool
}

// Policy selects one instance among the eligible ones for a request.
// eligible is never empty and only holds indexes of instances; Pick
// returns one of them. Implementations read instance state only (in
// flight, EWMA, effective weight) and are safe for concurrent use; Pick
// must not allocate.
type Policy interface {
	Pick(instances []*Upstream, eligible Set, r Request) *Upstream
}

// Policy names accepted by NewPolicy (the `balancer` key of a pool).
const (
	PolicyRoundRobin         = "round_robin"
	PolicyWeightedRoundRobin = "weighted_round_robin"
	PolicyLeastConn          = "least_conn"
	PolicyP2C                = "p2c"
	PolicyHash               = "hash"
)

// NewPolicy returns the named policy for a pool of n instances, drawing
// randomness from rnd. It fails for an unknown name.
func NewPolicy(name string, n int, rnd *Rand) (Policy, error) {
	switch name {
	case PolicyRoundRobin:
		return &RoundRobin{rand: rnd}, nil
	case PolicyWeightedRoundRobin:
		return NewWeightedRoundRobin(n), nil
	case PolicyLeastConn:
		return &LeastConn{rand: rnd}, nil
	case PolicyP2C:
		return &P2C{rand: rnd}, nil
	case PolicyHash:
		return &Hash{fallback: P2C{rand: rnd}}, nil
	}
	return nil, fmt.Errorf("unknown balancer %q", name)
}

// Pool is a named set of instances and the policy that picks among them.
// Its fields are set once at construction; the instances' live state
// changes. Safe for concurrent use.
type Pool struct {
	// Name is the pool's configured name (a metric label).
	Name string
	// Balancer is the policy's name, for the admin view.
	Balancer string
	// Instances are the pool's members; Instances[i].Index == i.
	Instances []*Upstream
	// Policy picks among eligible instances.
	Policy Policy
	// Key extracts the hash key for the hash policy (zero: none).
	Key KeySource
	// PanicThreshold is a percentage (0..100): when fewer than this share
	// of the non-draining instances are available, the pool panics and
	// also routes to passively ejected instances (Envoy's panic
	// threshold), since ejecting more would overload the rest. Instances
	// that fail active health checks stay out even then. 0 disables.
	PanicThreshold int
}

// Eligible returns the instances a request may go to at now (Unix ns):
// the available ones (healthy, not ejected, not draining), or in panic
// mode every healthy, non-draining one, ejected or not. panic reports
// panic mode. An empty set means every instance is down.
func (p *Pool) Eligible(now int64) (eligible Set, panic bool) {
	var avail, healthy Set
	n := 0
	for i, u := range p.Instances {
		if u.draining.Load() {
			continue
		}
		n++
		if !u.healthy.Load() {
			continue
		}
		healthy = healthy.Add(i)
		if now >= u.ejectedUntil.Load() {
			avail = avail.Add(i)
		}
	}
	if p.PanicThreshold > 0 && avail != healthy && avail.Len()*100 < p.PanicThreshold*n {
		return healthy, true
	}
	return avail, false
}

// Pick returns the instance for a request that has already been tried on
// the instances in tried, or nil when no eligible instance remains.
// Instances at their concurrency cap are passed over while another has
// room. Pick does not allocate.
func (p *Pool) Pick(tried Set, r Request) *Upstream {
	eligible, _ := p.Eligible(r.Now)
	eligible &^= tried
	if eligible == 0 {
		return nil
	}
	var full Set
	for s := eligible; s != 0; s &= s - 1 {
		i := s.Nth(0)
		if p.Instances[i].Full() {
			full = full.Add(i)
		}
	}
	if roomy := eligible &^ full; roomy != 0 {
		eligible = roomy
	}
	return p.Policy.Pick(p.Instances, eligible, r)
}

// Close releases the idle connections of every instance.
func (p *Pool) Close() {
	for _, u := range p.Instances {
		u.Close()
	}
}
