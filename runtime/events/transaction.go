package events

import (
	"encoding/binary"
	"fmt"
	"math"
	"net/netip"
	"strconv"
)

// MaxAmount bounds amounts, unit prices and product prices, in major
// currency units. Larger values are taken for producer bugs, not orders.
const MaxAmount = 1e7

// MaxQuantity bounds the quantity of one order line.
const MaxQuantity = 1_000_000

// Transaction is a completed payment for an order: kind "transaction".
type Transaction struct {
	Envelope
	// transaction_id identifies the payment. Required.
	TransactionID string `json:"transaction_id"`
	// customer_id identifies the paying customer. Required.
	CustomerID string `json:"customer_id"`
	// merchant_id identifies the seller. Optional.
	MerchantID string `json:"merchant_id,omitempty"`
	// channel is one of web, mobile_app, marketplace, store, call_center.
	// Optional.
	Channel Channel `json:"channel,omitempty"`
	// lines are the order lines. Required, at least one.
	Lines []Line `json:"lines"`
	// amount is the total charged, in major units of currency: the sum of
	// quantity*unit_price over lines, within one minor unit per line (taxes,
	// shipping and discounts are not modelled in version 1). Required,
	// 0 to MaxAmount.
	Amount float64 `json:"amount"`
	// currency is an active ISO 4217 code, upper case. Required.
	Currency string `json:"currency"`
	// payment is how the customer paid. Optional.
	Payment Payment `json:"payment,omitzero"`
	// device is the client device. Optional.
	Device Device `json:"device,omitzero"`
	// ip is the client's IPv4 or IPv6 address. Optional.
	IP netip.Addr `json:"ip,omitzero"`
	// geo is where the payment came from. Optional.
	Geo Geo `json:"geo,omitzero"`
	// label is the data generator's ground truth. It is for evaluating
	// detectors and must never feed scoring. Optional.
	Label *Label `json:"label,omitempty"`
}

// Kind returns KindTransaction.
func (*Transaction) Kind() Kind { return KindTransaction }

// Line is one order line.
type Line struct {
	// product_id identifies the product. Required.
	ProductID string `json:"product_id"`
	// quantity is the number of units, 1 to MaxQuantity. Required.
	Quantity int64 `json:"quantity"`
	// unit_price is the price of one unit in major units of the
	// transaction's currency, 0 to MaxAmount. Required.
	UnitPrice float64 `json:"unit_price"`
}

// PaymentMethod is how a transaction was paid.
type PaymentMethod string

const (
	PaymentCard         PaymentMethod = "card"
	PaymentPayPal       PaymentMethod = "paypal"
	PaymentApplePay     PaymentMethod = "apple_pay"
	PaymentGooglePay    PaymentMethod = "google_pay"
	PaymentBankTransfer PaymentMethod = "bank_transfer"
	PaymentCOD          PaymentMethod = "cod"
	PaymentGiftCard     PaymentMethod = "gift_card"
	PaymentCrypto       PaymentMethod = "crypto"
)

// Valid reports whether m is one of the PaymentMethod constants.
func (m PaymentMethod) Valid() bool {
	switch m {
	case PaymentCard, PaymentPayPal, PaymentApplePay, PaymentGooglePay,
		PaymentBankTransfer, PaymentCOD, PaymentGiftCard, PaymentCrypto:
		return true
	}
	return false
}

// Payment describes how a transaction was paid.
type Payment struct {
	// method is one of the PaymentMethod values. Required when payment is
	// present.
	Method PaymentMethod `json:"method"`
	// card_fingerprint identifies the card without its number. Required when
	// method is card.
	CardFingerprint string `json:"card_fingerprint,omitempty"`
	// card_bin is the card's issuer identification number, 6 or 8 digits.
	// Optional.
	CardBIN string `json:"card_bin,omitempty"`
}

// Label is the generator's ground truth for a transaction.
type Label struct {
	// fraud tells whether the generator made this transaction fraudulent.
	Fraud bool `json:"fraud"`
	// pattern names the fraud pattern used, empty for legitimate ones.
	Pattern string `json:"pattern,omitempty"`
}

