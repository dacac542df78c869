package fraud

import (
	"errors"
	"math"
	"strings"

	"github.com/ecap-dev/ecap/runtime/state"
)

// maxSeen bounds the devices and countries remembered per customer. The
// sets keep the most recently used entries, so a device unused while 16
// others were used is forgotten and counts as new when it comes back.
const maxSeen = 16

// seenEntry is one remembered device or country.
type seenEntry struct {
	key   uint64 // hash of the device ID; the packed code of a country
	first int64  // Unix seconds of first use
	last  int64  // Unix seconds of latest use
}

// seenSet is a small least-recently-used set, most recent last. Keys are
// unique; lookups scan from the most recent end, where a customer's usual
// device and country are, and touch the fewest cache lines.
type seenSet []seenEntry

// index returns the position of key, -1 if absent.
func (s seenSet) index(key uint64) int {
	for i := len(s) - 1; i >= 0; i-- {
		if s[i].key == key {
			return i
		}
	}
	return -1
}

func (s seenSet) contains(key uint64) bool { return s.index(key) >= 0 }

// touch records a use of key at time sec (Unix seconds).
func (s seenSet) touch(key uint64, sec int64) seenSet {
	if i := s.index(key); i >= 0 {
		e := s[i]
		e.last = max(e.last, sec)
		e.first = min(e.first, sec)
		copy(s[i:], s[i+1:])
		s[len(s)-1] = e
		return s
	}
	if len(s) == maxSeen {
		copy(s, s[1:])
		s = s[:maxSeen-1]
	}
	return append(s, seenEntry{key: key, first: sec, last: sec})
}

// firstSeen returns the Unix second at which key was first seen.
func (s seenSet) firstSeen(key uint64) (int64, bool) {
	if i := s.index(key); i >= 0 {
		return s[i].first, true
	}
	return 0, false
}

// countryKey packs a country code of up to 8 bytes exactly (no hash
// collisions among ISO codes); longer values are hashed.
func countryKey(c string) uint64 {
	if len(c) > 8 {
		return hashString(c)
	}
	var k uint64
	for i := 0; i < len(c); i++ {
		k = k<<8 | uint64(c[i])
	}
	return k | 1<<63 // tag, so that packed codes and hashes rarely meet
}

// CustomerState is one customer's history as of the transactions observed
// so far. The zero value is a customer never seen.
type CustomerState struct {
	// id is the ID the State holds the customer under (customerTable),
	// first: when short its bytes lie just before the customer, in its
	// allocation (keepID), and with it in the customer's first cache line.
	id string
	// Count is the number of transactions observed.
	Count uint64
	// AmountCount, AmountMean and AmountM2 are Welford's running moments of
	// the amounts that were finite and within bounds.
	AmountCount uint64
	AmountMean  float64
	AmountM2    float64
	// Total is the sum of those amounts.
	Total float64
	// First and Last are the event times of the earliest and latest
	// transactions, in Unix nanoseconds.
	First, Last int64
	// GeoTime, Lat and Lon locate the latest transaction that carried
	// coordinates; HasGeo tells whether there was one.
	GeoTime  int64
	Lat, Lon float64
	HasGeo   bool

	devices   seenSet
	countries seenSet
	marks
	// ents links, by entity kind, the entity of the customer's latest
	// transaction: its own customer-keyed windows, its card's, device's,
	// IP's, merchant's. A link counts only while the entity is not gone
	// and has the transaction's ID (a customer changes cards, cards are
	// shared). Not part of the history: it saves a map lookup, and its
	// cache misses, per entity and transaction.
	ents [numKinds]*entity
	// stateLink is the customer's entry in the customer state
	// (state.Store.ApplyLinked), kept for the engine (State.StateLink).
	// Not part of the history either.
	stateLink *state.Customer
}

// customerSeen is the room for devices and countries allocated with a new
// customer: most customers pay from one device and one country.
const customerSeen = 1

// newCustomer returns a customer never seen, with its own copy of id (in
// c.id), which the State keeps it under. Room for its first devices and
// countries is in the same allocation (c.observe touches both sets at
// every transaction, and each set of its own would be one more cache
// miss), and so is the ID when it is short (keepID).
func newCustomer(id string) *CustomerState {
	if len(id) > idRoom {
		x := new(struct {
			c         CustomerState
			dev, ctry [customerSeen]seenEntry
		})
		x.c.devices, x.c.countries = x.dev[:0:customerSeen], x.ctry[:0:customerSeen]
		// IDs of a decoded event share one copy of its whole record: keys
		// the state keeps are cloned so that they do not hold it.
		x.c.id = strings.Clone(id)
		return &x.c
	}
	x := new(struct {
		id        [idRoom]byte
		c         CustomerState
		dev, ctry [customerSeen]seenEntry
	})
	x.c.devices, x.c.countries = x.dev[:0:customerSeen], x.ctry[:0:customerSeen]
	x.c.id = keepID(x.id[:], id)
	return &x.c
}

