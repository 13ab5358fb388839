package server

import (
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/campshub360/edge/shared/testkit"
)

// TestGracefulShutdown: on shutdown /readyz turns 503 at once, listeners
// keep accepting through the drain delay, then stop; the request in
// flight finishes and Serve returns nil (the process exits 0).
func TestGracefulShutdown(t *testing.T) {
	var inSlow atomic.Int64
	release := make(chan struct{})
	up := fastUpstream(t, &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		if string(ctx.Path()) == "/api/slow" {
			inSlow.Add(1)
			<-release
		}
		ctx.SetBodyString("done")
	}})
	var once sync.Once
	t.Cleanup(func() { once.Do(func() { close(release) }) })
	g := startWith(t, "  drain_delay: 400ms\n", plainRoutes+"    max_body_bytes: 1024\n", up)
	// The slow request needs a longer route timeout than plainRoutes'.
	writeFile(t, g.cfg, strings.Replace(readFile(t, g.cfg), "timeout: 300ms", "timeout: 10s", 1))
	if err := g.srv.Reload(); err != nil {
		t.Fatal(err)
	}

	inflight := make(chan string, 1)
	go func() {
		resp, err := g.client.Get("https://" + g.addrs.HTTPS + "/api/slow")
		if err != nil {
			inflight <- err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		inflight <- fmt.Sprintf("%d %s", resp.StatusCode, b)
	}()
	testkit.Poll(t, 5*time.Second, "the slow request to reach the upstream", func() bool { return inSlow.Load() == 1 })

	g.cancel()
	testkit.Poll(t, 2*time.Second, "/readyz to report 503", func() bool {
		r, err := http.Get("http://" + g.addrs.Admin + "/readyz")
		if err != nil {
			return false
		}
		r.Body.Close()
		return r.StatusCode == 503
	})
	// Still serving during the drain delay, on a new connection.
	fresh := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	if r, err := fresh.Get("https://" + g.addrs.HTTPS + "/api/fast"); err != nil || r.StatusCode != 200 {
		t.Fatalf("not serving during the drain delay: %v %v", err, r)
	} else {
		r.Body.Close()
	}
	testkit.Poll(t, 5*time.Second, "the listener to stop accepting", func() bool {
		c, err := net.DialTimeout("tcp", g.addrs.HTTPS, 200*time.Millisecond)
		if err != nil {
			return true
		}
		c.Close()
		return false
	})
	once.Do(func() { close(release) })
	if got := <-inflight; got != "200 done" {
		t.Fatalf("in-flight request: %s", got)
	}
	select {
	case err := <-g.done:
		if err != nil {
			t.Fatalf("Serve returned %v", err)
		}
		g.done <- nil // for the cleanup
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return")
	}
}

// TestReloadUnderLoadLosesNothing: clients keep sending while the
// configuration is swapped back and forth; every request succeeds.
func TestReloadUnderLoadLosesNothing(t *testing.T) {
	a, b := startEcho(t, "a"), startEcho(t, "b")
	dir := t.TempDir()
	path := dir + "/gateway.yaml"
	// A generous route timeout: this test is about reloads losing no
	// request, not about timeouts on a loaded machine.
	routes := strings.Replace(plainRoutes, "timeout: 300ms", "timeout: 10s", 1)
	writeYAML(t, path, dir, "", routes, a.addr)
	g := startFile(t, path)

	const workers, perWorker, reloads = 4, 2000, 12 // perWorker bounds the run; stop ends it
	var ok, failed atomic.Int64
	var firstErr atomic.Value
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
			for i := 0; i < perWorker; i++ {
				select {
				case <-stop:
					return
				default:
				}
				resp, err := client.Get("https://" + g.addrs.HTTPS + "/api/v1/students")
				if err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, resp.Status)
					continue
				}
				ok.Add(1)
			}
		}()
	}
	for i := 0; i < reloads; i++ {
		target := a.addr
		if i%2 == 0 {
			target = b.addr
		}
		writeYAML(t, path, dir, "", routes, target)
		if i%3 == 0 {
			r, err := http.Post("http://"+g.addrs.Admin+"/admin/reload", "", nil)
			if err != nil || r.StatusCode != 200 {
				t.Fatalf("admin reload %d: %v %v", i, err, r)
			}
			r.Body.Close()
		} else if err := g.srv.Reload(); err != nil {
			t.Fatal(err)
		}
		n := ok.Load()
		testkit.Poll(t, 5*time.Second, "traffic between reloads", func() bool { return ok.Load() > n+5 || failed.Load() > 0 })
	}
	close(stop)
	wg.Wait()
	if failed.Load() != 0 {
		t.Fatalf("%d of %d requests failed during reloads; first: %v", failed.Load(), ok.Load()+failed.Load(), firstErr.Load())
	}
	if a.hits.Load() == 0 || b.hits.Load() == 0 {
		t.Fatalf("traffic did not follow the reloads: a=%d b=%d", a.hits.Load(), b.hits.Load())
	}
	m := g.metricsText(t)
	if !strings.Contains(m, fmt.Sprintf(`gateway_config_reloads_total{result="success"} %d`, reloads)) ||
		!strings.Contains(m, "gateway_config_last_reload_success_timestamp_seconds ") {
		t.Fatal("reload metrics missing")
	}
}

