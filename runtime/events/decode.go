package events

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"time"
	"unicode/utf8"
	"unsafe"
)

// Decode parses one event of the given kind from data, a JSON object. An
// empty kind accepts any kind, read from the "type" field.
//
// Decode checks what it needs to build the Go value: JSON syntax, field
// types, presence of required fields whose zero value is legal (amount,
// schema_version, lines and their quantity and unit_price), the type and
// schema_version fields, the timestamp and IP syntax. Rules about values
// (ranges, enums, codes, amounts, clock skew) are Validator.Validate's; use
// Validator.Decode for both. Unknown fields are skipped.
//
// Errors are *Rejection, except for a kind that is not one of Kinds, which
// is a programming error. Decode does not keep data: the event holds a
// private copy.
func Decode(kind Kind, data []byte) (Event, error) {
	return decode(kind, data, false, nil)
}

// DecodeOwned is Decode for a caller that hands data over: the event's
// strings point into data itself instead of into a private copy, which
// saves copying every record. data must not be modified afterwards, for as
// long as the event or any string taken from it is in use.
func DecodeOwned(kind Kind, data []byte) (Event, error) {
	return decode(kind, data, true, nil)
}

// TransactionBlock holds one decoded transaction with room for the parts
// that usually hang off it (a few order lines, coordinates, the label), for
// a caller that decodes transaction after transaction and is done with
// each before decoding the next (Validator.DecodeTransactionInto): reusing
// one block saves allocating one per record. The zero value is ready.
type TransactionBlock struct {
	blockRecord // cleared for each record
	// order is the member order of the transaction last decoded, kept
	// from one record to the next for the decoders' guesses, and minute
	// the event time's minute, for the next one's.
	order  memberOrder
	minute minuteCache
}

// blockRecord is the part of a TransactionBlock that holds one record.
type blockRecord struct {
	tx     Transaction
	lines  [4]Line
	coords [2]float64
	label  Label
	ipText string     // the ip field as written, for IPText
	ip     netip.Addr // the ip field as decoded, for AppendEncode
	// rec is the record last decoded, and plain tells whether the strings
	// read in place, the substrings of rec the transaction holds, hold
	// nothing that JSON output escapes: then AppendEncode copies them.
	rec   string
	plain bool
	texts decodedTexts
}

// memberOrder holds, for a transaction and the objects in it, the entries
// (in a fieldTable's members) of the members the last one read had at each
// position (nil: no guess), for scanner.at and nextMember.
type memberOrder struct {
	top     [32]*fieldEntry
	payment [8]*fieldEntry
	objects objectOrder
}

// objectOrder is the part of a memberOrder for the objects user events
// have as well, which decoding one of those keeps for itself.
type objectOrder struct {
	device, geo [8]*fieldEntry
}

// decodedTexts are the event time and numbers of a transaction as decoded,
// with their texts where those are what JSON output writes for them (else
// ""), for AppendEncode to copy.
type decodedTexts struct {
	eventTime        decodedTime
	amount, lat, lon decodedNumber
	prices           [4]decodedNumber // of the first lines
	// lines is the lines array as the record wrote it when that is, byte
	// for byte, what JSON output writes for the lines decoded (compact,
	// the members in the writer's order and nothing else, product IDs read
	// in place, numbers as JSON output writes them, at most four lines),
	// else "". lineCount, lineIDs and lineQuantities keep what was
	// decoded, for telling that the lines are still those (with
	// prices[i].v).
	lines          string
	lineCount      int
	lineIDs        [4]string
	lineQuantities [4]int64
}

// sameLines reports whether lines are the lines whose text d.lines is.
func (d *decodedTexts) sameLines(lines []Line) bool {
	if d.lines == "" || lines == nil || len(lines) != d.lineCount {
		return false
	}
	for i := range lines {
		ln := &lines[i]
		if ln.Quantity != d.lineQuantities[i] || math.Float64bits(ln.UnitPrice) != math.Float64bits(d.prices[i].v) ||
			ln.ProductID != d.lineIDs[i] {
			return false
		}
	}
	return true
}

type decodedTime struct {
	v    time.Time
	text string
}

type decodedNumber struct {
	v    float64
	text string
}

// note records the number float read last, v, in n.
func (s *scanner) note(n *decodedNumber, v float64) {
	*n = decodedNumber{v: v, text: s.numText}
}

