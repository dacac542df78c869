package events

import (
	"encoding/binary"
	"math"
	"math/bits"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// maxDepth bounds object and array nesting. The schemas nest three levels;
// the rest is headroom for unknown fields.
const maxDepth = 32

// scanner reads one JSON document strictly (RFC 8259: no trailing commas,
// no leading zeros, no NaN, no raw control characters in strings). Bytes
// from 0x80 on are accepted only in strings, which note them (escaped), and
// the caller checks UTF-8 for the whole input after a string that did, so
// strings are not checked here. Strings without escapes are returned as substrings of src, so
// decoding an event copies the payload once instead of once per field.
type scanner struct {
	src   string // the private copy that decoded strings point into
	raw   []byte // the caller's bytes, same content, read a word at a time
	pos   int
	depth int
	// floats are spare slots for optional numbers, allocated along with
	// the event so that each one does not cost an allocation of its own.
	floats []float64
	// ipText is the text of the last address ip read, as written.
	ipText string
	// numText is the text of the last number float read if it is the text
	// encoding/json writes for its value, else "" (number.canonical).
	numText string
	// timeText is the text of the last time timestamp read if it is the
	// text time.RFC3339Nano formats for it, else "".
	timeText string
	// texts, for a transaction, keeps the texts of its event time and
	// numbers.
	texts *decodedTexts
	// order, for a transaction, keeps the member order of the last one.
	order *memberOrder
	// objects keeps the member order of the device and geo objects of
	// the last transaction or (for one only) user event.
	objects *objectOrder
	// minute, for a transaction, keeps the last event time's minute.
	minute *minuteCache
	// escaped is non-zero once a string read in place (a substring of src)
	// held a byte that encoding/json does not write as it is: '<', '>',
	// '&' or one from 0x80 on. While it is zero, every string read in place
	// is written back as it is.
	escaped uint64
}

func newScanner(data []byte) *scanner {
	return &scanner{src: string(data), raw: data}
}

func (s *scanner) malformed(detail string) *Rejection {
	return reject(ReasonMalformedJSON, "", "offset "+strconv.Itoa(s.pos)+": "+detail)
}

// peek skips white space and returns the next byte, or 0 at the end.
func (s *scanner) peek() byte {
	for s.pos < len(s.src) {
		c := s.src[s.pos]
		if c > ' ' || c != ' ' && c != '\t' && c != '\n' && c != '\r' {
			return c
		}
		s.pos++
	}
	return 0
}

// atEnd reports whether only white space is left.
func (s *scanner) atEnd() bool {
	return s.peek() == 0 && s.pos == len(s.src)
}

// stringByte classes the bytes of a JSON string: 0 for those that end or
// interrupt a plain string ('"', '\\' and control characters), 1 for those
// encoding/json writes as they are, 3 for the others ('<', '>', '&' and
// everything from 0x80 on), which may appear unescaped in the input but are
// escaped, or may be, in the output.
var stringByte = func() (t [256]uint8) {
	for i := range t {
		switch {
		case i < 0x20 || i == '"' || i == '\\':
		case i >= 0x80 || i == '<' || i == '>' || i == '&':
			t[i] = 3
		default:
			t[i] = 1
		}
	}
	return t
}()

const (
	lsb = 0x0101010101010101
	msb = 0x8080808080808080
)

// below returns a word whose byte high bits (under msb) flag the bytes of w
// below n, for n <= 0x80. A zero byte is one below 1.
func below(w, n uint64) uint64 { return (w - lsb*n) &^ w }

// readString reads a string; s.src[s.pos] must be '"'.
func (s *scanner) readString() (string, error) { return s.str("") }

// str reads a string field; null gives "". A string right at s.pos, the
// usual case, is read here, so that the decoders' members cost one call;
// anything else goes to strSlow, field naming the member for errors.
func (s *scanner) str(field string) (string, error) {
	raw, pos := s.raw, s.pos
	if pos >= len(raw) || raw[pos] != '"' {
		return s.strSlow(field)
	}
	start := pos + 1
	// Look at eight bytes at a time (the SWAR tests from "Bit Twiddling
	// Hacks") for any byte that is not written as it is: '"', '\', those
	// below 0x20, and the ones JSON output escapes: '<', '>', '&' and
	// those from 0x80 on. Two tests find the five characters: '"' and '&'
	// are the bytes that are '&' with bit 2 set, and '<', '>' and '\' are
	// among those that are 0x7e with bits 0x62 set (with '^', '|', '~'
	// and two control characters: a rare byte flagged for nothing only
	// sends the string to strRest, which looks at each byte exactly). A
	// borrow can only flag a byte above one that really matches, so the
	// lowest flag is one of those bytes. When that byte is the closing
	// quote the string is plain; anything else is for strRest. Slicing
	// rest as it goes lets the compiler drop the bounds checks of the loop.
	rest := raw[start:]
	for len(rest) >= 8 {
		w := binary.LittleEndian.Uint64(rest)
		m := (below((w|lsb*4)^(lsb*'&'), 1) | below((w|lsb*0x62)^(lsb*0x7e), 1) | below(w, 0x20) | w) & msb
		if m != 0 {
			i := len(raw) - len(rest) + bits.TrailingZeros64(m)>>3
			if raw[i] == '"' {
				s.pos = i + 1
				return s.src[start:i], nil
			}
			return s.strRest(start, i)
		}
		rest = rest[8:]
	}
	return s.strRest(start, len(raw)-len(rest))
}

// strRest finishes a string whose bytes from start to i are plain, a byte
// at a time: the input's last bytes, and strings holding bytes JSON output
// escapes (noted in s.escaped) or escapes of their own (readEscaped).
func (s *scanner) strRest(start, i int) (string, error) {
	raw := s.raw
	for ; i < len(raw); i++ {
		switch c := raw[i]; stringByte[c] {
		case 0:
			if c == '"' {
				s.pos = i + 1
				return s.src[start:i], nil
			}
			return s.readEscaped(start, i)
		case 3:
			s.escaped |= msb
		}
	}
	return s.readEscaped(start, i)
}

// readEscaped finishes a string that needs unescaping (or is broken); the
// bytes from start to i hold no quote, backslash or control character. It
// notes the string in s.escaped, for the bytes it copies are not looked at
// for UTF-8 or JSON's escapes.
func (s *scanner) readEscaped(start, i int) (string, error) {
	s.escaped |= msb
	buf := make([]byte, 0, i-start+16)
	buf = append(buf, s.src[start:i]...)
	for i < len(s.src) {
		c := s.src[i]
		switch {
		case c == '"':
			s.pos = i + 1
			return string(buf), nil
		case c < 0x20:
			s.pos = i
			return "", s.malformed("control character in string")
		case c != '\\':
			buf = append(buf, c)
			i++
			continue
		}
		if i+1 >= len(s.src) {
			break
		}
		switch e := s.src[i+1]; e {
		case '"', '\\', '/':
			buf = append(buf, e)
		case 'b':
			buf = append(buf, '\b')
		case 'f':
			buf = append(buf, '\f')
		case 'n':
			buf = append(buf, '\n')
		case 'r':
			buf = append(buf, '\r')
		case 't':
			buf = append(buf, '\t')
		case 'u':
			r, ok := hex4(s.src, i+2)
			if !ok {
				s.pos = i
				return "", s.malformed(`invalid \u escape`)
			}
			i += 6
			if utf16.IsSurrogate(r) {
				// Like encoding/json: a valid pair becomes one rune, anything
				// else U+FFFD, and a following escape that is not the low
				// half is left to be read on its own.
				pair := utf8.RuneError
				if i+1 < len(s.src) && s.src[i] == '\\' && s.src[i+1] == 'u' {
					if r2, ok := hex4(s.src, i+2); ok {
						pair = utf16.DecodeRune(r, r2)
					}
				}
				if pair != utf8.RuneError {
					i += 6
				}
				r = pair
			}
			buf = utf8.AppendRune(buf, r)
			continue
		default:
			s.pos = i
			return "", s.malformed("invalid escape in string")
		}
		i += 2
	}
	s.pos = len(s.src)
	return "", s.malformed("unterminated string")
}

func hex4(src string, i int) (rune, bool) {
	if i+4 > len(src) {
		return 0, false
	}
	var r rune
	for _, c := range []byte(src[i : i+4]) {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// number is a JSON number as read: its text, and its digits as an integer
// for the fast conversions (mant is only meaningful for up to 19 digits).
type number struct {
	raw    string
	mant   uint64
	digits int  // significant and leading zero digits, before and after the point
	scale  int  // digits after the point
	neg    bool // leading minus
	exp    bool // has an exponent
}

// exactPow10 holds the powers of ten that float64 represents exactly.
var exactPow10 = [...]float64{1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10,
	1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22}

// float64 converts n. Numbers of at most 15 digits without exponent take a
// fast path: the digits, as an integer, and the power of ten are both exact
// in a float64, so one division rounds correctly, exactly as
// strconv.ParseFloat does. ok is false if n overflows.
func (n *number) float64() (v float64, ok bool) {
	if n.exp || n.digits > 15 {
		v, err := strconv.ParseFloat(n.raw, 64)
		return v, err == nil && !math.IsInf(v, 0)
	}
	v = float64(n.mant) / exactPow10[n.scale]
	if n.neg {
		v = -v
	}
	return v, true
}

// canonical reports whether n's text is the one encoding/json writes for
// its float64 value. It is for at most 15 digits, no exponent, no trailing
// zero after the point and not -0, and for a value of at least 1e-6 (below,
// JSON output switches to an exponent; with a zero integer part only up to
// six decimals are taken): a decimal of at most 15 significant digits is
// the only one that short to round to its float64, so the shortest
// formatting gives its digits back, in the same places.
func (n *number) canonical() bool {
	if n.exp || n.digits > 15 || n.neg && n.mant == 0 {
		return false
	}
	if n.scale == 0 {
		return true
	}
	intZero := n.raw[0] == '0' || n.raw[0] == '-' && n.raw[1] == '0'
	return n.raw[len(n.raw)-1] != '0' && (!intZero || n.scale <= 6)
}

// int64 converts an integral n; ok is false if it overflows.
func (n *number) int64() (v int64, ok bool) {
	if n.digits > 18 {
		v, err := strconv.ParseInt(n.raw, 10, 64)
		return v, err == nil
	}
	v = int64(n.mant)
	if n.neg {
		v = -v
	}
	return v, true
}

// readNumber reads a number into n, checking the JSON grammar (no leading zeros,
// no bare point, no plus sign).
func (s *scanner) readNumber(n *number) error {
	*n = number{}
	src, i := s.src, s.pos
	if i < len(src) && src[i] == '-' {
		n.neg = true
		i++
	}
	first := i
	var mant uint64 // in a register, not through n
	for ; i < len(src) && '0' <= src[i] && src[i] <= '9'; i++ {
		mant = mant*10 + uint64(src[i]-'0')
	}
	n.digits = i - first
	if n.digits == 0 || n.digits > 1 && src[first] == '0' {
		s.pos = first
		return s.malformed("invalid number")
	}
	if i < len(src) && src[i] == '.' {
		i++
		point := i
		for ; i < len(src) && '0' <= src[i] && src[i] <= '9'; i++ {
			mant = mant*10 + uint64(src[i]-'0')
		}
		if n.scale = i - point; n.scale == 0 {
			s.pos = i
			return s.malformed("invalid number")
		}
		n.digits += n.scale
	}
	if i < len(src) && (src[i] == 'e' || src[i] == 'E') {
		n.exp = true
		if i++; i < len(src) && (src[i] == '+' || src[i] == '-') {
			i++
		}
		e := i
		for i < len(src) && '0' <= src[i] && src[i] <= '9' {
			i++
		}
		if i == e {
			s.pos = i
			return s.malformed("invalid number")
		}
	}
	n.raw, n.mant = src[s.pos:i], mant
	s.pos = i
	return nil
}

// literal consumes the literal word (true, false or null).
func (s *scanner) literal(word string) error {
	if len(s.src)-s.pos >= len(word) && s.src[s.pos:s.pos+len(word)] == word {
		s.pos += len(word)
		return nil
	}
	return s.malformed("invalid literal")
}

// enter consumes the '{' or '[' at s.pos.
func (s *scanner) enter() error {
	if s.depth++; s.depth > maxDepth {
		return s.malformed("nesting too deep")
	}
	s.pos++
	return nil
}

// nextKey moves to the next member of the object being read and returns its
// key, ready for the value; ok is false after the closing brace. first must
// be true for the first call after enter.
func (s *scanner) nextKey(first bool) (key string, ok bool, err error) {
	// Compact input, the usual case: the key's quote follows at once (after
	// the comma), and its colon right after it.
	if src, pos := s.src, s.pos; pos+1 < len(src) && (first && src[pos] == '"' || !first && src[pos] == ',' && src[pos+1] == '"') {
		if !first {
			s.pos++
		}
		if key, err = s.readString(); err != nil {
			return "", false, err
		}
		if s.pos < len(src) && src[s.pos] == ':' {
			s.pos++
			return key, true, nil
		}
		if s.peek() != ':' {
			return "", false, s.malformed("expected ':'")
		}
		s.pos++
		return key, true, nil
	}
	c := s.peek()
	if c == '}' {
		s.pos++
		s.depth--
		return "", false, nil
	}
	if !first {
		if c != ',' {
			return "", false, s.malformed("expected ',' or '}'")
		}
		s.pos++
		c = s.peek()
	}
	if c != '"' {
		return "", false, s.malformed("expected string key")
	}
	if key, err = s.readString(); err != nil {
		return "", false, err
	}
	if s.peek() != ':' {
		return "", false, s.malformed("expected ':'")
	}
	s.pos++
	return key, true, nil
}

// nextElem moves to the next element of the array being read; ok is false
// after the closing bracket.
func (s *scanner) nextElem(first bool) (ok bool, err error) {
	c := s.peek()
	if c == ']' {
		s.pos++
		s.depth--
		return false, nil
	}
	if !first {
		if c != ',' {
			return false, s.malformed("expected ',' or ']'")
		}
		s.pos++
	}
	return true, nil
}

// skip reads and discards one value of any type.
func (s *scanner) skip() error {
	switch c := s.peek(); c {
	case '"':
		_, err := s.readString()
		return err
	case '{':
		if err := s.enter(); err != nil {
			return err
		}
		for first := true; ; first = false {
			_, ok, err := s.nextKey(first)
			if err != nil || !ok {
				return err
			}
			if err := s.skip(); err != nil {
				return err
			}
		}
	case '[':
		if err := s.enter(); err != nil {
			return err
		}
		for first := true; ; first = false {
			ok, err := s.nextElem(first)
			if err != nil || !ok {
				return err
			}
			if err := s.skip(); err != nil {
				return err
			}
		}
	case 't':
		return s.literal("true")
	case 'f':
		return s.literal("false")
	case 'n':
		return s.literal("null")
	default:
		if c == '-' || '0' <= c && c <= '9' {
			var n number
			return s.readNumber(&n)
		}
		if c == 0 && s.pos == len(s.src) {
			return s.malformed("unexpected end of input")
		}
		return s.malformed("unexpected character " + strconv.QuoteRune(rune(c)))
	}
}
