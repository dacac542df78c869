package state

import (
	"bytes"
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
	// dirty lists the customers changed since the last checkpoint started:
	// the change list of generation gen, which holds each customer once
	// (Customer.listed; a forgotten and re-created customer may appear
	// twice, listed settles it). A customer is listed only until a
	// checkpoint encodes it, so listed is 0, gen, or the generation of the
	// capture in flight: one byte, which wraps from 255 to 1, is enough.
	dirty []string
	gen   uint8
	// capture is the checkpoint being encoded, nil when none is.
	capture *StoreCapture
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
		gen:       1,
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
	return s.ApplyLinked(nil, p)
}

// ApplyLinked is Apply with a link: a slot, kept by the caller with the
// customer (the engine keeps it in the fraud state's customer), that
// saves Apply's map lookup. A nil or empty slot, or one whose Customer the
// Store has since removed (Forget, Expire, a restored tombstone), is
// filled with the customer found or created; a nil link is Apply. The slot
// must have been filled by this Store for p.CustomerID (or be empty): the
// Store trusts it as the customer's entry without comparing IDs.
func (s *Store) ApplyLinked(link **Customer, p Purchase) (applied bool, err error) {
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
	var c *Customer
	if link != nil {
		c = *link
	}
	if c == nil || c.gone {
		c = s.customers[p.CustomerID]
		if c == nil {
			c = new(Customer)
			s.customers[strings.Clone(p.CustomerID)] = c
			delete(s.forgotten, p.CustomerID)
		}
		if link != nil {
			*link = c
		}
	}
	if p.Offset < c.nextOffset {
		s.stats.Skipped++
		return false, nil
	}
	s.markDirty(p.CustomerID, c) // before the change: see StartCheckpoint
	units := toUnits(p.Amount)
	if len(s.calibrationDays) > 0 || c.frozen != nil {
		c.applyCalibration(int32(floorDiv(ms, msPerDay)), units, s.calibrationDays)
	}
	if c.apply(ms, units, deviceHash(p.DeviceID), countryID(p.Country)) {
		s.stats.Unsure++
	}
	c.nextOffset = p.Offset + 1
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

// markDirty lists c for the next checkpoint; it is called before c
// changes, so that a checkpoint being encoded takes c as it was first.
func (s *Store) markDirty(id string, c *Customer) {
	if cp := s.capture; cp != nil && c.listed == cp.gen {
		cp.encode(id, c)
		cp.early++
	}
	if c.listed != s.gen {
		c.listed = s.gen
		// id may share its bytes with a whole decoded event: keep a copy.
		s.dirty = append(s.dirty, strings.Clone(id))
	}
}

// Forget deletes a customer (an erasure request); the next checkpoint
// writes a tombstone for it, after which the deletion survives restores.
// It reports whether the customer was held.
func (s *Store) Forget(customerID string) bool {
	c, held := s.customers[customerID]
	if cp := s.capture; held && cp != nil && c.listed == cp.gen {
		cp.encode(customerID, c) // the checkpoint being encoded still holds it
		cp.early++
	}
	if held {
		c.gone = true // for links to it (ApplyLinked)
		delete(s.customers, customerID)
	}
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
		if c := s.customers[id]; c != nil && c.listed == s.gen {
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
// the last marker written. It is StartCheckpoint and Finish at once.
func (s *Store) Checkpoint() []Record {
	recs := s.StartCheckpoint().Finish()
	body := recs[:len(recs)-1]
	slices.SortFunc(body, func(a, b Record) int { return bytes.Compare(a.Key, b.Key) })
	return recs
}

// StoreCapture is a checkpoint of a Store being encoded while the Store
// goes on changing: the records of Checkpoint, as of the moment
// StartCheckpoint was called, in no particular order.
type StoreCapture struct {
	s    *Store
	gen  uint8    // of the change list it took
	todo []string // that list
	next int      // todo[:next] are encoded
	// early counts the customers encoded before a change.
	early int
	recs  []Record // tombstones, then customers as encoded
	// marker is the offset marker as of the start.
	marker Record
	// buf holds keys and values, in blocks of captureBlock bytes: a
	// record keeps the block it was encoded into.
	buf []byte
}

const captureBlock = 64 << 10

// StartCheckpoint starts a checkpoint without encoding the changed
// customers: Step encodes them a few at a time, and a customer about to
// change (Apply, Forget) that the checkpoint has not encoded yet is
// encoded first, copy-on-write, so every record holds the value the
// customer had when the checkpoint started. Only the forgotten customers'
// tombstones are taken at once. At most one capture is in flight: Finish
// it before starting another.
func (s *Store) StartCheckpoint() *StoreCapture {
	c := &StoreCapture{s: s, gen: s.gen, todo: s.dirty, marker: s.MarkerRecord()}
	s.dirty = nil
	if s.gen++; s.gen == 0 {
		s.gen = 1
	}
	for id := range s.forgotten {
		c.recs = append(c.recs, Record{Key: []byte(id)})
	}
	if len(s.forgotten) > 0 {
		s.forgotten = make(map[string]struct{})
	}
	s.capture = c
	return c
}

// encode appends the record of customer id, which the capture has not
// encoded yet.
func (c *StoreCapture) encode(id string, cu *Customer) {
	if cap(c.buf)-len(c.buf) < 1<<10 {
		c.buf = make([]byte, 0, captureBlock)
	}
	k := len(c.buf)
	c.buf = append(c.buf, id...)
	v := len(c.buf)
	c.buf, _ = cu.AppendBinary(c.buf)
	c.recs = append(c.recs, Record{Key: c.buf[k:v:v], Value: c.buf[v:len(c.buf):len(c.buf)]})
	cu.listed = 0 // encoded; markDirty lists it again for the next checkpoint
}

// Step encodes up to n of the customers not encoded yet and reports
// whether none is left.
func (c *StoreCapture) Step(n int) bool {
	for ; c.next < len(c.todo) && n > 0; c.next++ {
		id := c.todo[c.next]
		cu := c.s.customers[id]
		if cu == nil || cu.listed != c.gen {
			continue // forgotten, or encoded before a change
		}
		c.encode(id, cu)
		n--
	}
	return c.next == len(c.todo)
}

// Finish encodes what is left and returns the records, the offset marker
// last. The Store then counts itself clean (see Checkpoint).
func (c *StoreCapture) Finish() []Record {
	c.Step(len(c.todo))
	if c.s.capture == c {
		c.s.capture = nil
	}
	recs := append(c.recs, c.marker)
	c.recs, c.todo, c.buf = nil, nil, nil
	return recs
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
