package config

import "sort"

// EnvNames returns the name of every environment variable the backend's
// configuration reads (`backend serve` with and without --dev, and the
// database-only subcommands), sorted and without duplicates. It is derived
// by running the loaders with a recording getenv, so it cannot drift from
// the code; deployment checks compare the variables that deploy files set
// against it. Safe for concurrent use.
func EnvNames() []string {
	seen := map[string]bool{}
	record := func(name string) string {
		seen[name] = true
		return ""
	}
	_, _ = LoadServe(nil, record)
	_, _ = LoadServe([]string{"--dev"}, record)
	_, _ = LoadDatabase(record)
	names := make([]string, 0, len(seen))
	for n := range seen {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
