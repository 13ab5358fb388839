package logging

import (
	"bytes"
	"encoding/json"
	"testing"
)

func TestNewJSONAndLevels(t *testing.T) {
	var buf bytes.Buffer
	l, err := New(&buf, "warn", "json")
	if err != nil {
		t.Fatal(err)
	}
	l.Info("hidden")
	l.Warn("shown", "k", 1)
	var m map[string]any
	if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
		t.Fatalf("not one JSON line: %q", buf.String())
	}
	if m["msg"] != "shown" || m["k"] != float64(1) {
		t.Fatalf("unexpected line %v", m)
	}
	if _, err := New(&buf, "loud", ""); err == nil {
		t.Fatal("unknown level accepted")
	}
	if _, err := New(&buf, "", "xml"); err == nil {
		t.Fatal("unknown format accepted")
	}
}