// The member names of a transaction, numbered for fieldTable; the first
// four are the envelope's, as in every event kind's table.
const (
	txnTransactionID = iota + 5
	txnCustomerID
	txnMerchantID
	txnChannel
	txnLines
	txnAmount
	txnCurrency
	txnPayment
	txnDevice
	txnIP
	txnGeo
	txnLabel
)

var transactionFields = newFieldTable(envelopeName(0), envelopeName(1), envelopeName(2), envelopeName(3),
	"transaction_id", "customer_id", "merchant_id", "channel", "lines", "amount", "currency",
	"payment", "device", "ip", "geo", "label")

// decode reads a transaction; lines and label are storage to use for them.
func (t *Transaction) decode(s *scanner, lines []Line, label *Label) error {
	if err := s.root(); err != nil {
		return err
	}
	var seen presence
	order := &s.order.top
	for k := 0; ; k++ {
		// The member the last transaction had at k, else nextMember.
		var field int
		if e := order[k&(len(order)-1)]; e != nil && s.at(e) {
			field = int(e.id)
		} else if s.closes() {
			break
		} else {
			f, ok, err := s.nextMember(k, transactionFields, order[:])
			if err != nil {
				return err
			}
			if !ok {
				break
			}
			field = f
		}
		var err error
		switch field {
		case envEventID, envType, envSchemaVersion, envEventTime:
			err = s.envelopeField(field, KindTransaction, &t.Envelope, &seen)
		case txnTransactionID:
			t.TransactionID, err = s.str("transaction_id")
		case txnCustomerID:
			t.CustomerID, err = s.str("customer_id")
		case txnMerchantID:
			t.MerchantID, err = s.str("merchant_id")
		case txnChannel:
			var c string
			c, err = s.str("channel")
			t.Channel = Channel(c)
		case txnLines:
			var present bool
			if t.Lines, present, err = s.lines(lines); present {
				seen |= seenLines
			}
		case txnAmount:
			var v float64
			var present bool
			if v, present, err = s.float("amount"); present {
				t.Amount, seen = v, seen|seenAmount
				s.note(&s.texts.amount, v)
			}
		case txnCurrency:
			t.Currency, err = s.str("currency")
		case txnPayment:
			err = s.payment(&t.Payment)
		case txnDevice:
			err = s.device("device", &t.Device)
		case txnIP:
			t.IP, err = s.ip("ip")
		case txnGeo:
			err = s.geo("geo", &t.Geo)
		case txnLabel:
			t.Label, err = s.label(label)
		default:
			err = s.skip()
		}
		if err != nil {
			return err
		}
	}
	if err := s.finish(seen); err != nil {
		return err
	}
	if seen&seenLines == 0 {
		return reject(ReasonMissingField, "lines", "lines is required")
	}
	if seen&seenAmount == 0 {
		return reject(ReasonMissingField, "amount", "amount is required")
	}
	return nil
}

func linePath(i int, field string) string {
	return "lines[" + strconv.Itoa(i) + "]" + field
}

// lines reads the order lines into lines[:0]; present is false for null.
// It keeps the array's text in s.texts.lines when that is what JSON
// output writes for the lines read (see decodedTexts).
func (s *scanner) lines(lines []Line) (_ []Line, present bool, err error) {
	s.texts.lines = "" // of an earlier lines member, if any
	if ok, err := s.array("lines"); !ok || err != nil {
		return nil, false, err
	}
	start := s.pos - 1 // the '['
	// want is the length of the array as JSON output writes it: the
	// record's text is that exactly if it is as long and every line was
	// read in the writer's order, for no other text of the same members is
	// shorter (escapes, white space, other number forms and other members
	// only add bytes).
	want, inOrder := 1, true
	lines = lines[:0]
	for first := true; ; first = false {
		ok, err := s.nextElem(first)
		if err != nil {
			return nil, false, err
		}
		if !ok {
			if t := s.texts; inOrder && len(lines) <= len(t.lineIDs) && s.pos-start == max(want, 2) {
				t.lines, t.lineCount = s.src[start:s.pos], len(lines)
			}
			return lines, true, nil
		}
		var ln Line
		n, ok := s.lineAsWritten(len(lines), &ln)
		if !ok {
			if n, err = s.line(len(lines), &ln); err != nil {
				return nil, false, err
			}
		}
		if i := len(lines); i < len(s.texts.lineIDs) && n > 0 {
			s.texts.lineIDs[i], s.texts.lineQuantities[i] = ln.ProductID, ln.Quantity
			want += n + 1 // and ',' or ']'
		} else {
			inOrder = false
		}
		lines = append(lines, ln)
	}
}