// IPText returns the address of the transaction last decoded into b in its
// netip.Addr.String form. When the record wrote it that way, as it usually
// does, that is the record's own text and nothing is allocated.
func (b *TransactionBlock) IPText() string {
	a := b.tx.IP
	if !a.IsValid() {
		return ""
	}
	// netip.ParseAddr reads an IPv4 address only as four decimal fields
	// without leading zeros, which is exactly how String writes it.
	if a.Is4() && b.ipText != "" {
		return b.ipText
	}
	var buf [64]byte
	if text := a.AppendTo(buf[:0]); b.ipText != "" && string(text) == b.ipText {
		return b.ipText
	}
	return a.String()
}

func decode(kind Kind, data []byte, owned bool, txn *TransactionBlock) (Event, error) {
	s := scanner{raw: data}
	if owned {
		s.src = unsafe.String(unsafe.SliceData(data), len(data))
	} else {
		s.src = string(data)
	}
	ev, kind, err := s.decode(kind, txn)
	// Outside strings the reader accepts only ASCII, and it notes each
	// string holding a byte from 0x80 on (or read through escapes), so
	// UTF-8 needs checking only after those, or a failure, which invalid
	// UTF-8 must win over.
	if (err != nil || s.escaped != 0) && !utf8.Valid(data) {
		return nil, reject(ReasonMalformedJSON, "", "payload is not valid UTF-8")
	}
	if err != nil && kind != "" {
		return nil, s.precedence(kind, err)
	}
	return ev, err
}

// decode is decode without the UTF-8 check and the rejection precedence.
// kind is the kind read, "" when it could not be told.
func (s *scanner) decode(kind Kind, txn *TransactionBlock) (_ Event, _ Kind, err error) {
	if kind == "" {
		if kind, err = s.sniffKind(); err != nil {
			return nil, "", err
		}
	}
	var ev Event
	// Each event is allocated in one block with room for the parts that
	// usually hang off it (a few order lines, coordinates, the label).
	switch kind {
	case KindTransaction:
		b := txn
		if b == nil {
			b = new(TransactionBlock)
		} else {
			b.blockRecord = blockRecord{}
		}
		s.floats, s.texts, s.order, s.objects, s.minute = b.coords[:], &b.texts, &b.order, &b.order.objects, &b.minute
		ev, err = &b.tx, b.tx.decode(s, b.lines[:0], &b.label)
		b.ipText, b.ip = s.ipText, b.tx.IP
		b.rec, b.plain = s.src, s.escaped == 0
	case KindUserEvent:
		b := new(struct {
			ue     UserEvent
			coords [2]float64
			order  objectOrder
		})
		s.floats, s.objects = b.coords[:], &b.order
		ev, err = &b.ue, b.ue.decode(s)
	case KindProductUpdate:
		b := new(struct {
			pu     ProductUpdate
			floats [2]float64
			stock  int64
		})
		s.floats = b.floats[:]
		ev, err = &b.pu, b.pu.decode(s, &b.stock)
	default:
		return nil, kind, fmt.Errorf("events: unknown kind %q", kind)
	}
	if err != nil {
		return nil, kind, err
	}
	return ev, kind, nil
}

// sniffKind finds the top-level "type" of the document without decoding it.
func (s *scanner) sniffKind() (Kind, error) {
	typ, _, err := s.topLevelHints()
	if err != nil {
		return "", err
	}
	switch k := Kind(typ); k {
	case KindTransaction, KindUserEvent, KindProductUpdate:
		return k, nil
	case "":
		return "", reject(ReasonMissingField, "type", "type is required")
	default:
		return "", reject(ReasonInvalidEnum, "type", fmt.Sprintf("unknown event type %q", typ))
	}
}

