package testenv

import (
	"context"
	"testing"

	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ecap-dev/ecap/api/v1alpha1"
)

// Pipeline returns a small valid Pipeline.
func Pipeline(ns, name string) *v1alpha1.Pipeline {
	return &v1alpha1.Pipeline{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: v1alpha1.PipelineSpec{
			Kafka:  v1alpha1.KafkaSpec{Brokers: []string{"kafka-0.kafka:9092"}},
			Topics: v1alpha1.PipelineTopics{Transactions: "txns", DeadLetter: "dlq"},
		},
	}
}

// Setup gives a test a Gomega with the suite's timeouts, a context and a
// fresh namespace.
func (e *Env) Setup(t *testing.T) (context.Context, Gomega, string) {
	t.Helper()
	g := NewWithT(t)
	g.SetDefaultEventuallyTimeout(Timeout)
	g.SetDefaultEventuallyPollingInterval(Poll)
	g.SetDefaultConsistentlyDuration(2 * Timeout / 10)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	ns, err := e.CreateNamespace(ctx, "test")
	g.Expect(err).NotTo(HaveOccurred())
	return ctx, g, ns
}

// Update re-reads obj, applies mutate and writes it, retrying when a
// controller's concurrent status write makes the update conflict.
func (e *Env) Update(ctx context.Context, obj client.Object, mutate func()) error {
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if err := e.Get(ctx, obj); err != nil {
			return err
		}
		mutate()
		return e.Client.Update(ctx, obj)
	})
}
