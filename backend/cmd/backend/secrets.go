package main

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/campshub360/edge/backend/internal/keyring"
)

// devSecretFiles name the keyrings --dev generates under the runtime dir.
const (
	devEncryptionFile = "encryption-keys"
	devSigningFile    = "signing-key-secrets"
)

// loadRing parses spec, or in dev mode (spec empty) loads or creates the
// named keyring under runtimeDir/secrets (mode 0600, shared by every
// instance using that runtime dir). Without a runtime dir a dev keyring is
// generated in memory and lost at exit (logged).
func loadRing(spec string, dev bool, runtimeDir, file string, log *slog.Logger) (*keyring.Ring, error) {
	if spec != "" {
		return keyring.Parse(spec)
	}
	if !dev {
		return nil, errors.New("no keyring configured")
	}
	id := "dev-" + time.Now().UTC().Format("20060102")
	if runtimeDir == "" {
		k, _, err := keyring.Generate(id, rand.Reader)
		if err != nil {
			return nil, err
		}
		log.Warn("--dev without --runtime-dir: using a throwaway "+file+" keyring; data sealed with it is unreadable after exit", "keyring", file)
		return keyring.New([]keyring.Key{k}, nil)
	}
	spec, err := loadOrCreateSecret(filepath.Join(runtimeDir, "secrets", file), id)
	if err != nil {
		return nil, err
	}
	return keyring.Parse(spec)
}

// loadOrCreateSecret returns the keyring stored at path, creating it (and
// its 0700 directory) when missing. Concurrent callers agree: the file is
// created exclusively, and a loser reads the winner's file.
func loadOrCreateSecret(path, id string) (string, error) {
	if b, err := os.ReadFile(path); err == nil && len(strings.TrimSpace(string(b))) > 0 {
		return strings.TrimSpace(string(b)), nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", fmt.Errorf("secrets dir: %w", err)
	}
	_, spec, err := keyring.Generate(id, rand.Reader)
	if err != nil {
		return "", err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".secret-*")
	if err != nil {
		return "", fmt.Errorf("secrets dir: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.WriteString(spec + "\n"); err != nil {
		tmp.Close()
		return "", err
	}
	if err := tmp.Close(); err != nil {
		return "", err
	}
	if err := os.Chmod(tmp.Name(), 0o600); err != nil {
		return "", err
	}
	// Link fails when another process created path first: use theirs.
	if err := os.Link(tmp.Name(), path); err != nil && !errors.Is(err, fs.ErrExist) {
		return "", fmt.Errorf("write %s: %w", path, err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}
