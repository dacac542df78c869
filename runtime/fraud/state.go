package fraud

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"github.com/ecap-dev/ecap/api/v1alpha1"
	"github.com/ecap-dev/ecap/runtime/prefetch"
)

// entityKind is the entity a velocity window is kept per.
type entityKind uint8

const (
	kindCustomer entityKind = iota
	kindCard
	kindDevice
	kindIP
	kindMerchant
	numKinds
)

func parseKey(k v1alpha1.FeatureKey) (entityKind, bool) {
	switch k {
	case v1alpha1.KeyCustomer:
		return kindCustomer, true
	case v1alpha1.KeyCard:
		return kindCard, true
	case v1alpha1.KeyDevice:
		return kindDevice, true
	case v1alpha1.KeyIP:
		return kindIP, true
	case v1alpha1.KeyMerchant:
		return kindMerchant, true
	}
	return 0, false
}

// of returns the transaction's value of the entity, empty if unknown.
func (k entityKind) of(t *Transaction) string {
	switch k {
	case kindCustomer:
		return t.CustomerID
	case kindCard:
		return t.CardFingerprint
	case kindDevice:
		return t.DeviceID
	case kindIP:
		return t.IP
	case kindMerchant:
		return t.MerchantID
	}
	return ""
}

// entity holds the velocity windows of one card, device, IP, merchant or
// customer.
type entity struct {
	windows []keyedWindow
	// id is the key the State holds the entity under, for a customer's
	// link to it (CustomerState.ents) to be checked against a transaction.
	id string
	marks
	// gone is set when the state drops the entity, for the customers'
	// links to it.
	gone bool
}

type keyedWindow struct {
	sig string
	w   window
}

// entityBuckets is the room for buckets allocated with a one-window
// entity: a card or device window mostly holds one or two.
const entityBuckets = 2

// newEntity returns an entity with room for n windows, and the copy of id
// the State is to keep it under. One window, the usual case (a rule set
// rarely keys two window definitions by one entity kind), is allocated
// with the entity, and with them room for its first entityBuckets buckets
// (addWindow uses it) and the ID (keepID), so that finding and reading the
// entity costs one cache miss rather than four.
func newEntity(n int, id string) (*entity, string) {
	if n == 1 && len(id) <= idRoom {
		x := new(struct {
			id [idRoom]byte
			e  entity
			w  [1]keyedWindow
			b  [entityBuckets]bucket
		})
		x.w[0].w.buckets = x.b[:0:entityBuckets]
		x.e.windows = x.w[:0:1]
		x.e.id = keepID(x.id[:], id)
		return &x.e, x.e.id
	}
	// IDs of a decoded event share one copy of its whole record: keys the
	// state keeps are cloned so that they do not hold it.
	e := &entity{windows: make([]keyedWindow, 0, n), id: strings.Clone(id)}
	return e, e.id
}

// idRoom is the longest ID kept in its entry's own allocation (keepID).
const idRoom = 24

// keepID copies id into buf and returns the copy as a string, for the
// State to keep the entry that buf was allocated with under it: a map
// lookup compares the key's bytes before it reads the entry, and with the
// key in the entry's allocation that is one cache miss instead of two.
//
// This is safe because of what the callers guarantee: buf is a field of
// the entry's allocation, which the returned string keeps alive (the
// garbage collector follows interior pointers), it is at least len(id)
// long, and nothing writes to it afterwards: it is not reachable except
// through the returned string (a field of an anonymous struct local to the
// constructor), so the string is as immutable as any other.
// TestKeptIDsStayTheirKeys checks that the keys stay intact and in their
// entries through garbage collections and changes.
func keepID(buf []byte, id string) string {
	n := copy(buf, id)
	return unsafe.String(unsafe.SliceData(buf), n)
}

// addWindow adds an empty window under sig. A slot newEntity prepared
// keeps the bucket room it was given; nothing else refers to that room
// (a window copied by Expire's compaction replaces the one it came from).
func (e *entity) addWindow(sig string, agg aggregation, width int64) *window {
	n := len(e.windows)
	if n == cap(e.windows) {
		e.windows = append(e.windows, keyedWindow{})
	} else {
		e.windows = e.windows[:n+1]
	}
	kw := &e.windows[n]
	*kw = keyedWindow{sig: sig, w: window{agg: agg, width: width, buckets: kw.w.buckets[:0]}}
	return &kw.w
}

