// Package kafkatest starts an in-process Kafka cluster for tests and offers
// the few helpers tests need around it: create a topic, produce records,
// read a whole topic back.
//
// The cluster is franz-go's kfake behind runtime/kafkatest/embedkafka, on
// real loopback TCP ports: the code under test uses kafka-go exactly as in
// production. Helpers fail the test (t.Fatal) instead of returning errors,
// and the cluster is closed by t.Cleanup.
//
// The helpers deliberately bypass kafka-go's cached metadata (each call uses
// a fresh transport), so they see topics created by the code under test at
// once.
package kafkatest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/ecap-dev/ecap/runtime/kafkatest/embedkafka"
)

// helperTimeout bounds each helper call; a test that needs longer has a
// different problem.
const helperTimeout = 30 * time.Second

// Option tunes the cluster started by Start.
type Option func(*embedkafka.Options)

// Brokers sets the number of brokers (default 1).
func Brokers(n int) Option { return func(o *embedkafka.Options) { o.Brokers = n } }

// DataDir persists the cluster's state in dir; a later Start with the same
// dir (and Port) finds the topics, records and committed offsets again.
func DataDir(dir string) Option { return func(o *embedkafka.Options) { o.DataDir = dir } }

// Port makes broker i listen on port+i instead of a random port.
func Port(port int) Option { return func(o *embedkafka.Options) { o.Port = port } }

// KfakeOptions passes options straight to kfake.
func KfakeOptions(opts ...kfake.Opt) Option {
	return func(o *embedkafka.Options) { o.Extra = append(o.Extra, opts...) }
}

// Cluster is a running test cluster.
type Cluster struct {
	*embedkafka.Cluster
}

// Start starts a cluster and registers its Close with t.Cleanup. Consumer
// groups may use session timeouts down to 1s, so tests can keep their
// failure detection short.
func Start(t testing.TB, opts ...Option) *Cluster {
	t.Helper()
	o := embedkafka.Options{GroupMinSessionTimeout: time.Second}
	for _, opt := range opts {
		opt(&o)
	}
	ec, err := embedkafka.Start(context.Background(), o)
	if err != nil {
		t.Fatalf("kafkatest: %v", err)
	}
	t.Cleanup(ec.Close)
	return &Cluster{Cluster: ec}
}

// Record is one record as produced to or read from a topic. Produce ignores
// Topic, Partition and Offset.
type Record struct {
	Topic     string
	Partition int
	Offset    int64
	Key       []byte
	Value     []byte
	Headers   []kafka.Header
	Time      time.Time
}

// Client returns a kafka-go client with its own transport, for admin calls
// in tests. Its metadata cache starts empty; close its transport's idle
// connections when done if the test makes many.
func (c *Cluster) Client() *kafka.Client {
	return &kafka.Client{
		Addr:      kafka.TCP(c.Addrs()...),
		Timeout:   helperTimeout,
		Transport: &kafka.Transport{ClientID: "kafkatest"},
	}
}

func (c *Cluster) withClient(fn func(ctx context.Context, cl *kafka.Client) error) error {
	ctx, cancel := context.WithTimeout(context.Background(), helperTimeout)
	defer cancel()
	cl := c.Client()
	defer cl.Transport.(*kafka.Transport).CloseIdleConnections()
	return fn(ctx, cl)
}

// CreateTopic creates a topic with the cluster's default replication factor
// (min(3, brokers)). Nil config values are left at their defaults.
func (c *Cluster) CreateTopic(t testing.TB, name string, partitions int, configs map[string]*string) {
	t.Helper()
	tc := kafka.TopicConfig{Topic: name, NumPartitions: partitions, ReplicationFactor: -1}
	for k, v := range configs {
		if v != nil {
			tc.ConfigEntries = append(tc.ConfigEntries, kafka.ConfigEntry{ConfigName: k, ConfigValue: *v})
		}
	}
	err := c.withClient(func(ctx context.Context, cl *kafka.Client) error {
		resp, err := cl.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{tc}})
		if err != nil {
			return err
		}
		return resp.Errors[name]
	})
	if err != nil {
		t.Fatalf("kafkatest: failed to create topic %q: %v", name, err)
	}
}

