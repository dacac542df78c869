package events

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
	"net/netip"
	"strconv"
	"time"
	"unicode/utf8"
	"unsafe"
)

// Encode returns the JSON encoding of e. The bytes are exactly what
// encoding/json.Marshal produces for the same value, written without
// reflection.
func Encode(e Event) ([]byte, error) {
	return AppendEncode(make([]byte, 0, 512), e)
}

// AppendEncode appends the JSON encoding of e to dst. It fails for values
// JSON cannot hold (NaN, infinities, years outside 0 to 9999) and for a nil
// event; dst is returned unchanged then.
func AppendEncode(dst []byte, e Event) ([]byte, error) {
	w := jsonWriter{b: dst}
	switch e := e.(type) {
	case *Transaction:
		if e != nil {
			w.transaction(e)
		}
	case *UserEvent:
		if e != nil {
			w.userEvent(e)
		}
	case *ProductUpdate:
		if e != nil {
			w.productUpdate(e)
		}
	default:
		return dst, fmt.Errorf("events: cannot encode %T", e)
	}
	if len(w.b) == len(dst) {
		return dst, errors.New("events: cannot encode a nil event")
	}
	if w.err != nil {
		return dst, w.err
	}
	return w.b, nil
}

// jsonWriter appends JSON; the first error sticks.
type jsonWriter struct {
	b   []byte
	err error
	// from is the block the transaction being written was decoded into,
	// if any (TransactionBlock.AppendEncode).
	from *TransactionBlock
}

// AppendEncode appends the JSON encoding of t to dst, exactly as
// AppendEncode(dst, t) does. t is normally the transaction last decoded
// into b: the strings of t that lie in the record b decoded are the values
// the decoder read in place, and when it found nothing in them that JSON
// escapes, they are copied without looking at their bytes again. A caller
// that changes t must therefore not point its strings at other parts of
// that record; strings from anywhere else are written as usual. An IPv4
// address that is still the one decoded is written as the record wrote it
// (IPText). b may be nil.
func (b *TransactionBlock) AppendEncode(dst []byte, t *Transaction) ([]byte, error) {
	if t == nil {
		return dst, errors.New("events: cannot encode a nil event")
	}
	w := jsonWriter{b: dst, from: b}
	w.transaction(t)
	if w.err != nil {
		return dst, w.err
	}
	return w.b, nil
}

// plain reports whether s is known to need no escaping: it lies in the
// record w.from decoded, whose strings read in place need none. Both
// addresses are taken in one expression, with no call between them that
// could move a stack (the only way Go moves memory), so they are
// comparable; and they are only compared, never made pointers again.
func (w *jsonWriter) plain(s string) bool {
	if w.from == nil || !w.from.plain {
		return false
	}
	rec := w.from.rec
	off := uintptr(unsafe.Pointer(unsafe.StringData(s))) - uintptr(unsafe.Pointer(unsafe.StringData(rec)))
	return off < uintptr(len(rec)) && uintptr(len(s)) <= uintptr(len(rec))-off
}

func (w *jsonWriter) envelope(e *Envelope) {
	w.b = append(w.b, `{"event_id":`...)
	w.string(e.EventID)
	// The three kinds as constants: a string call costs more.
	switch e.Type {
	case KindTransaction:
		w.b = append(w.b, `,"type":"transaction"`...)
	case KindUserEvent:
		w.b = append(w.b, `,"type":"user_event"`...)
	case KindProductUpdate:
		w.b = append(w.b, `,"type":"product_update"`...)
	default:
		w.b = append(w.b, `,"type":`...)
		w.string(string(e.Type))
	}
	w.b = append(w.b, `,"schema_version":`...)
	if v := e.SchemaVersion; v >= 0 && v <= 9 {
		w.b = append(w.b, byte('0'+v)) // the one version there is, in one store
	} else {
		w.b = strconv.AppendInt(w.b, int64(v), 10)
	}
	w.b = append(w.b, `,"event_time":`...)
	if f := w.from; f != nil && f.texts.eventTime.text != "" && e.EventTime == f.texts.eventTime.v {
		w.b = append(w.b, '"')
		w.b = append(w.b, f.texts.eventTime.text...)
		w.b = append(w.b, '"')
		return
	}
	w.time(e.EventTime)
}

