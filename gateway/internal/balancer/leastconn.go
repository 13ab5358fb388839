package balancer

// LeastConn picks the eligible instance with the fewest requests in
// flight relative to its effective weight ((in-flight+1)/weight), scanning
// from a random start so that ties spread evenly. Safe for concurrent use;
// Pick does not allocate.
type LeastConn struct{ rand *Rand }

// Pick implements Policy.
func (l *LeastConn) Pick(instances []*Upstream, eligible Set, req Request) *Upstream {
	k := eligible.Len()
	start := l.rand.IntN(k)
	var best *Upstream
	var bestScore float64
	for j := 0; j < k; j++ {
		u := instances[eligible.Nth((start+j)%k)]
		score := float64(u.InFlight()+1) / u.EffectiveWeight(req.Now)
		if best == nil || score < bestScore {
			best, bestScore = u, score
		}
	}
	return best
}