// observe folds a transaction into the history.
func (c *CustomerState) observe(t *Transaction, at int64) {
	if c.Count == 0 {
		c.First, c.Last = at, at
	} else {
		c.First = min(c.First, at)
		c.Last = max(c.Last, at)
	}
	c.Count++
	if t.statAmount() {
		// Welford (1962): numerically stable running mean and sum of
		// squared deviations.
		c.AmountCount++
		delta := t.Amount - c.AmountMean
		c.AmountMean += delta / float64(c.AmountCount)
		c.AmountM2 += delta * (t.Amount - c.AmountMean)
		c.Total += t.Amount
	}
	// Only the latest geo fix matters for geo-velocity; a late transaction
	// does not move it back in time.
	if t.geo() && (!c.HasGeo || at >= c.GeoTime) {
		c.GeoTime, c.Lat, c.Lon, c.HasGeo = at, t.Lat, t.Lon, true
	}
	sec := floorDiv(at, 1e9)
	if t.DeviceID != "" {
		c.devices = c.devices.touch(hashString(t.DeviceID), sec)
	}
	if t.Country != "" {
		c.countries = c.countries.touch(countryKey(t.Country), sec)
	}
}

// stddev is the sample standard deviation of the amounts seen.
func (c *CustomerState) stddev() float64 {
	if c.AmountCount < 2 {
		return 0
	}
	return math.Sqrt(c.AmountM2 / float64(c.AmountCount-1))
}

// Devices is the number of distinct devices remembered (at most 16).
func (c *CustomerState) Devices() int { return len(c.devices) }

// Countries is the number of distinct countries remembered (at most 16).
func (c *CustomerState) Countries() int { return len(c.countries) }

// SeenDevice reports whether the customer used the device recently (among
// the last 16 distinct devices) and since when.
func (c *CustomerState) SeenDevice(id string) (first int64, ok bool) {
	return c.devices.firstSeen(hashString(id))
}

// SeenCountry reports whether the customer paid from the country recently
// (among the last 16 distinct countries) and since when.
func (c *CustomerState) SeenCountry(code string) (first int64, ok bool) {
	return c.countries.firstSeen(countryKey(code))
}

// MarshalBinary encodes the state compactly: about 80 bytes plus 12 to 20
// per remembered device or country.
func (c *CustomerState) MarshalBinary() ([]byte, error) {
	e := encoder{b: make([]byte, 0, 96+len(c.devices)*20+len(c.countries)*16)}
	c.marshal(&e)
	return e.b, nil
}

func (c *CustomerState) marshal(e *encoder) {
	e.byte1(recordVersion)
	e.uvarint(c.Count)
	e.uvarint(c.AmountCount)
	e.float(c.AmountMean)
	e.float(c.AmountM2)
	e.float(c.Total)
	e.varint(c.First)
	e.varint(c.Last - c.First)
	e.bool(c.HasGeo)
	if c.HasGeo {
		e.varint(c.GeoTime - c.Last)
		e.float(c.Lat)
		e.float(c.Lon)
	}
	for _, s := range []seenSet{c.devices, c.countries} {
		e.uvarint(uint64(len(s)))
		for _, x := range s {
			e.u64(x.key)
			e.varint(x.first)
			e.uvarint(uint64(x.last - x.first))
		}
	}
}

// UnmarshalBinary decodes what MarshalBinary wrote.
func (c *CustomerState) UnmarshalBinary(b []byte) error {
	d := decoder{b: b}
	c.unmarshal(&d)
	return d.done()
}

func (c *CustomerState) unmarshal(d *decoder) {
	d.version()
	*c = CustomerState{}
	c.Count = d.uvarint()
	c.AmountCount = d.uvarint()
	c.AmountMean = d.finite()
	c.AmountM2 = d.finite()
	c.Total = d.finite()
	c.First = d.varint()
	c.Last = c.First + d.varint()
	c.HasGeo = d.bool()
	if c.HasGeo {
		c.GeoTime = c.Last + d.varint()
		c.Lat = d.finite()
		c.Lon = d.finite()
	}
	for _, s := range []*seenSet{&c.devices, &c.countries} {
		n := d.count(maxSeen)
		if n > 0 {
			*s = make(seenSet, 0, n)
		}
		for i := 0; i < n && d.err == nil; i++ {
			x := seenEntry{key: d.u64(), first: d.varint()}
			x.last = x.first + int64(d.uvarint())
			if s.index(x.key) >= 0 {
				// touch keeps keys unique, and lookups rely on it.
				d.fail(errors.New("duplicate key in a device or country set"))
			}
			*s = append(*s, x)
		}
	}
}
