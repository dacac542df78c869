package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/ecap-dev/ecap/runtime/kafkaio"
	"github.com/ecap-dev/ecap/runtime/segmentation"
)

// The fit-input exchange lets every replica fit the model of all customers
// while owning only some (see runtime/segmentation/doc.go, "Multi-replica
// design"). Each replica publishes, per owned partition and run, the
// canonical FitInput of that partition's customers (multisets, no IDs) to
// one internal topic; every replica reads that topic from its start and,
// once it holds a part for every partition of the transactions topic,
// merges them in partition order and fits. Fitting is deterministic, so
// all replicas get the same model without electing a leader; each then
// scores only its own customers.

// partChunkBytes bounds the FitInput bytes of one exchange record, well
// under Kafka's default 1 MB message limit after base64 and headers.
const partChunkBytes = 600 << 10

// partsRetention is the retention of the exchange topic: parts are needed
// only while a run gathers them.
const partsRetention = 6 * time.Hour

// PartsTopic returns the name of a Pipeline's fit-input exchange topic.
func PartsTopic(s *Settings) string { return s.Pipeline + "-segmentation-parts" }

// partRecord is one exchange record: chunk Chunk of Chunks of the JSON
// FitInput of one partition's customers for one run.
type partRecord struct {
	Segmentation string `json:"segmentation"`
	Generation   int64  `json:"generation"`
	RunID        string `json:"runID"`
	Partition    int32  `json:"partition"`
	// NextOffset is the transactions offset the partition's state had
	// reached; of two parts of one partition (a rebalance during a run) the
	// one further ahead wins.
	NextOffset int64  `json:"nextOffset"`
	Chunk      int    `json:"chunk"`
	Chunks     int    `json:"chunks"`
	Data       []byte `json:"data"`
}

func (r *partRecord) runKey() string {
	return r.Segmentation + "/" + strconv.FormatInt(r.Generation, 10) + "/" + r.RunID
}

// assembly gathers the chunks of one partition's part.
type assembly struct {
	nextOffset int64
	chunks     [][]byte
	have       int
}

// runParts are the parts seen for one run.
type runParts struct {
	seen  time.Time
	parts map[int32]*assembly
}

// partExchange reads the exchange topic in the background and keeps the
// parts of recent runs.
type partExchange struct {
	topic string

	mu      sync.Mutex
	runs    map[string]*runParts
	changed chan struct{} // closed and replaced on every new part
	readErr error
}

func newPartExchange(topic string) *partExchange {
	return &partExchange{topic: topic, runs: map[string]*runParts{}, changed: make(chan struct{})}
}

// follow reads the topic from its start until ctx ends.
func (x *partExchange) follow(ctx context.Context, client *kafkaio.Client) {
	r := client.NewPartitionReader(x.topic, 0)
	defer r.Close()
	_ = r.SetOffset(kafka.FirstOffset)
	for {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			x.mu.Lock()
			x.readErr = err
			x.mu.Unlock()
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Second):
			}
			continue
		}
		var rec partRecord
		if err := json.Unmarshal(m.Value, &rec); err != nil || rec.Chunks < 1 || rec.Chunk < 0 || rec.Chunk >= rec.Chunks {
			continue
		}
		x.add(&rec)
	}
}

func (x *partExchange) add(rec *partRecord) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.readErr = nil
	key := rec.runKey()
	rp := x.runs[key]
	if rp == nil {
		rp = &runParts{parts: map[int32]*assembly{}}
		x.runs[key] = rp
	}
	rp.seen = time.Now()
	a := rp.parts[rec.Partition]
	switch {
	case a == nil || rec.NextOffset > a.nextOffset || len(a.chunks) != rec.Chunks:
		if a != nil && rec.NextOffset < a.nextOffset {
			return
		}
		a = &assembly{nextOffset: rec.NextOffset, chunks: make([][]byte, rec.Chunks)}
		rp.parts[rec.Partition] = a
	case rec.NextOffset < a.nextOffset:
		return
	}
	if a.chunks[rec.Chunk] == nil {
		a.have++
	}
	a.chunks[rec.Chunk] = rec.Data
	// Forget runs nobody can still be gathering.
	for k, r := range x.runs {
		if time.Since(r.seen) > partsRetention {
			delete(x.runs, k)
		}
	}
	close(x.changed)
	x.changed = make(chan struct{})
}

// complete returns the assembled parts of a run for partitions 0..n-1, or
// the partitions still missing and a channel closed on the next change.
func (x *partExchange) complete(runKey string, n int, have map[int32]bool) (map[int32][]byte, []int32, <-chan struct{}) {
	x.mu.Lock()
	defer x.mu.Unlock()
	out := map[int32][]byte{}
	var missing []int32
	rp := x.runs[runKey]
	for p := int32(0); p < int32(n); p++ {
		if have[p] {
			continue
		}
		var a *assembly
		if rp != nil {
			a = rp.parts[p]
		}
		if a == nil || a.have < len(a.chunks) {
			missing = append(missing, p)
			continue
		}
		var b []byte
		for _, c := range a.chunks {
			b = append(b, c...)
		}
		out[p] = b
	}
	return out, missing, x.changed
}

