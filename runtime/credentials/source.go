package credentials

import (
	"context"
	"errors"
	"time"
)

// Source supplies the current credentials. Implementations are safe for
// concurrent use.
type Source interface {
	// Current returns the credentials in force now, or an error when none
	// have been obtained yet.
	Current() (Pair, error)
	// Status describes the source for /v1/status; it never holds secrets.
	Status() Status
	// Wait blocks until the first credentials are available or ctx ends.
	Wait(ctx context.Context) error
	// Run keeps the credentials fresh until ctx ends. Sources that need no
	// upkeep return at once.
	Run(ctx context.Context) error
}

// Kinds of source, as reported in Status.Source.
const (
	KindSecret = "secret"
	KindVault  = "vault"
)

// Status describes a Source. It holds no secret values.
type Status struct {
	// Name says what the credentials are for, e.g. "kafka-sasl".
	Name string `json:"name"`
	// Source is KindSecret or KindVault.
	Source string `json:"source"`
	// Location is where the credentials come from: the Vault address and
	// KV path, or the environment variables.
	Location string `json:"location,omitempty"`
	// Ready is true once credentials have been obtained; it stays true
	// while Vault is unreachable later (the last credentials stay in use).
	Ready bool `json:"ready"`
	// Username is the username (access key ID) in force; not a secret.
	Username string `json:"username,omitempty"`
	// Version is the KV version of the secret in force (Vault only).
	Version int `json:"version,omitempty"`
	// ReadAt is when the secret was last read successfully.
	ReadAt *time.Time `json:"readAt,omitempty"`
	// Rotations counts changes of the version in force after the first read.
	Rotations int `json:"rotations,omitempty"`
	// Logins and Renewals count successful Vault logins and token renewals.
	Logins   int `json:"logins,omitempty"`
	Renewals int `json:"renewals,omitempty"`
	// TokenExpiresAt is when the current Vault token expires unless renewed.
	TokenExpiresAt *time.Time `json:"tokenExpiresAt,omitempty"`
	// LastError is the last failure (login, read, renewal), cleared by the
	// next successful read.
	LastError string `json:"lastError,omitempty"`
	// LastErrorAt is when LastError happened.
	LastErrorAt *time.Time `json:"lastErrorAt,omitempty"`
}

// Static is a Source whose credentials never change (a Secret mapped onto
// environment variables; a change of the Secret rolls the pods).
type Static struct {
	name, location string
	pair           Pair
}

var _ Source = (*Static)(nil)

// NewStatic returns a Static source. Both halves must be non-empty.
func NewStatic(name, location string, pair Pair) (*Static, error) {
	if pair.Username == "" || pair.Password == "" {
		return nil, errors.New(location + " must both be set and non-empty")
	}
	return &Static{name: name, location: location, pair: pair}, nil
}

// Current implements Source.
func (s *Static) Current() (Pair, error) { return s.pair, nil }

// Status implements Source.
func (s *Static) Status() Status {
	return Status{Name: s.name, Source: KindSecret, Location: s.location, Ready: true, Username: s.pair.Username}
}

// Wait implements Source; a Static source is always ready.
func (s *Static) Wait(context.Context) error { return nil }

// Run implements Source; there is nothing to keep fresh.
func (s *Static) Run(context.Context) error { return nil }
