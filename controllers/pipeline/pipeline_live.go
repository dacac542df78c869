package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ecap-dev/ecap/api/v1alpha1"
	"github.com/ecap-dev/ecap/runtime/kafkaio"
)

// LiveSource gathers a Pipeline's live figures from two places: consumer
// lag from Kafka itself (committed offsets against the log end), which is
// visible even when no runtime pod runs, and event rate, dead-letter count
// and watermark from the runtime pods' /v1/status.
type LiveSource struct {
	// Client reads the runtime pods and the Secrets holding Kafka
	// credentials.
	Client client.Client
	// HTTP fetches /v1/status from the pods.
	HTTP *http.Client
	// Port is the pods' admin port; 0 means AdminPort.
	Port int
	// Lag measures consumer-group lag; nil means kafkaio against the
	// Pipeline's brokers.
	Lag func(ctx context.Context, p *v1alpha1.Pipeline, cfg kafkaio.Config) (int64, error)

	mu   sync.Mutex
	last map[types.NamespacedName]progressMark
}

type progressMark struct {
	lag    int64
	events int64
}

var _ MetricsSource = (*LiveSource)(nil)

// runtimeStatus is the part of the runtime's /v1/status
// (runtime/engine.Status) the controller reads.
type runtimeStatus struct {
	EventsPerSecond float64 `json:"eventsPerSecond"`
	EventsTotal     int64   `json:"eventsTotal"`
	DeadLettered    int64   `json:"deadLettered"`
	Partitions      []struct {
		Watermark *time.Time `json:"watermark"`
	} `json:"partitions"`
	Lake *struct {
		Healthy   bool   `json:"healthy"`
		LastError string `json:"lastError"`
	} `json:"lake"`
}

// Gather implements MetricsSource. Kafka being unreachable is an error
// (KafkaReachable=False); pods that do not answer are skipped.
func (s *LiveSource) Gather(ctx context.Context, p *v1alpha1.Pipeline) (*LiveMetrics, error) {
	cfg, err := s.kafkaConfig(ctx, p)
	if err != nil {
		return nil, err
	}
	measure := s.Lag
	if measure == nil {
		measure = kafkaLag
	}
	lag, err := measure(ctx, p, cfg)
	if err != nil {
		return nil, err
	}
	m := &LiveMetrics{Lag: lag}

	pods, err := RuntimePods{Client: s.Client}.List(ctx, p)
	if err != nil {
		return nil, err
	}
	var rate float64
	var events int64
	for i := range pods {
		st, err := s.podStatus(ctx, &pods[i])
		if err != nil {
			continue
		}
		rate += st.EventsPerSecond
		events += st.EventsTotal
		m.DeadLettered += st.DeadLettered
		if st.Lake != nil {
			m.LakeReported = true
			if !st.Lake.Healthy && m.LakeError == "" {
				m.LakeError = st.Lake.LastError
			}
		}
		for _, part := range st.Partitions {
			if part.Watermark != nil && (m.Watermark == nil || part.Watermark.Before(*m.Watermark)) {
				w := *part.Watermark
				m.Watermark = &w
			}
		}
	}
	m.EventsPerSecond = int64(rate + 0.5)

	key := types.NamespacedName{Namespace: p.Namespace, Name: p.Name}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.last == nil {
		s.last = map[types.NamespacedName]progressMark{}
	}
	prev, seen := s.last[key]
	m.Progressed = !seen || lag < prev.lag || events > prev.events
	s.last[key] = progressMark{lag: lag, events: events}
	return m, nil
}

func (s *LiveSource) podStatus(ctx context.Context, pod *corev1.Pod) (*runtimeStatus, error) {
	st := &runtimeStatus{}
	rp := RuntimePods{HTTP: s.HTTP, Port: s.Port}
	return st, rp.Get(ctx, pod, st)
}