// TestSlowClientsAreCutOff: trickled headers, a stalled TLS handshake, a
// stalled body and an idle keep-alive connection are all closed by the
// gateway's timeouts.
func TestSlowClientsAreCutOff(t *testing.T) {
	a := startEcho(t, "a")
	g := startWith(t, "  read_timeout: 300ms\n  idle_timeout: 300ms\n",
		"tls: {handshake_timeout: 200ms}\n"+plainRoutes+"    body_timeout: 300ms\n", a.addr)

	closedWithin := func(t *testing.T, c net.Conn, d time.Duration) {
		t.Helper()
		_ = c.SetReadDeadline(time.Now().Add(d))
		_, err := io.ReadAll(c)
		var ne net.Error
		if errorsAs(err, &ne) && ne.Timeout() {
			t.Fatal("connection still open")
		}
	}
	dialTLS := func(t *testing.T) *tls.Conn {
		c, err := tls.Dial("tcp", g.addrs.HTTPS, &tls.Config{InsecureSkipVerify: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}

	t.Run("handshake", func(t *testing.T) {
		// A listener whose read timeout is long: only the handshake
		// timeout can close this connection in time.
		hs := startWith(t, "  read_timeout: 1m\n", "tls: {handshake_timeout: 200ms}\n"+plainRoutes, a.addr)
		for _, hello := range []string{"", "\x16\x03\x01\x00"} { // silence, then a trickled ClientHello
			c, err := net.Dial("tcp", hs.addrs.HTTPS)
			if err != nil {
				t.Fatal(err)
			}
			_, _ = io.WriteString(c, hello)
			closedWithin(t, c, 5*time.Second)
			c.Close()
		}
	})
	t.Run("trickled head", func(t *testing.T) {
		c := dialTLS(t)
		_, _ = io.WriteString(c, "GET /api/x HTTP/1.1\r\nHost: a\r\n")
		closedWithin(t, c, 3*time.Second)
	})
	t.Run("stalled body", func(t *testing.T) {
		c := dialTLS(t)
		_, _ = io.WriteString(c, "POST /api/x HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n0123456789")
		_ = c.SetReadDeadline(time.Now().Add(3 * time.Second))
		b, _ := io.ReadAll(c)
		if !strings.HasPrefix(string(b), "HTTP/1.1 408") {
			t.Fatalf("stalled body answered %q", b)
		}
	})
	t.Run("idle keep-alive", func(t *testing.T) {
		c := dialTLS(t)
		_, _ = io.WriteString(c, "GET /api/x HTTP/1.1\r\nHost: a\r\n\r\n")
		closedWithin(t, c, 3*time.Second)
	})
	if a.hits.Load() != 1 {
		t.Fatalf("upstream hits %d, want only the keep-alive request", a.hits.Load())
	}
}

func TestMaxConnsPerIP(t *testing.T) {
	a := startEcho(t, "a")
	g := startWith(t, "  max_conns_per_ip: 2\n", plainRoutes, a.addr)
	var conns []*tls.Conn
	for i := 0; i < 2; i++ {
		c, err := tls.Dial("tcp", g.addrs.HTTPS, &tls.Config{InsecureSkipVerify: true})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		conns = append(conns, c)
	}
	if c, err := tls.Dial("tcp", g.addrs.HTTPS, &tls.Config{InsecureSkipVerify: true}); err == nil {
		c.Close()
		t.Fatal("a third connection from one IP was accepted")
	}
	conns[0].Close()
	testkit.Poll(t, 5*time.Second, "the slot to be released", func() bool {
		c, err := tls.Dial("tcp", g.addrs.HTTPS, &tls.Config{InsecureSkipVerify: true})
		if err != nil {
			return false
		}
		c.Close()
		return true
	})
}

func TestAdminConfigRedactedAndMetricNames(t *testing.T) {
	a := startEcho(t, "a")
	g := startWith(t, "", plainRoutes+"redis:\n  url: redis://app:hunter2@127.0.0.1:1/0\n", a.addr)
	g.get(t, "/api/v1/x", nil)

	r, err := http.Get("http://" + g.addrs.Admin + "/admin/config")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(r.Body)
	r.Body.Close()
	if strings.Contains(string(body), "hunter2") || !strings.Contains(string(body), "REDACTED") ||
		!strings.Contains(string(body), `"path_prefix"`) || !strings.Contains(string(body), `"300ms"`) {
		t.Fatalf("/admin/config: %s", body)
	}
	if r, err := http.Get("http://" + g.addrs.Admin + "/debug/pprof/"); err != nil || r.StatusCode != 200 {
		t.Fatalf("pprof: %v %v", err, r)
	}
	m := g.metricsText(t)
	for _, want := range []string{
		`gateway_http_requests_total{code_class="2xx",method="GET",route="api"} 1`,
		`gateway_http_request_duration_seconds_bucket{route="api",le="0.005"}`,
		`gateway_http_inflight_requests 0`,
		`gateway_open_connections `,
		`gateway_build_info{config_hash="` + g.srv.current.Load().hash + `",version="test"} 1`,
		`gateway_config_last_reload_success_timestamp_seconds `,
		`gateway_upstream_requests_total{code_class="2xx",instance="` + a.addr + `",upstream="campus"} 1`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	if strings.Contains(m, "hunter2") {
		t.Fatal("secret in metrics")
	}
}