// ensureTopics creates the exchange topic (and starts following it) and the
// profile topic of j, once each.
func (sg *segmenter) ensureTopics(ctx context.Context, j *segJob) error {
	e := sg.e
	var specs []kafkaio.TopicSpec
	parts := PartsTopic(&e.s)
	if !sg.topics[parts] {
		specs = append(specs, kafkaio.TopicSpec{Name: parts, Partitions: 1,
			Configs: map[string]string{"cleanup.policy": "delete", "retention.ms": strconv.FormatInt(partsRetention.Milliseconds(), 10)}})
	}
	if j.topic != "" && !sg.topics[j.topic] {
		n, err := e.client.PartitionCount(ctx, e.s.Transactions)
		if err != nil {
			return fmt.Errorf("failed to read the partitions of %s: %w", e.s.Transactions, err)
		}
		specs = append(specs, kafkaio.CompactedTopic(j.topic, n, 0))
	}
	if len(specs) == 0 {
		return nil
	}
	if err := e.client.EnsureTopics(ctx, specs...); err != nil {
		return fmt.Errorf("failed to create the segmentation topics: %w", err)
	}
	for _, s := range specs {
		sg.topics[s.Name] = true
	}
	if sg.exchange == nil {
		sg.exchange = newPartExchange(parts)
		go sg.exchange.follow(sg.followCtx, e.client)
	}
	return nil
}

// gather returns the FitInput of all customers of the Pipeline: the owned
// partitions' parts from own and every other partition's part from the
// exchange. Owned parts are published first unless this replica owns every
// partition.
func (sg *segmenter) gather(ctx context.Context, j *segJob, runID string, snaps []ownedSnapshot, own map[int32]*segmentation.FitInput) (*segmentation.FitInput, error) {
	e := sg.e
	if err := sg.ensureTopics(ctx, j); err != nil {
		return nil, err
	}
	n, err := e.client.PartitionCount(ctx, e.s.Transactions)
	if err != nil {
		return nil, fmt.Errorf("failed to read the partitions of %s: %w", e.s.Transactions, err)
	}
	have := map[int32]bool{}
	for p := range own {
		have[p] = true
	}
	if len(have) < n {
		var msgs []kafka.Message
		for _, s := range snaps {
			recs, err := partRecords(PartsTopic(&e.s), j, runID, s.partition, s.nextOffset, own[s.partition])
			if err != nil {
				return nil, err
			}
			msgs = append(msgs, recs...)
		}
		if len(msgs) > 0 {
			if err := sg.profileWriter().WriteBatch(ctx, msgs); err != nil {
				return nil, fmt.Errorf("failed to publish fit inputs to %s: %w", PartsTopic(&e.s), err)
			}
		}
	}
	all := &segmentation.FitInput{Unit: j.unit}
	merge := func(p int32, in *segmentation.FitInput) error {
		if err := all.Merge(in); err != nil {
			return fmt.Errorf("partition %d: %w", p, err)
		}
		return nil
	}
	others := map[int32][]byte{}
	if len(have) < n {
		runKey := (&partRecord{Segmentation: j.name, Generation: j.generation, RunID: runID}).runKey()
		deadline := time.NewTimer(sg.partsTimeout)
		defer deadline.Stop()
		for {
			got, missing, changed := sg.exchange.complete(runKey, n, have)
			if len(missing) == 0 {
				others = got
				break
			}
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-deadline.C:
				return nil, fmt.Errorf("no fit input from the replicas owning partitions %v after %s", missing, sg.partsTimeout)
			case <-changed:
			}
		}
	}
	// Merge in partition order; Fit canonicalises anyway, so the order only
	// keeps the work reproducible.
	for p := int32(0); p < int32(n); p++ {
		if in := own[p]; in != nil {
			if err := merge(p, in); err != nil {
				return nil, err
			}
			continue
		}
		var in segmentation.FitInput
		if err := json.Unmarshal(others[p], &in); err != nil {
			return nil, fmt.Errorf("fit input of partition %d: %w", p, err)
		}
		if err := merge(p, &in); err != nil {
			return nil, err
		}
	}
	return all, nil
}

// partRecords encodes one partition's part into exchange records.
func partRecords(topic string, j *segJob, runID string, partition int32, nextOffset int64, in *segmentation.FitInput) ([]kafka.Message, error) {
	data, err := json.Marshal(in)
	if err != nil {
		return nil, err
	}
	chunks := max(1, (len(data)+partChunkBytes-1)/partChunkBytes)
	var out []kafka.Message
	for c := range chunks {
		rec := partRecord{Segmentation: j.name, Generation: j.generation, RunID: runID, Partition: partition,
			NextOffset: nextOffset, Chunk: c, Chunks: chunks, Data: data[c*partChunkBytes : min(len(data), (c+1)*partChunkBytes)]}
		b, err := json.Marshal(&rec)
		if err != nil {
			return nil, err
		}
		key := rec.runKey() + "/" + strconv.Itoa(int(partition)) + "/" + strconv.Itoa(c)
		out = append(out, kafka.Message{Topic: topic, Key: []byte(key), Value: b})
	}
	return out, nil
}