// prefetchBucketEnds asks for the oldest and newest bucket of each of
// the entity's windows (findObserved).
func (e *entity) prefetchBucketEnds() {
	for i := range e.windows {
		if b := e.windows[i].w.buckets; len(b) > 0 {
			prefetch.Index(b, 0)
			prefetch.Index(b, uint64(len(b)-1))
		}
	}
}

func (e *entity) window(sig string) *window {
	for i := range e.windows {
		if e.windows[i].sig == sig {
			return &e.windows[i].w
		}
	}
	return nil
}

func (e *entity) marshal(enc *encoder) {
	enc.byte1(recordVersion)
	enc.uvarint(uint64(len(e.windows)))
	for i := range e.windows {
		enc.str(e.windows[i].sig)
		e.windows[i].w.marshal(enc)
	}
}

// maxEntityWindows bounds the windows per entity in a record: a rule set
// declares at most 64 features.
const maxEntityWindows = 64

func (e *entity) unmarshal(d *decoder) {
	d.version()
	n := d.count(maxEntityWindows)
	e.windows = make([]keyedWindow, 0, n)
	for i := 0; i < n && d.err == nil; i++ {
		kw := keyedWindow{sig: d.str()}
		kw.w.unmarshal(d)
		e.windows = append(e.windows, kw)
	}
}

// StateConfig bounds a State. Zero fields take the defaults.
type StateConfig struct {
	// MaxAlerts bounds the alerts remembered for feedback; the oldest are
	// forgotten first. Defaults to 100000.
	MaxAlerts int
	// AlertTTL is how long, in event time, an alert accepts feedback.
	// Defaults to 120 days, the usual chargeback deadline.
	AlertTTL time.Duration
	// CustomerTTL forgets customers idle for longer (see Expire). Zero
	// keeps them until erased; the RetentionPolicy's customer-state TTL is
	// meant to be passed here.
	CustomerTTL time.Duration
	// MerchantTTL forgets merchants idle for longer. Zero keeps them.
	MerchantTTL time.Duration
	// TrackChanges keeps the list of entries changed since the last
	// FlushChanges. Without it FlushChanges has nothing to flush and the
	// state keeps no list that grows with every entry ever touched: the
	// engine lists changes itself, through BeforeChange.
	TrackChanges bool
	// BeforeChange, if set, is called with an entry about to change,
	// appear or go, while the State still holds its previous value (or
	// does not hold it yet): once per entry between two TakeChanges or
	// FlushChanges, and at every creation and removal. AppendRecord may be
	// called from it, nothing that changes the State. The engine uses it
	// to encode, copy-on-write, the entries of a checkpoint it is still
	// writing out. m is the entry's Mark, for the hook's own book-keeping.
	BeforeChange func(r EntryRef, m *Mark)
	// BeforeCreate, if set, is called instead of BeforeChange before an
	// entry is created, with an ID that is the State's own copy, never
	// part of a decoded event's record: the hook may keep it without
	// copying it. m is the new entry's Mark, zero.
	BeforeCreate func(r EntryRef, m *Mark)
	// BeforeRemove, if set, is called instead of BeforeChange before an
	// entry is removed, with its Mark as the entry leaves it (the last the
	// hook sees of it) and, as BeforeCreate, an ID the hook may keep.
	BeforeRemove func(r EntryRef, m *Mark)
}

// Mark is book-keeping the StateConfig hooks keep in each entry of a State,
// so that they need no map of their own for the entries the State holds.
// The State zeroes it when it creates or restores an entry, hands it to
// the hooks and otherwise neither reads nor writes it. The engine's
// checkpoint book keeps in it, for each of its two changelog slots, the
// generation of the list that holds the entry, and the capture that last
// encoded it (runtime/engine/fraudlog.go).
type Mark struct {
	Listed   [2]uint32
	Captured uint32
}

// marks is what each entry of a State keeps for change tracking.
type marks struct {
	epoch uint32 // State.epoch when last noted as changed
	book  Mark   // the hooks' (StateConfig)
}

const (
	defaultMaxAlerts = 100_000
	defaultAlertTTL  = 120 * 24 * time.Hour
)

