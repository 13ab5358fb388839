package tlsconfig

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
)

// UpstreamOptions configure TLS from the gateway to one upstream pool.
type UpstreamOptions struct {
	// CAFile is a PEM bundle of trusted CAs; empty: the system roots.
	CAFile string
	// ServerName is verified in the instance certificates and sent as SNI;
	// empty: the host part of the instance address (set per dial).
	ServerName string
	// CertFile and KeyFile are the client certificate for mutual TLS.
	CertFile, KeyFile string
}

// Upstream returns a client tls.Config for a pool: TLS 1.2 minimum, the
// certificate chain verified against the CA bundle (or system roots) and
// the server name, ALPN http/1.1, and the client certificate when given.
// Errors name the file that could not be used.
func Upstream(o UpstreamOptions) (*tls.Config, error) {
	c := &tls.Config{
		MinVersion:       tls.VersionTLS12,
		CipherSuites:     CipherSuites,
		CurvePreferences: Curves,
		NextProtos:       ALPN,
		ServerName:       o.ServerName,
	}
	if o.CAFile != "" {
		pem, err := os.ReadFile(o.CAFile)
		if err != nil {
			return nil, fmt.Errorf("ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ca_file %s: no PEM certificates", o.CAFile)
		}
		c.RootCAs = pool
	}
	if o.CertFile != "" || o.KeyFile != "" {
		if o.CertFile == "" || o.KeyFile == "" {
			return nil, errors.New("cert_file and key_file go together")
		}
		cert, err := tls.LoadX509KeyPair(o.CertFile, o.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("client certificate %s: %w", o.CertFile, err)
		}
		c.Certificates = []tls.Certificate{cert}
	}
	return c, nil
}