// The member names of an order line, numbered for fieldTable.
const (
	lineProductID = iota + 1
	lineQuantity
	lineUnitPrice
)

var lineFields = newFieldTable("product_id", "quantity", "unit_price")

// lineText is the text JSON output writes for a line, less its product
// ID, quantity and unit price.
const lineText = `{"product_id":"","quantity":,"unit_price":}`

// line reads order line i into ln. For one whose members were product_id,
// quantity and unit_price, in that order and nothing else, with a unit
// price whose text s.texts keeps, it returns the length JSON output writes
// for the line; else 0.
func (s *scanner) line(i int, ln *Line) (int, error) {
	if s.peek() != '{' {
		return 0, s.wrongType(linePath(i, ""), "object")
	}
	if err := s.enter(); err != nil {
		return 0, err
	}
	var seen presence
	// order holds the members' numbers, two bits each: the last three
	// are the writer's if it ends up as below. Members before them, or
	// unknown ones, make the record's text longer than the writer's, which
	// lines tells by the length.
	order := 0
	for first := true; ; first = false {
		field, ok, err := s.nextField(first, lineFields)
		if err != nil {
			return 0, err
		}
		if !ok {
			break
		}
		order = order<<2 | field&3
		var (
			n       int64
			f       float64
			present bool
		)
		switch field {
		case lineProductID:
			ln.ProductID, err = s.str("product_id")
		case lineQuantity:
			if n, present, err = s.integer("quantity"); present {
				ln.Quantity, seen = n, seen|seenQuantity
			}
		case lineUnitPrice:
			if f, present, err = s.float("unit_price"); present {
				ln.UnitPrice, seen = f, seen|seenUnitPrice
				if i < len(s.texts.prices) {
					s.note(&s.texts.prices[i], f)
				}
			}
		default:
			err = s.skip()
		}
		if err != nil {
			return 0, prefixField(linePath(i, ""), err)
		}
	}
	if seen&seenQuantity == 0 {
		return 0, reject(ReasonMissingField, linePath(i, ".quantity"), "quantity is required")
	}
	if seen&seenUnitPrice == 0 {
		return 0, reject(ReasonMissingField, linePath(i, ".unit_price"), "unit_price is required")
	}
	if order != lineProductID<<4|lineQuantity<<2|lineUnitPrice || i >= len(s.texts.prices) || s.texts.prices[i].text == "" {
		return 0, nil
	}
	return len(lineText) + len(ln.ProductID) + intLen(ln.Quantity) + len(s.texts.prices[i].text), nil
}

// lineAsWritten reads order line i when it is written exactly as JSON
// output writes it (the usual case: compact, product_id, quantity and
// unit_price in that order, nothing else, no escapes, numbers as JSON
// output writes them), for one of the first lines s.texts keeps, and
// returns its length, as line does. The member names are compared as
// constants of at most 16 bytes, which the compiler does in words, instead
// of through nextField. For anything else (and any error) ok is false and
// the scanner is back where it was, for line to read it, s.escaped and
// s.numText being set again by the same reads.
func (s *scanner) lineAsWritten(i int, ln *Line) (n int, ok bool) {
	const (
		open      = `{"product_id":"`
		quantity  = `,"quantity":`
		unitPrice = `,"unit_price":`
	)
	start := s.pos
	if i >= len(s.texts.prices) || !lineOpenWords.at(s.raw, start) {
		return 0, false
	}
	s.pos += len(open) - 1 // at the value's quote
	id, err := s.str("product_id")
	if err != nil || s.pos-start != len(open)+len(id)+1 || !lineQuantityWords.at(s.raw, s.pos) {
		s.pos = start
		return 0, false
	}
	s.pos += len(quantity)
	q, present, err := s.integer("quantity")
	if err != nil || !present || s.pos-start != len(open)+len(id)+1+len(quantity)+intLen(q) ||
		!lineUnitPriceWords.at(s.raw, s.pos) {
		s.pos = start
		return 0, false
	}
	s.pos += len(unitPrice)
	p, present, err := s.float("unit_price")
	if err != nil || !present || s.numText == "" || s.pos >= len(s.src) || s.src[s.pos] != '}' {
		s.pos = start
		return 0, false
	}
	s.pos++
	s.note(&s.texts.prices[i], p)
	*ln = Line{ProductID: id, Quantity: q, UnitPrice: p}
	return s.pos - start, true
}

