// Package healthprobe performs the one-shot HTTP health probe behind the
// `healthcheck` subcommands of the gateway and the backend: one GET of a
// liveness or readiness endpoint, success on a 2xx answer (RFC 9110 §15.3).
// It exists for container health checks in images without a shell or curl.
package healthprobe

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"
)

// maxDrain bounds how much of an answer's body is read (and discarded)
// before the connection is closed, in bytes.
const maxDrain = 64 << 10

// LoopbackURL returns "http://" + host:port + path for a server listening at
// listen (a host:port as given to net.Listen). A wildcard host (empty,
// 0.0.0.0 or ::) is replaced by the loopback address of the same family
// (127.0.0.1, or ::1 for an IPv6 wildcard), since a probe runs on the same
// host as the server. path is used as given and should start with "/". It
// returns an error when listen is not host:port or its port is empty or 0
// (an ephemeral port cannot be probed from outside the process).
func LoopbackURL(listen, path string) (string, error) {
	host, port, err := net.SplitHostPort(listen)
	if err != nil || port == "" || port == "0" {
		return "", fmt.Errorf("%q is not host:port with a fixed port", listen)
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
		if ip != nil && ip.To4() == nil {
			host = "::1"
		}
	}
	return "http://" + net.JoinHostPort(host, port) + path, nil
}

// Get sends one GET to target (an http:// or https:// URL) and waits at most
// timeout (which must be positive) for the answer, bounded also by ctx. It
// returns the status code and nil on a 2xx answer. Otherwise it returns an
// error naming target: the status code it answered, "no answer within
// <timeout>", or the transport failure (connection refused, TLS, ...). It
// uses no proxy from the environment, no keep-alive and never follows a
// redirect (a 3xx answer is a failure); up to 64 KiB of the body is drained
// and the rest discarded, never printed. Safe for concurrent use.
func Get(ctx context.Context, target string, timeout time.Duration) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", target, err)
	}
	client := &http.Client{
		Transport:     &http.Transport{Proxy: nil, DisableKeepAlives: true},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	resp, err := client.Do(req)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return 0, fmt.Errorf("%s: no answer within %s", target, timeout)
		}
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return 0, fmt.Errorf("%s: %w", target, err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxDrain))
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp.StatusCode, fmt.Errorf("%s answered %d", target, resp.StatusCode)
	}
	return resp.StatusCode, nil
}
