package events

import "encoding/binary"

// fieldTable numbers the member names of one object type (1 to n in the
// order given to newFieldTable; 0 stands for a name it does not hold), so
// that a decoder can switch on a small integer instead of comparing the key
// with every name.
//
// In compact input a member starts with its name's text as the table holds
// it: quote, name, quote, colon. The first four bytes after the opening
// quote pick a bucket of the table (a hash made perfect by the choice of
// multiplier, apart from names sharing those four bytes, which share a
// bucket); the member is the bucket's name if the input's next bytes are
// that name's text exactly. They then hold the name with no escapes and
// its closing quote, so the member's name is that name.
type fieldTable struct {
	buckets [fieldBuckets][2]fieldEntry
	// members holds, by number, each name's text as a member of compact
	// input, for scanner.at: [0] after another member, comma included
	// (`,"name":`), [1] as the first member (`"name":`). Number 0 and
	// texts longer than two words have an empty entry (with the number),
	// which matches nothing. long holds the texts after a comma of 17 to
	// 24 bytes, for nextMember.
	members [2][fieldBuckets]fieldEntry
	long    [fieldBuckets]fieldEntry
	mult    uint64
	names   []string
}

const (
	fieldBucketBits = 6
	fieldBuckets    = 1 << fieldBucketBits
	// maxFieldName bounds the names a fieldTable holds: their text after
	// the opening quote (name, quote, colon) fits three words.
	maxFieldName = 22
)

// fieldEntry is one name's text after the opening quote, zero-padded to
// three words, the masks of its bytes, its length and number. An empty
// entry has w[0] = 1 under a zero mask, which no input matches.
type fieldEntry struct {
	w, m  [3]uint64
	n, id uint8
}

// newFieldTable returns the table of names, numbered from 1. The names must
// be distinct, 2 to maxFieldName bytes long, at most 32 of them, and at
// most two may share their first four bytes.
func newFieldTable(names ...string) *fieldTable {
	if len(names) > fieldBuckets/2 {
		panic("events: too many field names")
	}
	t := &fieldTable{names: names}
	// Multipliers from a fixed sequence (splitmix64) until one puts no
	// two names with different first bytes into one bucket; a few tries
	// are enough at this load.
	x := uint64(0x9e3779b97f4a7c15)
	for tries := 0; ; tries++ {
		if tries == 1000 {
			panic("events: no hash for the field names")
		}
		x += 0x9e3779b97f4a7c15
		z := (x ^ x>>30) * 0xbf58476d1ce4e5b9
		z = (z ^ z>>27) * 0x94d049bb133111eb
		t.mult = z ^ z>>31
		if t.fill() {
			t.fillMembers()
			return t
		}
	}
}

// fill spreads the names over the buckets by t.mult; false if one bucket
// would hold names with different first four bytes, or more than two.
func (t *fieldTable) fill() bool {
	for i := range t.buckets {
		t.buckets[i] = [2]fieldEntry{{w: [3]uint64{1}}, {w: [3]uint64{1}}}
	}
	for i, name := range t.names {
		if len(name) < 2 || len(name) > maxFieldName {
			panic("events: field name " + name + " is shorter than 2 or longer than 22 bytes")
		}
		e := newFieldEntry(name+`":`, i+1)
		b := &t.buckets[t.bucket(e.w[0])]
		switch {
		case b[0].n == 0:
			b[0] = e
		case b[1].n == 0 && uint32(b[0].w[0]) == uint32(e.w[0]):
			b[1] = e
		default:
			return false
		}
	}
	return true
}

// fillMembers sets t.members and t.long from t.names.
func (t *fieldTable) fillMembers() {
	for i := range t.long {
		// Empty, but numbered, for nextMember to find t.long's entry.
		empty := fieldEntry{w: [3]uint64{1}, id: uint8(i)}
		t.members[0][i], t.members[1][i], t.long[i] = empty, empty, empty
	}
	for i, name := range t.names {
		if text := `,"` + name + `":`; len(text) <= 16 {
			t.members[0][i+1] = newFieldEntry(text, i+1)
		} else if len(text) <= 24 {
			t.long[i+1] = newFieldEntry(text, i+1)
		}
		if text := `"` + name + `":`; len(text) <= 16 {
			t.members[1][i+1] = newFieldEntry(text, i+1)
		}
	}
}

// newFieldEntry returns the entry of a text of at most 24 bytes for the
// member numbered id.
func newFieldEntry(text string, id int) fieldEntry {
	var b [24]byte
	n := copy(b[:], text)
	e := fieldEntry{n: uint8(n), id: uint8(id)}
	for j := range e.w {
		e.w[j] = binary.LittleEndian.Uint64(b[8*j:])
		if k := n - 8*j; k >= 8 {
			e.m[j] = ^uint64(0)
		} else if k > 0 {
			e.m[j] = 1<<(8*k) - 1
		}
	}
	return e
}

