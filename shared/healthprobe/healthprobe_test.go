package healthprobe

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestLoopbackURL(t *testing.T) {
	for _, tc := range []struct{ listen, want string }{
		{":8081", "http://127.0.0.1:8081/ready"},
		{"0.0.0.0:8081", "http://127.0.0.1:8081/ready"},
		{"[::]:8081", "http://[::1]:8081/ready"},
		{"10.0.0.5:8081", "http://10.0.0.5:8081/ready"},
		{"[fd00::1]:8081", "http://[fd00::1]:8081/ready"},
		{"backend:8081", "http://backend:8081/ready"},
	} {
		got, err := LoopbackURL(tc.listen, "/ready")
		if err != nil || got != tc.want {
			t.Errorf("LoopbackURL(%q) = %q, %v; want %q", tc.listen, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", "nope", "127.0.0.1", "127.0.0.1:", "127.0.0.1:0", ":0"} {
		if got, err := LoopbackURL(bad, "/ready"); err == nil {
			t.Errorf("LoopbackURL(%q) = %q, want an error", bad, got)
		}
	}
}

func TestGetStatuses(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/ok":
			w.WriteHeader(http.StatusNoContent)
		case "/down":
			w.WriteHeader(http.StatusServiceUnavailable)
		case "/moved":
			http.Redirect(w, r, "/ok", http.StatusFound)
		default:
			w.WriteHeader(http.StatusNotFound)
		}
	}))
	t.Cleanup(srv.Close)
	ctx := context.Background()
	if code, err := Get(ctx, srv.URL+"/ok", time.Minute); err != nil || code != http.StatusNoContent {
		t.Fatalf("Get /ok = %d, %v; want 204, nil", code, err)
	}
	for path, code := range map[string]int{"/down": 503, "/moved": 302, "/nothing": 404} {
		got, err := Get(ctx, srv.URL+path, time.Minute)
		want := srv.URL + path + " answered " + strconv.Itoa(code)
		if err == nil || got != code || !strings.Contains(err.Error(), want) {
			t.Errorf("Get %s = %d, %v; want %d and an error naming %s", path, got, err, code, want)
		}
	}
}

func TestGetUnreachableAndSlow(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	if _, err := Get(context.Background(), "http://"+closed+"/ready", time.Minute); err == nil || !strings.Contains(err.Error(), closed) {
		t.Fatalf("unreachable: %v, want an error naming %s", err, closed)
	}

	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(func() { close(release); slow.Close() })
	_, err = Get(context.Background(), slow.URL+"/ready", 100*time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "no answer within 100ms") {
		t.Fatalf("slow: %v, want a timeout error", err)
	}
}
