package engine

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/segmentio/kafka-go"

	"github.com/ecap-dev/ecap/runtime/kafkaio"
)

// holdingSink stands for kafka-go's writer: it records what each write
// was given and, when told to fail, keeps the records it was given after
// returning, as a writer given up by a cancelled context can still read
// them.
type holdingSink struct {
	fail    bool
	written int
	// held are records of failed writes, with copies of their bytes.
	held     []kafka.Message
	heldWant [][2]string
}

func (s *holdingSink) WriteBatch(_ context.Context, msgs []kafka.Message) error {
	if s.fail {
		for _, m := range msgs {
			s.held = append(s.held, m)
			s.heldWant = append(s.heldWant, [2]string{string(m.Key), string(m.Value)})
		}
		return errors.New("write given up")
	}
	s.written += len(msgs)
	return nil
}

func (s *holdingSink) Close() error { return nil }

// TestEngineReusesOnlyWrittenOutputBlocks drives OnBatch with a sink that
// keeps the records of a failed write: the batches after it must not write
// into their blocks, while the blocks of written batches are reused.
func TestEngineReusesOnlyWrittenOutputBlocks(t *testing.T) {
	env := newTestEnv(t)
	// No catalog reader runs here (no Run): OnAssigned would wait for it.
	env.s.Catalog = false
	e, err := New(env.s, Options{Kafka: env.kcfg, Group: ConsumerGroup(env.rc), RuleSets: env.rc.FraudRuleSets})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	tp := kafkaio.TopicPartition{Topic: env.s.Transactions, Partition: 0}
	if _, err := e.OnAssigned(ctx, kafkaio.Assignment{Committed: map[kafkaio.TopicPartition]int64{tp: kafka.FirstOffset}}); err != nil {
		t.Fatal(err)
	}
	sink := &holdingSink{}
	e.sink = sink
	out := &e.parts[0].proc.out

	msgs := txnMessages(3, 12000)
	const batch = 1000
	reused := false
	for i := 0; i < len(msgs); i += batch {
		n := i / batch
		sink.fail = n == 4
		spare := blockSet(out.spare)
		err := e.OnBatch(ctx, kafkaio.Batch{Topic: tp.Topic, Partition: 0, Messages: msgs[i : i+batch], HighWaterMark: int64(len(msgs))})
		if sink.fail != (err != nil) {
			t.Fatalf("batch %d: OnBatch error %v with a sink failing: %v", n, err, sink.fail)
		}
		// A spare block before the batch that is no longer spare was
		// written into.
		after := blockSet(out.spare)
		for b := range spare {
			reused = reused || !after[b]
		}
		for j, m := range sink.held {
			if string(m.Key) != sink.heldWant[j][0] || !bytes.Equal(m.Value, []byte(sink.heldWant[j][1])) {
				t.Fatalf("after batch %d: record %d of the failed write was overwritten", n, j)
			}
		}
	}
	if len(sink.held) == 0 || sink.written == 0 {
		t.Fatalf("%d records held, %d written: the test did not run both paths", len(sink.held), sink.written)
	}
	if !reused {
		t.Fatal("no batch reused a written output block")
	}
}

// blockSet is the set of blocks (by their first byte) of bs.
func blockSet(bs [][]byte) map[*byte]bool {
	m := map[*byte]bool{}
	for _, b := range bs {
		m[&b[:1][0]] = true
	}
	return m
}
