package deploycheck

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/goccy/go-yaml"
)

// repoRoot is the workspace root, relative to this package.
const repoRoot = "../../.."

// path joins elements onto the workspace root and returns an absolute
// path (commands under test run in scratch directories).
func path(elem ...string) string {
	p, err := filepath.Abs(filepath.Join(append([]string{repoRoot}, elem...)...))
	if err != nil {
		panic(err)
	}
	return p
}

// buildOnce builds the gateway and backend commands once per test binary.
var buildOnce = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "campshub360-deploycheck-bin-")
	if err != nil {
		return "", err
	}
	cmd := exec.Command("go", "build", "-o", dir+string(os.PathSeparator),
		"github.com/campshub360/edge/gateway/cmd/gateway",
		"github.com/campshub360/edge/backend/cmd/backend")
	cmd.Dir = repoRoot
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return dir, nil
})

// binary returns the path of the freshly built gateway or backend command.
func binary(t *testing.T, name string) string {
	t.Helper()
	dir, err := buildOnce()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, name)
}

// result is the outcome of running a command.
type result struct {
	code           int
	stdout, stderr string
}

// runBinary runs the built gateway or backend with args and exactly env
// (plus PATH), in a scratch working directory.
func runBinary(t *testing.T, name string, env map[string]string, args ...string) result {
	t.Helper()
	cmd := exec.Command(binary(t, name), args...)
	cmd.Dir = t.TempDir()
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + cmd.Dir}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := result{stdout: stdout.String(), stderr: stderr.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	default:
		t.Fatalf("run %s %q: %v", name, args, err)
	}
	return r
}

// checkGatewayConfig runs `gateway --check-config file` with env, as an
// operator would, and fails t with the problems it lists. The certificate
// files the configuration names are provided by the deployment at run
// time; a fixture pair stands in for them (withCertFixtures).
func checkGatewayConfig(t *testing.T, what, file string, env map[string]string) {
	t.Helper()
	r := runBinary(t, "gateway", withCertFixtures(t, file, env), "--check-config", file)
	if r.code != 0 || !strings.Contains(r.stdout, "configuration is valid") {
		t.Errorf("%s: gateway --check-config %s (env %v) exit %d:\n%s%s", what, file, sortedKeys(env), r.code, r.stdout, r.stderr)
	}
}

// checkBackendServe runs `backend <args> --check-config` with env: the
// flags and every variable's value must be accepted.
func checkBackendServe(t *testing.T, what string, args []string, env map[string]string) {
	t.Helper()
	if len(args) == 0 || args[0] != "serve" {
		t.Errorf("%s: backend command %q does not serve", what, args)
		return
	}
	r := runBinary(t, "backend", env, append(append([]string{}, args...), "--check-config")...)
	if r.code != 0 || !strings.Contains(r.stdout, "configuration ok") {
		t.Errorf("%s: backend %q --check-config (env %v) exit %d:\n%s%s", what, args, sortedKeys(env), r.code, r.stdout, r.stderr)
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// readYAMLDocs decodes every document of a YAML file into generic values.
func readYAMLDocs(t *testing.T, file string) []any {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	var docs []any
	for {
		var v any
		err := dec.Decode(&v)
		if errors.Is(err, io.EOF) {
			return docs
		}
		if err != nil {
			t.Fatalf("%s: %s", file, yaml.FormatError(err, false, true))
		}
		if v != nil {
			docs = append(docs, v)
		}
	}
}

// readYAML decodes a single-document YAML file.
func readYAML(t *testing.T, file string) map[string]any {
	t.Helper()
	docs := readYAMLDocs(t, file)
	if len(docs) != 1 {
		t.Fatalf("%s: %d documents, want 1", file, len(docs))
	}
	m, ok := docs[0].(map[string]any)
	if !ok {
		t.Fatalf("%s: top level is %T, want a mapping", file, docs[0])
	}
	return m
}

// get walks a generic YAML/JSON value along map keys and list indexes
// ("spec", "template", 0, ...). It returns nil when a step is missing.
func get(v any, keys ...any) any {
	for _, k := range keys {
		switch k := k.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				return nil
			}
			v = m[k]
		case int:
			l, ok := v.([]any)
			if !ok || k >= len(l) {
				return nil
			}
			v = l[k]
		}
	}
	return v
}