// State is the fraud state of one Kafka partition: customer histories,
// merchant counters, velocity windows per entity and the alerts awaiting
// feedback. Transactions are keyed by customer, so a customer's history is
// complete in the partition that owns it. Cards, devices, IPs and merchants
// can span partitions; their windows and counters only see this
// partition's share of the traffic, an approximation that undercounts an
// entity used by several customers on different partitions (see
// docs/fraud.md).
//
// A State is not safe for concurrent use: one goroutine owns a partition.
// Each rule set needs its own State: Observe folds the customer history in,
// so two rule sets observing into one State would count every transaction
// twice.
type State struct {
	cfg       StateConfig
	customers customerTable
	merchants map[string]*MerchantState
	entities  [numKinds]map[string]*entity
	alerts    alertLog
	rules     map[string]*ruleTally
	snapHint  int // capacity for the next MarshalBinary

	// hitTallies caches the tallies of rules of hitTalliesOf by rule
	// index (see hitTally); Restore drops it.
	hitTallies   []*ruleTally
	hitTalliesOf *RuleSet

	// spare is the activation of the latest transaction, cleared, for the
	// next one (newActivation).
	spare *activation
	// linked is the customer of the latest transaction, for StateLink.
	linked *CustomerState

	// dirty lists what changed since the last FlushChanges, in order;
	// duplicates are dropped at flush time. An entry is in it when its
	// mark equals epoch; a flush starts a new epoch.
	dirty []EntryRef
	epoch uint32
}

// Record kinds, also the first byte of changelog keys.
const (
	recCustomer = 'c'
	recMerchant = 'm'
	recEntity   = 'e'
	recAlert    = 'a'
)

// EntryRef names one entry of a State: a customer history, a merchant, one
// entity's velocity windows, an alert or a rule tally. Key is its changelog
// key (see FlushChanges).
type EntryRef struct {
	rec  byte
	kind entityKind
	id   string
}

func (r EntryRef) key() string { return string(r.AppendKey(nil)) }

// Key returns the entry's changelog key.
func (r EntryRef) Key() string { return r.key() }

// Clone returns r with a copy of its ID: for a caller that keeps r while
// the ID is part of a larger string (a decoded event's record).
func (r EntryRef) Clone() EntryRef {
	r.id = strings.Clone(r.id)
	return r
}

// AppendKey appends the entry's changelog key to b.
func (r EntryRef) AppendKey(b []byte) []byte {
	b = append(b, r.rec, '/')
	if r.rec == recEntity {
		b = strconv.AppendInt(b, int64(r.kind), 10)
		b = append(b, '/')
	}
	return append(b, r.id...)
}

// NewState returns an empty state.
func NewState(cfg StateConfig) *State {
	if cfg.MaxAlerts <= 0 {
		cfg.MaxAlerts = defaultMaxAlerts
	}
	if cfg.AlertTTL <= 0 {
		cfg.AlertTTL = defaultAlertTTL
	}
	s := &State{
		cfg:       cfg,
		epoch:     1, // entries start with mark 0: not noted
		customers: newCustomerTable(),
		merchants: make(map[string]*MerchantState),
		alerts:    newAlertLog(),
		rules:     make(map[string]*ruleTally),
	}
	for i := range s.entities {
		s.entities[i] = make(map[string]*entity)
	}
	return s
}

// Customer returns the customer's history, nil if never seen. The result
// must not be modified.
func (s *State) Customer(id string) *CustomerState { return s.customers.get(id) }

// Merchant returns the merchant's counters, nil if never seen. The result
// must not be modified.
func (s *State) Merchant(id string) *MerchantState { return s.merchants[id] }

// StateSize counts the entries of a State.
type StateSize struct {
	Customers int `json:"customers"`
	Merchants int `json:"merchants"`
	Entities  int `json:"entities"`
	Alerts    int `json:"alerts"`
	Rules     int `json:"rules"` // rule tallies
}

// Size counts the entries held.
func (s *State) Size() StateSize {
	z := StateSize{Customers: s.customers.len(), Merchants: len(s.merchants), Alerts: s.alerts.len(), Rules: len(s.rules)}
	for _, m := range s.entities {
		z.Entities += len(m)
	}
	return z
}

