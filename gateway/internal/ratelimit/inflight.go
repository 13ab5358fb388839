package ratelimit

import (
	"net/netip"
	"sync"
	"sync/atomic"
)

// inflight counts requests being served, in total and per client IP
// (IPv6 per /64). Only IPs with requests in flight have an entry, so its
// size is bounded by the concurrency itself. Safe for concurrent use.
type inflight struct {
	total  atomic.Int64
	shards [numShards]ipShard
}

type ipShard struct {
	mu sync.Mutex
	m  map[netip.Addr]int32
	_  [40]byte
}

func newInflight() *inflight {
	f := &inflight{}
	for i := range f.shards {
		f.shards[i].m = make(map[netip.Addr]int32)
	}
	return f
}

// clientNet folds an address to what one client holds: the IPv4 address
// or the IPv6 /64.
func clientNet(ip netip.Addr) netip.Addr {
	ip = ip.Unmap()
	if ip.Is6() {
		a := ip.As16()
		clear(a[8:])
		return netip.AddrFrom16(a)
	}
	return ip
}

func (f *inflight) shard(ip netip.Addr) *ipShard {
	a := ip.As16()
	h := uint64(0)
	for _, b := range a {
		h = h*31 + uint64(b)
	}
	return &f.shards[h&(numShards-1)]
}

// acquire counts one request for ip unless that would exceed perIP
// (0: no cap) or total (0: no cap). It reports which cap refused it
// ("" when admitted); an admitted request must be released.
func (f *inflight) acquire(ip netip.Addr, perIP, total int) string {
	if total > 0 && f.total.Add(1) > int64(total) {
		f.total.Add(-1)
		return "total"
	}
	if total <= 0 {
		f.total.Add(1)
	}
	if perIP > 0 && ip.IsValid() {
		ip = clientNet(ip)
		s := f.shard(ip)
		s.mu.Lock()
		n := s.m[ip]
		if int(n) >= perIP {
			s.mu.Unlock()
			f.total.Add(-1)
			return "ip"
		}
		s.m[ip] = n + 1
		s.mu.Unlock()
	}
	return ""
}

// release undoes an admitted acquire with the same arguments.
func (f *inflight) release(ip netip.Addr, perIP int) {
	f.total.Add(-1)
	if perIP > 0 && ip.IsValid() {
		ip = clientNet(ip)
		s := f.shard(ip)
		s.mu.Lock()
		if n := s.m[ip]; n <= 1 {
			delete(s.m, ip)
		} else {
			s.m[ip] = n - 1
		}
		s.mu.Unlock()
	}
}