// topLevelHints scans the whole document for the top-level "type" and
// "schema_version" values (version is -1 when absent or not an integer).
func (s *scanner) topLevelHints() (typ string, version int64, err error) {
	h := &scanner{src: s.src, raw: s.raw}
	version = -1
	if h.peek() != '{' {
		return "", 0, h.root()
	}
	if err := h.enter(); err != nil {
		return "", 0, err
	}
	for first := true; ; first = false {
		key, ok, err := h.nextKey(first)
		if err != nil {
			return "", 0, err
		}
		if !ok {
			break
		}
		switch c := h.peek(); {
		case key == "type" && c == '"':
			if typ, err = h.readString(); err != nil {
				return "", 0, err
			}
		case key == "schema_version" && (c == '-' || '0' <= c && c <= '9'):
			var n number
			if err := h.readNumber(&n); err != nil {
				return "", 0, err
			}
			if v, ok := n.int64(); ok && n.scale == 0 && !n.exp {
				version = v
			}
		default:
			if err := h.skip(); err != nil {
				return "", 0, err
			}
		}
	}
	if !h.atEnd() {
		return "", 0, h.malformed("data after the event")
	}
	return typ, version, nil
}

// precedence picks the rejection to report when decoding failed. A newer
// schema version or an event on the wrong topic explains any other field
// problem, so those win over whatever the field-by-field reading hit first.
func (s *scanner) precedence(kind Kind, err error) error {
	var r *Rejection
	if !errors.As(err, &r) || r.Reason == ReasonMalformedJSON ||
		r.Reason == ReasonUnsupportedSchemaVersion || r.Reason == ReasonTypeMismatch {
		return err
	}
	typ, version, herr := s.topLevelHints()
	if herr != nil {
		return herr // malformed further on: that is the root problem
	}
	if version > SchemaVersion {
		return unsupportedVersion(version)
	}
	if k := Kind(typ); k != kind && k.known() {
		return typeMismatch(kind, k)
	}
	return err
}

func (k Kind) known() bool {
	return k == KindTransaction || k == KindUserEvent || k == KindProductUpdate
}

func unsupportedVersion(v int64) *Rejection {
	return reject(ReasonUnsupportedSchemaVersion, "schema_version",
		fmt.Sprintf("schema_version %d is not supported (supported: 1 to %d)", v, SchemaVersion))
}

func typeMismatch(want, got Kind) *Rejection {
	return reject(ReasonTypeMismatch, "type", fmt.Sprintf("%s event where %s was expected", got, want))
}

// describe names the JSON type of the value at the current position.
func (s *scanner) describe() string {
	switch c := s.peek(); {
	case c == '"':
		return "string"
	case c == '{':
		return "object"
	case c == '[':
		return "array"
	case c == 't' || c == 'f':
		return "boolean"
	case c == 'n':
		return "null"
	case c == '-' || '0' <= c && c <= '9':
		return "number"
	default:
		return "invalid JSON"
	}
}

// wrongType reports the value at the current position as not of type want.
// Invalid JSON there is reported as such instead.
func (s *scanner) wrongType(field, want string) error {
	got := s.describe()
	if got == "invalid JSON" {
		return s.skip()
	}
	return reject(ReasonWrongType, field, "expected "+want+", got "+got)
}

// isNull consumes a null, if that is what comes next. Null stands for an
// absent field, as in encoding/json.
func (s *scanner) isNull() (bool, error) {
	if s.peek() != 'n' {
		return false, nil
	}
	return true, s.literal("null")
}

// strSlow is str for anything but a string right at s.pos: white space
// first, null (which gives ""), or a value of another type.
func (s *scanner) strSlow(field string) (string, error) {
	if s.peek() == '"' {
		return s.readString()
	}
	if null, err := s.isNull(); null || err != nil {
		return "", err
	}
	return "", s.wrongType(field, "string")
}

// float reads a number field; present is false for null.
func (s *scanner) float(field string) (v float64, present bool, err error) {
	// The usual number first, in one pass: right at s.pos, no sign, no
	// exponent, at most 15 digits. Its value and whether its text is the
	// one JSON output writes are those readNumber, number.float64 and
	// number.canonical give; anything else (and any error) is theirs.
	src, i := s.src, s.pos
	var mant uint64
	for ; i < len(src) && '0' <= src[i] && src[i] <= '9'; i++ {
		mant = mant*10 + uint64(src[i]-'0')
	}
	start, intDigits, scale := s.pos, i-s.pos, 0
	if i < len(src) && src[i] == '.' {
		i++
		point := i
		for ; i < len(src) && '0' <= src[i] && src[i] <= '9'; i++ {
			mant = mant*10 + uint64(src[i]-'0')
		}
		scale = i - point
	}
	if intDigits > 0 && (intDigits == 1 || src[start] != '0') && (scale > 0 || src[i-1] != '.') &&
		intDigits+scale <= 15 && (i == len(src) || src[i] != 'e' && src[i] != 'E') {
		s.pos = i
		s.numText = ""
		// canonical: no trailing zero in a fraction, which with a zero
		// integer part has at most six digits.
		if scale == 0 || src[i-1] != '0' && (src[start] != '0' || scale <= 6) {
			s.numText = src[start:i]
		}
		return float64(mant) / exactPow10[scale], true, nil
	}
	return s.floatSlow(field)
}