// track notes a changed or removed entry for FlushChanges.
func (s *State) track(r EntryRef) {
	if s.cfg.TrackChanges {
		// IDs of a decoded event share its whole record: keep a copy.
		r.id = strings.Clone(r.id)
		s.dirty = append(s.dirty, r)
	}
}

// creating is changing for an entry about to be created under r, whose ID
// is the one the State will keep, with marks m (zero): it takes the
// current epoch.
func (s *State) creating(r EntryRef, m *marks) {
	m.epoch = s.epoch
	switch {
	case s.cfg.BeforeCreate != nil:
		s.cfg.BeforeCreate(r, &m.book)
	case s.cfg.BeforeChange != nil:
		s.cfg.BeforeChange(r, &m.book)
	}
	if s.cfg.TrackChanges {
		s.dirty = append(s.dirty, r) // the ID is the State's: no copy
	}
}

// changing is called before the entry r, with marks m, changes. It notes
// the change for TakeChanges and FlushChanges, and lets
// StateConfig.BeforeChange read the entry's value from before the change.
// An entry already noted since the last flush is not noted again.
func (s *State) changing(r EntryRef, m *marks) {
	// Small enough to inline: most changes are to entries noted already,
	// and cost two compares.
	if m.epoch == s.epoch {
		return
	}
	s.note(r, m)
}

// note is changing for an entry not yet noted in this epoch.
func (s *State) note(r EntryRef, m *marks) {
	m.epoch = s.epoch
	if s.cfg.BeforeChange != nil {
		s.cfg.BeforeChange(r, &m.book)
	}
	s.track(r)
}

// removing is called before the entry r, with marks m, is removed: always
// noted.
func (s *State) removing(r EntryRef, m *marks) {
	switch {
	case s.cfg.BeforeRemove != nil:
		s.cfg.BeforeRemove(r, &m.book)
	case s.cfg.BeforeChange != nil:
		s.cfg.BeforeChange(r, &m.book)
	}
	s.track(r)
}

// Expire forgets what can no longer matter at event time now: velocity
// windows all of whose buckets have left their window, alerts past the
// alert TTL, and customers and merchants idle for longer than their TTLs.
// The runtime calls it periodically with the partition's watermark. It
// returns the number of entries removed; each removal is flushed as a
// tombstone.
func (s *State) Expire(now time.Time) int {
	at := unixNano(now)
	removed := 0
	for k := range s.entities {
		for id, e := range s.entities[k] {
			live := 0
			for i := range e.windows {
				if !e.windows[i].w.expired(at) {
					live++
				}
			}
			if live == len(e.windows) {
				continue
			}
			r := EntryRef{rec: recEntity, kind: entityKind(k), id: id}
			if live == 0 {
				s.removing(r, &e.marks)
				e.gone = true
				delete(s.entities[k], id)
				removed++
				continue
			}
			s.changing(r, &e.marks)
			kept := e.windows[:0]
			for _, kw := range e.windows {
				if !kw.w.expired(at) {
					kept = append(kept, kw)
				}
			}
			clear(e.windows[len(kept):])
			e.windows = kept
		}
	}
	ttl := s.cfg.CustomerTTL
	var idle []*CustomerState // removed after the loop: the table must not change in it
	for _, c := range s.customers.all() {
		if ttl > 0 && idleSince(c.Last, at) > ttl {
			idle = append(idle, c)
			continue
		}
		// Links to entities the state dropped no longer count; cleared,
		// they no longer keep the entities' memory either: an idle
		// customer would otherwise hold its expired windows until its next
		// transaction.
		for k, e := range c.ents {
			if e != nil && e.gone {
				c.ents[k] = nil
			}
		}
	}
	for _, c := range idle {
		s.removing(EntryRef{rec: recCustomer, id: c.id}, &c.marks)
		s.customers.remove(c.id)
		s.unlink(c)
		removed++
	}
	if ttl := s.cfg.MerchantTTL; ttl > 0 {
		for id, m := range s.merchants {
			if idleSince(m.Last, at) > ttl {
				s.removing(EntryRef{rec: recMerchant, id: id}, &m.marks)
				delete(s.merchants, id)
				removed++
			}
		}
	}
	removed += s.alerts.expire(s, at)
	return removed
}

func idleSince(last, now int64) time.Duration {
	d := float64(now) - float64(last)
	if d >= math.MaxInt64 {
		return math.MaxInt64
	}
	return time.Duration(d)
}

