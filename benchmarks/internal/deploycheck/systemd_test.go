package deploycheck

import (
	"bufio"
	"bytes"
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
			env := readEnvFile(t, installed["/etc/campshub360/backend.env"])
			if exec[1] == "serve" {
				checkBackendServe(t, name, exec[1:], env)
			} else if !slices.Equal(exec[1:], []string{"migrate", "up"}) {
				t.Errorf("%s: ExecStart %q", name, exec)
			}
		default:
			t.Errorf("%s: ExecStart runs %s", name, exec[0])
		}
	}
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