// floatSlow is float for anything but the usual number.
func (s *scanner) floatSlow(field string) (v float64, present bool, err error) {
	if c := s.peek(); c != '-' && (c < '0' || c > '9') {
		if null, err := s.isNull(); null || err != nil {
			return 0, false, err
		}
		return 0, false, s.wrongType(field, "number")
	}
	var n number
	if err := s.readNumber(&n); err != nil {
		return 0, false, err
	}
	if v, ok := n.float64(); ok {
		s.numText = ""
		if n.canonical() {
			s.numText = n.raw
		}
		return v, true, nil
	}
	return 0, false, reject(ReasonOutOfRange, field, "number "+n.raw+" does not fit a float64")
}

// integer reads an integer field; present is false for null.
func (s *scanner) integer(field string) (v int64, present bool, err error) {
	// The usual integer first, in one pass: right at s.pos, no sign, no
	// leading zero, at most 18 digits, no fraction or exponent after it.
	// Anything else (and any error) is integerSlow's.
	src, i := s.src, s.pos
	var n int64
	for ; i < len(src) && '0' <= src[i] && src[i] <= '9'; i++ {
		n = n*10 + int64(src[i]-'0')
	}
	if digits := i - s.pos; digits > 0 && digits <= 18 && (digits == 1 || src[s.pos] != '0') &&
		(i == len(src) || src[i] != '.' && src[i] != 'e' && src[i] != 'E') {
		s.pos = i
		return n, true, nil
	}
	return s.integerSlow(field)
}

// integerSlow is integer for anything but the usual integer.
func (s *scanner) integerSlow(field string) (v int64, present bool, err error) {
	if c := s.peek(); c != '-' && (c < '0' || c > '9') {
		if null, err := s.isNull(); null || err != nil {
			return 0, false, err
		}
		return 0, false, s.wrongType(field, "integer")
	}
	var n number
	if err := s.readNumber(&n); err != nil {
		return 0, false, err
	}
	if n.scale > 0 || n.exp {
		return 0, false, reject(ReasonWrongType, field, "expected integer, got "+n.raw)
	}
	if v, ok := n.int64(); ok {
		return v, true, nil
	}
	return 0, false, reject(ReasonOutOfRange, field, "integer "+n.raw+" does not fit an int64")
}

// boolean reads a boolean field; null gives false.
func (s *scanner) boolean(field string) (bool, error) {
	switch s.peek() {
	case 't':
		return true, s.literal("true")
	case 'f':
		return false, s.literal("false")
	}
	if null, err := s.isNull(); null || err != nil {
		return false, err
	}
	return false, s.wrongType(field, "boolean")
}

// object starts reading an object field. It returns false, with no error,
// for null.
func (s *scanner) object(field string) (bool, error) {
	if s.peek() == '{' {
		return true, s.enter()
	}
	if null, err := s.isNull(); null || err != nil {
		return false, err
	}
	return false, s.wrongType(field, "object")
}

// array starts reading an array field. It returns false, with no error, for
// null.
func (s *scanner) array(field string) (bool, error) {
	if s.peek() == '[' {
		return true, s.enter()
	}
	if null, err := s.isNull(); null || err != nil {
		return false, err
	}
	return false, s.wrongType(field, "array")
}

// timestamp reads an RFC 3339 timestamp and returns it in UTC; null gives the
// zero time.
func (s *scanner) timestamp(field string) (time.Time, error) {
	raw, err := s.str(field)
	if err != nil || raw == "" {
		return time.Time{}, err
	}
	s.timeText = ""
	var t time.Time
	var ok bool
	if s.minute != nil {
		t, ok = s.minute.parse(raw)
	} else {
		t, ok = parseRFC3339UTC(raw)
	}
	if ok {
		// AppendFormat(RFC3339Nano) writes this shape, with the
		// fraction's trailing zeros cut (and the point with them).
		if len(raw) == len("2006-01-02T15:04:05Z") || raw[len(raw)-2] != '0' {
			s.timeText = raw
		}
		return t, nil
	}
	t, err = time.Parse(time.RFC3339Nano, raw)
	if err != nil {
		return time.Time{}, reject(ReasonInvalidTimestamp, field, fmt.Sprintf("%q is not an RFC 3339 timestamp", raw))
	}
	return t.UTC(), nil
}

