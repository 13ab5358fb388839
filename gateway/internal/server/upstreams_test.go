package server

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/campshub360/edge/gateway/internal/balancer"
)

func (g *gw) admin(t *testing.T, method, path string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, "http://"+g.addrs.Admin+path, nil)
	resp, err := g.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func TestAdminUpstreamsAndDrainSurvivesReload(t *testing.T) {
	a, b := startEcho(t, "a"), startEcho(t, "b")
	g := startGateway(t, a.addr, b.addr)
	g.get(t, "/api/v1/x", nil)

	code, body := g.admin(t, "GET", "/admin/upstreams")
	var st struct{ Upstreams []balancer.PoolState }
	if code != 200 || json.Unmarshal(body, &st) != nil || len(st.Upstreams) != 1 || len(st.Upstreams[0].Instances) != 2 {
		t.Fatalf("GET /admin/upstreams: %d %s", code, body)
	}
	p := st.Upstreams[0]
	if p.Name != "campus" || p.Balancer != "round_robin" || p.Instances[0].State != "healthy" || p.Instances[0].Weight != 1 {
		t.Fatalf("state %+v", p)
	}

	// Drain a: every request goes to b; in-flight is reported.
	code, body = g.admin(t, "POST", "/admin/upstreams/campus/"+a.addr+"/drain")
	if code != 200 || !strings.Contains(string(body), `"state": "draining"`) {
		t.Fatalf("drain: %d %s", code, body)
	}
	before := a.hits.Load()
	for i := 0; i < 4; i++ {
		if _, body := g.get(t, "/api/v1/x", nil); !strings.Contains(string(body), `"instance":"b"`) {
			t.Fatalf("drained instance served: %s", body)
		}
	}
	// A reload keeps the drain.
	if code, body := g.admin(t, "POST", "/admin/reload"); code != 200 {
		t.Fatalf("reload %d %s", code, body)
	}
	for i := 0; i < 4; i++ {
		g.get(t, "/api/v1/x", nil)
	}
	if a.hits.Load() != before {
		t.Fatalf("drained instance got %d requests", a.hits.Load()-before)
	}
	// Undrain: back with a slow start.
	code, body = g.admin(t, "DELETE", "/admin/upstreams/campus/"+a.addr+"/drain")
	if code != 200 || !strings.Contains(string(body), `"state": "slow_start"`) {
		t.Fatalf("undrain: %d %s", code, body)
	}
	for _, tc := range []struct {
		method, path string
		code         int
	}{
		{"POST", "/admin/upstreams/nope/" + a.addr + "/drain", 404},
		{"POST", "/admin/upstreams/campus/10.9.9.9:1/drain", 404},
		{"GET", "/admin/upstreams/campus/" + a.addr + "/drain", 405},
		{"POST", "/admin/upstreams", 405},
		{"POST", "/admin/upstreams/campus/" + a.addr, 404},
	} {
		if code, body := g.admin(t, tc.method, tc.path); code != tc.code {
			t.Fatalf("%s %s: %d %s", tc.method, tc.path, code, body)
		}
	}
	_, m := g.admin(t, "GET", "/metrics")
	for _, want := range []string{
		`gateway_upstream_healthy{instance="` + a.addr + `",upstream="campus"} 1`,
		`gateway_upstream_queue_depth{upstream="campus"} 0`,
	} {
		if !strings.Contains(string(m), want) {
			t.Fatalf("metrics lack %s", want)
		}
	}
}
