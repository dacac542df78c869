package state

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// PartitionMeta names the input partition a Store holds and how far the
// state goes in it.
type PartitionMeta struct {
	Topic     string
	Partition int32
	// NextOffset is the first input offset not in the state: every earlier
	// offset has been applied or deliberately passed over. 0 after a
	// restore means the changelog had no marker.
	NextOffset int64
}

// Record is one changelog record; a nil Value is a tombstone.
type Record struct {
	Key   []byte
	Value []byte
}

// markerPrefix starts the key of an offset marker; customer IDs cannot.
const markerPrefix = "\x00offsets/"

// markerVersion is the first byte of a marker's value, followed by the
// uvarint NextOffset.
const markerVersion = 1

// MarkerKey returns the changelog key of the offset marker of an input
// partition.
func MarkerKey(topic string, partition int32) []byte {
	return []byte(markerPrefix + topic + "/" + strconv.FormatInt(int64(partition), 10))
}

// parseMarkerKey splits a marker key; ok is false for customer keys and
// malformed markers.
func parseMarkerKey(key []byte) (topic string, partition int32, ok bool) {
	rest, found := strings.CutPrefix(string(key), markerPrefix)
	if !found {
		return "", 0, false
	}
	i := strings.LastIndexByte(rest, '/')
	if i <= 0 {
		return "", 0, false
	}
	p, err := strconv.ParseInt(rest[i+1:], 10, 32)
	if err != nil || p < 0 {
		return "", 0, false
	}
	return rest[:i], int32(p), true
}

// Purchase is one transaction as the state sees it.
type Purchase struct {
	// Offset is the transaction's offset in the input partition.
	Offset     int64
	CustomerID string
	EventTime  time.Time
	// Amount is in currency units, 0 to MaxAmount.
	Amount float64
	// DeviceID and Country are optional.
	DeviceID string
	Country  string
}

// ErrInvalid is wrapped by Apply's errors for purchases it refuses.
var ErrInvalid = errors.New("invalid purchase")

// StoreStats are a Store's counters, for metrics.
type StoreStats struct {
	// Applied counts purchases applied.
	Applied uint64
	// Skipped counts purchases already in the state (replays).
	Skipped uint64
	// Unsure counts purchases counted as a new day although they may fall
	// on a day already counted (see Customer).
	Unsure uint64
}

// Store is the customer state of one input partition.
type Store struct {
	meta      PartitionMeta
	customers map[string]*Customer
	// dirty lists the customers changed since the last checkpoint, each
	// once while its dirty flag is set (a forgotten and re-created customer
	// may appear twice; the flag settles it).
	dirty []string
	// forgotten holds the customers deleted since the last checkpoint.
	forgotten map[string]struct{}
	stats     StoreStats
	// calibrationDays are the calibration end days whose summaries
	// customers keep frozen (see Customer.AsOf).
	calibrationDays []int32
}

// NewStore returns an empty Store for an input partition.
func NewStore(topic string, partition int32) *Store {
	return &Store{
		meta:      PartitionMeta{Topic: topic, Partition: partition},
		customers: make(map[string]*Customer),
		forgotten: make(map[string]struct{}),
	}
}

// Meta returns the partition and next offset of the state.
func (s *Store) Meta() PartitionMeta { return s.meta }

// Len returns the number of customers.
func (s *Store) Len() int { return len(s.customers) }

// Stats returns the Store's counters.
func (s *Store) Stats() StoreStats { return s.stats }

// Get returns a customer's state. The Customer belongs to the Store: read
// it before the next call that changes the Store.
func (s *Store) Get(customerID string) (*Customer, bool) {
	c, ok := s.customers[customerID]
	return c, ok
}

// Range calls fn for every customer, in no particular order, until fn
// returns false. fn must not change the Store.
func (s *Store) Range(fn func(customerID string, c *Customer) bool) {
	for id, c := range s.customers {
		if !fn(id, c) {
			return
		}
	}
}

