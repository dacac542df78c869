package credentials

import (
	"log/slog"
)

// redacted is what a Secret prints as, however it is printed.
const redacted = "[redacted]"

// Secret is a string that does not print: fmt, slog and encoding/json all
// see "[redacted]". Call Reveal to get the value.
type Secret string

// Reveal returns the secret value. Call it only to hand the value to the
// protocol that needs it.
func (s Secret) Reveal() string { return string(s) }

// String implements fmt.Stringer (used by %v, %s, %q, %x ...).
func (Secret) String() string { return redacted }

// GoString implements fmt.GoStringer (%#v).
func (Secret) GoString() string { return redacted }

// LogValue implements slog.LogValuer.
func (Secret) LogValue() slog.Value { return slog.StringValue(redacted) }

// MarshalJSON implements json.Marshaler.
func (Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + redacted + `"`), nil }

// MarshalText implements encoding.TextMarshaler (map keys, YAML, text logs).
func (Secret) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// Pair is a username and password, or an access key ID and secret key.
type Pair struct {
	Username string `json:"username"`
	Password Secret `json:"password"`
}

// LogValue implements slog.LogValuer: the username, never the password.
func (p Pair) LogValue() slog.Value {
	return slog.GroupValue(slog.String("username", p.Username), slog.String("password", redacted))
}