// The texts lineAsWritten expects between an order line's values.
var (
	lineOpenWords      = newTextWords(`{"product_id":"`)
	lineQuantityWords  = newTextWords(`,"quantity":`)
	lineUnitPriceWords = newTextWords(`,"unit_price":`)
)

// textWords is a text of 8 to 16 bytes as two little-endian words, its
// first eight bytes and its last eight (overlapping when it is shorter
// than 16), so that telling it in the input takes two loads and compares
// instead of a call to compare strings.
type textWords struct {
	first, last uint64
	n           int
}

func newTextWords(text string) textWords {
	if len(text) < 8 || len(text) > 16 {
		panic("events: textWords of " + text + " needs 8 to 16 bytes")
	}
	b := []byte(text)
	return textWords{binary.LittleEndian.Uint64(b), binary.LittleEndian.Uint64(b[len(b)-8:]), len(b)}
}

// at reports whether raw holds the text from i on.
func (t *textWords) at(raw []byte, i int) bool {
	return i >= 0 && i <= len(raw)-t.n && binary.LittleEndian.Uint64(raw[i:]) == t.first &&
		binary.LittleEndian.Uint64(raw[i+t.n-8:]) == t.last
}

// intLen returns the length of strconv.FormatInt(v, 10).
func intLen(v int64) int {
	n := 1
	if v < 0 {
		n++
	}
	for ; v >= 10 || v <= -10; v /= 10 {
		n++
	}
	return n
}

// The member names of a payment, numbered for fieldTable.
const (
	paymentMethod = iota + 1
	paymentCardFingerprint
	paymentCardBIN
)

var paymentFields = newFieldTable("method", "card_fingerprint", "card_bin")

func (s *scanner) payment(p *Payment) error {
	if ok, err := s.object("payment"); !ok || err != nil {
		return err
	}
	order := &s.order.payment
	for k := 0; ; k++ {
		var field int
		if e := order[k&(len(order)-1)]; e != nil && s.at(e) {
			field = int(e.id)
		} else if s.closes() {
			return nil
		} else {
			f, ok, err := s.nextMember(k, paymentFields, order[:])
			if err != nil || !ok {
				return err
			}
			field = f
		}
		var err error
		switch field {
		case paymentMethod:
			var m string
			m, err = s.str("payment.method")
			p.Method = PaymentMethod(m)
		case paymentCardFingerprint:
			p.CardFingerprint, err = s.str("payment.card_fingerprint")
		case paymentCardBIN:
			p.CardBIN, err = s.str("payment.card_bin")
		default:
			err = s.skip()
		}
		if err != nil {
			return err
		}
	}
}

// The member names of a label, numbered for fieldTable.
const (
	labelFraud = iota + 1
	labelPattern
)

var labelFields = newFieldTable("fraud", "pattern")

// label reads the label into l.
func (s *scanner) label(l *Label) (*Label, error) {
	if ok, err := s.object("label"); !ok || err != nil {
		return nil, err
	}
	for first := true; ; first = false {
		field, ok, err := s.nextField(first, labelFields)
		if err != nil {
			return nil, err
		}
		if !ok {
			return l, nil
		}
		switch field {
		case labelFraud:
			l.Fraud, err = s.boolean("label.fraud")
		case labelPattern:
			l.Pattern, err = s.str("label.pattern")
		default:
			err = s.skip()
		}
		if err != nil {
			return nil, err
		}
	}
}

