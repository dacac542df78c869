package kafkaio

import (
	"context"
	"fmt"
	"strings"

	"github.com/segmentio/kafka-go/sasl"
)

// CredentialsFunc returns the username and password to authenticate with
// now. It is called once per new broker connection.
type CredentialsFunc func() (username, password string, err error)

// dynamicSASL is a sasl.Mechanism whose credentials are looked up at every
// handshake, so that rotated credentials (a new Vault secret version) apply
// to the next connection kafka-go dials without rebuilding the Client.
// Connections already authenticated are left alone: Kafka authenticates a
// connection once, at its start.
type dynamicSASL struct {
	mechanism string
	creds     CredentialsFunc
}

var _ sasl.Mechanism = dynamicSASL{}

// NewDynamicSASL returns a mechanism (PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512)
// that asks creds for the credentials at the start of every handshake. A
// creds error fails that handshake; kafka-go dials again later.
func NewDynamicSASL(mechanism string, creds CredentialsFunc) (sasl.Mechanism, error) {
	if _, err := NewSASL(mechanism, "probe", "probe"); err != nil {
		return nil, err
	}
	return dynamicSASL{mechanism: strings.ToUpper(mechanism), creds: creds}, nil
}

// Name implements sasl.Mechanism.
func (d dynamicSASL) Name() string { return d.mechanism }

// Start implements sasl.Mechanism: it builds the static mechanism for the
// current credentials and starts it.
func (d dynamicSASL) Start(ctx context.Context) (sasl.StateMachine, []byte, error) {
	user, pass, err := d.creds()
	if err != nil {
		return nil, nil, fmt.Errorf("no SASL credentials: %w", err)
	}
	m, err := NewSASL(d.mechanism, user, pass)
	if err != nil {
		return nil, nil, err
	}
	return m.Start(ctx)
}
