// Package deploycheck holds the tests that keep deploy/ honest: the
// Dockerfiles parse (BuildKit's parser) and copy paths that exist; every
// YAML and JSON file parses; the compose file loads with compose-go (the
// loader Docker Compose uses, with the Compose schema); the compose stack,
// the Kubernetes manifests (rendered with kustomize's Go API), the systemd
// units and the example configurations use the programs' real flags,
// subcommands and configuration keys (checked by running the freshly built
// gateway and backend binaries with --check-config); the Prometheus rules
// and Grafana dashboards have the structure operators rely on.
//
// The package lives in the benchmarks module because deploy/ is not a Go
// module and these checks' dependencies (BuildKit, kustomize, compose-go)
// must not reach the programs' own modules. It has no non-test code
// besides this comment. Metric names in alerts and dashboards are compared
// with a live scrape in backend/e2e, and the backend environment variable
// names that deploy files set with the backend's own list there too.
package deploycheck
