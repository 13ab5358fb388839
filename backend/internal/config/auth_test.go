package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var testSecrets = map[string]string{
	"ENCRYPTION_KEYS":     "k1:" + strings.Repeat("A", 43) + "=",
	"SIGNING_KEY_SECRETS": "s1:" + strings.Repeat("B", 43) + "=",
	"QR_SIGNING_KEY":      testQRKey,
}

func TestSecretsRequiredOutsideDev(t *testing.T) {
	none := map[string]string{"DATABASE_URL": goodURL, "ENCRYPTION_KEYS": "", "SIGNING_KEY_SECRETS": "", "QR_SIGNING_KEY": ""}
	_, err := LoadServe(nil, env(none))
	if err == nil {
		t.Fatal("started without secrets")
	}
	msg := err.Error()
	if strings.Contains(msg, "\n") || !strings.Contains(msg, "ENCRYPTION_KEYS: is required outside --dev") ||
		!strings.Contains(msg, "SIGNING_KEY_SECRETS: is required outside --dev") || !strings.Contains(msg, "QR_SIGNING_KEY: is required outside --dev") {
		t.Fatalf("message %q", msg)
	}
	cfg, err := LoadServe([]string{"--dev"}, env(none))
	if err != nil || cfg.Auth.EncryptionKeys != "" || cfg.Attendance.QRSigningKey != nil {
		t.Fatalf("dev without secrets: %v", err)
	}
}

func TestQRSigningKeyFromFile(t *testing.T) {
	f := filepath.Join(t.TempDir(), "qr")
	if err := os.WriteFile(f, []byte(testQRKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadServe(nil, env(map[string]string{"DATABASE_URL": goodURL, "QR_SIGNING_KEY": "", "QR_SIGNING_KEY_FILE": f}))
	if err != nil || len(cfg.Attendance.QRSigningKey) != 32 {
		t.Fatalf("QR_SIGNING_KEY_FILE: %v (%d bytes)", err, len(cfg.Attendance.QRSigningKey))
	}
	_, err = LoadServe(nil, env(map[string]string{"DATABASE_URL": goodURL, "QR_SIGNING_KEY_FILE": f}))
	if err == nil || !strings.Contains(err.Error(), "set either QR_SIGNING_KEY or QR_SIGNING_KEY_FILE") {
		t.Fatalf("both set: %v", err)
	}
	_, err = LoadServe(nil, env(map[string]string{"DATABASE_URL": goodURL, "QR_SIGNING_KEY": "", "QR_SIGNING_KEY_FILE": f + ".missing"}))
	if err == nil || !strings.Contains(err.Error(), "QR_SIGNING_KEY_FILE: cannot read the file: no such file") {
		t.Fatalf("missing file: %v", err)
	}
	short := filepath.Join(t.TempDir(), "short")
	if err := os.WriteFile(short, []byte("c2hvcnQ="), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = LoadServe(nil, env(map[string]string{"DATABASE_URL": goodURL, "QR_SIGNING_KEY": "", "QR_SIGNING_KEY_FILE": short}))
	if err == nil || !strings.Contains(err.Error(), "QR_SIGNING_KEY_FILE: must be base64") || strings.Contains(err.Error(), "c2hvcnQ") {
		t.Fatalf("short key in a file: %v", err)
	}
}

func TestSecretsValidatedWithoutEchoing(t *testing.T) {
	bad := "k1:c2hvcnQ=" // 5 bytes
	_, err := LoadServe(nil, env(map[string]string{"DATABASE_URL": goodURL, "ENCRYPTION_KEYS": bad,
		"SIGNING_KEY_SECRETS": testSecrets["ENCRYPTION_KEYS"]}))
	if err == nil || strings.Contains(err.Error(), "c2hvcnQ") || !strings.Contains(err.Error(), "ENCRYPTION_KEYS: not a valid keyring") {
		t.Fatalf("err %v", err)
	}
	// From a file, and the same keyring twice is refused.
	f := filepath.Join(t.TempDir(), "keys")
	if err := os.WriteFile(f, []byte(testSecrets["ENCRYPTION_KEYS"]+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = LoadServe(nil, env(map[string]string{"DATABASE_URL": goodURL, "ENCRYPTION_KEYS": "", "ENCRYPTION_KEYS_FILE": f,
		"SIGNING_KEY_SECRETS": testSecrets["ENCRYPTION_KEYS"]}))
	if err == nil || !strings.Contains(err.Error(), "must differ from ENCRYPTION_KEYS") {
		t.Fatalf("same keyring twice: %v", err)
	}
}

func TestAuthDefaultsAndBounds(t *testing.T) {
	cfg, err := LoadServe(nil, env(map[string]string{"DATABASE_URL": goodURL}))
	if err != nil {
		t.Fatal(err)
	}
	a := cfg.Auth
	if a.AccessTTL != 15*time.Minute || a.BcryptCost != 12 || a.AccountLockout.Threshold != 5 ||
		a.Issuer != DefaultIssuer || a.Audience != DefaultAudience || a.KeyRotation != 720*time.Hour {
		t.Fatalf("defaults %+v", a)
	}
	_, err = LoadServe(nil, env(map[string]string{"DATABASE_URL": goodURL, "AUTH_BCRYPT_COST": "4",
		"AUTH_KEY_REFRESH_INTERVAL": "20m", "TRUSTED_PROXIES": "10.0.0.0/99", "AUTH_LOCKOUT_BASE": "2h", "AUTH_LOCKOUT_MAX": "1h"}))
	for _, want := range []string{"AUTH_BCRYPT_COST", "AUTH_KEY_REFRESH_INTERVAL", "TRUSTED_PROXIES", "AUTH_LOCKOUT_BASE"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("missing problem %s in %v", want, err)
		}
	}
	cfg, err = LoadServe([]string{"--dev"}, env(map[string]string{"DATABASE_URL": goodURL, "AUTH_BCRYPT_COST": "4", "AUTH_SIGNING_KEY_ROTATION": "0"}))
	if err != nil || cfg.Auth.BcryptCost != 4 || cfg.Auth.KeyRotation != 0 {
		t.Fatalf("dev cost 4: %v", err)
	}
}