// dropEntity removes an entity without noting a change (Restore).
func (s *State) dropEntity(k entityKind, id string) {
	if e := s.entities[k][id]; e != nil {
		e.gone = true
		delete(s.entities[k], id)
	}
}

// ForgetCustomer erases a customer: the history and the customer-keyed
// windows. Card, device, IP and merchant windows hold no customer IDs
// (distinct counts of customers hold 64-bit hashes only) and expire within
// their window, at most 7 days. It reports whether anything was removed.
func (s *State) ForgetCustomer(id string) bool {
	c := s.customers.get(id)
	hadC := c != nil
	e, hadE := s.entities[kindCustomer][id]
	if hadC {
		// BeforeRemove gets an ID of the State's own, not the caller's.
		s.removing(EntryRef{rec: recCustomer, id: c.id}, &c.marks)
		s.customers.remove(id)
		s.unlink(c)
	}
	if hadE {
		s.removing(EntryRef{rec: recEntity, kind: kindCustomer, id: e.id}, &e.marks)
		e.gone = true
		delete(s.entities[kindCustomer], id)
	}
	return hadC || hadE
}

// InactiveCustomers returns, sorted, the customers whose last observed
// transaction (event time) is before cutoff.
func (s *State) InactiveCustomers(cutoff time.Time) []string {
	at := unixNano(cutoff)
	var out []string
	for id, c := range s.customers.all() {
		if c.Last < at {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out
}

// FlushChanges passes every entry changed since the previous flush to fn,
// as a changelog record: a key ("c/<customer>", "m/<merchant>",
// "e/<entity kind>/<entity>", "a/<alert>" or "r/<rule>") and the entry's binary
// encoding, or a nil value for a removed entry (a tombstone, for a
// compacted topic). Replaying the records in order with Restore rebuilds
// the state. If fn fails, flushing stops and the records not yet accepted
// are offered again by the next call.
func (s *State) FlushChanges(fn func(key string, value []byte) error) error {
	seen := make(map[EntryRef]struct{}, len(s.dirty))
	var e encoder
	for i, r := range s.dirty {
		if _, dup := seen[r]; dup {
			continue
		}
		e.b = e.b[:0]
		m := s.entry(r)
		var value []byte
		if m != nil {
			m.marshal(&e)
			value = slices.Clone(e.b)
		}
		if err := fn(r.key(), value); err != nil {
			// What was flushed is no longer pending; what was not stays in
			// the list. A new epoch lets any entry be noted again.
			s.dirty = slices.Delete(s.dirty, 0, i)
			s.epoch++
			return fmt.Errorf("failed to flush %s: %w", r.key(), err)
		}
		seen[r] = struct{}{}
	}
	s.epoch++
	clear(s.dirty)
	s.dirty = s.dirty[:0]
	if cap(s.dirty) > 4096 {
		// A burst of changes (a first checkpoint, a restore) must not pin
		// its list until the next one.
		s.dirty = nil
	}
	return nil
}

// TakeChanges passes the key of every entry changed since the previous
// flush to fn (possibly more than once) and forgets the changes, without
// encoding anything: for a caller that writes the entries' current values
// itself with AppendRecord. It starts a new epoch, after which
// StateConfig.BeforeChange is called again at each entry's first change,
// also when the state tracks no changes.
func (s *State) TakeChanges(fn func(EntryRef)) {
	for _, r := range s.dirty {
		fn(r)
	}
	// A new epoch: every entry counts as unchanged again, without visiting
	// it.
	s.epoch++
	clear(s.dirty)
	s.dirty = s.dirty[:0]
	if cap(s.dirty) > 4096 {
		s.dirty = nil
	}
}

// Keys calls fn with every entry, in no particular order.
func (s *State) Keys(fn func(EntryRef)) {
	for id := range s.customers.all() {
		fn(EntryRef{rec: recCustomer, id: id})
	}
	for id := range s.merchants {
		fn(EntryRef{rec: recMerchant, id: id})
	}
	for k := range s.entities {
		for id := range s.entities[k] {
			fn(EntryRef{rec: recEntity, kind: entityKind(k), id: id})
		}
	}
	for _, a := range s.alerts.entries {
		fn(EntryRef{rec: recAlert, id: a.id})
	}
	for id := range s.alerts.other {
		fn(EntryRef{rec: recAlert, id: id})
	}
	for id := range s.rules {
		fn(EntryRef{rec: recRule, id: id})
	}
}

// entry returns the entry r names, as what encodes its record, or nil.
func (s *State) entry(r EntryRef) interface{ marshal(*encoder) } {
	switch r.rec {
	case recCustomer:
		if c := s.customers.get(r.id); c != nil {
			return c
		}
	case recMerchant:
		if m := s.merchants[r.id]; m != nil {
			return m
		}
	case recEntity:
		if r.kind < numKinds {
			if en := s.entities[r.kind][r.id]; en != nil {
				return en
			}
		}
	case recAlert:
		if a := s.alerts.get(r.id); a != nil {
			return a
		}
	case recRule:
		if t := s.rules[r.id]; t != nil {
			return t
		}
	}
	return nil
}

// AppendRecord appends the entry's current changelog value, as
// FlushChanges would write it, to dst; false when the state has no such
// entry (its record is a tombstone).
func (s *State) AppendRecord(dst []byte, r EntryRef) ([]byte, bool) {
	m := s.entry(r)
	if m == nil {
		return dst, false
	}
	e := encoder{b: dst}
	m.marshal(&e)
	return e.b, true
}

// Mark returns the Mark of the entry r names (see StateConfig), nil if the
// State holds no such entry.
func (s *State) Mark(r EntryRef) *Mark {
	switch r.rec {
	case recCustomer:
		if c := s.customers.get(r.id); c != nil {
			return &c.book
		}
	case recMerchant:
		if m := s.merchants[r.id]; m != nil {
			return &m.book
		}
	case recEntity:
		if r.kind < numKinds {
			if en := s.entities[r.kind][r.id]; en != nil {
				return &en.book
			}
		}
	case recAlert:
		if a := s.alerts.get(r.id); a != nil {
			return &a.book
		}
	case recRule:
		if t := s.rules[r.id]; t != nil {
			return &t.book
		}
	}
	return nil
}

// ParseEntryKey parses a changelog key written by FlushChanges.
func ParseEntryKey(key string) (EntryRef, bool) {
	rec, rest, ok := strings.Cut(key, "/")
	if !ok || len(rec) != 1 {
		return EntryRef{}, false
	}
	r := EntryRef{rec: rec[0], id: rest}
	switch r.rec {
	case recCustomer, recMerchant, recAlert, recRule:
	case recEntity:
		ks, id, ok := strings.Cut(rest, "/")
		k, err := strconv.Atoi(ks)
		if !ok || err != nil || k < 0 || k >= int(numKinds) {
			return EntryRef{}, false
		}
		r.kind, r.id = entityKind(k), id
	default:
		return EntryRef{}, false
	}
	return r, true
}

// Restore applies one changelog record written by FlushChanges; a nil or
// empty value removes the entry. Restored entries are not flushed again.
func (s *State) Restore(key string, value []byte) error {
	rec, rest, ok := strings.Cut(key, "/")
	if !ok || len(rec) != 1 {
		return fmt.Errorf("invalid state key %q", key)
	}
	d := decoder{b: value}
	remove := len(value) == 0
	switch rec[0] {
	case recCustomer:
		s.linked = nil // the customer may be replaced or removed (StateLink)
		if remove {
			s.customers.remove(rest)
			return nil
		}
		c := new(CustomerState)
		c.unmarshal(&d)
		if err := d.done(); err != nil {
			return fmt.Errorf("failed to decode customer %q: %w", rest, err)
		}
		c.id = rest
		s.customers.put(c)
	case recMerchant:
		if remove {
			delete(s.merchants, rest)
			return nil
		}
		m := new(MerchantState)
		m.unmarshal(&d)
		if err := d.done(); err != nil {
			return fmt.Errorf("failed to decode merchant %q: %w", rest, err)
		}
		m.id = rest
		s.merchants[rest] = m
	case recEntity:
		ks, id, ok := strings.Cut(rest, "/")
		k, err := strconv.Atoi(ks)
		if !ok || err != nil || k < 0 || k >= int(numKinds) {
			return fmt.Errorf("invalid entity key %q", key)
		}
		if remove {
			s.dropEntity(entityKind(k), id)
			return nil
		}
		en := new(entity)
		en.unmarshal(&d)
		if err := d.done(); err != nil {
			return fmt.Errorf("failed to decode entity %q: %w", key, err)
		}
		s.dropEntity(entityKind(k), id)
		en.id = id
		s.entities[k][id] = en
	case recAlert:
		if remove {
			s.alerts.remove(rest)
			return nil
		}
		a := new(alertEntry)
		a.unmarshal(&d)
		if err := d.done(); err != nil {
			return fmt.Errorf("failed to decode alert %q: %w", rest, err)
		}
		s.alerts.put(s, rest, a, true)
	case recRule:
		s.forgetHitTallies()
		if remove {
			delete(s.rules, rest)
			return nil
		}
		t := new(ruleTally)
		t.unmarshal(&d)
		if err := d.done(); err != nil {
			return fmt.Errorf("failed to decode rule tally %q: %w", rest, err)
		}
		s.rules[rest] = t
	default:
		return fmt.Errorf("invalid state key %q", key)
	}
	return nil
}

// MarshalBinary encodes the whole state as a snapshot: the changelog
// records of every entry, sorted by key so that equal states encode
// equally. Pending changes are not affected.
func (s *State) MarshalBinary() ([]byte, error) {
	n := s.customers.len() + len(s.merchants) + s.alerts.len() + len(s.rules) + s.Size().Entities
	// One output buffer sized from the previous snapshot, one scratch
	// buffer for the values (which are length-prefixed): no allocation per
	// entry.
	out := encoder{b: make([]byte, 0, s.snapHint)}
	out.byte1(recordVersion)
	out.uvarint(uint64(n))
	var val encoder
	emit := func(rec byte, kind entityKind, id string, m interface{ marshal(*encoder) }) {
		keyLen := 2 + len(id)
		if rec == recEntity {
			keyLen += 2
		}
		out.uvarint(uint64(keyLen))
		out.b = append(out.b, rec, '/')
		if rec == recEntity {
			out.b = append(out.b, '0'+byte(kind), '/')
		}
		out.b = append(out.b, id...)
		val.b = val.b[:0]
		m.marshal(&val)
		out.uvarint(uint64(len(val.b)))
		out.b = append(out.b, val.b...)
	}
	// Key order, group by group: the record kinds sort as 'a' < 'c' < 'e' <
	// 'm' < 'r', entity kinds as their single decimal digit, and within a
	// group the IDs as strings.
	alertIDs := s.alerts.ids()
	slices.Sort(alertIDs)
	for _, id := range alertIDs {
		emit(recAlert, 0, id, s.alerts.get(id))
	}
	customers := make([]*CustomerState, 0, s.customers.len())
	for _, c := range s.customers.all() {
		customers = append(customers, c)
	}
	slices.SortFunc(customers, func(x, y *CustomerState) int { return strings.Compare(x.id, y.id) })
	for _, c := range customers {
		emit(recCustomer, 0, c.id, c)
	}
	for k := range s.entities {
		for _, id := range slices.Sorted(maps.Keys(s.entities[k])) {
			emit(recEntity, entityKind(k), id, s.entities[k][id])
		}
	}
	for _, id := range slices.Sorted(maps.Keys(s.merchants)) {
		emit(recMerchant, 0, id, s.merchants[id])
	}
	for _, id := range slices.Sorted(maps.Keys(s.rules)) {
		emit(recRule, 0, id, s.rules[id])
	}
	s.snapHint = len(out.b) + len(out.b)/8
	return out.b, nil
}

// UnmarshalBinary replaces the state with a snapshot written by
// MarshalBinary. The configuration is kept.
func (s *State) UnmarshalBinary(b []byte) error {
	fresh := NewState(s.cfg)
	d := decoder{b: b}
	d.version()
	n := d.uvarint()
	for i := uint64(0); i < n && d.err == nil; i++ {
		key, val := d.str(), d.str()
		if d.err != nil {
			break
		}
		if len(val) == 0 {
			d.fail(errors.New("empty record in snapshot"))
			break
		}
		if err := fresh.Restore(key, []byte(val)); err != nil {
			return err
		}
	}
	if err := d.done(); err != nil {
		return fmt.Errorf("failed to decode state snapshot: %w", err)
	}
	fresh.alerts.reorder()
	*s = *fresh
	return nil
}
