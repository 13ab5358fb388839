package balancer

import (
	"math/rand/v2"
	"sync/atomic"
)

// Rand is a lock-free pseudo-random source for policies: SplitMix64
// (Steele, Lea, Flood, "Fast splittable pseudorandom number generators",
// OOPSLA 2014) over an atomic counter. The sequence is fully determined by
// the seed, so tests inject a seed and get reproducible picks. Not for
// cryptographic use. Safe for concurrent use.
type Rand struct{ state atomic.Uint64 }

// NewRand returns a source seeded with seed.
func NewRand(seed uint64) *Rand {
	r := &Rand{}
	r.state.Store(seed)
	return r
}

// NewRandomRand returns a source with a seed drawn from the runtime's
// random generator, for production use.
func NewRandomRand() *Rand { return NewRand(rand.Uint64()) }

// Uint64 returns the next value of the sequence.
func (r *Rand) Uint64() uint64 {
	z := r.state.Add(0x9e3779b97f4a7c15)
	return mix64(z)
}

// Float64 returns a value in [0, 1).
func (r *Rand) Float64() float64 { return float64(r.Uint64()>>11) * 0x1p-53 }

// IntN returns a value in [0, n) for n > 0 (modulo bias below 2^-32 for
// pool-sized n).
func (r *Rand) IntN(n int) int { return int(r.Uint64() % uint64(n)) }

// mix64 is the SplitMix64 finalizer, also used to spread hash keys.
func mix64(z uint64) uint64 {
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}
