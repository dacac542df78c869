package engine

import (
	"context"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/ecap-dev/ecap/runtime/kafkaio"
)

// EnsureTopics creates the dead-letter, output, control, audit and
// (compacted) changelog topics that do not exist, with the partition count of the transactions
// topic, which must exist.
func EnsureTopics(ctx context.Context, kcfg kafkaio.Config, s *Settings) error {
	cl, err := kafkaio.NewClient(kcfg)
	if err != nil {
		return err
	}
	defer cl.Close()
	tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	n, err := partitionCount(tctx, kcfg, s.Transactions)
	if err != nil {
		return err
	}
	specs := []kafkaio.TopicSpec{kafkaio.CompactedTopic(s.Changelog, n, 0)}
	if s.Feedback != "" {
		// Labels are co-partitioned with the transactions they judge.
		if m, err := partitionCount(tctx, kcfg, s.Feedback); err == nil && m != n {
			return fmt.Errorf("pipeline.spec.topics.feedback: topic %s has %d partitions, topics.transactions %s has %d; they must be equal (co-partitioned)", s.Feedback, m, s.Transactions, n)
		} else if err != nil {
			specs = append(specs, kafkaio.TopicSpec{Name: s.Feedback, Partitions: n})
		}
	}
	if s.Control != "" {
		// Retention requests are co-partitioned with the customers they name.
		if m, err := partitionCount(tctx, kcfg, s.Control); err == nil && m != n {
			return fmt.Errorf("pipeline.spec.topics.control: topic %s has %d partitions, topics.transactions %s has %d; they must be equal (co-partitioned)", s.Control, m, s.Transactions, n)
		} else if err != nil {
			specs = append(specs, kafkaio.TopicSpec{Name: s.Control, Partitions: n})
		}
	}
	for _, t := range s.OutputTopics() {
		specs = append(specs, kafkaio.TopicSpec{Name: t, Partitions: n})
	}
	if err := cl.EnsureTopics(tctx, specs...); err != nil {
		return fmt.Errorf("failed to create the runtime's topics: %w", err)
	}
	return nil
}

func partitionCount(ctx context.Context, kcfg kafkaio.Config, topic string) (int, error) {
	tr := &kafka.Transport{SASL: kcfg.SASL, TLS: kcfg.TLS, ClientID: kcfg.ClientID}
	defer tr.CloseIdleConnections()
	cl := &kafka.Client{Addr: kafka.TCP(kcfg.Brokers...), Transport: tr}
	md, err := cl.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		return 0, fmt.Errorf("failed to read the metadata of %s: %w", topic, err)
	}
	for _, t := range md.Topics {
		if t.Name == topic {
			if t.Error != nil {
				return 0, fmt.Errorf("pipeline.spec.topics.transactions: topic %s: %w", topic, t.Error)
			}
			return len(t.Partitions), nil
		}
	}
	return 0, fmt.Errorf("pipeline.spec.topics.transactions: topic %s does not exist", topic)
}
