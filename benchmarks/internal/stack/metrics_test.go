package stack

import (
	"strings"
	"testing"
)

func TestParseGatewayMetrics(t *testing.T) {
	text := `# HELP gateway_cache_requests_total Cache lookups by result.
# TYPE gateway_cache_requests_total counter
gateway_cache_requests_total{result="hit",route="courses"} 900
gateway_cache_requests_total{route="api",result="hit"} 50
gateway_cache_requests_total{result="stale",route="courses"} 5
gateway_cache_requests_total{result="coalesced",route="courses"} 3
gateway_cache_requests_total{result="miss",route="courses"} 40
gateway_cache_requests_total{result="revalidated",route="api"} 2
gateway_cache_requests_total{result="bypass",route="api"} 1000
gateway_cache_requests_totalx{result="hit"} 7
gateway_requests_total{route="courses",status="200"} 123
`
	cc, err := parseGatewayMetrics(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	if cc != (CacheCounts{Hits: 958, Misses: 42}) {
		t.Fatalf("%+v", cc)
	}
	if r, ok := cc.Ratio(); !ok || r != 958.0/1000 {
		t.Errorf("ratio %v %v", r, ok)
	}
	if _, err := parseGatewayMetrics(strings.NewReader(`gateway_cache_requests_total{result="hit"} x`)); err == nil {
		t.Error("a bad sample parsed")
	}
}

func TestParseNginxLog(t *testing.T) {
	log := "HIT 200 0.000\nMISS 200 0.012\nUPDATING 200 0.000\n- 200 0.004\nEXPIRED 200 0.010\nSTALE 200 0.000\nREVALIDATED 304 0.003\nBYPASS 200 0.002\n"
	cc, err := parseNginxLog(strings.NewReader(log))
	if err != nil {
		t.Fatal(err)
	}
	if cc != (CacheCounts{Hits: 3, Misses: 3}) {
		t.Fatalf("%+v", cc)
	}
	d := CacheCounts{Hits: 10, Misses: 5}.Sub(cc)
	if d != (CacheCounts{Hits: 7, Misses: 2}) {
		t.Errorf("Sub: %+v", d)
	}
	if _, ok := (CacheCounts{}).Ratio(); ok {
		t.Error("a ratio without lookups")
	}
}
