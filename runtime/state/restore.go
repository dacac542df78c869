package state

import (
	"errors"
	"fmt"
)

// RestoreStats counts what a Restorer read.
type RestoreStats struct {
	Records    int
	Tombstones int
	Markers    int
	Bytes      int64
}

// Restorer rebuilds Stores from a changelog partition read from its
// beginning, in offset order. The last record of a key wins; a tombstone
// deletes the customer. Restored Stores are clean: nothing to checkpoint
// until they change.
//
// Changelog partition p normally holds the state of input partition p only
// (NewRestorer). When one changelog partition holds the state of several
// input partitions — fewer changelog partitions than input partitions, or
// input partitions moved between them — NewMultiRestorer routes every
// customer with the input topic's partitioner and every offset marker by
// the partition in its key.
type Restorer struct {
	topic       string
	partition   int32
	partitionOf func(customerID string) int32
	stores      map[int32]*Store
	stats       RestoreStats
}

// NewRestorer returns a Restorer for the state of one input partition.
// Offset markers of any other input partition are an error.
func NewRestorer(topic string, partition int32) *Restorer {
	r := &Restorer{topic: topic, partition: partition, stores: make(map[int32]*Store)}
	r.stores[partition] = NewStore(topic, partition)
	return r
}

// NewMultiRestorer returns a Restorer for the state of any partitions of
// the input topic; partitionOf must be the partitioner the input is keyed
// with.
func NewMultiRestorer(topic string, partitionOf func(customerID string) int32) *Restorer {
	return &Restorer{topic: topic, partitionOf: partitionOf, stores: make(map[int32]*Store)}
}

func (r *Restorer) store(p int32) *Store {
	s := r.stores[p]
	if s == nil {
		s = NewStore(r.topic, p)
		r.stores[p] = s
	}
	return s
}

// Add applies one changelog record. A record that cannot be decoded is
// reported and changes nothing.
func (r *Restorer) Add(key, value []byte) error {
	r.stats.Records++
	r.stats.Bytes += int64(len(key) + len(value))
	if len(key) == 0 {
		return fmt.Errorf("%w: changelog record without key", ErrCorrupt)
	}
	if key[0] == 0 {
		return r.addMarker(key, value)
	}
	p := r.partition
	if r.partitionOf != nil {
		p = r.partitionOf(string(key))
	}
	s := r.store(p)
	if value == nil {
		r.stats.Tombstones++
		if c := s.customers[string(key)]; c != nil {
			c.gone = true // for links to it (ApplyLinked)
			delete(s.customers, string(key))
		}
		return nil
	}
	c, err := DecodeCustomer(value)
	if err != nil {
		return fmt.Errorf("failed to decode the state of customer %q: %w", key, err)
	}
	if old := s.customers[string(key)]; old != nil {
		*old = *c
	} else {
		s.customers[string(key)] = c
	}
	return nil
}

func (r *Restorer) addMarker(key, value []byte) error {
	topic, p, ok := parseMarkerKey(key)
	if !ok {
		return fmt.Errorf("%w: unknown changelog key %q", ErrCorrupt, key)
	}
	if topic != r.topic || r.partitionOf == nil && p != r.partition {
		return fmt.Errorf("changelog holds an offset marker of %s/%d, restoring %s/%d: %w",
			topic, p, r.topic, r.partition, ErrForeignMarker)
	}
	r.stats.Markers++
	s := r.store(p)
	if value == nil {
		s.meta.NextOffset = 0
		return nil
	}
	next, err := decodeMarker(value)
	if err != nil {
		return err
	}
	s.meta.NextOffset = next
	return nil
}

// ErrForeignMarker is wrapped by Add for an offset marker of an input
// partition the Restorer does not restore.
var ErrForeignMarker = errors.New("foreign offset marker")

// Stores returns the restored Stores by input partition; a Restorer made by
// NewRestorer always returns its partition's.
func (r *Restorer) Stores() map[int32]*Store { return r.stores }

// Stats returns what was read.
func (r *Restorer) Stats() RestoreStats { return r.stats }

// Restore rebuilds the Store of one input partition from its changelog
// records in offset order and returns it with its offset marker
// (NextOffset 0 when there was none): replaying the input from
// meta.NextOffset then skips nothing the state lacks and repeats nothing it
// holds.
func Restore(topic string, partition int32, records []Record) (*Store, PartitionMeta, error) {
	r := NewRestorer(topic, partition)
	for _, rec := range records {
		if err := r.Add(rec.Key, rec.Value); err != nil {
			return nil, PartitionMeta{}, err
		}
	}
	s := r.stores[partition]
	return s, s.meta, nil
}