func str(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case nil:
		return ""
	default:
		return fmt.Sprint(v)
	}
}

func list(v any) []any {
	l, _ := v.([]any)
	return l
}

func mapping(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

func stringList(v any) []string {
	var out []string
	for _, e := range list(v) {
		out = append(out, str(e))
	}
	return out
}

// readEnvFile parses KEY=VALUE lines (comments and blank lines skipped).
func readEnvFile(t *testing.T, file string) map[string]string {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	env := map[string]string{}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok || !regexp.MustCompile(`^[A-Z][A-Z0-9_]*$`).MatchString(k) {
			t.Errorf("%s:%d: not KEY=VALUE: %q", file, n, line)
			continue
		}
		env[k] = v
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return env
}

var interpolation = regexp.MustCompile(`\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)`)

// interpolate expands compose-style ${VAR}, ${VAR:-default},
// ${VAR:?message} and $$ with vars; it reports variables that are
// neither set nor defaulted.
func interpolate(s string, vars map[string]string) (string, []string) {
	var missing []string
	out := interpolation.ReplaceAllStringFunc(s, func(m string) string {
		if m == "$$" {
			return "$"
		}
		sub := interpolation.FindStringSubmatch(m)
		name, op, arg := sub[1], sub[2], sub[3]
		if name == "" {
			name = sub[4]
		}
		v, ok := vars[name]
		switch {
		case ok && (v != "" || !strings.HasPrefix(op, ":")):
			return v
		case strings.HasSuffix(op, "-"):
			return arg
		default:
			missing = append(missing, name)
			return ""
		}
	})
	return out, missing
}

// backendKeyrings are the secrets `backend serve` refuses to start
// without outside --dev. Each is read from NAME, or from the file named
// by NAME_FILE; deployments here must use the file form, filled from
// their secret store.
var backendKeyrings = []string{"ENCRYPTION_KEYS", "SIGNING_KEY_SECRETS", "QR_SIGNING_KEY"}

// throwawaySecret returns a fresh value in the form the backend expects
// for the secret name: a keyring, or for QR_SIGNING_KEY a bare base64 key.
func throwawaySecret(t *testing.T, name string) string {
	t.Helper()
	k := throwawayKeyring(t)
	if name == "QR_SIGNING_KEY" {
		_, key, _ := strings.Cut(k, ":")
		return key
	}
	return k
}

// throwawayKeyring returns a fresh keyring in the backend's format,
// kid:base64(32 random bytes), like one `backend keys generate` prints.
func throwawayKeyring(t *testing.T) string {
	t.Helper()
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	return "deploycheck:" + base64.StdEncoding.EncodeToString(key)
}

// provideKeyrings checks that env takes both keyrings from files
// (NAME_FILE set, NAME unset: a keyring value in a deploy file would be a
// committed secret) and that resolve accepts each file path as backed by
// the deployment's secret store (resolve explains why not). It then points
// each NAME_FILE at a throwaway keyring file, as the secret store would
// provide at run time, so that `backend serve --check-config` validates
// the rest with real values.
func provideKeyrings(t *testing.T, what string, env map[string]string, resolve func(path string) error) {
	t.Helper()
	for _, name := range backendKeyrings {
		if env[name] != "" {
			t.Errorf("%s: %s is set in the deploy file; keyrings must come from a secret store (%s_FILE)", what, name, name)
			delete(env, name)
		}
		p := env[name+"_FILE"]
		if p == "" {
			t.Errorf("%s: %s_FILE is not set: the backend refuses to start without %s", what, name, name)
			continue
		}
		if err := resolve(p); err != nil {
			t.Errorf("%s: %s_FILE=%s: %v", what, name, p, err)
			continue
		}
		f := filepath.Join(t.TempDir(), filepath.Base(p))
		if err := os.WriteFile(f, []byte(throwawaySecret(t, name)+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		env[name+"_FILE"] = f
	}
}

// tokenContract is what the gateway and the backends must agree on for
// edge token verification.
type tokenContract struct {
	issuer, audience string
}

// gatewayTokenContract reads auth.issuer and auth.audience of a gateway
// configuration (the gateway's defaults when absent).
func gatewayTokenContract(cfg map[string]any) tokenContract {
	c := tokenContract{issuer: "campshub360", audience: "campus-api"}
	if v := str(get(cfg, "auth", "issuer")); v != "" {
		c.issuer = v
	}
	if v := str(get(cfg, "auth", "audience")); v != "" {
		c.audience = v
	}
	return c
}

// checkEdgeAuth checks a gateway configuration against the backends it
// fronts: issuer and audience equal the backends' AUTH_ISSUER and
// AUTH_AUDIENCE (the backend's defaults when unset), protected /api/
// routes verify tokens at the edge while sign-in stays open, and every
// JWK Set URL is a backend's /api/v1/auth/jwks.json at one of the
// upstream instances (so the gateway can reach it).
func checkEdgeAuth(t *testing.T, what string, cfg map[string]any, backendEnv map[string]string) {
	t.Helper()
	gw := gatewayTokenContract(cfg)
	be := tokenContract{issuer: "campshub360", audience: "campus-api"}
	if v := backendEnv["AUTH_ISSUER"]; v != "" {
		be.issuer = v
	}
	if v := backendEnv["AUTH_AUDIENCE"]; v != "" {
		be.audience = v
	}
	if gw != be {
		t.Errorf("%s: gateway auth issuer/audience %q/%q, backends AUTH_ISSUER/AUTH_AUDIENCE %q/%q: every token would be refused at the edge",
			what, gw.issuer, gw.audience, be.issuer, be.audience)
	}
	routes := map[string]string{}
	for _, r := range list(cfg["routes"]) {
		routes[str(get(r, "path_prefix"))] = str(get(r, "auth"))
	}
	if routes["/api/"] != "required" {
		t.Errorf("%s: route /api/ has auth %q, want required (tokens verified at the edge)", what, routes["/api/"])
	}
	if a := routes["/api/v1/auth/"]; a != "" && a != "none" {
		t.Errorf("%s: route /api/v1/auth/ has auth %q: sign-in and refresh must stay open", what, a)
	}
	if _, ok := routes["/api/v1/auth/"]; !ok {
		t.Errorf("%s: no open /api/v1/auth/ route: sign-in would need a token", what)
	}
	instances := map[string]bool{}
	for _, u := range list(cfg["upstreams"]) {
		for _, in := range list(get(u, "instances")) {
			instances[str(get(in, "addr"))] = true
		}
	}
	urls := stringList(get(cfg, "auth", "jwks", "urls"))
	if len(urls) == 0 {
		t.Errorf("%s: auth.jwks.urls is empty", what)
	}
	for _, raw := range urls {
		u, err := url.Parse(raw)
		if err != nil || u.Path != "/api/v1/auth/jwks.json" || !instances[u.Host] {
			t.Errorf("%s: JWK Set URL %q is not /api/v1/auth/jwks.json of an upstream instance %q", what, raw, sortedKeys(instances))
		}
	}
}

// checkTrustedProxies requires the backends' TRUSTED_PROXIES to cover
// every address the gateways reach them from, so that the backends'
// per-address sign-in lockout sees clients, not gateways.
func checkTrustedProxies(t *testing.T, what string, env map[string]string, gateways ...netip.Addr) {
	t.Helper()
	spec := env["TRUSTED_PROXIES"]
	if spec == "" {
		t.Errorf("%s: TRUSTED_PROXIES is not set (the default trusts loopback only)", what)
		return
	}
	var prefixes []netip.Prefix
	for _, part := range strings.Split(spec, ",") {
		part = strings.TrimSpace(part)
		if p, err := netip.ParsePrefix(part); err == nil {
			prefixes = append(prefixes, p)
		} else if a, err := netip.ParseAddr(part); err == nil {
			prefixes = append(prefixes, netip.PrefixFrom(a, a.BitLen()))
		} else {
			t.Errorf("%s: TRUSTED_PROXIES entry %q is not an address or CIDR", what, part)
		}
	}
	for _, g := range gateways {
		if !slices.ContainsFunc(prefixes, func(p netip.Prefix) bool { return p.Contains(g) }) {
			t.Errorf("%s: TRUSTED_PROXIES %q does not cover the gateway address %s", what, spec, g)
		}
	}
}
