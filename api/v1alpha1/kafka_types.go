package v1alpha1

// KafkaSpec says how to reach the Kafka cluster.
type KafkaSpec struct {
	// brokers are the bootstrap addresses, host:port.
	// +required
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=32
	// +kubebuilder:validation:items:Pattern=`^[A-Za-z0-9.\-\[\]:]+:[0-9]{1,5}$`
	Brokers []string `json:"brokers"`
	// clientID is sent to the brokers to identify the runtime in their logs and
	// quotas. Defaults to "ecap-<namespace>-<pipeline>".
	// +optional
	// +kubebuilder:validation:MaxLength=128
	ClientID string `json:"clientID,omitempty"`
	// consumerGroup overrides the consumer group ID. Defaults to
	// "ecap-<namespace>-<pipeline>". Changing it restarts consumption from the
	// new group's committed offsets.
	// +optional
	// +kubebuilder:validation:MaxLength=249
	ConsumerGroup string `json:"consumerGroup,omitempty"`
	// tls enables TLS to the brokers.
	// +optional
	TLS *KafkaTLS `json:"tls,omitempty"`
	// sasl enables SASL authentication.
	// +optional
	SASL *KafkaSASL `json:"sasl,omitempty"`
}

// KafkaTLS configures TLS to the brokers.
// +kubebuilder:validation:XValidation:rule="has(self.certSecretRef) == has(self.keySecretRef)",message="certSecretRef and keySecretRef must be set together"
type KafkaTLS struct {
	// caSecretRef names the Secret key holding the PEM CA bundle. When unset,
	// the system roots are used.
	// +optional
	CASecretRef *SecretKeyReference `json:"caSecretRef,omitempty"`
	// certSecretRef names the Secret key holding a PEM client certificate for
	// mutual TLS; keySecretRef must be set with it.
	// +optional
	CertSecretRef *SecretKeyReference `json:"certSecretRef,omitempty"`
	// keySecretRef names the Secret key holding the PEM client private key.
	// +optional
	KeySecretRef *SecretKeyReference `json:"keySecretRef,omitempty"`
	// serverName overrides the name checked against the broker certificates.
	// +optional
	ServerName string `json:"serverName,omitempty"`
}

// SASLMechanism is a SASL mechanism supported by the runtime.
// +kubebuilder:validation:Enum=PLAIN;SCRAM-SHA-256;SCRAM-SHA-512
type SASLMechanism string

// Supported SASL mechanisms.
const (
	SASLPlain       SASLMechanism = "PLAIN"
	SASLScramSHA256 SASLMechanism = "SCRAM-SHA-256"
	SASLScramSHA512 SASLMechanism = "SCRAM-SHA-512"
)

// KafkaSASL configures SASL authentication.
type KafkaSASL struct {
	// mechanism is the SASL mechanism.
	// +required
	Mechanism SASLMechanism `json:"mechanism"`
	// credentials locates the username and password (Secret or Vault).
	// +required
	Credentials CredentialsSource `json:"credentials"`
}
