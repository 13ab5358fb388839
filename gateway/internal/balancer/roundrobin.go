package balancer

import "sync/atomic"

// RoundRobin cycles through the eligible instances in index order. An
// instance in slow start gives up each of its turns with probability
// 1-factor, and a turn given up is skipped as a whole (the next request's
// turn is taken), so its share ramps up with its slow-start factor while
// the others still alternate evenly. Weights are ignored (see
// WeightedRoundRobin). Safe for concurrent use; Pick does not allocate.
type RoundRobin struct {
	next atomic.Uint64
	rand *Rand
}

// Pick implements Policy.
func (r *RoundRobin) Pick(instances []*Upstream, eligible Set, req Request) *Upstream {
	k := uint64(eligible.Len())
	var first *Upstream
	for j := uint64(0); j < k; j++ {
		u := instances[eligible.Nth(int((r.next.Add(1)-1)%k))]
		if first == nil {
			first = u
		}
		if f := u.SlowStartFactor(req.Now); f < 1 && r.rand.Float64() >= f {
			continue
		}
		return u
	}
	return first
}
