package deploycheck

import (
	"fmt"
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// render runs kustomize (its Go API, as `kubectl kustomize` does) on a
// directory under deploy/k8s and returns the resources as generic maps.
func render(t *testing.T, dir string) []map[string]any {
	t.Helper()
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	resMap, err := k.Run(filesys.MakeFsOnDisk(), path("deploy", "k8s", dir))
	if err != nil {
		t.Fatalf("kustomize build deploy/k8s/%s: %v", dir, err)
	}
	var out []map[string]any
	for _, r := range resMap.Resources() {
		m, err := r.Map()
		if err != nil {
			t.Fatalf("%s: %v", r.CurId(), err)
		}
		out = append(out, m)
	}
	return out
}

func kind(objs []map[string]any, k string) []map[string]any {
	var out []map[string]any
	for _, o := range objs {
		if o["kind"] == k {
			out = append(out, o)
		}
	}
	return out
}

func named(objs []map[string]any, k, name string) map[string]any {
	for _, o := range kind(objs, k) {
		if str(get(o, "metadata", "name")) == name {
			return o
		}
	}
	return nil
}

func container(dep map[string]any, name string) map[string]any {
	for _, c := range list(get(dep, "spec", "template", "spec", "containers")) {
		if str(get(c, "name")) == name {
			return mapping(c)
		}
	}
	return nil
}

// TestKustomizeRenders renders the base, the production overlay and the
// data tier.
func TestKustomizeRenders(t *testing.T) {
	for _, dir := range []string{"base", "overlays/production", "data"} {
		if objs := render(t, dir); len(objs) == 0 {
			t.Errorf("deploy/k8s/%s renders nothing", dir)
		}
	}
}

// TestKubernetesManifests checks the rendered production overlay: probes
// on the programs' real endpoints, resources, disruption budgets,
// autoscalers, the gateway ConfigMap (validated by the real gateway with
// the pod's environment) and its reload sidecar, Secrets referenced and
// never embedded, the LoadBalancer Service, and the NetworkPolicies.
func TestKubernetesManifests(t *testing.T) {
	objs := render(t, "overlays/production")
	for _, o := range objs {
		if o["kind"] == "Secret" {
			t.Errorf("Secret %s is embedded; Secrets must be created outside the manifests", get(o, "metadata", "name"))
		}
		if ns := str(get(o, "metadata", "namespace")); o["kind"] != "Namespace" && ns != "campshub" {
			t.Errorf("%s %s in namespace %q, want campshub", o["kind"], get(o, "metadata", "name"), ns)
		}
	}

	gw := named(objs, "Deployment", "campshub-gateway")
	be := named(objs, "Deployment", "campshub-backend")
	if gw == nil || be == nil {
		t.Fatal("gateway or backend Deployment missing")
	}
	probes := map[string]map[string][2]string{
		"campshub-gateway": {"readinessProbe": {"/readyz", "admin"}, "livenessProbe": {"/healthz", "admin"}},
		"campshub-backend": {"readinessProbe": {"/ready", "http"}, "livenessProbe": {"/health/", "http"}},
	}
	for _, dep := range []map[string]any{gw, be} {
		name := str(get(dep, "metadata", "name"))
		main := mapping(get(dep, "spec", "template", "spec", "containers", 0))
		for probe, want := range probes[name] {
			p := str(get(main, probe, "httpGet", "path"))
			port := str(get(main, probe, "httpGet", "port"))
			if p != want[0] || port != want[1] {
				t.Errorf("%s %s: %s on port %s, want %s on %s", name, probe, p, port, want[0], want[1])
			}
		}
		for _, c := range list(get(dep, "spec", "template", "spec", "containers")) {
			for _, r := range []string{"requests", "limits"} {
				if get(c, "resources", r, "memory") == nil || get(c, "resources", r, "cpu") == nil {
					t.Errorf("%s/%s: resources.%s lacks cpu or memory", name, get(c, "name"), r)
				}
			}
			if get(c, "securityContext", "readOnlyRootFilesystem") != true || get(c, "securityContext", "allowPrivilegeEscalation") != false {
				t.Errorf("%s/%s: not read-only or allows privilege escalation", name, get(c, "name"))
			}
		}
		if get(dep, "spec", "template", "spec", "securityContext", "runAsNonRoot") != true {
			t.Errorf("%s: runAsNonRoot is not set", name)
		}
		// Every Deployment has a disruption budget and an autoscaler.
		sel := mapping(get(dep, "spec", "selector", "matchLabels"))
		pdb := named(objs, "PodDisruptionBudget", name)
		if pdb == nil || !equalLabels(mapping(get(pdb, "spec", "selector", "matchLabels")), sel) {
			t.Errorf("%s: no PodDisruptionBudget selecting its pods", name)
		}
		hpa := named(objs, "HorizontalPodAutoscaler", name)
		if hpa == nil || str(get(hpa, "spec", "scaleTargetRef", "name")) != name || str(get(hpa, "apiVersion")) != "autoscaling/v2" {
			t.Errorf("%s: no autoscaling/v2 HorizontalPodAutoscaler targeting it", name)
		}
		// Secrets are referenced by name and key.
		for _, c := range list(get(dep, "spec", "template", "spec", "containers")) {
			for _, e := range list(get(c, "env")) {
				if v := get(e, "value"); v != nil && strings.Contains(strings.ToLower(str(v)), "password") {
					t.Errorf("%s: env %s embeds a secret value", name, get(e, "name"))
				}
			}
		}
	}

	// The gateway: its ConfigMap validates with the pod's environment, is
	// mounted as a directory (in-place updates) and watched by the reloader.
	main := container(gw, "gateway")
	args := stringList(main["args"])
	if len(args) != 2 || args[0] != "--config" {
		t.Fatalf("gateway args %q", args)
	}
	cm := named(objs, "ConfigMap", "campshub-gateway-config")
	if cm == nil {
		t.Fatal("ConfigMap campshub-gateway-config missing (its name must not carry a hash: it is reloaded in place)")
	}
	cfgFile := filepath.Join(t.TempDir(), "gateway.yaml")
	if err := os.WriteFile(cfgFile, []byte(str(get(cm, "data", filepath.Base(args[1])))), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{}
	for _, e := range list(main["env"]) {
		n := str(get(e, "name"))
		switch {
		case get(e, "value") != nil:
			env[n] = strings.ReplaceAll(str(get(e, "value")), "$(POD_IP)", podIP)
		case str(get(e, "valueFrom", "fieldRef", "fieldPath")) == "status.podIP":
			env[n] = podIP
		case get(e, "valueFrom", "secretKeyRef") != nil:
			if n == "GATEWAY__REDIS__URL" {
				env[n] = "redis://:secret@campshub-redis:6379/0"
			}
		}
	}
	if env["GATEWAY__LISTEN__ADMIN"] != podIP+":9090" {
		t.Errorf("gateway admin listener %q, want $(POD_IP):9090", env["GATEWAY__LISTEN__ADMIN"])
	}
	checkGatewayConfig(t, "gateway ConfigMap", cfgFile, env)
	mountDir := filepath.Dir(args[1])
	var mounted bool
	for _, m := range list(main["volumeMounts"]) {
		if str(get(m, "mountPath")) == mountDir && get(m, "subPath") == nil {
			mounted = true
		}
	}
	if !mounted {
		t.Errorf("the configuration directory %s is not mounted whole (subPath mounts never update)", mountDir)
	}
	reloader := container(gw, "config-reloader")
	rargs := strings.Join(stringList(reloader["args"]), " ")
	if !strings.Contains(rargs, "--volume-dir="+mountDir) || !strings.Contains(rargs, "--webhook-url=http://$(POD_IP):9090/admin/reload") {
		t.Errorf("config-reloader args %q do not watch %s and POST /admin/reload", rargs, mountDir)
	}
	cfg := readYAML(t, cfgFile)
	if addr := str(get(cfg, "upstreams", 0, "instances", 0, "addr")); addr != "campshub-backend:9001" {
		t.Errorf("gateway upstream %q, want the backend Service campshub-backend:9001", addr)
	}

	benv := checkBackendDeployment(t, "overlays/production", objs)
	checkEdgeAuth(t, "gateway ConfigMap", cfg, benv)
	checkTrustedProxies(t, "overlays/production backend", benv, netip.MustParseAddr(podIP))

	// The gateway faces clients through a LoadBalancer Service that keeps
	// the client address; the backend Service is cluster-internal.
	svc := named(objs, "Service", "campshub-gateway")
	if str(get(svc, "spec", "type")) != "LoadBalancer" || str(get(svc, "spec", "externalTrafficPolicy")) != "Local" {
		t.Errorf("gateway Service: type %v, externalTrafficPolicy %v; want LoadBalancer, Local", get(svc, "spec", "type"), get(svc, "spec", "externalTrafficPolicy"))
	}
	if str(get(named(objs, "Service", "campshub-backend"), "spec", "type")) != "ClusterIP" {
		t.Error("backend Service is not ClusterIP")
	}
	for _, name := range []string{"campshub-postgres", "campshub-postgres-direct", "campshub-redis"} {
		if s := named(objs, "Service", name); str(get(s, "spec", "type")) != "ExternalName" {
			t.Errorf("%s: want an ExternalName Service for the external data tier", name)
		}
	}

	// NetworkPolicies: default deny; only gateways reach backends; only
	// backends (and the migration job) reach PostgreSQL.
	pols := kind(objs, "NetworkPolicy")
	deny := named(objs, "NetworkPolicy", "campshub-default-deny")
	if deny == nil || len(mapping(get(deny, "spec", "podSelector"))) != 0 || !slices.Equal(stringList(get(deny, "spec", "policyTypes")), []string{"Ingress", "Egress"}) {
		t.Fatal("no default-deny policy for ingress and egress")
	}
	for _, p := range pols {
		name := str(get(p, "metadata", "name"))
		comp := str(get(p, "spec", "podSelector", "matchLabels", "app.kubernetes.io/component"))
		for _, rule := range list(get(p, "spec", "ingress")) {
			for _, port := range list(get(rule, "ports")) {
				if str(get(port, "port")) == "9001" && comp == "backend" {
					for _, from := range list(get(rule, "from")) {
						if c := str(get(from, "podSelector", "matchLabels", "app.kubernetes.io/component")); c != "gateway" && get(from, "namespaceSelector") == nil {
							t.Errorf("%s admits %v to the backends", name, from)
						}
					}
					if len(list(get(rule, "from"))) == 0 {
						t.Errorf("%s admits anyone to the backends", name)
					}
				}
			}
		}
		for _, rule := range list(get(p, "spec", "egress")) {
			for _, port := range list(get(rule, "ports")) {
				if str(get(port, "port")) == "5432" && comp != "backend" && comp != "migrate" {
					t.Errorf("%s lets %q pods reach PostgreSQL", name, comp)
				}
				if str(get(port, "port")) == "6379" && comp != "backend" && comp != "gateway" {
					t.Errorf("%s lets %q pods reach Redis", name, comp)
				}
			}
		}
	}
	for _, comp := range []string{"gateway", "backend", "migrate"} {
		found := false
		for _, p := range pols {
			found = found || str(get(p, "spec", "podSelector", "matchLabels", "app.kubernetes.io/component")) == comp
		}
		if !found {
			t.Errorf("no NetworkPolicy selects the %s pods", comp)
		}
	}

	// The migration job runs the real subcommand.
	job := named(objs, "Job", "campshub-migrate")
	if args := stringList(get(job, "spec", "template", "spec", "containers", 0, "args")); !slices.Equal(args, []string{"migrate", "up"}) {
		t.Errorf("migrate Job args %q", args)
	}
}

func equalLabels(a, b map[string]any) bool {
	if len(a) != len(b) || len(a) == 0 {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestKubernetesBaseBackendConfig validates the base's backend command and
// environment too (an overlay may override some of it), and that its
// TRUSTED_PROXIES covers the gateway pods.
func TestKubernetesBaseBackendConfig(t *testing.T) {
	benv := checkBackendDeployment(t, "base", render(t, "base"))
	checkTrustedProxies(t, "base backend", benv, netip.MustParseAddr(podIP))
}

// podIP is the address the checks assume for a pod: one in 10.244.0.0/16,
// the pod network the manifests' TRUSTED_PROXIES is written for.
const podIP = "10.244.1.17"

// checkBackendDeployment runs the backend Deployment's command with its
// ConfigMap environment and placeholder Secret values through
// `backend serve --check-config`; the keyrings must be files of a mounted
// Secret volume. It returns the environment as the manifests set it
// (Secret references resolved to placeholders).
func checkBackendDeployment(t *testing.T, what string, objs []map[string]any) map[string]string {
	t.Helper()
	be := named(objs, "Deployment", "campshub-backend")
	if be == nil {
		t.Fatalf("%s: no backend Deployment", what)
	}
	bmain := container(be, "backend")
	benv := map[string]string{}
	for _, ef := range list(bmain["envFrom"]) {
		ref := str(get(ef, "configMapRef", "name"))
		c := named(objs, "ConfigMap", ref)
		if c == nil {
			t.Fatalf("%s: backend envFrom ConfigMap %s is not rendered", what, ref)
		}
		for k, v := range mapping(c["data"]) {
			benv[k] = str(v)
		}
	}
	for _, e := range list(bmain["env"]) {
		n := str(get(e, "name"))
		switch {
		case get(e, "value") != nil:
			benv[n] = str(get(e, "value"))
		case n == "DATABASE_URL":
			benv[n] = "postgres://campus:secret@campshub-postgres:5432/campus?sslmode=require"
		case n == "REDIS_URL":
			benv[n] = "redis://:secret@campshub-redis:6379/0"
		case get(e, "valueFrom") != nil:
			t.Errorf("%s: backend env %s comes from %v, which this check cannot resolve", what, n, get(e, "valueFrom"))
		}
	}
	out := maps.Clone(benv)
	provideKeyrings(t, what+" backend Deployment", benv, func(p string) error { return secretVolumeFile(be, bmain, p) })
	checkBackendServe(t, what+" backend Deployment", stringList(bmain["args"]), benv)
	return out
}

// secretVolumeFile checks that the container path p is a key of a Secret
// mounted into the container (a secret volume, whole or by items).
func secretVolumeFile(dep, ctr map[string]any, p string) error {
	for _, m := range list(ctr["volumeMounts"]) {
		dir := str(get(m, "mountPath"))
		rel, ok := strings.CutPrefix(p, strings.TrimSuffix(dir, "/")+"/")
		if !ok || get(m, "subPath") != nil {
			continue
		}
		for _, v := range list(get(dep, "spec", "template", "spec", "volumes")) {
			if str(get(v, "name")) != str(get(m, "name")) {
				continue
			}
			sec := mapping(get(v, "secret"))
			if sec == nil || str(sec["secretName"]) == "" {
				return fmt.Errorf("volume %s mounted at %s is not a Secret", get(v, "name"), dir)
			}
			items := list(sec["items"])
			if len(items) == 0 {
				return nil // every key of the Secret, as a file named by the key
			}
			for _, it := range items {
				if str(get(it, "path")) == rel && str(get(it, "key")) != "" {
					return nil
				}
			}
			return fmt.Errorf("Secret %s mounted at %s has no item %s", sec["secretName"], dir, rel)
		}
	}
	return fmt.Errorf("no Secret volume is mounted at a directory holding it")
}
