package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestHandshakesAgainstTwoServers(t *testing.T) {
	a := httptest.NewTLSServer(http.NotFoundHandler())
	defer a.Close()
	b := httptest.NewTLSServer(http.NotFoundHandler())
	defer b.Close()
	var out, errb bytes.Buffer
	err := run(context.Background(), []string{"--duration", "200ms", "--rounds", "1", "--workers", "1", "--json",
		"a=" + strings.TrimPrefix(a.URL, "https://"), "b=" + strings.TrimPrefix(b.URL, "https://")}, &out, &errb)
	if err != nil {
		t.Fatal(err, errb.String())
	}
	var rs []Result
	if err := json.Unmarshal(out.Bytes(), &rs); err != nil {
		t.Fatal(err)
	}
	if len(rs) != 2 || rs[0].Median <= 0 || rs[1].Median <= 0 || rs[0].Ratio != 1 {
		t.Fatalf("%+v", rs)
	}
}

func TestRefusesRemoteTargets(t *testing.T) {
	var out, errb bytes.Buffer
	if err := run(context.Background(), []string{"x=10.1.2.3:443"}, &out, &errb); err == nil {
		t.Fatal("remote target accepted")
	}
}