// RuntimePods reads the /v1/status documents (runtime/engine.Status) that
// a Pipeline's runtime pods serve on their admin port.
type RuntimePods struct {
	Client client.Client
	// HTTP fetches the documents; nil means http.DefaultClient.
	HTTP *http.Client
	// Port is the admin port; 0 means AdminPort. Tests that run a runtime
	// process locally point it at that process's port.
	Port int
}

// List returns the Pipeline's runtime pods.
func (r RuntimePods) List(ctx context.Context, p *v1alpha1.Pipeline) ([]corev1.Pod, error) {
	pods := &corev1.PodList{}
	if err := r.Client.List(ctx, pods, client.InNamespace(p.Namespace), client.MatchingLabels(selectorLabels(p))); err != nil {
		return nil, fmt.Errorf("failed to list runtime pods: %w", err)
	}
	return pods.Items, nil
}

// Get decodes a running pod's /v1/status into into, within 2 seconds.
func (r RuntimePods) Get(ctx context.Context, pod *corev1.Pod, into any) error {
	if pod.Status.Phase != corev1.PodRunning || pod.Status.PodIP == "" {
		return errors.New("pod not running")
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	port := r.Port
	if port == 0 {
		port = AdminPort
	}
	url := "http://" + net.JoinHostPort(pod.Status.PodIP, strconv.Itoa(port)) + "/v1/status"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	httpClient := r.HTTP
	if httpClient == nil {
		httpClient = http.DefaultClient
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", url, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(into); err != nil {
		return fmt.Errorf("%s: %w", url, err)
	}
	return nil
}

func (s *LiveSource) kafkaConfig(ctx context.Context, p *v1alpha1.Pipeline) (kafkaio.Config, error) {
	return KafkaConfig(ctx, s.Client, p)
}

// KafkaConfig builds the client configuration the operator uses to reach a
// Pipeline's brokers (client ID "ecap-manager"), reading the TLS material
// and SASL credentials from the referenced Secrets. Vault-sourced credentials are read by the
// runtime only; for those the operator's queries go without SASL and report
// the broker's refusal.
func KafkaConfig(ctx context.Context, c client.Client, p *v1alpha1.Pipeline) (kafkaio.Config, error) {
	cfg := kafkaio.Config{Brokers: p.Spec.Kafka.Brokers, ClientID: "ecap-manager"}
	tlsConfig, err := kafkaTLS(ctx, c, p)
	if err != nil {
		return cfg, err
	}
	cfg.TLS = tlsConfig
	sasl := p.Spec.Kafka.SASL
	if sasl == nil || sasl.Credentials.SecretRef == nil {
		return cfg, nil
	}
	ref := sasl.Credentials.SecretRef
	secret := &corev1.Secret{}
	if err := c.Get(ctx, types.NamespacedName{Namespace: p.Namespace, Name: ref.Name}, secret); err != nil {
		return cfg, fmt.Errorf("failed to read Kafka credentials from Secret %s: %w", ref.Name, err)
	}
	user, pass := secret.Data[defaulted(ref.UsernameKey, "username")], secret.Data[defaulted(ref.PasswordKey, "password")]
	mech, err := kafkaio.NewSASL(string(sasl.Mechanism), string(user), string(pass))
	if err != nil {
		return cfg, fmt.Errorf("spec.kafka.sasl: %w", err)
	}
	cfg.SASL = mech
	return cfg, nil
}

// kafkaLag is the consumer-group lag over the Pipeline's input topics.
func kafkaLag(ctx context.Context, p *v1alpha1.Pipeline, cfg kafkaio.Config) (int64, error) {
	c, err := kafkaio.NewClient(cfg)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var topics []string
	for _, t := range []v1alpha1.TopicName{p.Spec.Topics.Transactions, p.Spec.Topics.UserEvents} {
		if t != "" {
			topics = append(topics, string(t))
		}
	}
	total, _, err := c.Lag(ctx, v1alpha1.ConsumerGroupID(p.Namespace, p.Name, &p.Spec), topics)
	if err != nil {
		return 0, fmt.Errorf("failed to measure consumer lag on %v: %w", p.Spec.Kafka.Brokers, err)
	}
	return total, nil
}