// Partitions returns the number of partitions of topic.
func (c *Cluster) Partitions(t testing.TB, topic string) int {
	t.Helper()
	var n int
	err := c.withClient(func(ctx context.Context, cl *kafka.Client) error {
		var err error
		n, err = partitionCount(ctx, cl, topic)
		return err
	})
	if err != nil {
		t.Fatalf("kafkatest: %v", err)
	}
	return n
}

func partitionCount(ctx context.Context, cl *kafka.Client, topic string) (int, error) {
	md, err := cl.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		return 0, fmt.Errorf("failed to read metadata of topic %q: %w", topic, err)
	}
	for _, tm := range md.Topics {
		if tm.Name == topic {
			if tm.Error != nil {
				return 0, fmt.Errorf("failed to read metadata of topic %q: %w", topic, tm.Error)
			}
			return len(tm.Partitions), nil
		}
	}
	return 0, fmt.Errorf("topic %q: %w", topic, kafka.UnknownTopicOrPartition)
}

// Produce writes records to topic with acks=all. A record with a key goes to
// the partition kafka-go's Murmur2Balancer picks (the same as Java clients
// and as kafkaio's Writer); records without a key are spread round-robin.
// Records keep their order within a partition.
func (c *Cluster) Produce(t testing.TB, topic string, records ...Record) {
	t.Helper()
	err := c.withClient(func(ctx context.Context, cl *kafka.Client) error {
		n, err := partitionCount(ctx, cl, topic)
		if err != nil {
			return err
		}
		byPartition := make(map[int][]Record)
		parts := make([]int, n)
		for i := range parts {
			parts[i] = i
		}
		var hash kafka.Murmur2Balancer
		rr := 0
		for _, r := range records {
			var p int
			if r.Key != nil {
				p = hash.Balance(kafka.Message{Key: r.Key}, parts...)
			} else {
				p = rr % n
				rr++
			}
			byPartition[p] = append(byPartition[p], r)
		}
		return produceAll(ctx, cl, topic, byPartition)
	})
	if err != nil {
		t.Fatalf("kafkatest: failed to produce to %q: %v", topic, err)
	}
}

// ProduceTo writes records to one partition of topic with acks=all.
func (c *Cluster) ProduceTo(t testing.TB, topic string, partition int, records ...Record) {
	t.Helper()
	err := c.withClient(func(ctx context.Context, cl *kafka.Client) error {
		return produceAll(ctx, cl, topic, map[int][]Record{partition: records})
	})
	if err != nil {
		t.Fatalf("kafkatest: failed to produce to %q partition %d: %v", topic, partition, err)
	}
}

// maxRequestBytes keeps each produce request under the broker's default
// message.max.bytes (1 MiB plus overhead).
const maxRequestBytes = 900 << 10

func produceAll(ctx context.Context, cl *kafka.Client, topic string, byPartition map[int][]Record) error {
	var wg sync.WaitGroup
	errs := make(chan error, len(byPartition))
	for p, recs := range byPartition {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for len(recs) > 0 {
				n, size := 0, 0
				for n < len(recs) && (n == 0 || size+recordSize(recs[n]) <= maxRequestBytes) {
					size += recordSize(recs[n])
					n++
				}
				if err := producePartition(ctx, cl, topic, p, recs[:n]); err != nil {
					errs <- err
					return
				}
				recs = recs[n:]
			}
		}()
	}
	wg.Wait()
	close(errs)
	return errors.Join(collect(errs)...)
}

func recordSize(r Record) int {
	n := len(r.Key) + len(r.Value) + 32
	for _, h := range r.Headers {
		n += len(h.Key) + len(h.Value) + 8
	}
	return n
}

func producePartition(ctx context.Context, cl *kafka.Client, topic string, partition int, recs []Record) error {
	krs := make([]kafka.Record, len(recs))
	for i, r := range recs {
		krs[i] = kafka.Record{
			Time:    r.Time,
			Key:     kafka.NewBytes(r.Key),
			Value:   kafka.NewBytes(r.Value),
			Headers: r.Headers,
		}
	}
	resp, err := cl.Produce(ctx, &kafka.ProduceRequest{
		Topic:        topic,
		Partition:    partition,
		RequiredAcks: kafka.RequireAll,
		Records:      kafka.NewRecordReader(krs...),
	})
	if err != nil {
		return err
	}
	if resp.Error != nil {
		return fmt.Errorf("partition %d: %w", partition, resp.Error)
	}
	for _, e := range resp.RecordErrors {
		return fmt.Errorf("partition %d: %w", partition, e)
	}
	return nil
}