// ip reads an IP address field; null and "" give the zero Addr.
func (s *scanner) ip(field string) (netip.Addr, error) {
	raw, err := s.str(field)
	if err != nil || raw == "" {
		return netip.Addr{}, err
	}
	if a, ok := parseIPv4(raw); ok {
		s.ipText = raw
		return a, nil
	}
	a, err := netip.ParseAddr(raw)
	if err != nil || a.Zone() != "" {
		return netip.Addr{}, reject(ReasonInvalidIP, field, fmt.Sprintf("%q is not an IPv4 or IPv6 address", raw))
	}
	s.ipText = raw
	return a, nil
}

// parseIPv4 reads an IPv4 address in the one form netip.ParseAddr accepts
// for it: four decimal fields of 0 to 255 without leading zeros, separated
// by dots. ok is false for anything else, which the caller leaves to
// netip.ParseAddr; what it accepts, netip.ParseAddr reads as the same
// address (TestParseIPv4).
func parseIPv4(s string) (_ netip.Addr, ok bool) {
	var a [4]byte
	i := 0
	for field := range a {
		if field > 0 {
			if i >= len(s) || s[i] != '.' {
				return netip.Addr{}, false
			}
			i++
		}
		// A field is a digit, and one or two more after one that is not
		// 0, up to 255. Bytes below '0' wrap around to above 9.
		if i >= len(s) || s[i]-'0' > 9 {
			return netip.Addr{}, false
		}
		n := uint(s[i] - '0')
		i++
		if n != 0 && i < len(s) && s[i]-'0' <= 9 {
			n = n*10 + uint(s[i]-'0')
			i++
			if i < len(s) && s[i]-'0' <= 9 {
				if n = n*10 + uint(s[i]-'0'); n > 255 {
					return netip.Addr{}, false
				}
				i++
			}
		}
		a[field] = byte(n)
	}
	if i != len(s) {
		return netip.Addr{}, false
	}
	return netip.AddrFrom4(a), true
}

// presence records which fields with legal zero values were seen.
type presence uint32

const (
	seenType presence = 1 << iota
	seenSchemaVersion
	seenAmount
	seenLines
	seenQuantity
	seenUnitPrice
)

// The envelope's member names, numbered 1 to 4 in every event kind's
// fieldTable.
const (
	envEventID = iota + 1
	envType
	envSchemaVersion
	envEventTime
)

// envelopeName returns the name of the envelope member numbered i+1.
func envelopeName(i int) string {
	return [...]string{"event_id", "type", "schema_version", "event_time"}[i]
}

// envelopeField decodes the envelope member numbered field into e. The
// event's type must be want.
func (s *scanner) envelopeField(field int, want Kind, e *Envelope, seen *presence) error {
	var err error
	switch field {
	case envEventID:
		e.EventID, err = s.str("event_id")
	case envType:
		var typ string
		if typ, err = s.str("type"); err != nil || typ == "" {
			return err
		}
		*seen |= seenType
		switch k := Kind(typ); {
		case k == want:
			e.Type = k
		case k.known():
			err = typeMismatch(want, k)
		default:
			err = reject(ReasonInvalidEnum, "type", fmt.Sprintf("unknown event type %q", typ))
		}
	case envSchemaVersion:
		var v int64
		var ok bool
		if v, ok, err = s.integer("schema_version"); err != nil || !ok {
			return err
		}
		*seen |= seenSchemaVersion
		if v < 1 || v > SchemaVersion {
			return unsupportedVersion(v)
		}
		e.SchemaVersion = int(v)
	case envEventTime:
		e.EventTime, err = s.timestamp("event_time")
		if s.texts != nil {
			s.texts.eventTime = decodedTime{v: e.EventTime, text: s.timeText}
		}
	}
	return err
}

