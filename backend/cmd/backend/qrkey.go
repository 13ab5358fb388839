package main

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/campshub360/edge/backend/internal/config"
)

// qrKeyFile is the dev-mode QR signing key under --runtime-dir/secrets,
// beside the dev keyrings (secrets.go).
const qrKeyFile = "qr-signing-key"

// qrSigningKey returns the configured QR signing key, or in --dev mode one
// shared through runtime-dir/secrets/qr-signing-key (created once, 0600 in
// a 0700 directory, by whichever instance gets there first; the others
// read it), or without a runtime dir a key of this process alone (logged:
// tokens then work only on this instance).
func qrSigningKey(cfg config.Serve, log *slog.Logger) ([]byte, error) {
	if k := cfg.Attendance.QRSigningKey; k != nil {
		return k, nil
	}
	if cfg.RuntimeDir == "" {
		log.Warn("QR_SIGNING_KEY is not set and there is no --runtime-dir: QR tokens are signed with a key of this instance only")
		return randomKey()
	}
	dir := filepath.Join(cfg.RuntimeDir, "secrets")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("secrets dir: %w", err)
	}
	path := filepath.Join(dir, qrKeyFile)
	if k, err := readKey(path); err == nil {
		return k, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	key, err := randomKey()
	if err != nil {
		return nil, err
	}
	tmp, err := os.CreateTemp(dir, ".qr-key-*")
	if err != nil {
		return nil, fmt.Errorf("secrets dir: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.WriteString(base64.StdEncoding.EncodeToString(key) + "\n"); err != nil {
		tmp.Close()
		return nil, fmt.Errorf("secrets dir: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return nil, fmt.Errorf("secrets dir: %w", err)
	}
	// link fails when another instance created the file meanwhile: use
	// theirs.
	if err := os.Link(tmp.Name(), path); err != nil && !errors.Is(err, fs.ErrExist) {
		return nil, fmt.Errorf("secrets dir: %w", err)
	}
	log.Info("dev mode: QR signing key in " + path)
	return readKey(path)
}

func readKey(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	k, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(k) < config.MinQRKeyBytes {
		return nil, fmt.Errorf("%s does not hold a base64 key of at least %d bytes; delete it to have a new one generated", path, config.MinQRKeyBytes)
	}
	return k, nil
}

func randomKey() ([]byte, error) {
	k := make([]byte, 32)
	_, err := rand.Read(k)
	return k, err
}
