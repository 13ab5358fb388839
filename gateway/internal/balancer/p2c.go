package balancer

// P2C is the power of two choices (Mitzenmacher, "The Power of Two Choices
// in Randomized Load Balancing", 2001) over a peak-EWMA load estimate
// (Finagle/Linkerd "P2C + PeakEWMA"): it draws two distinct eligible
// instances at random and takes the one with the lower cost, where cost is
// the decayed latency EWMA times (in-flight+1), divided by the effective
// weight. Slow instances and busy ones lose most draws; the randomness
// avoids the herd behaviour of always taking the global minimum. Safe for
// concurrent use; Pick does not allocate.
type P2C struct{ rand *Rand }

// Pick implements Policy.
func (p *P2C) Pick(instances []*Upstream, eligible Set, req Request) *Upstream {
	k := eligible.Len()
	if k == 1 {
		return instances[eligible.Nth(0)]
	}
	r := p.rand.Uint64()
	i := int(uint32(r) % uint32(k))
	j := int(uint32(r>>32) % uint32(k-1))
	if j >= i {
		j++
	}
	a, b := instances[eligible.Nth(i)], instances[eligible.Nth(j)]
	if b.cost(req.Now) < a.cost(req.Now) {
		return b
	}
	return a
}
