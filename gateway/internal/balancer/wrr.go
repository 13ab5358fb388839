package balancer

import "sync"

// wrrScale turns fractional effective weights (slow start) into integers.
const wrrScale = 1000

// WeightedRoundRobin is nginx's smooth weighted round robin
// (ngx_http_upstream_get_peer, 2012): each pick adds every eligible
// instance's effective weight to its current weight, picks the largest,
// and subtracts the total from the winner. With weights 5,1,1 the order
// is a a b a c a a: proportional and interleaved, never bursts. Slow start
// scales effective weights. Safe for concurrent use (a mutex guards the
// current weights); Pick does not allocate.
type WeightedRoundRobin struct {
	mu      sync.Mutex
	current []int64
}

// NewWeightedRoundRobin returns the policy for a pool of n instances.
func NewWeightedRoundRobin(n int) *WeightedRoundRobin {
	return &WeightedRoundRobin{current: make([]int64, n)}
}

// Pick implements Policy.
func (w *WeightedRoundRobin) Pick(instances []*Upstream, eligible Set, req Request) *Upstream {
	w.mu.Lock()
	var total int64
	best := -1
	for s := eligible; s != 0; s &= s - 1 {
		i := s.Nth(0)
		ew := max(int64(instances[i].EffectiveWeight(req.Now)*wrrScale), 1)
		w.current[i] += ew
		total += ew
		if best < 0 || w.current[i] > w.current[best] {
			best = i
		}
	}
	w.current[best] -= total
	w.mu.Unlock()
	return instances[best]
}
