package kafkatest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
)

// SetSCRAMPassword changes user's SCRAM-SHA-256 password on the cluster, as
// an operator rotating a Kafka credential does: AlterUserScramCredentials
// carries the salted password, computed on the client.
func SetSCRAMPassword(t testing.TB, admin *kafka.Client, user, pass string) {
	t.Helper()
	salt := make([]byte, 16)
	_, _ = rand.Read(salt)
	const iterations = 4096
	salted, err := pbkdf2.Key(sha256.New, pass, salt, iterations, sha256.Size)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := admin.AlterUserScramCredentials(context.Background(), &kafka.AlterUserScramCredentialsRequest{
		Upsertions: []kafka.UserScramCredentialsUpsertion{{
			Name: user, Mechanism: kafka.ScramMechanismSha256, Iterations: iterations, Salt: salt, SaltedPassword: salted,
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range resp.Results {
		if r.Error != nil {
			t.Fatalf("AlterUserScramCredentials %s: %v", r.User, r.Error)
		}
	}
}

// PKI is a CA made for one test and, signed by it, a server certificate for
// ServerName and a client certificate for ClientName, valid for an hour.
type PKI struct {
	CAPEM                  []byte
	CAPool                 *x509.CertPool
	Server                 tls.Certificate
	ClientCert, ClientKey  []byte // PEM
	Client                 tls.Certificate
	ServerName, ClientName string
}

// NewPKI issues the test's CA and certificates (ECDSA P-256).
func NewPKI(t testing.TB, serverName, clientName string) *PKI {
	t.Helper()
	must := func(err error) {
		if err != nil {
			t.Helper()
			t.Fatal(err)
		}
	}
	newKey := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		must(err)
		return k
	}
	now := time.Now()
	caKey := newKey()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "ecap test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	must(err)
	ca, err := x509.ParseCertificate(caDER)
	must(err)
	issue := func(serial int64, cn string, dns []string, usage x509.ExtKeyUsage) (certPEM, keyPEM []byte) {
		k := newKey()
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn}, DNSNames: dns,
			NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
			ExtKeyUsage: []x509.ExtKeyUsage{usage}}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &k.PublicKey, caKey)
		must(err)
		kb, err := x509.MarshalECPrivateKey(k)
		must(err)
		return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb})
	}
	p := &PKI{CAPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), ServerName: serverName, ClientName: clientName}
	sc, sk := issue(2, serverName, []string{serverName}, x509.ExtKeyUsageServerAuth)
	p.Server, err = tls.X509KeyPair(sc, sk)
	must(err)
	p.ClientCert, p.ClientKey = issue(3, clientName, nil, x509.ExtKeyUsageClientAuth)
	p.Client, err = tls.X509KeyPair(p.ClientCert, p.ClientKey)
	must(err)
	p.CAPool = x509.NewCertPool()
	p.CAPool.AppendCertsFromPEM(p.CAPEM)
	return p
}
