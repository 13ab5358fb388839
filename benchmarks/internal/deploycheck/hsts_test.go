package deploycheck

import (
	"strings"
	"testing"
	"time"
)

// TestGatewayHSTSAndListeners: the production configurations send HSTS
// (they serve real certificates) and listen on every interface; the
// development one (the embedded defaults of `make run`) sends none and
// listens on loopback only, since the dev stack prints demo passwords.
func TestGatewayHSTSAndListeners(t *testing.T) {
	for _, f := range []string{
		path("deploy", "config", "gateway.yaml"),
		path("deploy", "config", "gateway.single-host.yaml"),
		path("deploy", "config", "gateway.cluster.yaml"),
		path("deploy", "compose", "gateway.yaml"),
		path("deploy", "k8s", "base", "gateway.yaml"),
	} {
		m := readYAML(t, f)
		d, err := time.ParseDuration(str(get(m, "headers", "hsts", "max_age")))
		if err != nil || d < 180*24*time.Hour {
			t.Errorf("%s: headers.hsts.max_age %q, want at least 4320h", f, str(get(m, "headers", "hsts", "max_age")))
		}
		if https := str(get(m, "listen", "https")); !strings.HasPrefix(https, ":") {
			t.Errorf("%s: listen.https %q, want every interface", f, https)
		}
	}
	dev := path("deploy", "config", "gateway.dev.yaml")
	m := readYAML(t, dev)
	if d, err := time.ParseDuration(str(get(m, "headers", "hsts", "max_age"))); err != nil || d != 0 {
		t.Errorf("%s: headers.hsts.max_age %q, want 0s", dev, str(get(m, "headers", "hsts", "max_age")))
	}
	for _, l := range []string{"https", "http", "admin"} {
		if a := str(get(m, "listen", l)); !strings.HasPrefix(a, "127.0.0.1:") {
			t.Errorf("%s: listen.%s %q, want loopback", dev, l, a)
		}
	}
}
