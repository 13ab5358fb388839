package deploycheck

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
)

// dockerfile is a parsed Dockerfile.
type dockerfile struct {
	path   string
	stages []instructions.Stage
}

func parseDockerfile(t *testing.T, file string) dockerfile {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	res, err := parser.Parse(f)
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	for _, w := range res.Warnings {
		t.Errorf("%s: parser warning: %s", file, w.Short)
	}
	stages, _, err := instructions.Parse(res.AST, nil)
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return dockerfile{path: file, stages: stages}
}

func dockerfiles(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(path("deploy", "docker", "*.Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 2 {
		t.Fatalf("deploy/docker holds %q, want the gateway and backend Dockerfiles", files)
	}
	return files
}

// TestDockerfiles parses each Dockerfile with BuildKit's own parser and
// checks what the images promise: a multi-stage build of a static binary
// from the workspace root, a distroless or scratch final stage running as
// a non-root user, a health check, and COPY sources that exist.
func TestDockerfiles(t *testing.T) {
	for _, file := range dockerfiles(t) {
		t.Run(filepath.Base(file), func(t *testing.T) {
			df := parseDockerfile(t, file)
			if len(df.stages) < 2 {
				t.Fatalf("%d stages, want a multi-stage build", len(df.stages))
			}
			stageNames := map[string]bool{}
			cgoOff := false
			for i, st := range df.stages {
				final := i == len(df.stages)-1
				for _, cmd := range st.Commands {
					switch c := cmd.(type) {
					case *instructions.EnvCommand:
						for _, kv := range c.Env {
							if kv.Key == "CGO_ENABLED" && kv.Value == "0" {
								cgoOff = true
							}
						}
					case *instructions.CopyCommand:
						if c.From != "" {
							if !stageNames[c.From] {
								t.Errorf("stage %d: COPY --from=%s names no earlier stage", i, c.From)
							}
							continue
						}
						for _, src := range c.SourcePaths {
							matches, err := filepath.Glob(path(filepath.FromSlash(src)))
							if err != nil || len(matches) == 0 {
								t.Errorf("stage %d: COPY source %q does not exist in the workspace root (the build context)", i, src)
							}
						}
					}
				}
				if final {
					checkFinalStage(t, st)
				}
				if st.Name != "" {
					stageNames[st.Name] = true
				}
			}
			if !cgoOff {
				t.Error("no ENV CGO_ENABLED=0: the binary would not be static")
			}
		})
	}
}

func checkFinalStage(t *testing.T, st instructions.Stage) {
	t.Helper()
	if !strings.HasPrefix(st.BaseName, "gcr.io/distroless/static") && st.BaseName != "scratch" {
		t.Errorf("final stage FROM %s, want distroless/static or scratch", st.BaseName)
	}
	var user string
	var health *instructions.HealthCheckCommand
	var entrypoint []string
	for _, cmd := range st.Commands {
		switch c := cmd.(type) {
		case *instructions.UserCommand:
			user = c.User
		case *instructions.HealthCheckCommand:
			health = c
		case *instructions.EntrypointCommand:
			if !c.PrependShell {
				entrypoint = c.CmdLine
			}
		}
	}
	uid, _, _ := strings.Cut(user, ":")
	if uid == "" || uid == "0" || uid == "root" {
		t.Errorf("final stage USER %q, want a non-root user", user)
	}
	if health == nil || len(health.Health.Test) < 2 || health.Health.Test[0] != "CMD" {
		t.Errorf("final stage has no exec-form HEALTHCHECK CMD (distroless has no shell)")
	}
	if len(entrypoint) != 1 {
		t.Errorf("final stage ENTRYPOINT %q, want the binary alone in exec form", entrypoint)
	}
}

// TestDockerfileCommandsAreReal runs the built binaries with the
// arguments the images use: the default command (validated with
// --check-config) and the health check (accepted flags).
func TestDockerfileCommandsAreReal(t *testing.T) {
	for _, file := range dockerfiles(t) {
		t.Run(filepath.Base(file), func(t *testing.T) {
			df := parseDockerfile(t, file)
			final := df.stages[len(df.stages)-1]
			// Files the final stage copies from the context, by destination.
			copied := map[string]string{}
			env := map[string]string{}
			var entrypoint, cmdline, health []string
			for _, cmd := range final.Commands {
				switch c := cmd.(type) {
				case *instructions.CopyCommand:
					if c.From == "" && len(c.SourcePaths) == 1 {
						copied[c.DestPath] = path(filepath.FromSlash(c.SourcePaths[0]))
					}
				case *instructions.EnvCommand:
					for _, kv := range c.Env {
						env[kv.Key] = kv.Value
					}
				case *instructions.EntrypointCommand:
					entrypoint = c.CmdLine
				case *instructions.CmdCommand:
					cmdline = c.CmdLine
				case *instructions.HealthCheckCommand:
					health = c.Health.Test[1:]
				}
			}
			if len(entrypoint) != 1 || len(health) == 0 {
				t.Fatalf("ENTRYPOINT %q, HEALTHCHECK %q", entrypoint, health)
			}
			name := filepath.Base(entrypoint[0])
			if filepath.Base(health[0]) != name {
				t.Errorf("HEALTHCHECK runs %s, want the image's own binary %s", health[0], name)
			}
			mapArgs := func(args []string) []string {
				out := slices.Clone(args)
				for i, a := range out {
					if src, ok := copied[a]; ok {
						out[i] = src
					}
				}
				return out
			}
			switch name {
			case "gateway":
				args := mapArgs(cmdline)
				if len(args) != 2 || args[0] != "--config" {
					t.Fatalf("CMD %q, want --config FILE", cmdline)
				}
				if _, ok := copied[cmdline[1]]; !ok {
					t.Fatalf("CMD config %s is not copied into the image", cmdline[1])
				}
				checkGatewayConfig(t, "image default command", args[1], env)
				// The health check must parse; with the admin listener on a
				// closed port it fails on the connection, not on usage.
				henv := map[string]string{"GATEWAY__LISTEN__ADMIN": "127.0.0.1:1"}
				for k, v := range env {
					henv[k] = v
				}
				r := runBinary(t, "gateway", henv, mapArgs(health[1:])...)
				if r.code == 0 || !strings.Contains(r.stderr, "127.0.0.1:1") {
					t.Errorf("HEALTHCHECK %q: exit %d, stderr %q; want a connection failure naming the admin address", health, r.code, r.stderr)
				}
			case "backend":
				// The image documents the keyrings as files from a secret
				// store; give it throwaway ones, as a deployment would.
				benv := map[string]string{"DATABASE_URL": "postgres://campus@db.invalid:5432/campus"}
				text, err := os.ReadFile(file)
				if err != nil {
					t.Fatal(err)
				}
				for _, name := range backendKeyrings {
					if !strings.Contains(string(text), name+"_FILE") {
						t.Errorf("the image does not document %s_FILE, without which serve refuses to start", name)
					}
					benv[name+"_FILE"] = "/run/secrets/" + strings.ToLower(name)
				}
				provideKeyrings(t, "image default command", benv, func(string) error { return nil })
				checkBackendServe(t, "image default command", cmdline, benv)
				// Exit status 2 is a usage error; 0 or 1 means the flags parsed.
				r := runBinary(t, "backend", nil, append(health[1:], "--timeout", "50ms")...)
				if r.code == 2 {
					t.Errorf("HEALTHCHECK %q is a usage error: %s", health, r.stderr)
				}
			default:
				t.Fatalf("unknown image binary %s", name)
			}
		})
	}
}

// TestDockerignoreKeepsSecretsOut checks the build context excludes the
// compose stack's secrets (.env and the keyring files) and local state,
// and git ignores the secrets.
func TestDockerignoreKeepsSecretsOut(t *testing.T) {
	b, err := os.ReadFile(path(".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(b), "\n")
	for _, want := range []string{"deploy/compose/.env", "deploy/compose/secrets", ".run", ".git"} {
		if !slices.Contains(lines, want) {
			t.Errorf(".dockerignore lacks %q", want)
		}
	}
	gi, err := os.ReadFile(path(".gitignore"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"/deploy/compose/.env\n", "/deploy/compose/secrets/*\n"} {
		if !strings.Contains(string(gi), want) {
			t.Errorf(".gitignore lacks %q", want)
		}
	}
}
