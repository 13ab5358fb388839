package scenario

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse checks that Parse never panics and either returns a scenario
// the runner can use or an *Error with at least one problem.
func FuzzParse(f *testing.F) {
	f.Add([]byte(full))
	f.Add([]byte(authScenario))
	f.Add([]byte("requests: [{path: /}]\n"))
	f.Add([]byte("rate: 1e308\nduration: 1000000h\nrequests: [{path: /}]\n"))
	f.Add([]byte("steps: [{from: 0, to: 0.0001, duration: 1ns}]\nrequests: [{path: '/{x'}]\n"))
	f.Add([]byte("a: &a [*a]\n"))
	f.Add([]byte("requests:\n  - path: /\n    body: '{\"a\": {user.}}'\n"))
	f.Add([]byte("{"))
	f.Add([]byte("\xff\xfe"))
	if files, err := filepath.Glob(filepath.Join("..", "..", "scenarios", "*.yaml")); err == nil {
		for _, name := range files {
			if b, err := os.ReadFile(name); err == nil {
				f.Add(b)
			}
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		sc, err := Parse("fuzz.yaml", data)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || len(e.Problems) == 0 {
				t.Fatalf("error without problems: %v", err)
			}
			_ = err.Error()
			return
		}
		if len(sc.Requests) == 0 || sc.MaxDuration <= 0 || sc.MaxRequests <= 0 || sc.Connections <= 0 || sc.Timeout <= 0 {
			t.Fatalf("accepted an unusable scenario: %+v", sc)
		}
		cfg := sc.RunnerConfig(1)
		if err := cfg.Validate(); err != nil {
			t.Fatalf("accepted scenario gives an invalid runner config: %v", err)
		}
	})
}
