package config

import (
	"slices"
	"testing"
)

func TestEnvNamesListsEveryVariableRead(t *testing.T) {
	got := EnvNames()
	if !slices.IsSorted(got) || len(slices.Compact(slices.Clone(got))) != len(got) {
		t.Fatalf("EnvNames() = %q: want sorted and unique", got)
	}
	for _, want := range []string{
		"DATABASE_URL", "DATABASE_MAX_CONNS", "DATABASE_MIN_CONNS", "DATABASE_MAX_CONN_LIFETIME",
		"DATABASE_MAX_CONN_IDLE_TIME", "DATABASE_CONNECT_TIMEOUT", "DATABASE_QUERY_TIMEOUT",
		"REDIS_URL", "LOG_LEVEL", "LOG_FORMAT", "SHUTDOWN_TIMEOUT", "READY_TIMEOUT", "PARTITION_MONTHS_AHEAD",
	} {
		if !slices.Contains(got, want) {
			t.Errorf("EnvNames() lacks %s: %q", want, got)
		}
	}
}
