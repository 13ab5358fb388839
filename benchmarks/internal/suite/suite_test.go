package suite

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/campshub360/edge/benchmarks/internal/scenario"
)

// TestEntriesParse keeps the shipped campus scenarios valid: every entry's
// file parses, and has a description.
func TestEntriesParse(t *testing.T) {
	dir := filepath.Join("..", "..", "scenarios", "campus")
	seen := map[string]bool{}
	for _, e := range Entries {
		sc, err := scenario.Load(filepath.Join(dir, e.File))
		if err != nil {
			t.Errorf("%s: %v", e.Name, err)
			continue
		}
		if sc.Description == "" || e.About == "" || e.Full <= 0 || e.Quick <= 0 || e.Quick > e.Full {
			t.Errorf("%s: describe it and give it lengths (quick <= full)", e.Name)
		}
		seen[e.File] = true
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.yaml"))
	for _, f := range files {
		if !seen[filepath.Base(f)] {
			t.Errorf("%s is in no suite entry", f)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "..", "..", "..", "deploy", "nginx", "bench.conf")); err != nil {
		t.Error(err)
	}
}
