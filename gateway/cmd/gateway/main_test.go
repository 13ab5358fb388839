package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/campshub360/edge/shared/testkit"
)

func TestCheckConfig(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(good, []byte("upstreams: [{name: campus, instances: [{addr: '10.0.0.5:9001'}]}]\nroutes: [{path_prefix: /api/, upstream: campus, stream_request_body: true}]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, []byte("routes: [{path_prefix: /a/, upstream: campus}, {path_prefix: b, upstream: core}]\nserver: {max_uri_bytes: 1}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	if err := run(context.Background(), []string{"--check-config", good}, nil, &out, &errOut); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "configuration is valid") || !strings.Contains(out.String(), "route /api/: */api/ -> campus") {
		t.Fatalf("summary:\n%s", out.String())
	}
	err := run(context.Background(), []string{"--check-config", bad}, nil, &out, &errOut)
	if err == nil {
		t.Fatal("invalid file accepted")
	}
	for _, want := range []string{`routes[0].upstream: unknown upstream "campus"`, `routes[1].path_prefix:`, `routes[1].upstream: unknown upstream "core"`, "server.max_uri_bytes:"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in:\n%v", want, err)
		}
	}
	// An environment override is validated too.
	if err := run(context.Background(), []string{"--check-config", good}, []string{"GATEWAY__SERVER__READ_TIMEOUT=soon"}, &out, &errOut); err == nil {
		t.Fatal("bad override accepted")
	}
}

// TestCheckConfigLoadsFiles: --check-config runs the build steps of a
// start, so files the configuration names must exist and be usable, and a
// YAML fault is reported by line and column without quoting the file.
func TestCheckConfigLoadsFiles(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "campus.crt")
	junk := filepath.Join(dir, "junk.key")
	if err := os.WriteFile(junk, []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	doc := "upstreams: [{name: campus, instances: [{addr: '10.0.0.5:9001'}], tls: {enabled: true, ca_file: " + junk + "}}]\n" +
		"routes: [{path_prefix: /api/, upstream: campus, auth: required}]\n" +
		"auth: {jwks: {fallback_file: " + filepath.Join(dir, "jwks.json") + "}}\n" +
		"tls: {certificates: [{cert_file: " + missing + ", key_file: " + junk + "}]}\n"
	cfgFile := filepath.Join(dir, "gateway.yaml")
	if err := os.WriteFile(cfgFile, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	err := run(context.Background(), []string{"--check-config", cfgFile}, nil, &out, &errOut)
	if err == nil || strings.Contains(out.String(), "configuration is valid") {
		t.Fatalf("missing files accepted: %v\n%s", err, out.String())
	}
	for _, want := range []string{
		"tls.certificates[0]: certificate " + missing,
		"upstreams[0].tls.ca_file: ",
		"auth.jwks.fallback_file: open " + filepath.Join(dir, "jwks.json"),
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in:\n%v", want, err)
		}
	}
	// Starting with it fails the same way, before anything is bound.
	ephemeral := []string{"GATEWAY__LISTEN__HTTPS=127.0.0.1:0", "GATEWAY__LISTEN__HTTP=", "GATEWAY__LISTEN__ADMIN="}
	if err2 := run(context.Background(), []string{"--config", cfgFile}, ephemeral, &out, &errOut); err2 == nil || !strings.Contains(err2.Error(), "tls.certificates[0]") {
		t.Fatalf("start: %v", err2)
	}

	secret := "redis://:hunter2-secret@127.0.0.1:6379/0"
	if err := os.WriteFile(cfgFile, []byte("redis:\n  url: "+secret+"\nthis: is: not: yaml: [\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	err = run(context.Background(), []string{"--check-config", cfgFile}, nil, &out, &errOut)
	want := cfgFile + " is invalid:\nline 3, column 7: mapping value is not allowed in this context"
	if err == nil || err.Error() != want {
		t.Fatalf("got %v, want %q", err, want)
	}
}

// TestZeroConfigStartAndStop runs the program on its embedded defaults
// (listeners moved to ephemeral loopback ports through the environment),
// serves a request, and exits cleanly when its context ends (SIGTERM).
func TestZeroConfigStartAndStop(t *testing.T) {
	env := []string{
		"GATEWAY__RUNTIME_DIR=" + t.TempDir(),
		"GATEWAY__LISTEN__HTTPS=127.0.0.1:0",
		"GATEWAY__LISTEN__HTTP=127.0.0.1:0",
		"GATEWAY__LISTEN__ADMIN=127.0.0.1:0",
		"GATEWAY__SERVER__DRAIN_DELAY=0s",
		"GATEWAY__LOG__FORMAT=json",
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr testkit.SyncBuffer
	done := make(chan error, 1)
	go func() { done <- run(ctx, nil, env, &stdout, &stderr) }()

	var https string
	deadline := time.Now().Add(10 * time.Second)
	for https == "" {
		if time.Now().After(deadline) {
			t.Fatalf("no serving line:\n%s", stderr.String())
		}
		for _, line := range strings.Split(stderr.String(), "\n") {
			var m map[string]any
			if json.Unmarshal([]byte(line), &m) == nil && m["msg"] == "gateway serving" {
				https, _ = m["https"].(string)
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	resp, err := client.Get("https://" + https + "/not-routed")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run returned %v, want nil (exit 0)", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("did not stop")
	}
	if !strings.Contains(stdout.String(), `"path":"/not-routed"`) {
		t.Fatalf("access log on stdout missing the request:\n%s", stdout.String())
	}
}
