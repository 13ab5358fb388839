package scenario

import (
	"strings"
	"testing"
)

func TestPluck(t *testing.T) {
	doc := `{"items":[{"id":"a","n":1},{"id":"b","n":2.5}],"data":{"items":[{"id":7}],"ok":true},"next_cursor":null,"access_token":"t0k"}`
	cases := []struct {
		path string
		want string // values joined by ","
	}{
		{"items[].id", "a,b"},
		{"items[].n", "1,2.5"},
		{"items[1].id", "b"},
		{"data.items[0].id", "7"},
		{"data.ok", "true"},
		{"access_token", "t0k"},
	}
	for _, c := range cases {
		p, err := ParsePluck(c.path)
		if err != nil {
			t.Fatalf("%s: %v", c.path, err)
		}
		got, err := p.Values([]byte(doc))
		if err != nil {
			t.Fatalf("%s: %v", c.path, err)
		}
		if strings.Join(got, ",") != c.want {
			t.Errorf("%s = %v, want %s", c.path, got, c.want)
		}
	}
	top, err := ParsePluck("[].id")
	if err != nil {
		t.Fatal(err)
	}
	if got, err := top.Values([]byte(`[{"id":"x"},{"id":"y"}]`)); err != nil || strings.Join(got, ",") != "x,y" {
		t.Fatalf("[].id = %v, %v", got, err)
	}
	if !top.Many() {
		t.Fatal("[].id selects many")
	}
}

func TestPluckErrors(t *testing.T) {
	for _, bad := range []string{"", "a..b", "a[", "a[x]", "a[-1]", "a]", ".a", "a.[0]", "a[0]b"} {
		if _, err := ParsePluck(bad); err == nil {
			t.Errorf("ParsePluck(%q) accepted", bad)
		}
	}
	doc := []byte(`{"items":[{"id":"a"},{"x":1}],"obj":{},"arr":[1],"nil":null}`)
	cases := map[string]string{
		"items[].id": `items[1]: no field "id"`,
		"obj":        "an object",
		"arr":        "an array",
		"nil":        "null",
		"arr[3]":     "out of range",
		"obj[]":      "want an array",
		"arr[0].x":   "want an object",
	}
	for path, want := range cases {
		p, err := ParsePluck(path)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if _, err := p.Values(doc); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err = %v, want %q", path, err, want)
		}
	}
	p, _ := ParsePluck("a")
	if _, err := p.Values([]byte("<html>")); err == nil || !strings.Contains(err.Error(), "not JSON") {
		t.Errorf("HTML accepted: %v", err)
	}
}