// ReadAll returns every record of topic, reading each partition from its
// log start offset to the high watermark observed when ReadAll started,
// ordered by partition then offset.
func (c *Cluster) ReadAll(t testing.TB, topic string) []Record {
	t.Helper()
	var out []Record
	err := c.withClient(func(ctx context.Context, cl *kafka.Client) error {
		n, err := partitionCount(ctx, cl, topic)
		if err != nil {
			return err
		}
		for p := 0; p < n; p++ {
			recs, err := readPartition(ctx, cl, topic, p)
			if err != nil {
				return err
			}
			out = append(out, recs...)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("kafkatest: failed to read topic %q: %v", topic, err)
	}
	return out
}

// ReadPartition is ReadAll for one partition.
func (c *Cluster) ReadPartition(t testing.TB, topic string, partition int) []Record {
	t.Helper()
	var out []Record
	err := c.withClient(func(ctx context.Context, cl *kafka.Client) error {
		var err error
		out, err = readPartition(ctx, cl, topic, partition)
		return err
	})
	if err != nil {
		t.Fatalf("kafkatest: failed to read topic %q partition %d: %v", topic, partition, err)
	}
	return out
}

func readPartition(ctx context.Context, cl *kafka.Client, topic string, partition int) ([]Record, error) {
	lo, err := cl.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{
		topic: {kafka.FirstOffsetOf(partition), kafka.LastOffsetOf(partition)},
	}})
	if err != nil {
		return nil, err
	}
	var first, end int64 = -1, -1
	for _, po := range lo.Topics[topic] {
		if po.Partition != partition {
			continue
		}
		if po.Error != nil {
			return nil, fmt.Errorf("partition %d: %w", partition, po.Error)
		}
		first, end = po.FirstOffset, po.LastOffset
	}
	if first < 0 || end < 0 {
		return nil, fmt.Errorf("partition %d: no offsets listed", partition)
	}
	var out []Record
	for next := first; next < end; {
		resp, err := cl.Fetch(ctx, &kafka.FetchRequest{
			Topic: topic, Partition: partition, Offset: next,
			MinBytes: 1, MaxBytes: 16 << 20, MaxWait: 100 * time.Millisecond,
		})
		if err != nil {
			return nil, err
		}
		if resp.Error != nil {
			return nil, fmt.Errorf("partition %d: %w", partition, resp.Error)
		}
		got := 0
		for {
			r, err := resp.Records.ReadRecord()
			if err != nil {
				if errors.Is(err, io.EOF) {
					break
				}
				return nil, err
			}
			// A fetch may start with records before the requested offset.
			if r.Offset < next || r.Offset >= end {
				continue
			}
			rec := Record{Topic: topic, Partition: partition, Offset: r.Offset, Time: r.Time}
			if rec.Key, err = kafka.ReadAll(r.Key); err == nil {
				rec.Value, err = kafka.ReadAll(r.Value)
			}
			if err != nil {
				return nil, err
			}
			for _, h := range r.Headers {
				rec.Headers = append(rec.Headers, kafka.Header{Key: h.Key, Value: append([]byte(nil), h.Value...)})
			}
			out = append(out, rec)
			next = r.Offset + 1
			got++
		}
		if got == 0 {
			// Nothing at or after next below the end: the rest was
			// compacted or deleted.
			break
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Offset < out[j].Offset })
	return out, nil
}

func collect(errs <-chan error) []error {
	var out []error
	for err := range errs {
		out = append(out, err)
	}
	return out
}

// Compacted returns what log compaction would leave of records read from a
// compacted topic once it has run over the whole log: the last record of
// each key, minus keys whose last record is a tombstone (empty value).
// Records without a key are left out.
func Compacted(records []Record) map[string]Record {
	out := map[string]Record{}
	for _, r := range records {
		if r.Key == nil {
			continue
		}
		if len(r.Value) == 0 {
			delete(out, string(r.Key))
			continue
		}
		out[string(r.Key)] = r
	}
	return out
}
