package deploycheck

import (
	"context"
	"fmt"
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
)

// composeVars are the values compose interpolates: .env.example, with a
// URL-safe placeholder for every password left empty there.
func composeVars(t *testing.T) map[string]string {
	t.Helper()
	vars := readEnvFile(t, path("deploy", "compose", ".env.example"))
	for k, v := range vars {
		if v == "" && strings.HasSuffix(k, "_PASSWORD") {
			vars[k] = "placeholder" + strings.ToLower(strings.ReplaceAll(k, "_", ""))
		}
	}
	return vars
}

// composeFile is compose.yaml with every ${VAR} expanded.
func composeFile(t *testing.T) map[string]any {
	t.Helper()
	file := path("deploy", "compose", "compose.yaml")
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	expanded, missing := interpolate(string(raw), composeVars(t))
	if len(missing) > 0 {
		t.Fatalf("compose.yaml uses variables that .env.example does not define: %q", missing)
	}
	tmp := filepath.Join(t.TempDir(), "compose.yaml")
	if err := os.WriteFile(tmp, []byte(expanded), 0o600); err != nil {
		t.Fatal(err)
	}
	return readYAML(t, tmp)
}

// environment returns a service's environment as a map (mapping or list
// form).
func environment(t *testing.T, svc map[string]any) map[string]string {
	t.Helper()
	env := map[string]string{}
	switch e := svc["environment"].(type) {
	case map[string]any:
		for k, v := range e {
			env[k] = str(v)
		}
	case []any:
		for _, kv := range e {
			k, v, _ := strings.Cut(str(kv), "=")
			env[k] = v
		}
	case nil:
	default:
		t.Fatalf("environment is %T", e)
	}
	return env
}

// hostPath resolves a bind mount source relative to deploy/compose.
func hostPath(src string) string {
	return filepath.Clean(filepath.Join(path("deploy", "compose"), src))
}

