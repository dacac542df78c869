package pipeline

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ecap-dev/ecap/api/v1alpha1"
)

// kafkaTLS builds the TLS configuration of the operator's own connections
// to a Pipeline's brokers from spec.kafka.tls, reading the PEM material from
// the referenced Secrets (the runtime reads the same keys from its mounted
// files). It returns nil when spec.kafka.tls is unset. Errors name the field.
func kafkaTLS(ctx context.Context, c client.Client, p *v1alpha1.Pipeline) (*tls.Config, error) {
	t := p.Spec.Kafka.TLS
	if t == nil {
		return nil, nil
	}
	read := func(field string, ref *v1alpha1.SecretKeyReference) ([]byte, error) {
		secret := &corev1.Secret{}
		if err := c.Get(ctx, types.NamespacedName{Namespace: p.Namespace, Name: ref.Name}, secret); err != nil {
			return nil, fmt.Errorf("spec.kafka.tls.%s: failed to read Secret %s: %w", field, ref.Name, err)
		}
		v, ok := secret.Data[ref.Key]
		if !ok {
			return nil, fmt.Errorf("spec.kafka.tls.%s: Secret %s has no key %q", field, ref.Name, ref.Key)
		}
		return v, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: t.ServerName}
	if t.CASecretRef != nil {
		ca, err := read("caSecretRef", t.CASecretRef)
		if err != nil {
			return nil, err
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(ca) {
			return nil, fmt.Errorf("spec.kafka.tls.caSecretRef: no PEM certificate in key %q of Secret %s", t.CASecretRef.Key, t.CASecretRef.Name)
		}
		cfg.RootCAs = pool
	}
	if (t.CertSecretRef == nil) != (t.KeySecretRef == nil) {
		return nil, fmt.Errorf("spec.kafka.tls: certSecretRef and keySecretRef must be set together")
	}
	if t.CertSecretRef != nil {
		cert, err := read("certSecretRef", t.CertSecretRef)
		if err != nil {
			return nil, err
		}
		key, err := read("keySecretRef", t.KeySecretRef)
		if err != nil {
			return nil, err
		}
		pair, err := tls.X509KeyPair(cert, key)
		if err != nil {
			return nil, fmt.Errorf("spec.kafka.tls.certSecretRef/keySecretRef: %w", err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return cfg, nil
}
