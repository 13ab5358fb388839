package server

import (
	"bufio"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestOwnedHeadersCannotBeDuplicated: a client sending several lines of a
// header the gateway owns (X-Forwarded-For, X-Real-IP, X-Request-ID,
// X-Forwarded-Proto/-Host) cannot make a second line reach the upstream,
// and an upstream's own X-Request-ID lines never reach the client beside
// the gateway's.
func TestOwnedHeadersCannotBeDuplicated(t *testing.T) {
	heads := make(chan string, 1)
	up := rawUpstream(t, func(c net.Conn) {
		defer c.Close()
		br := bufio.NewReader(c)
		var head strings.Builder
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				return
			}
			head.WriteString(line)
			if line == "\r\n" {
				break
			}
		}
		heads <- head.String()
		_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Request-Id: up-a\r\n"+
			"X-Request-Id: up-b\r\nX-Frame-Options: SAMEORIGIN\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}")
	})
	g := startWith(t, "", plainRoutes, up)

	c, err := tls.Dial("tcp", g.addrs.HTTPS, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	_, _ = io.WriteString(c, "GET /api/x HTTP/1.1\r\nHost: campus.example\r\n"+
		"X-Forwarded-For: 1.1.1.1\r\nX-Forwarded-For: 6.6.6.6\r\n"+
		"X-Real-IP: 6.6.6.6\r\nX-Real-IP: 7.7.7.7\r\n"+
		"X-Request-ID: a\r\nX-Request-ID: b\r\n"+
		"X-Forwarded-Proto: gopher\r\nX-Forwarded-Host: evil.example\r\nX-Forwarded-Host: evil2.example\r\n"+
		"Connection: close\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()

	var head string
	select {
	case head = <-heads:
	case <-time.After(5 * time.Second):
		t.Fatal("upstream saw no request")
	}
	count := func(name string) (n int, values []string) {
		for _, line := range strings.Split(head, "\r\n") {
			k, v, ok := strings.Cut(line, ":")
			if ok && strings.EqualFold(k, name) {
				n++
				values = append(values, strings.TrimSpace(v))
			}
		}
		return n, values
	}
	for name, want := range map[string]string{
		"X-Forwarded-For":   "127.0.0.1",
		"X-Real-IP":         "127.0.0.1",
		"X-Forwarded-Proto": "https",
		"X-Forwarded-Host":  "campus.example",
	} {
		if n, v := count(name); n != 1 || v[0] != want {
			t.Errorf("upstream got %s %q, want exactly %q", name, v, want)
		}
	}
	if n, v := count("X-Request-ID"); n != 1 || v[0] == "a" || v[0] == "b" {
		t.Errorf("upstream got X-Request-ID %q, want one minted id", v)
	}
	if ids := resp.Header.Values("X-Request-Id"); len(ids) != 1 || strings.HasPrefix(ids[0], "up-") {
		t.Errorf("client got X-Request-ID %q, want the gateway's only", ids)
	}
	if xfo := resp.Header.Values("X-Frame-Options"); len(xfo) != 1 || xfo[0] != "DENY" {
		t.Errorf("client got X-Frame-Options %q", xfo)
	}
}