func (v *Validator) validateTransaction(t *Transaction) error {
	if err := v.validateEnvelope(&t.Envelope, KindTransaction); err != nil {
		return err
	}
	if err := requireID("transaction_id", t.TransactionID); err != nil {
		return err
	}
	if err := requireID("customer_id", t.CustomerID); err != nil {
		return err
	}
	if err := optionalID("merchant_id", t.MerchantID); err != nil {
		return err
	}
	if t.Channel != "" && !t.Channel.Valid() {
		return invalidEnum("channel", string(t.Channel))
	}
	if t.Lines == nil {
		return reject(ReasonMissingField, "lines", "lines is required")
	}
	if len(t.Lines) == 0 {
		return reject(ReasonOutOfRange, "lines", "at least one order line is required")
	}
	var sum float64
	for i := range t.Lines {
		ln := &t.Lines[i]
		if ln.ProductID == "" {
			return reject(ReasonMissingField, linePath(i, ".product_id"), "product_id is required")
		}
		if len(ln.ProductID) > MaxIDLength {
			return tooLong(linePath(i, ".product_id"), len(ln.ProductID))
		}
		if ln.Quantity < 1 || ln.Quantity > MaxQuantity {
			return reject(ReasonOutOfRange, linePath(i, ".quantity"),
				fmt.Sprintf("quantity %d is outside 1 to %d", ln.Quantity, MaxQuantity))
		}
		if !moneyOK(ln.UnitPrice) {
			return moneyError(linePath(i, ".unit_price"), ln.UnitPrice)
		}
		sum += float64(ln.Quantity) * ln.UnitPrice
	}
	if err := checkMoney("amount", t.Amount); err != nil {
		return err
	}
	if t.Currency == "" {
		return reject(ReasonMissingField, "currency", "currency is required")
	}
	exp, ok := currencyExponent(t.Currency)
	if !ok {
		return reject(ReasonInvalidCurrency, "currency", fmt.Sprintf("%q is not an active ISO 4217 currency code", t.Currency))
	}
	// Each line may have been rounded to the minor unit on its own, so the
	// total may drift by one minor unit per line. The relative slack covers
	// float64 error on large sums.
	tolerance := float64(len(t.Lines))*minorUnit[exp] + sum*1e-12
	if diff := math.Abs(t.Amount - sum); diff > tolerance {
		return reject(ReasonInconsistentAmount, "amount",
			fmt.Sprintf("amount %.*f differs from the lines' total %.*f by %.*f, more than the %.*f allowed for %d lines",
				exp, t.Amount, exp, sum, exp, diff, exp, float64(len(t.Lines))*minorUnit[exp], len(t.Lines)))
	}
	if err := validatePayment(&t.Payment); err != nil {
		return err
	}
	if err := validateDevice(&t.Device); err != nil {
		return err
	}
	if t.IP.IsValid() && t.IP.Zone() != "" {
		return reject(ReasonInvalidIP, "ip", "ip must not carry a zone")
	}
	return validateGeo(&t.Geo)
}

// minorUnit is the size of a currency's minor unit, by ISO 4217 exponent.
var minorUnit = [...]float64{1, 0.1, 0.01, 0.001, 0.0001}

func validatePayment(p *Payment) error {
	if *p == (Payment{}) {
		return nil
	}
	if p.Method == "" {
		return reject(ReasonMissingField, "payment.method", "payment.method is required when payment is present")
	}
	if !p.Method.Valid() {
		return invalidEnum("payment.method", string(p.Method))
	}
	if p.Method == PaymentCard && p.CardFingerprint == "" {
		return reject(ReasonMissingField, "payment.card_fingerprint", "card_fingerprint is required for card payments")
	}
	if err := optionalID("payment.card_fingerprint", p.CardFingerprint); err != nil {
		return err
	}
	if p.CardBIN != "" && !isCardBIN(p.CardBIN) {
		return reject(ReasonInvalidFormat, "payment.card_bin", fmt.Sprintf("card_bin %q is not 6 or 8 digits", p.CardBIN))
	}
	return nil
}

func isCardBIN(s string) bool {
	if len(s) != 6 && len(s) != 8 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// PaymentMethods lists the PaymentMethod values.
var PaymentMethods = []PaymentMethod{PaymentCard, PaymentPayPal, PaymentApplePay, PaymentGooglePay,
	PaymentBankTransfer, PaymentCOD, PaymentGiftCard, PaymentCrypto}
