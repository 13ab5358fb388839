package e2e

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"

	"github.com/campshub360/edge/backend/internal/config"
)

// runtimeEnv are variables the Go runtime and the C library read, which
// deploy files may set for the backend besides its own configuration.
var runtimeEnv = []string{"GOMEMLIMIT", "GOMAXPROCS", "GOGC", "GODEBUG", "GOTRACEBACK", "TZ"}

// backendEnvSources collects the environment variable names the deploy
// files set for backend processes, each with where it is set: the compose
// backend and migrate services, the Kubernetes backend Deployment and
// migration Job and their env files, and the example env files for
// systemd and other hosts.
func backendEnvSources(t *testing.T) map[string][]string {
	t.Helper()
	set := map[string][]string{}
	add := func(name, where string) { set[name] = append(set[name], where) }

	// compose.yaml: services running the backend image.
	var compose struct {
		Services map[string]struct {
			Image       string         `yaml:"image"`
			Environment map[string]any `yaml:"environment"`
		} `yaml:"services"`
	}
	b, err := os.ReadFile(filepath.Join(deployDir, "compose", "compose.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, &compose); err != nil {
		t.Fatalf("compose.yaml: %v", err)
	}
	n := 0
	for name, svc := range compose.Services {
		if !strings.HasPrefix(svc.Image, "campshub360/backend:") {
			continue
		}
		n++
		for k := range svc.Environment {
			add(k, "compose service "+name)
		}
	}
	if n < 4 {
		t.Fatalf("compose.yaml runs the backend image in %d services, want 3 backends and migrate", n)
	}

	// Kubernetes: containers of the backend image, and env files.
	manifests, err := filepath.Glob(filepath.Join(deployDir, "k8s", "*", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	more, _ := filepath.Glob(filepath.Join(deployDir, "k8s", "overlays", "*", "*.yaml"))
	manifests = append(manifests, more...)
	n = 0
	for _, f := range manifests {
		for _, c := range backendContainers(t, f) {
			n++
			for _, e := range c.Env {
				add(e.Name, filepath.Base(f)+" container "+c.Name)
			}
		}
	}
	if n < 2 {
		t.Fatalf("found %d Kubernetes containers of the backend image, want the Deployment and the migration Job", n)
	}
	envFiles, _ := filepath.Glob(filepath.Join(deployDir, "k8s", "base", "backend.env"))
	more, _ = filepath.Glob(filepath.Join(deployDir, "k8s", "overlays", "*", "backend.env"))
	envFiles = append(envFiles, more...)
	more, _ = filepath.Glob(filepath.Join(deployDir, "config", "backend.*.env"))
	envFiles = append(envFiles, more...)
	if len(envFiles) < 5 {
		t.Fatalf("backend env files: %q", envFiles)
	}
	for _, f := range envFiles {
		for _, k := range envFileNames(t, f) {
			add(k, f)
		}
	}
	return set
}

// container is the part of a Kubernetes container spec read here.
type container struct {
	Name  string `yaml:"name"`
	Image string `yaml:"image"`
	Env   []struct {
		Name string `yaml:"name"`
	} `yaml:"env"`
}

// backendContainers returns the containers running the backend image in
// the workloads of a manifest file.
func backendContainers(t *testing.T, file string) []container {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	var out []container
	for {
		var doc struct {
			Spec struct {
				Template struct {
					Spec struct {
						Containers []container `yaml:"containers"`
					} `yaml:"spec"`
				} `yaml:"template"`
			} `yaml:"spec"`
		}
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		for _, c := range doc.Spec.Template.Spec.Containers {
			if strings.Contains(c.Image, "campshub360/backend") {
				out = append(out, c)
			}
		}
	}
}

var envLine = regexp.MustCompile(`^([A-Z][A-Z0-9_]*)=`)

func envFileNames(t *testing.T, file string) []string {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var names []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		m := envLine.FindStringSubmatch(line)
		if m == nil {
			t.Errorf("%s: not KEY=VALUE: %q", file, line)
			continue
		}
		names = append(names, m[1])
	}
	return names
}

// TestDeployBackendEnvNamesAreRead requires every environment variable
// that a deploy file sets for the backend to be one the backend reads
// (config.EnvNames, derived from the loaders themselves) or one of the Go
// runtime's: a misspelled or retired variable would otherwise be ignored
// silently in production. Values are validated separately by running
// `backend serve --check-config` (benchmarks/internal/deploycheck).
func TestDeployBackendEnvNamesAreRead(t *testing.T) {
	known := append(config.EnvNames(), runtimeEnv...)
	for name, where := range backendEnvSources(t) {
		if !slices.Contains(known, name) {
			t.Errorf("%s is set for the backend in %s, but the backend does not read it (it reads %s)",
				name, strings.Join(slices.Compact(where), ", "), strings.Join(config.EnvNames(), ", "))
		}
	}
}
