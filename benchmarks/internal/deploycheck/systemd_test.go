package deploycheck

import (
	"bufio"
	"bytes"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// unitFile is a systemd unit: section -> key -> values (keys may repeat).
type unitFile map[string]map[string][]string

func readUnit(t *testing.T, file string) unitFile {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	u := unitFile{}
	section := ""
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			section = line[1 : len(line)-1]
			u[section] = map[string][]string{}
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || section == "" {
				t.Errorf("%s:%d: not KEY=VALUE in a section: %q", file, n, line)
				continue
			}
			u[section][k] = append(u[section][k], v)
		}
	}
	return u
}

// hardening are the options every long-running unit must set.
var hardening = []string{
	"NoNewPrivileges", "ProtectSystem", "ProtectHome", "PrivateTmp", "PrivateDevices",
	"ProtectKernelTunables", "ProtectKernelModules", "ProtectControlGroups", "RestrictAddressFamilies",
	"RestrictNamespaces", "LockPersonality", "MemoryDenyWriteExecute", "SystemCallFilter",
	"SystemCallArchitectures", "CapabilityBoundingSet", "UMask",
}

// TestSystemdUnits checks the units' hardening and that their command
// lines use the programs' real flags: each is run with --check-config
// against the example configuration installed as the file it names.
func TestSystemdUnits(t *testing.T) {
	dir := path("deploy", "systemd")
	installed := map[string]string{
		"/etc/campshub360/gateway.yaml": path("deploy", "config", "gateway.single-host.yaml"),
		"/etc/campshub360/backend.env":  path("deploy", "config", "backend.single-host.env"),
	}
	for _, name := range []string{"campshub-gateway.service", "campshub-backend@.service", "campshub-migrate.service"} {
		u := readUnit(t, filepath.Join(dir, name))
		svc := u["Service"]
		if svc == nil {
			t.Fatalf("%s: no [Service] section", name)
		}
		for _, opt := range hardening {
			if len(svc[opt]) == 0 {
				t.Errorf("%s: hardening option %s is not set", name, opt)
			}
		}
		if got := svc["ProtectSystem"]; !slices.Equal(got, []string{"strict"}) {
			t.Errorf("%s: ProtectSystem=%q, want strict", name, got)
		}
		if user := svc["User"]; len(user) != 1 || user[0] == "root" {
			t.Errorf("%s: User=%q, want the unprivileged campshub user", name, user)
		}
		exec := strings.Fields(strings.Join(svc["ExecStart"], " "))
		if len(exec) == 0 {
			t.Fatalf("%s: no ExecStart", name)
		}
		for i, a := range exec {
			if f, ok := installed[a]; ok {
				exec[i] = f
			}
			exec[i] = strings.ReplaceAll(exec[i], "%i", "9001")
		}
		switch filepath.Base(exec[0]) {
		case "gateway":
			if len(exec) != 3 || exec[1] != "--config" {
				t.Fatalf("%s: ExecStart %q", name, exec)
			}
			checkGatewayConfig(t, name, exec[2], nil)
			if !slices.Equal(svc["ExecReload"], []string{"/bin/kill -HUP $MAINPID"}) {
				t.Errorf("%s: ExecReload %q, want SIGHUP (the gateway reloads on it)", name, svc["ExecReload"])
			}
		case "backend":
			if exec[1] == "serve" {
				env := backendUnitEnv(t, u, installed["/etc/campshub360/backend.env"])
				checkBackendServe(t, name, exec[1:], env)
			} else if !slices.Equal(exec[1:], []string{"migrate", "up"}) {
				t.Errorf("%s: ExecStart %q", name, exec)
			} else if len(svc["LoadCredential"]) > 0 {
				t.Errorf("%s: migrations need none of the keyrings, yet it loads credentials %q", name, svc["LoadCredential"])
			}
		default:
			t.Errorf("%s: ExecStart runs %s", name, exec[0])
		}
	}
}

// credentialDir is where the backend unit's LoadCredential= files come
// from: root-only, never the EnvironmentFile.
const credentialDir = "/etc/campshub360/credentials/"

