package main

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"path/filepath"

	"github.com/ecap-dev/ecap/api/v1alpha1"
)

// Items of spec.kafka.tls as the Pipeline controller mounts them:
// <dir>/<item>/<item>.pem.
const (
	tlsItemCA   = "tls-ca"
	tlsItemCert = "tls-cert"
	tlsItemKey  = "tls-key"
)

func tlsItemPath(dir, item string) string {
	return filepath.Join(dir, item, item+".pem")
}

// kafkaTLSConfig builds the TLS configuration of the broker connections
// from spec.kafka.tls and the files mounted under dir. The CA bundle is read
// once; the client certificate and key are read at every handshake, so a
// certificate renewed in its Secret (cert-manager) is used by new
// connections without a restart.
func kafkaTLSConfig(t *v1alpha1.KafkaTLS, dir string) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: t.ServerName}
	if t.CASecretRef != nil {
		path := tlsItemPath(dir, tlsItemCA)
		pem, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("pipeline.spec.kafka.tls.caSecretRef: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("pipeline.spec.kafka.tls.caSecretRef: no PEM certificate in %s (key %q of Secret %q)", path, t.CASecretRef.Key, t.CASecretRef.Name)
		}
		cfg.RootCAs = pool
	}
	if (t.CertSecretRef == nil) != (t.KeySecretRef == nil) {
		return nil, fmt.Errorf("pipeline.spec.kafka.tls: certSecretRef and keySecretRef must be set together")
	}
	if t.CertSecretRef != nil {
		certFile, keyFile := tlsItemPath(dir, tlsItemCert), tlsItemPath(dir, tlsItemKey)
		// Fail at start on a bad pair rather than at the first handshake.
		if _, err := tls.LoadX509KeyPair(certFile, keyFile); err != nil {
			return nil, fmt.Errorf("pipeline.spec.kafka.tls.certSecretRef/keySecretRef: %w", err)
		}
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			pair, err := tls.LoadX509KeyPair(certFile, keyFile)
			if err != nil {
				return nil, fmt.Errorf("failed to load the Kafka client certificate: %w", err)
			}
			return &pair, nil
		}
	}
	return cfg, nil
}
