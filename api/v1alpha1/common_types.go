package v1alpha1

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Duration is a span of time written as a sequence of decimal numbers, each
// with a unit suffix: ms, s, m, h, d (24h) or w (7d). Examples: "30s", "1h30m",
// "90d". Unlike metav1.Duration it accepts days and weeks, which retention and
// churn settings need, and its format is checked by the schema.
// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ms|s|m|h|d|w))+$`
// +kubebuilder:validation:MaxLength=32
type Duration string

var durationTerm = regexp.MustCompile(`([0-9]+(?:\.[0-9]+)?)(ms|s|m|h|d|w)`)

// Parse converts the duration to a time.Duration. The empty string is zero.
func (d Duration) Parse() (time.Duration, error) {
	s := strings.TrimSpace(string(d))
	if s == "" {
		return 0, nil
	}
	matches := durationTerm.FindAllStringSubmatchIndex(s, -1)
	var total float64
	end := 0
	for _, m := range matches {
		if m[0] != end {
			return 0, fmt.Errorf("invalid duration %q: unexpected %q", s, s[end:m[0]])
		}
		end = m[1]
		v, err := strconv.ParseFloat(s[m[2]:m[3]], 64)
		if err != nil {
			return 0, fmt.Errorf("invalid duration %q: %w", s, err)
		}
		var unit time.Duration
		switch s[m[4]:m[5]] {
		case "ms":
			unit = time.Millisecond
		case "s":
			unit = time.Second
		case "m":
			unit = time.Minute
		case "h":
			unit = time.Hour
		case "d":
			unit = 24 * time.Hour
		case "w":
			unit = 7 * 24 * time.Hour
		}
		total += v * float64(unit)
	}
	if end != len(s) || len(matches) == 0 {
		return 0, fmt.Errorf("invalid duration %q: want numbers with units ms, s, m, h, d or w, e.g. 90d or 1h30m", s)
	}
	if total > float64(1<<63-1) {
		return 0, fmt.Errorf("invalid duration %q: too long", s)
	}
	return time.Duration(total), nil
}

// OrDefault is Parse for values already checked by the schema: an empty or
// invalid value yields def.
func (d Duration) OrDefault(def time.Duration) time.Duration {
	v, err := d.Parse()
	if err != nil || v == 0 {
		return def
	}
	return v
}

// LocalObjectReference names an object in the same namespace.
type LocalObjectReference struct {
	// name of the referenced object.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
}

// SecretKeyReference selects a key of a Secret in the object's namespace.
type SecretKeyReference struct {
	// name of the Secret.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
	// key within the Secret's data.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Key string `json:"key"`
}

// ConfigMapKeyReference selects a key of a ConfigMap in the object's namespace.
type ConfigMapKeyReference struct {
	// name of the ConfigMap.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
	// key within the ConfigMap's data.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Key string `json:"key"`
}

// CredentialsSource says where a username/password pair (or access key pair)
// comes from. Exactly one of secretRef and vault is set; credentials are never
// written inline in a spec.
// +kubebuilder:validation:XValidation:rule="has(self.secretRef) != has(self.vault)",message="exactly one of secretRef or vault must be set"
type CredentialsSource struct {
	// secretRef reads the credentials from a Secret in the object's namespace.
	// +optional
	SecretRef *SecretCredentials `json:"secretRef,omitempty"`
	// vault reads the credentials from a HashiCorp Vault KV v2 secret, logging
	// in with the Kubernetes auth method and the runtime's ServiceAccount token.
	// +optional
	Vault *VaultCredentials `json:"vault,omitempty"`
}

// SecretCredentials names a Secret and the keys holding the two halves of a
// credential.
type SecretCredentials struct {
	// name of the Secret.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
	// usernameKey is the key holding the username (or access key ID).
	// Defaults to "username".
	// +optional
	// +kubebuilder:default=username
	UsernameKey string `json:"usernameKey,omitempty"`
	// passwordKey is the key holding the password (or secret access key).
	// Defaults to "password".
	// +optional
	// +kubebuilder:default=password
	PasswordKey string `json:"passwordKey,omitempty"`
}

// VaultCredentials locates a credential in Vault.
type VaultCredentials struct {
	// address of the Vault server, e.g. "https://vault.vault.svc:8200".
	// +required
	// +kubebuilder:validation:Pattern=`^https?://.+`
	Address string `json:"address"`
	// role is the Vault Kubernetes-auth role the runtime logs in as.
	// +required
	// +kubebuilder:validation:MinLength=1
	Role string `json:"role"`
	// authMountPath is the mount path of the Kubernetes auth method.
	// Defaults to "kubernetes".
	// +optional
	// +kubebuilder:default=kubernetes
	AuthMountPath string `json:"authMountPath,omitempty"`
	// kvMountPath is the mount path of the KV version 2 secrets engine.
	// Defaults to "secret".
	// +optional
	// +kubebuilder:default=secret
	KVMountPath string `json:"kvMountPath,omitempty"`
	// path of the secret within the KV engine, e.g. "ecap/kafka".
	// +required
	// +kubebuilder:validation:MinLength=1
	Path string `json:"path"`
	// usernameKey is the field of the secret holding the username.
	// Defaults to "username".
	// +optional
	// +kubebuilder:default=username
	UsernameKey string `json:"usernameKey,omitempty"`
	// passwordKey is the field of the secret holding the password.
	// Defaults to "password".
	// +optional
	// +kubebuilder:default=password
	PasswordKey string `json:"passwordKey,omitempty"`
	// caSecretRef optionally names a Secret key holding the PEM CA bundle that
	// signs Vault's certificate.
	// +optional
	CASecretRef *SecretKeyReference `json:"caSecretRef,omitempty"`
}

// AttachedObject records an object folded into a Pipeline's runtime config and
// the generation of it that was folded in.
type AttachedObject struct {
	// name of the object.
	Name string `json:"name"`
	// generation of the object that the runtime config carries.
	Generation int64 `json:"generation"`
}