// backendUnitEnv is the environment the backend unit gives an instance:
// envFile (its EnvironmentFile) plus its Environment= assignments. The
// keyrings must be systemd credentials (LoadCredential= from
// credentialDir, named by NAME_FILE=%d/<id>); they are resolved to
// throwaway keyring files, as systemd would provide them.
func backendUnitEnv(t *testing.T, u unitFile, envFile string) map[string]string {
	t.Helper()
	svc := u["Service"]
	if files := svc["EnvironmentFile"]; !slices.Equal(files, []string{"/etc/campshub360/backend.env"}) {
		t.Errorf("backend unit EnvironmentFile=%q, want /etc/campshub360/backend.env", files)
	}
	env := readEnvFile(t, envFile)
	for _, line := range svc["Environment"] {
		for _, kv := range strings.Fields(line) {
			k, v, ok := strings.Cut(strings.Trim(kv, `"`), "=")
			if !ok {
				t.Errorf("backend unit: Environment=%s is not NAME=VALUE", line)
				continue
			}
			env[k] = v
		}
	}
	creds := map[string]string{}
	for _, lc := range svc["LoadCredential"] {
		id, src, _ := strings.Cut(lc, ":")
		creds[id] = src
	}
	provideKeyrings(t, "campshub-backend@.service with "+filepath.Base(envFile), env, func(p string) error {
		id, ok := strings.CutPrefix(p, "%d/")
		if !ok {
			return fmt.Errorf("not in the unit's credentials directory (%%d/<id>)")
		}
		src, ok := creds[id]
		if !ok {
			return fmt.Errorf("no LoadCredential=%s:...", id)
		}
		if !strings.HasPrefix(src, credentialDir) {
			return fmt.Errorf("LoadCredential=%s:%s is not under %s", id, src, credentialDir)
		}
		return nil
	})
	return env
}

// TestBackendEnvExamplesValidate runs `backend serve --check-config` with
// every example environment file as it is used: the development one with
// --dev (its keyrings are generated), the single-host and cluster ones
// through the backend unit (keyrings as systemd credentials). It also
// checks them against the matching gateway configuration: the same token
// issuer and audience, and TRUSTED_PROXIES covering the gateways.
func TestBackendEnvExamplesValidate(t *testing.T) {
	files, err := filepath.Glob(path("deploy", "config", "backend.*.env"))
	if err != nil || len(files) != 3 {
		t.Fatalf("deploy/config/backend.*.env: %q, %v; want dev, single-host and cluster", files, err)
	}
	unit := readUnit(t, path("deploy", "systemd", "campshub-backend@.service"))
	for _, tc := range []struct {
		env, gateway string
		gateways     []netip.Addr
	}{
		{"single-host", "gateway.single-host.yaml", []netip.Addr{netip.MustParseAddr("127.0.0.1")}},
		// The gateway hosts: gateway.cluster.yaml's admin address is one.
		{"cluster", "gateway.cluster.yaml", []netip.Addr{netip.MustParseAddr("10.0.1.11")}},
	} {
		file := path("deploy", "config", "backend."+tc.env+".env")
		env := backendUnitEnv(t, unit, file)
		raw := readEnvFile(t, file)
		checkBackendServe(t, file, []string{"serve", "--listen", "127.0.0.1:9001"}, env)
		cfg := readYAML(t, path("deploy", "config", tc.gateway))
		checkEdgeAuth(t, tc.gateway+" with backend."+tc.env+".env", cfg, raw)
		checkTrustedProxies(t, "backend."+tc.env+".env", raw, tc.gateways...)
	}
	dev := path("deploy", "config", "backend.dev.env")
	env := readEnvFile(t, dev)
	for _, name := range backendKeyrings {
		if env[name] != "" || env[name+"_FILE"] != "" {
			t.Errorf("%s sets %s: development keyrings are generated by --dev", dev, name)
		}
	}
	checkBackendServe(t, dev, []string{"serve", "--dev", "--listen", "127.0.0.1:9001"}, env)
}

// TestSystemdAnalyzeVerify runs `systemd-analyze verify` on the units
// (with the binaries pointed at the freshly built ones, which verify
// requires to exist) where systemd's tools are installed.
func TestSystemdAnalyzeVerify(t *testing.T) {
	tool, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze is not installed; unit syntax is checked by TestSystemdUnits only")
	}
	dir := t.TempDir()
	binDir := filepath.Dir(binary(t, "gateway"))
	units, err := filepath.Glob(path("deploy", "systemd", "campshub-*"))
	if err != nil || len(units) < 4 {
		t.Fatalf("units: %q, %v", units, err)
	}
	var args []string
	for _, u := range units {
		b, err := os.ReadFile(u)
		if err != nil {
			t.Fatal(err)
		}
		name := filepath.Base(u)
		if name == "campshub-backend@.service" {
			name = "campshub-backend@9001.service"
		}
		text := strings.ReplaceAll(string(b), "/usr/local/bin/", binDir+"/")
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		args = append(args, filepath.Join(dir, name))
	}
	out, err := exec.Command(tool, append([]string{"verify", "--man=no"}, args...)...).CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}
