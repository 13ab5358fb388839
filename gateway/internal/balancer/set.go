package balancer

import "math/bits"

// Set is a set of instance indexes of one pool (0..MaxInstances-1) as a
// bit mask: the instances already tried for a request, or those a policy
// may pick. The zero value is the empty set. Values are immutable.
type Set uint64

// Add returns the set with index i added.
func (s Set) Add(i int) Set { return s | 1<<uint(i) }

// Has reports whether index i is in the set.
func (s Set) Has(i int) bool { return s&(1<<uint(i)) != 0 }

// Len returns the number of indexes in the set.
func (s Set) Len() int { return bits.OnesCount64(uint64(s)) }

// Nth returns the n-th smallest index in the set (n from 0), or -1 when
// the set has n or fewer members.
func (s Set) Nth(n int) int {
	for ; s != 0; n-- {
		i := bits.TrailingZeros64(uint64(s))
		if n == 0 {
			return i
		}
		s &^= 1 << uint(i)
	}
	return -1
}