// TestComposeStack checks the compose file against the topology
// and against the programs: services, networks, ports, mounts, images,
// and that each gateway's and backend's command, configuration and
// environment are accepted by the real binaries.
func TestComposeStack(t *testing.T) {
	c := composeFile(t)
	services := mapping(c["services"])
	want := []string{
		"postgres-primary", "postgres-replica", "pgbouncer", "redis", "migrate",
		"backend-1", "backend-2", "backend-3", "gateway-1", "gateway-2",
		"prometheus", "grafana", "postgres-exporter-primary", "postgres-exporter-replica", "redis-exporter",
	}
	if got := sortedKeys(services); !slices.Equal(got, sortedKeys(setOf(want))) {
		t.Fatalf("services %q, want %q", got, sortedKeys(setOf(want)))
	}
	networks := mapping(c["networks"])

	for name, v := range services {
		svc := mapping(v)
		image := str(svc["image"])
		if image == "" || strings.HasSuffix(image, ":latest") || !strings.Contains(image, ":") {
			t.Errorf("%s: image %q, want a pinned tag", name, image)
		}
		if b := mapping(svc["build"]); b != nil {
			if _, err := os.Stat(filepath.Join(hostPath(str(b["context"])), str(b["dockerfile"]))); err != nil {
				t.Errorf("%s: build dockerfile: %v", name, err)
			}
			if hostPath(str(b["context"])) != path() {
				t.Errorf("%s: build context %s, want the workspace root", name, b["context"])
			}
		}
		for _, vol := range stringList(svc["volumes"]) {
			src, _, _ := strings.Cut(vol, ":")
			if strings.HasPrefix(src, ".") {
				if _, err := os.Stat(hostPath(src)); err != nil {
					t.Errorf("%s: bind mount source %s: %v", name, src, err)
				}
			}
		}
		for _, n := range serviceNetworks(svc) {
			if _, ok := networks[n]; !ok {
				t.Errorf("%s: network %s is not declared", name, n)
			}
		}
		for _, p := range stringList(svc["ports"]) {
			if !strings.HasPrefix(name, "gateway-") && !strings.HasPrefix(p, "127.0.0.1:") {
				t.Errorf("%s publishes %q beyond loopback; only gateways face clients", name, p)
			}
		}
		// The keyrings go to the backends alone (not even to migrate).
		if svc["secrets"] != nil && !strings.HasPrefix(name, "backend-") {
			t.Errorf("%s is given secrets %v; only the backends need the keyrings", name, svc["secrets"])
		}
	}

	// Data services publish nothing; Redis has a password and a memory policy.
	for _, name := range []string{"redis", "postgres-primary", "postgres-replica", "pgbouncer"} {
		if p := mapping(services[name])["ports"]; p != nil {
			t.Errorf("%s publishes ports %v", name, p)
		}
	}
	redis := mapping(services["redis"])
	if cmd := strings.Join(stringList(redis["command"]), " "); !strings.Contains(cmd, "--requirepass") {
		t.Errorf("redis command %q sets no password", cmd)
	}
	redisConf, err := os.ReadFile(path("deploy", "compose", "redis.conf"))
	if err != nil {
		t.Fatal(err)
	}
	for _, re := range []string{`(?m)^maxmemory \d+[kmg]b$`, `(?m)^maxmemory-policy (volatile|allkeys)-(lru|lfu|ttl|random)$`} {
		if !regexp.MustCompile(re).Match(redisConf) {
			t.Errorf("redis.conf lacks %s", re)
		}
	}

	// pgbouncer in transaction mode, in front of the primary, on the
	// backends' request path.
	ini, err := os.ReadFile(path("deploy", "compose", "pgbouncer", "pgbouncer.ini"))
	if err != nil {
		t.Fatal(err)
	}
	for _, re := range []string{`(?m)^pool_mode = transaction$`, `(?m)^campus = host=postgres-primary port=5432 dbname=campus$`,
		`(?m)^max_prepared_statements = [1-9]\d*$`, `(?m)^ignore_startup_parameters = .*statement_timeout`} {
		if !regexp.MustCompile(re).Match(ini) {
			t.Errorf("pgbouncer.ini lacks %s", re)
		}
	}

	// The replica streams from the primary through the slot the primary
	// creates, with the credentials the primary's init script creates.
	replica := mapping(services["postgres-replica"])
	script, err := os.ReadFile(path("deploy", "compose", "postgres", "replica-entrypoint.sh"))
	if err != nil {
		t.Fatal(err)
	}
	initSQL, err := os.ReadFile(path("deploy", "compose", "postgres", "primary-init.sh"))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"pg_basebackup", " -R", "-S replica_1", "-U replicator", "hot_standby=on"} {
		if !strings.Contains(string(script), s) {
			t.Errorf("replica-entrypoint.sh lacks %q", s)
		}
	}
	for _, s := range []string{"pg_create_physical_replication_slot('replica_1')", "CREATE ROLE replicator WITH REPLICATION", "host replication replicator"} {
		if !strings.Contains(string(initSQL), s) {
			t.Errorf("primary-init.sh lacks %q", s)
		}
	}
	if environment(t, replica)["REPLICATION_PASSWORD"] != environment(t, mapping(services["postgres-primary"]))["REPLICATION_PASSWORD"] {
		t.Error("primary and replica disagree on REPLICATION_PASSWORD")
	}
	if cmd := strings.Join(stringList(mapping(services["postgres-primary"])["command"]), " "); !strings.Contains(cmd, "wal_level=replica") {
		t.Errorf("primary command %q does not enable replication", cmd)
	}

	// Backends: real flags and environment, through pgbouncer, with the
	// keyrings as Docker secrets.
	var backendAddrs []string
	var backendEnv map[string]string
	secrets := mapping(c["secrets"])
	for _, name := range []string{"backend-1", "backend-2", "backend-3"} {
		svc := mapping(services[name])
		args := stringList(svc["command"])
		env := environment(t, svc)
		backendEnv = maps.Clone(env)
		provideKeyrings(t, name, env, func(p string) error { return composeSecret(svc, secrets, p) })
		checkBackendServe(t, name, args, env)
		if !strings.Contains(env["DATABASE_URL"], "@pgbouncer:6432/") {
			t.Errorf("%s: DATABASE_URL does not go through pgbouncer", name)
		}
		if !slices.Contains(serviceNetworks(svc), "data") || !slices.Contains(serviceNetworks(svc), "app") {
			t.Errorf("%s: networks %q, want app and data", name, serviceNetworks(svc))
		}
		i := slices.Index(args, "--listen")
		if i < 0 || i+1 >= len(args) {
			t.Fatalf("%s: no --listen in %q", name, args)
		}
		_, port, _ := strings.Cut(args[i+1], ":")
		backendAddrs = append(backendAddrs, name+":"+port)
		checkHealthcheck(t, name, svc, "backend")
	}
	migrate := mapping(services["migrate"])
	if args := stringList(migrate["command"]); !slices.Equal(args, []string{"migrate", "up"}) {
		t.Errorf("migrate command %q", args)
	}
	if u := environment(t, migrate)["DATABASE_URL"]; !strings.Contains(u, "@postgres-primary:5432/") {
		t.Errorf("migrate DATABASE_URL %q does not reach the primary directly", u)
	}

	// Gateways: the mounted configuration with each one's environment
	// validates, proxies to exactly the three backends, and exposes its
	// admin listener at the address Prometheus scrapes.
	subnet := netip.MustParsePrefix(str(get(networks, "monitor", "ipam", "config", 0, "subnet")))
	var admins []string
	var gatewayAddrs []netip.Addr
	for _, name := range []string{"gateway-1", "gateway-2"} {
		svc := mapping(services[name])
		env := environment(t, svc)
		args := stringList(svc["command"])
		if len(args) != 2 || args[0] != "--config" {
			t.Fatalf("%s: command %q, want --config FILE", name, args)
		}
		var cfgFile string
		for _, vol := range stringList(svc["volumes"]) {
			parts := strings.Split(vol, ":")
			if len(parts) >= 2 && parts[1] == args[1] {
				cfgFile = hostPath(parts[0])
			}
		}
		if cfgFile == "" {
			t.Fatalf("%s: %s is not mounted", name, args[1])
		}
		checkGatewayConfig(t, name, cfgFile, env)
		cfg := readYAML(t, cfgFile)
		checkEdgeAuth(t, name, cfg, backendEnv)
		// The gateway reaches the backends from a fixed address on every
		// network it shares with them (whichever Docker's DNS answers).
		for _, n := range serviceNetworks(svc) {
			if !slices.Contains(serviceNetworks(mapping(services["backend-1"])), n) {
				continue
			}
			a, err := netip.ParseAddr(str(get(svc, "networks", n, "ipv4_address")))
			if err != nil {
				t.Errorf("%s: no fixed ipv4_address on network %s, which it shares with the backends (their TRUSTED_PROXIES)", name, n)
				continue
			}
			gatewayAddrs = append(gatewayAddrs, a)
		}
		var instances []string
		for _, in := range list(get(cfg, "upstreams", 0, "instances")) {
			instances = append(instances, str(get(in, "addr")))
		}
		if !slices.Equal(instances, backendAddrs) {
			t.Errorf("%s: upstream instances %q, want the backends %q", name, instances, backendAddrs)
		}
		admin := env["GATEWAY__LISTEN__ADMIN"]
		ap, err := netip.ParseAddrPort(admin)
		if err != nil || !subnet.Contains(ap.Addr()) {
			t.Errorf("%s: admin %q is not in the monitor network %s", name, admin, subnet)
		}
		if ip := str(get(svc, "networks", "monitor", "ipv4_address")); ip != ap.Addr().String() {
			t.Errorf("%s: admin listens on %s but the container's monitor address is %q", name, admin, ip)
		}
		if !strings.HasPrefix(env["GATEWAY__REDIS__URL"], "redis://:") {
			t.Errorf("%s: GATEWAY__REDIS__URL %q carries no password", name, env["GATEWAY__REDIS__URL"])
		}
		admins = append(admins, admin)
		checkHealthcheck(t, name, svc, "gateway")
		if len(stringList(svc["ports"])) != 2 {
			t.Errorf("%s: ports %q, want HTTPS and HTTP", name, svc["ports"])
		}
	}

	checkTrustedProxies(t, "backends", backendEnv, gatewayAddrs...)

	// Prometheus scrapes what runs, and Grafana is provisioned.
	prom := readYAML(t, path("deploy", "prometheus", "prometheus.yml"))
	targets := map[string][]string{}
	for _, sc := range list(prom["scrape_configs"]) {
		for _, st := range list(get(sc, "static_configs")) {
			targets[str(get(sc, "job_name"))] = append(targets[str(get(sc, "job_name"))], stringList(get(st, "targets"))...)
		}
	}
	if !slices.Equal(targets["gateway"], admins) {
		t.Errorf("prometheus gateway targets %q, want the admin listeners %q", targets["gateway"], admins)
	}
	if !slices.Equal(targets["backend"], backendAddrs) {
		t.Errorf("prometheus backend targets %q, want %q", targets["backend"], backendAddrs)
	}
	for job, svcs := range map[string][]string{"postgres": {"postgres-exporter-primary", "postgres-exporter-replica"}, "redis": {"redis-exporter"}} {
		for _, s := range svcs {
			if !slices.ContainsFunc(targets[job], func(tg string) bool { return strings.HasPrefix(tg, s+":") }) {
				t.Errorf("prometheus job %s does not scrape %s", job, s)
			}
		}
	}
	grafana := mapping(services["grafana"])
	mounts := strings.Join(stringList(grafana["volumes"]), " ")
	for _, m := range []string{"../grafana/provisioning:/etc/grafana/provisioning", "../grafana/dashboards:/var/lib/grafana/dashboards"} {
		if !strings.Contains(mounts, m) {
			t.Errorf("grafana does not mount %s", m)
		}
	}
	if p := str(get(readYAML(t, path("deploy", "grafana", "provisioning", "dashboards", "campshub360.yaml")), "providers", 0, "options", "path")); p != "/var/lib/grafana/dashboards" {
		t.Errorf("dashboard provider path %q does not match the compose mount", p)
	}
	if u := str(get(readYAML(t, path("deploy", "grafana", "provisioning", "datasources", "prometheus.yaml")), "datasources", 0, "url")); u != "http://prometheus:9090" {
		t.Errorf("data source url %q, want the prometheus service", u)
	}
}

