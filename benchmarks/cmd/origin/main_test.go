package main

import (
	"encoding/json"
	"testing"
)

func TestDocumentSizeAndJSON(t *testing.T) {
	for _, n := range []int{40, 100, 2048, 10000} {
		d := Document(n)
		if len(d) != n || !json.Valid(d) {
			t.Fatalf("size %d: got %d bytes, valid %v: %s", n, len(d), json.Valid(d), d)
		}
	}
}