// finish checks that the document ended and that the envelope's type and
// schema_version were present.
func (s *scanner) finish(seen presence) error {
	if !s.atEnd() {
		return s.malformed("data after the event")
	}
	if seen&seenType == 0 {
		return reject(ReasonMissingField, "type", "type is required")
	}
	if seen&seenSchemaVersion == 0 {
		return reject(ReasonMissingField, "schema_version", "schema_version is required")
	}
	return nil
}

// root starts reading the top-level object.
func (s *scanner) root() error {
	if s.peek() == '{' {
		return s.enter()
	}
	got := s.describe()
	if err := s.skip(); err != nil {
		return err
	}
	return reject(ReasonWrongType, "", "event must be a JSON object, got "+got)
}

func (s *scanner) device(field string, d *Device) error {
	if ok, err := s.object(field); !ok || err != nil {
		return err
	}
	return prefixField(field, s.deviceFields(d, &s.objects.device))
}

// The member names of a device, numbered for fieldTable.
const (
	deviceID = iota + 1
	deviceType
	deviceOS
	deviceUserAgent
)

var deviceFieldTable = newFieldTable("id", "type", "os", "user_agent")

// deviceFields reads a device's members; order is for nextMember.
func (s *scanner) deviceFields(d *Device, order *[8]*fieldEntry) error {
	for k := 0; ; k++ {
		var field int
		if e := order[k&(len(order)-1)]; e != nil && s.at(e) {
			field = int(e.id)
		} else if s.closes() {
			return nil
		} else {
			f, ok, err := s.nextMember(k, deviceFieldTable, order[:])
			if err != nil || !ok {
				return err
			}
			field = f
		}
		var err error
		switch field {
		case deviceID:
			d.ID, err = s.str("id")
		case deviceType:
			var t string
			t, err = s.str("type")
			d.Type = DeviceType(t)
		case deviceOS:
			d.OS, err = s.str("os")
		case deviceUserAgent:
			d.UserAgent, err = s.str("user_agent")
		default:
			err = s.skip()
		}
		if err != nil {
			return err
		}
	}
}

func (s *scanner) geo(field string, g *Geo) error {
	if ok, err := s.object(field); !ok || err != nil {
		return err
	}
	return prefixField(field, s.geoFields(g, &s.objects.geo))
}

// The member names of a geo object, numbered for fieldTable.
const (
	geoCountry = iota + 1
	geoCity
	geoLat
	geoLon
)

var geoFieldTable = newFieldTable("country", "city", "lat", "lon")

// geoFields reads a geo object's members; order is for nextMember.
func (s *scanner) geoFields(g *Geo, order *[8]*fieldEntry) error {
	for k := 0; ; k++ {
		var field int
		if e := order[k&(len(order)-1)]; e != nil && s.at(e) {
			field = int(e.id)
		} else if s.closes() {
			return nil
		} else {
			f, ok, err := s.nextMember(k, geoFieldTable, order[:])
			if err != nil || !ok {
				return err
			}
			field = f
		}
		var err error
		switch field {
		case geoCountry:
			g.Country, err = s.str("country")
		case geoCity:
			g.City, err = s.str("city")
		case geoLat:
			if g.Lat, err = s.optFloat("lat"); g.Lat != nil && s.texts != nil {
				s.note(&s.texts.lat, *g.Lat)
			}
		case geoLon:
			if g.Lon, err = s.optFloat("lon"); g.Lon != nil && s.texts != nil {
				s.note(&s.texts.lon, *g.Lon)
			}
		default:
			err = s.skip()
		}
		if err != nil {
			return err
		}
	}
}

// prefixField puts parent in front of the field a nested reader named in
// its rejection. Readers of nested objects name bare keys so that paths are
// only built for failures.
func prefixField(parent string, err error) error {
	if r, ok := err.(*Rejection); ok && r.Field != "" {
		r.Field = parent + "." + r.Field
	}
	return err
}

// optFloat reads an optional number into a new pointer; null gives nil.
func (s *scanner) optFloat(field string) (*float64, error) {
	v, ok, err := s.float(field)
	if !ok || err != nil {
		return nil, err
	}
	var p *float64
	if len(s.floats) > 0 {
		p, s.floats = &s.floats[0], s.floats[1:]
	} else {
		p = new(float64)
	}
	*p = v
	return p, nil
}