// bucket picks the bucket of the member whose text starts with w's bytes.
func (t *fieldTable) bucket(w uint64) uint64 {
	return (uint64(uint32(w)) * t.mult) >> (64 - fieldBucketBits)
}

// lookup returns the number of name, or 0.
func (t *fieldTable) lookup(name string) int {
	for i, n := range t.names {
		if n == name {
			return i + 1
		}
	}
	return 0
}

// nextField is nextKey for an object whose member names t holds: it
// returns the member's number in t (0 for a name t does not hold), ready
// for the value; ok is false after the closing brace. first must be true
// for the first call after enter.
//
// A member of compact input whose name t holds, the usual case, is found
// in place from at most three words, without reading the name as a string;
// anything else (white space, escapes, names t does not hold, the input's
// last 26 bytes) goes through nextKey.
func (s *scanner) nextField(first bool, t *fieldTable) (id int, ok bool, err error) {
	if raw, pos := s.raw, s.pos; pos+26 <= len(raw) {
		c, start := raw[pos], pos+1
		if c == ',' && !first {
			c, start = raw[pos+1], pos+2
		}
		switch {
		case c == '"' && (first || start == pos+2):
			r := (*[24]byte)(raw[start : start+24])
			w0 := binary.LittleEndian.Uint64(r[:8])
			b := &t.buckets[t.bucket(w0)]
			for i := range b {
				e := &b[i]
				if w0&e.m[0] == e.w[0] && (e.n <= 8 || binary.LittleEndian.Uint64(r[8:16])&e.m[1] == e.w[1] &&
					(e.n <= 16 || binary.LittleEndian.Uint64(r[16:24])&e.m[2] == e.w[2])) {
					s.pos = start + int(e.n)
					return int(e.id), true, nil
				}
			}
		case c == '}' && start == pos+1:
			s.pos = start
			s.depth--
			return 0, false, nil
		}
	}
	key, ok, err := s.nextKey(first)
	if err != nil || !ok {
		return 0, ok, err
	}
	return t.lookup(key), true, nil
}

// at reports whether the input at s.pos holds e's text (an entry of a
// fieldTable's members: comma, quote, name, quote, colon, at most 16
// bytes) and if so moves past it. It is small enough to be inlined in the
// decoders' loops; an empty entry (w[0] = 1 under a zero mask) matches
// nothing.
func (s *scanner) at(e *fieldEntry) bool {
	raw, pos := s.raw, s.pos
	if pos+16 > len(raw) {
		return false
	}
	r := (*[16]byte)(raw[pos : pos+16])
	// (& binds closer than ^ and |, which are evaluated left to right.)
	if ((binary.LittleEndian.Uint64(r[:8])&e.m[0])^e.w[0])|((binary.LittleEndian.Uint64(r[8:])&e.m[1])^e.w[1]) != 0 {
		return false
	}
	s.pos = pos + int(e.n)
	return true
}

// closes reports whether the object being read ends right at s.pos (in
// compact input), and if so consumes its closing brace, as nextField
// does.
func (s *scanner) closes() bool {
	if s.pos < len(s.raw) && s.raw[s.pos] == '}' {
		s.pos++
		s.depth--
		return true
	}
	return false
}

// nextMember is nextField for member k (from 0) of an object whose
// members' entries are kept in order (a power of two long) for guessing
// the next object's: it notes the entry of the member found at k there.
// The decoders first try the guess with at, the member the last object
// of the same type had at k (events of one producer write their members
// in one order and spelling), then the end of the object (closes), and
// call nextMember when both fail: for a name of more than 12 bytes (tried
// here), or any other member, name or spelling.
func (s *scanner) nextMember(k int, t *fieldTable, order []*fieldEntry) (id int, ok bool, err error) {
	raw, pos := s.raw, s.pos
	if g := order[k&(len(order)-1)]; g != nil && k > 0 && pos+24 <= len(raw) {
		e := &t.long[g.id&(fieldBuckets-1)]
		r := (*[24]byte)(raw[pos : pos+24])
		if ((binary.LittleEndian.Uint64(r[:8])&e.m[0])^e.w[0])|((binary.LittleEndian.Uint64(r[8:16])&e.m[1])^e.w[1])|
			((binary.LittleEndian.Uint64(r[16:])&e.m[2])^e.w[2]) == 0 {
			s.pos = pos + int(e.n)
			return int(e.id), true, nil
		}
	}
	id, ok, err = s.nextField(k == 0, t)
	if ok {
		first := 0
		if k == 0 {
			first = 1
		}
		order[k&(len(order)-1)] = &t.members[first][id&(fieldBuckets-1)]
	}
	return id, ok, err
}
