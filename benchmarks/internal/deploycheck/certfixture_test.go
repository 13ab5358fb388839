package deploycheck

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// certFixture writes one self-signed certificate and key, once per test
// binary: `gateway --check-config` loads the certificate files a
// configuration names, and the deployments provide theirs (mounted
// secrets, /etc/campshub360/tls) only at run time.
var certFixture = sync.OnceValues(func() ([2]string, error) {
	dir, err := os.MkdirTemp("", "campshub360-deploycheck-tls-")
	if err != nil {
		return [2]string{}, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return [2]string{}, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "campus.example.edu"},
		DNSNames: []string{"campus.example.edu"}, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return [2]string{}, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return [2]string{}, err
	}
	files := [2]string{filepath.Join(dir, "campus.crt"), filepath.Join(dir, "campus.key")}
	if err := os.WriteFile(files[0], pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return [2]string{}, err
	}
	if err := os.WriteFile(files[1], pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		return [2]string{}, err
	}
	return files, nil
})

// withCertFixtures returns env plus overrides pointing every certificate
// pair the gateway configuration file lists (tls.certificates) at the
// fixture pair, unless env already sets that pair's files.
func withCertFixtures(t *testing.T, file string, env map[string]string) map[string]string {
	t.Helper()
	pairs := list(get(readYAML(t, file), "tls", "certificates"))
	if len(pairs) == 0 {
		return env
	}
	files, err := certFixture()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for k, v := range env {
		out[k] = v
	}
	for i := range pairs {
		for j, field := range []string{"CERT_FILE", "KEY_FILE"} {
			k := fmt.Sprintf("GATEWAY__TLS__CERTIFICATES__%d__%s", i, field)
			if _, set := out[k]; !set {
				out[k] = files[j]
			}
		}
	}
	return out
}