func (w *jsonWriter) transaction(t *Transaction) {
	w.envelope(&t.Envelope)
	w.b = append(w.b, `,"transaction_id":`...)
	w.string(t.TransactionID)
	w.b = append(w.b, `,"customer_id":`...)
	w.string(t.CustomerID)
	w.optString(`,"merchant_id":`, t.MerchantID)
	w.optString(`,"channel":`, string(t.Channel))
	w.b = append(w.b, `,"lines":`...)
	if f := w.from; f != nil && f.plain && f.texts.sameLines(t.Lines) {
		// The record's own text of the lines (decodedTexts.lines).
		w.b = append(w.b, f.texts.lines...)
	} else if t.Lines == nil {
		w.b = append(w.b, "null"...)
	} else {
		w.b = append(w.b, '[')
		for i := range t.Lines {
			ln := &t.Lines[i]
			if i > 0 {
				w.b = append(w.b, ',')
			}
			w.b = append(w.b, `{"product_id":`...)
			w.string(ln.ProductID)
			w.b = append(w.b, `,"quantity":`...)
			w.b = strconv.AppendInt(w.b, ln.Quantity, 10)
			w.b = append(w.b, `,"unit_price":`...)
			if w.from != nil && i < len(w.from.texts.prices) {
				w.number(ln.UnitPrice, &w.from.texts.prices[i])
			} else {
				w.float(ln.UnitPrice)
			}
			w.b = append(w.b, '}')
		}
		w.b = append(w.b, ']')
	}
	w.b = append(w.b, `,"amount":`...)
	if w.from != nil {
		w.number(t.Amount, &w.from.texts.amount)
	} else {
		w.float(t.Amount)
	}
	w.b = append(w.b, `,"currency":`...)
	w.string(t.Currency)
	if t.Payment != (Payment{}) {
		w.b = append(w.b, `,"payment":{"method":`...)
		w.string(string(t.Payment.Method))
		w.optString(`,"card_fingerprint":`, t.Payment.CardFingerprint)
		w.optString(`,"card_bin":`, t.Payment.CardBIN)
		w.b = append(w.b, '}')
	}
	w.device(&t.Device)
	if t.IP.IsValid() {
		w.b = append(w.b, `,"ip":`...)
		w.ip(t.IP)
	}
	w.geo(&t.Geo)
	if t.Label != nil {
		w.b = append(w.b, `,"label":{"fraud":`...)
		w.b = strconv.AppendBool(w.b, t.Label.Fraud)
		w.optString(`,"pattern":`, t.Label.Pattern)
		w.b = append(w.b, '}')
	}
	w.b = append(w.b, '}')
}

func (w *jsonWriter) userEvent(u *UserEvent) {
	w.envelope(&u.Envelope)
	w.b = append(w.b, `,"session_id":`...)
	w.string(u.SessionID)
	w.optString(`,"customer_id":`, u.CustomerID)
	w.b = append(w.b, `,"action":`...)
	w.string(string(u.Action))
	w.optString(`,"product_id":`, u.ProductID)
	w.optString(`,"query":`, u.Query)
	w.optString(`,"order_id":`, u.OrderID)
	w.optString(`,"transaction_id":`, u.TransactionID)
	w.optString(`,"page":`, u.Page)
	w.optString(`,"url":`, u.URL)
	w.optString(`,"referrer":`, u.Referrer)
	if u.UTM != (UTM{}) {
		w.b = append(w.b, `,"utm":`...)
		w.object(
			"source", u.UTM.Source,
			"medium", u.UTM.Medium,
			"campaign", u.UTM.Campaign,
			"term", u.UTM.Term,
			"content", u.UTM.Content,
		)
	}
	w.device(&u.Device)
	w.geo(&u.Geo)
	w.optString(`,"channel":`, string(u.Channel))
	w.b = append(w.b, '}')
}

func (w *jsonWriter) productUpdate(p *ProductUpdate) {
	w.envelope(&p.Envelope)
	w.b = append(w.b, `,"product_id":`...)
	w.string(p.ProductID)
	w.optString(`,"name":`, p.Name)
	w.b = append(w.b, `,"category":`...)
	w.string(p.Category)
	w.optString(`,"brand":`, p.Brand)
	if p.Price != nil {
		w.b = append(w.b, `,"price":`...)
		w.float(*p.Price)
	}
	if p.Cost != nil {
		w.b = append(w.b, `,"cost":`...)
		w.float(*p.Cost)
	}
	w.optString(`,"currency":`, p.Currency)
	if p.Stock != nil {
		w.b = append(w.b, `,"stock":`...)
		w.b = strconv.AppendInt(w.b, *p.Stock, 10)
	}
	if p.Deleted {
		w.b = append(w.b, `,"deleted":true`...)
	}
	w.b = append(w.b, '}')
}