// Apply applies a purchase unless the state already holds it: an offset
// below Meta().NextOffset, or not above the last offset applied to its
// customer, is skipped (applied is false). It fails, changing nothing, for
// an empty customer ID or one starting with NUL, a negative offset, an
// amount that is negative, not finite or above MaxAmount, or an event time
// beyond the supported range; the caller then passes the offset with
// Advance.
func (s *Store) Apply(p Purchase) (applied bool, err error) {
	switch {
	case p.CustomerID == "" || p.CustomerID[0] == 0:
		return false, fmt.Errorf("%w: customer ID %q", ErrInvalid, p.CustomerID)
	case p.Offset < 0:
		return false, fmt.Errorf("%w: offset %d", ErrInvalid, p.Offset)
	case !(p.Amount >= 0 && p.Amount <= MaxAmount):
		return false, fmt.Errorf("%w: amount %v", ErrInvalid, p.Amount)
	}
	ms := p.EventTime.UnixMilli()
	if ms < -maxTimeMs || ms > maxTimeMs {
		return false, fmt.Errorf("%w: event time %v", ErrInvalid, p.EventTime)
	}
	if p.Offset < s.meta.NextOffset {
		s.stats.Skipped++
		return false, nil
	}
	s.meta.NextOffset = p.Offset + 1
	c := s.customers[p.CustomerID]
	if c == nil {
		c = new(Customer)
		s.customers[strings.Clone(p.CustomerID)] = c
		delete(s.forgotten, p.CustomerID)
	} else if p.Offset < c.nextOffset {
		s.stats.Skipped++
		return false, nil
	}
	units := toUnits(p.Amount)
	if len(s.calibrationDays) > 0 || c.frozen != nil {
		c.applyCalibration(int32(floorDiv(ms, msPerDay)), units, s.calibrationDays)
	}
	if c.apply(ms, units, deviceHash(p.DeviceID), countryID(p.Country)) {
		s.stats.Unsure++
	}
	c.nextOffset = p.Offset + 1
	s.markDirty(p.CustomerID, c)
	s.stats.Applied++
	return true, nil
}

// SetCalibrationDays sets the calibration end days (days since 1970-01-01
// UTC, see DayOf) whose summaries the customers keep frozen from now on:
// the distinct days, at most MaxCalibrationDays (the earliest); it returns
// the days kept. A purchase applied afterwards drops its customer's frozen
// summaries of days no longer set. Replays are exact when they run with
// the days the original run had.
func (s *Store) SetCalibrationDays(days []int32) []int32 {
	if slices.Equal(days, s.calibrationDays) {
		return s.calibrationDays
	}
	s.calibrationDays = normalizeDays(days)
	return s.calibrationDays
}

// CalibrationDays returns the days set by SetCalibrationDays.
func (s *Store) CalibrationDays() []int32 { return s.calibrationDays }

// Advance records that every input offset below nextOffset is accounted
// for, e.g. after events that change no customer (other kinds, rejects).
// It never moves NextOffset back.
func (s *Store) Advance(nextOffset int64) {
	s.meta.NextOffset = max(s.meta.NextOffset, nextOffset)
}

func (s *Store) markDirty(id string, c *Customer) {
	if !c.dirty {
		c.dirty = true
		// id may share its bytes with a whole decoded event: keep a copy.
		s.dirty = append(s.dirty, strings.Clone(id))
	}
}

// Forget deletes a customer (an erasure request); the next checkpoint
// writes a tombstone for it, after which the deletion survives restores.
// It reports whether the customer was held.
func (s *Store) Forget(customerID string) bool {
	_, held := s.customers[customerID]
	delete(s.customers, customerID)
	s.forgotten[strings.Clone(customerID)] = struct{}{}
	return held
}

// Expire forgets every customer whose last purchase is before cutoff (the
// customer-state TTL) and returns how many.
func (s *Store) Expire(cutoff time.Time) int {
	ms := cutoff.UnixMilli()
	n := 0
	for id, c := range s.customers {
		if c.lastPurchase < ms {
			s.Forget(id)
			n++
		}
	}
	return n
}

