package stack

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

// CacheCounts are an edge cache's lookups by outcome, cumulative.
//
// Hits were answered from the cache without asking a backend: fresh hits,
// stale answers (stale-while-revalidate, stale-if-error) and requests that
// waited on another request's fetch of the same URL (coalesced; nginx:
// UPDATING). Misses went to a backend: misses, expired entries and
// revalidations (even when the backend answered 304). Requests the cache
// does not handle (unsafe methods, bypass) count in neither.
type CacheCounts struct {
	Hits, Misses int64
}

// Sub returns c - o.
func (c CacheCounts) Sub(o CacheCounts) CacheCounts {
	return CacheCounts{Hits: c.Hits - o.Hits, Misses: c.Misses - o.Misses}
}

// Ratio returns Hits / (Hits + Misses), and false when there was no
// lookup.
func (c CacheCounts) Ratio() (float64, bool) {
	if n := c.Hits + c.Misses; n > 0 {
		return float64(c.Hits) / float64(n), true
	}
	return 0, false
}

// gatewayCacheCounts sums gateway_cache_requests_total by result from the
// gateway's Prometheus text exposition at url.
func gatewayCacheCounts(url string) (CacheCounts, error) {
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return CacheCounts{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return CacheCounts{}, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return parseGatewayMetrics(resp.Body)
}

// parseGatewayMetrics reads gateway_cache_requests_total{...,result="R",...}
// samples (Prometheus text format 0.0.4).
func parseGatewayMetrics(r io.Reader) (CacheCounts, error) {
	var cc CacheCounts
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		rest, ok := strings.CutPrefix(line, "gateway_cache_requests_total{")
		if !ok {
			continue
		}
		labels, value, ok := strings.Cut(rest, "} ")
		if !ok {
			continue
		}
		n, err := strconv.ParseFloat(strings.Fields(value)[0], 64)
		if err != nil {
			return cc, fmt.Errorf("gateway metrics: %q: %w", line, err)
		}
		_, result, _ := strings.Cut(labels, `result="`)
		result, _, _ = strings.Cut(result, `"`)
		switch result {
		case "hit", "stale", "coalesced":
			cc.Hits += int64(n)
		case "miss", "revalidated":
			cc.Misses += int64(n)
		}
	}
	return cc, sc.Err()
}

// nginxCacheCounts counts $upstream_cache_status, the first field of each
// line of nginx's bench access log. nginx buffers the log: the counts are
// complete once it flushed (flush=1s in deploy/nginx/bench.conf).
func nginxCacheCounts(path string) (CacheCounts, error) {
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return CacheCounts{}, nil
	}
	if err != nil {
		return CacheCounts{}, err
	}
	defer f.Close()
	return parseNginxLog(f)
}

func parseNginxLog(r io.Reader) (CacheCounts, error) {
	var cc CacheCounts
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		status, _, _ := strings.Cut(sc.Text(), " ")
		switch status {
		case "HIT", "STALE", "UPDATING":
			cc.Hits++
		case "MISS", "EXPIRED", "REVALIDATED":
			cc.Misses++
		}
	}
	return cc, sc.Err()
}