func (w *jsonWriter) device(d *Device) {
	if *d == (Device{}) {
		return
	}
	// Member by member rather than through object: a device is in most
	// transactions. The names are constants at each name call (inlined),
	// which the compiler writes with a store or two instead of a memmove.
	w.b = append(w.b, `,"device":{`...)
	comma := false
	if d.ID != "" {
		w.name(comma, `"id":`)
		w.string(d.ID)
		comma = true
	}
	if d.Type != "" {
		w.name(comma, `"type":`)
		w.string(string(d.Type))
		comma = true
	}
	if d.OS != "" {
		w.name(comma, `"os":`)
		w.string(d.OS)
		comma = true
	}
	if d.UserAgent != "" {
		w.name(comma, `"user_agent":`)
		w.string(d.UserAgent)
	}
	w.b = append(w.b, '}')
}

// name writes a member's name (quoted, with its colon), after a comma if
// comma is true. It is small enough to inline, so that a constant name is
// written by stores.
func (w *jsonWriter) name(comma bool, name string) {
	if comma {
		w.b = append(w.b, ',')
	}
	w.b = append(w.b, name...)
}

func (w *jsonWriter) geo(g *Geo) {
	if *g == (Geo{}) {
		return
	}
	w.b = append(w.b, `,"geo":{`...)
	comma := false
	if g.Country != "" {
		w.name(comma, `"country":`)
		w.string(g.Country)
		comma = true
	}
	if g.City != "" {
		w.name(comma, `"city":`)
		w.string(g.City)
		comma = true
	}
	if g.Lat != nil {
		w.name(comma, `"lat":`)
		if w.from != nil {
			w.number(*g.Lat, &w.from.texts.lat)
		} else {
			w.float(*g.Lat)
		}
		comma = true
	}
	if g.Lon != nil {
		w.name(comma, `"lon":`)
		if w.from != nil {
			w.number(*g.Lon, &w.from.texts.lon)
		} else {
			w.float(*g.Lon)
		}
	}
	w.b = append(w.b, '}')
}

// object writes an object of string members given as name, value pairs,
// leaving out empty values.
func (w *jsonWriter) object(pairs ...string) {
	w.b = append(w.b, '{')
	sep := false
	for i := 0; i < len(pairs); i += 2 {
		if pairs[i+1] == "" {
			continue
		}
		if sep {
			w.b = append(w.b, ',')
		}
		sep = true
		w.b = append(w.b, '"')
		w.b = append(w.b, pairs[i]...)
		w.b = append(w.b, '"', ':')
		w.string(pairs[i+1])
	}
	w.b = append(w.b, '}')
}

func (w *jsonWriter) optString(prefix, s string) {
	if s != "" {
		w.b = append(w.b, prefix...)
		w.string(s)
	}
}

// float writes a number the way encoding/json does (ES6 number formatting).
// number writes f, as float does, from the text it was decoded from when
// that is what float writes: n is the number decoded, and its text is
// only used while f is still its value.
func (w *jsonWriter) number(f float64, n *decodedNumber) {
	if n.text != "" && math.Float64bits(f) == math.Float64bits(n.v) {
		w.b = append(w.b, n.text...)
		return
	}
	w.float(f)
}

func (w *jsonWriter) float(f float64) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		if w.err == nil {
			w.err = fmt.Errorf("events: cannot encode %v as JSON", f)
		}
		w.b = append(w.b, '0')
		return
	}
	if b, ok := appendCents(w.b, f); ok {
		w.b = b
		return
	}
	if b, ok := appendShortest(w.b, f); ok {
		w.b = b
		return
	}
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	w.b = strconv.AppendFloat(w.b, f, format, -1, 64)
	if format == 'e' {
		// e-07 becomes e-7, as in encoding/json.
		if n := len(w.b); n >= 4 && w.b[n-4] == 'e' && w.b[n-3] == '-' && w.b[n-2] == '0' {
			w.b[n-2] = w.b[n-1]
			w.b = w.b[:n-1]
		}
	}
}

// appendCents writes f if it is a whole number of hundredths below 1e9 in
// magnitude (prices, amounts: most numbers of a record), from the integer
// count of hundredths, which costs a fraction of strconv's shortest
// formatting and gives the same digits: c/100 parses back to f (c is exact
// and the division correctly rounded), and below 1e9 a float's spacing is
// far under 0.01, so no decimal with fewer or other digits of the same
// length parses to f. It declines zero, whose sign strconv keeps.
func appendCents(b []byte, f float64) ([]byte, bool) {
	if f == 0 || !(math.Abs(f) < 1e9) {
		return b, false
	}
	// Any rounding of f*100 to an integer will do: the check below is
	// what makes the digits right. Converting with a half added rounds
	// (half away from zero) more cheaply than math.Round.
	half := 0.5
	if f < 0 {
		half = -0.5
	}
	n := int64(f*100 + half)
	if float64(n)/100 != f {
		return b, false
	}
	if n < 0 {
		b = append(b, '-')
		n = -n
	}
	b = strconv.AppendInt(b, n/100, 10)
	switch frac := n % 100; {
	case frac == 0:
	case frac%10 == 0:
		b = append(b, '.', byte('0'+frac/10))
	default:
		b = append(b, '.', byte('0'+frac/10), byte('0'+frac%10))
	}
	return b, true
}

