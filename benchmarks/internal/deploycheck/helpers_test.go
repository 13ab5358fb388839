package deploycheck

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
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
// operator would, and fails t with the problems it lists.
func checkGatewayConfig(t *testing.T, what, file string, env map[string]string) {
	t.Helper()
	r := runBinary(t, "gateway", env, "--check-config", file)
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