// Inactive returns, sorted, the customers whose last purchase is before
// cutoff: those Expire(cutoff) would forget.
func (s *Store) Inactive(cutoff time.Time) []string {
	ms := cutoff.UnixMilli()
	var out []string
	for id, c := range s.customers {
		if c.lastPurchase < ms {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out
}

// Dirty returns the number of changes the next checkpoint will write,
// offset marker excluded.
func (s *Store) Dirty() int {
	n := len(s.forgotten)
	for _, id := range s.dirty {
		if c := s.customers[id]; c != nil && c.dirty {
			n++
		}
	}
	return n
}

// Checkpoint returns the changelog records that bring the changelog up to
// the current state: a tombstone per forgotten customer, the encoding of
// every customer changed since the previous checkpoint (keys in byte
// order), and last the offset marker, so that a reader who sees the marker
// has seen the records it covers. The Store then counts itself clean; if
// the records cannot be written, hand them to Requeue so the next
// checkpoint includes them again, and do not commit input offsets beyond
// the last marker written.
func (s *Store) Checkpoint() []Record {
	type span struct{ key, value, end int }
	var (
		arena []byte
		spans []span
	)
	forgotten := make([]string, 0, len(s.forgotten))
	for id := range s.forgotten {
		forgotten = append(forgotten, id)
	}
	slices.Sort(forgotten)
	for _, id := range forgotten {
		k := len(arena)
		arena = append(arena, id...)
		spans = append(spans, span{key: k, value: -1, end: len(arena)})
	}
	clear(s.forgotten)

	slices.Sort(s.dirty)
	for _, id := range s.dirty {
		c := s.customers[id]
		if c == nil || !c.dirty {
			continue
		}
		c.dirty = false
		k := len(arena)
		arena = append(arena, id...)
		v := len(arena)
		arena, _ = c.AppendBinary(arena)
		spans = append(spans, span{key: k, value: v, end: len(arena)})
	}
	if cap(s.dirty) > 4096 {
		s.dirty = nil
	} else {
		clear(s.dirty)
		s.dirty = s.dirty[:0]
	}

	records := make([]Record, 0, len(spans)+1)
	for _, sp := range spans {
		if sp.value < 0 {
			records = append(records, Record{Key: arena[sp.key:sp.end:sp.end]})
			continue
		}
		records = append(records, Record{Key: arena[sp.key:sp.value:sp.value], Value: arena[sp.value:sp.end:sp.end]})
	}
	return append(records, s.MarkerRecord())
}

// MarkerRecord returns the offset marker record of the current state.
func (s *Store) MarkerRecord() Record {
	v := binary.AppendUvarint([]byte{markerVersion}, uint64(s.meta.NextOffset))
	return Record{Key: MarkerKey(s.meta.Topic, s.meta.Partition), Value: v}
}

// Requeue marks the customers of records from a Checkpoint that could not
// be written as changed again, so the next checkpoint writes their current
// state (or their tombstone).
func (s *Store) Requeue(records []Record) {
	for _, r := range records {
		if len(r.Key) == 0 || r.Key[0] == 0 {
			continue
		}
		id := string(r.Key)
		if c := s.customers[id]; c != nil {
			s.markDirty(id, c)
		} else if r.Value == nil {
			s.forgotten[id] = struct{}{}
		}
	}
}

func decodeMarker(v []byte) (int64, error) {
	if len(v) == 0 || v[0] != markerVersion {
		return 0, fmt.Errorf("%w: unknown offset marker version", ErrCorrupt)
	}
	n, k := binary.Uvarint(v[1:])
	if k <= 0 || k != len(v)-1 || n > math.MaxInt64 {
		return 0, fmt.Errorf("%w: bad offset marker", ErrCorrupt)
	}
	return int64(n), nil
}