func (w *jsonWriter) time(t time.Time) {
	if b, ok := appendRFC3339UTC(append(w.b, '"'), t); ok {
		w.b = append(b, '"')
		return
	}
	if y := t.Year(); y < 0 || y > 9999 {
		if w.err == nil {
			w.err = fmt.Errorf("events: cannot encode year %d as RFC 3339", y)
		}
	}
	w.b = append(w.b, '"')
	w.b = t.AppendFormat(w.b, time.RFC3339Nano)
	w.b = append(w.b, '"')
}

// ip writes an address as a JSON string of its netip.Addr.String form,
// formatted on the stack: the text of an address needs no escaping, short
// of a zone, which takes the general path.
func (w *jsonWriter) ip(a netip.Addr) {
	// netip reads an IPv4 address only in the form String writes, in
	// digits and dots.
	if b := w.from; b != nil && b.ipText != "" && a == b.ip && a.Is4() {
		w.b = append(w.b, '"')
		w.b = append(w.b, b.ipText...)
		w.b = append(w.b, '"')
		return
	}
	var buf [64]byte
	text := a.AppendTo(buf[:0])
	for _, c := range text {
		if c >= utf8.RuneSelf || !safeInString[c] {
			w.string(a.String())
			return
		}
	}
	w.b = append(w.b, '"')
	w.b = append(w.b, text...)
	w.b = append(w.b, '"')
}

const hexDigits = "0123456789abcdef"

// safeInString marks the ASCII bytes encoding/json writes as they are: it
// escapes control characters, '"', '\\', and (for HTML safety) '<', '>'
// and '&'.
var safeInString = func() (t [utf8.RuneSelf]bool) {
	for i := range t {
		t[i] = i >= 0x20 && i != '"' && i != '\\' && i != '<' && i != '>' && i != '&'
	}
	return t
}()

// AppendJSONString appends s as a JSON string, escaped exactly as
// encoding/json.Marshal escapes it.
func AppendJSONString(dst []byte, s string) []byte {
	w := jsonWriter{b: dst}
	w.string(s)
	return w.b
}

// AppendJSONFloat appends f as encoding/json.Marshal writes a float64; f
// must be finite.
func AppendJSONFloat(dst []byte, f float64) []byte {
	w := jsonWriter{b: dst}
	w.float(f)
	return w.b
}

// PlainJSONString reports whether AppendJSONString writes s as it is
// between quotes: ASCII without control characters, '"', '\\', '<', '>'
// and '&'.
func PlainJSONString(s string) bool { return plainPrefix(s) == len(s) }

// plainPrefix returns the length of the longest prefix of s that string
// writes as it is: ASCII without control characters, '"', '\\', '<', '>'
// and '&'. It looks at eight bytes at a time, with the tests of
// scanner.readString plus one for bytes of 0x80 and above; the lowest flag
// of a word is exact, as there.
func plainPrefix(s string) int {
	i := 0
	for ; i+8 <= len(s); i += 8 {
		w := uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
			uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
		m := below(w^(lsb*'"'), 1) | below(w^(lsb*'\\'), 1) | below(w, 0x20) |
			below(w^(lsb*'<'), 1) | below(w^(lsb*'>'), 1) | below(w^(lsb*'&'), 1) | w
		if m &= msb; m != 0 {
			return i + bits.TrailingZeros64(m)>>3
		}
	}
	for ; i < len(s); i++ {
		if c := s[i]; c >= utf8.RuneSelf || !safeInString[c] {
			return i
		}
	}
	return i
}

// string writes s as a JSON string, escaped exactly as encoding/json does:
// invalid UTF-8 becomes U+FFFD, and U+2028 and U+2029 are escaped.
func (w *jsonWriter) string(s string) {
	if w.plain(s) {
		b := append(w.b, '"')
		b = append(b, s...)
		w.b = append(b, '"')
		return
	}
	b := append(w.b, '"')
	start := 0
	i := plainPrefix(s)
	if i == len(s) {
		b = append(b, s...)
		w.b = append(b, '"')
		return
	}
	for i < len(s) {
		c := s[i]
		if c < utf8.RuneSelf {
			if safeInString[c] {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	b = append(b, s[start:]...)
	w.b = append(b, '"')
}