// checkHealthcheck verifies that a service's health check runs the
// image's own binary with flags it accepts (rewritten to run here).
func checkHealthcheck(t *testing.T, name string, svc map[string]any, binaryName string) {
	t.Helper()
	test := stringList(get(svc, "healthcheck", "test"))
	if len(test) < 3 || test[0] != "CMD" || filepath.Base(test[1]) != binaryName || test[2] != "healthcheck" {
		t.Errorf("%s: healthcheck %q, want [CMD .../%s healthcheck ...]", name, test, binaryName)
		return
	}
	args := test[2:]
	switch binaryName {
	case "backend":
		r := runBinary(t, "backend", nil, append(args, "--timeout", "50ms")...)
		if r.code == 2 {
			t.Errorf("%s: healthcheck %q is a usage error: %s", name, args, r.stderr)
		}
	case "gateway":
		// Flags only: the configuration path exists in the container.
		for i := 1; i < len(args); i++ {
			if !slices.Contains([]string{"--config", "--path", "--timeout"}, args[i]) {
				t.Errorf("%s: healthcheck flag %q is not one gateway healthcheck has", name, args[i])
			}
			i++
		}
	}
}

// composeSecret checks that the container path p is a Docker secret the
// service is given (/run/secrets/<name>, short or long syntax) and that
// the secret is a file under deploy/compose/secrets (git-ignored, kept out
// of image builds).
func composeSecret(svc, secrets map[string]any, p string) error {
	name, ok := strings.CutPrefix(p, "/run/secrets/")
	if !ok {
		return fmt.Errorf("not a Docker secret (/run/secrets/<name>)")
	}
	source := ""
	for _, s := range list(svc["secrets"]) {
		switch s := s.(type) {
		case string:
			if s == name {
				source = s
			}
		case map[string]any:
			target := str(s["target"])
			if target == "" {
				target = str(s["source"])
			}
			if target == name {
				source = str(s["source"])
			}
		}
	}
	if source == "" {
		return fmt.Errorf("the service is not given a secret at %s", p)
	}
	name = source
	file := str(get(secrets, name, "file"))
	if file == "" {
		return fmt.Errorf("top-level secret %s has no file", name)
	}
	if dir := path("deploy", "compose", "secrets") + string(filepath.Separator); !strings.HasPrefix(hostPath(file), dir) {
		return fmt.Errorf("secret %s is read from %s, not from deploy/compose/secrets/ (git-ignored)", name, file)
	}
	return nil
}

