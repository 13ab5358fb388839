package deploycheck

import (
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// deployFiles lists the files under deploy/ whose name ends in one of
// exts.
func deployFiles(t *testing.T, exts ...string) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(path("deploy"), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		for _, ext := range exts {
			if !d.IsDir() && strings.HasSuffix(d.Name(), ext) {
				files = append(files, p)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// TestEveryYAMLFileParses decodes every document of every YAML file
// under deploy/ (compose, Kubernetes, Prometheus, Grafana provisioning,
// gateway configurations).
func TestEveryYAMLFileParses(t *testing.T) {
	files := deployFiles(t, ".yaml", ".yml")
	if len(files) < 20 {
		t.Fatalf("found only %d YAML files under deploy/", len(files))
	}
	for _, f := range files {
		if docs := readYAMLDocs(t, f); len(docs) == 0 {
			t.Errorf("%s: no document", f)
		}
	}
}

// TestEveryJSONFileParses decodes every JSON file under deploy/ (the
// Grafana dashboards).
func TestEveryJSONFileParses(t *testing.T) {
	files := deployFiles(t, ".json")
	if len(files) == 0 {
		t.Fatal("no JSON file under deploy/")
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var v any
		if err := json.Unmarshal(b, &v); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}

// TestEveryGatewayConfigValidates runs `gateway --check-config` on every
// gateway configuration under deploy/ (with the environment overrides
// the deployments that use them set; those are checked again where the
// deployment is).
func TestEveryGatewayConfigValidates(t *testing.T) {
	files := []string{
		path("deploy", "config", "gateway.yaml"),
		path("deploy", "config", "gateway.dev.yaml"),
		path("deploy", "config", "gateway.single-host.yaml"),
		path("deploy", "config", "gateway.cluster.yaml"),
		path("deploy", "compose", "gateway.yaml"),
		path("deploy", "k8s", "base", "gateway.yaml"),
	}
	// Any other file that looks like a gateway configuration must be
	// listed above, so that nothing escapes validation.
	for _, f := range deployFiles(t, ".yaml") {
		m := mapping(readYAMLDocs(t, f)[0])
		if m["upstreams"] != nil && m["routes"] != nil {
			found := false
			for _, g := range files {
				found = found || g == f
			}
			if !found {
				t.Errorf("%s looks like a gateway configuration but is not validated here", f)
			}
		}
	}
	for _, f := range files {
		checkGatewayConfig(t, f, f, nil)
	}
}
