package balancer

import "sync/atomic"

// RoundRobin cycles through the eligible instances in index order. An
// instance in slow start is passed over with probability 1-factor, so its
// share ramps up with its slow-start factor. Weights are ignored (see
// WeightedRoundRobin). Safe for concurrent use; Pick does not allocate.
type RoundRobin struct {
	next atomic.Uint64
	rand *Rand
}

// Pick implements Policy.
func (r *RoundRobin) Pick(instances []*Upstream, eligible Set, req Request) *Upstream {
	k := eligible.Len()
	start := int((r.next.Add(1) - 1) % uint64(k))
	for j := 0; j < k; j++ {
		u := instances[eligible.Nth((start+j)%k)]
		if f := u.SlowStartFactor(req.Now); f < 1 && r.rand.Float64() >= f {
			continue
		}
		return u
	}
	return instances[eligible.Nth(start)]
}