func serviceNetworks(svc map[string]any) []string {
	switch n := svc["networks"].(type) {
	case []any:
		return stringList(n)
	case map[string]any:
		return sortedKeys(n)
	}
	return nil
}

func setOf(items []string) map[string]bool {
	m := map[string]bool{}
	for _, i := range items {
		m[i] = true
	}
	return m
}

// TestComposeLoadsLikeDockerCompose loads compose.yaml with compose-go,
// the loader Docker Compose itself uses: the file must validate against
// the Compose specification's schema, interpolate with the variables of
// .env.example, and fail clearly when a required secret is missing.
func TestComposeLoadsLikeDockerCompose(t *testing.T) {
	file := path("deploy", "compose", "compose.yaml")
	var env []string
	for k, v := range composeVars(t) {
		env = append(env, k+"="+v)
	}
	load := func(env []string) (*types.Project, error) {
		opts, err := cli.NewProjectOptions([]string{file}, cli.WithEnv(env), cli.WithName("campshub360"))
		if err != nil {
			return nil, err
		}
		return opts.LoadProject(context.Background())
	}
	p, err := load(env)
	if err != nil {
		t.Fatalf("compose-go: %v", err)
	}
	if len(p.Services) != 15 {
		t.Errorf("compose-go loaded %d services, want 15", len(p.Services))
	}
	for name, svc := range p.Services {
		if strings.HasPrefix(name, "backend-") {
			if got := svc.Environment["DATABASE_URL"]; got == nil || !strings.Contains(*got, "@pgbouncer:6432/") {
				t.Errorf("%s: DATABASE_URL as Compose resolves it: %v", name, got)
			}
		}
	}
	// Without the secrets, Compose refuses to start and names the file.
	_, err = load(nil)
	if err == nil || !strings.Contains(err.Error(), "set DB_PASSWORD in deploy/compose/.env") {
		t.Errorf("loading without secrets: %v, want a message naming deploy/compose/.env", err)
	}
}
