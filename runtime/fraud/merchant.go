package fraud

import "strings"

// Merchant risk priors. A merchant without history scores merchantPriorRate;
// its own evidence outweighs the prior after about merchantPriorWeight
// transactions.
const (
	merchantPriorRate   = 0.01
	merchantPriorWeight = 100
)

// MerchantState counts what this partition saw of one merchant.
type MerchantState struct {
	// Transactions observed.
	Transactions uint64
	// Alerts is the number of observed transactions whose outcome was
	// review or block.
	Alerts uint64
	// ConfirmedFraud and ConfirmedLegit count analyst labels on alerts at
	// this merchant.
	ConfirmedFraud uint64
	ConfirmedLegit uint64
	// Last is the event time of the latest transaction, Unix nanoseconds.
	Last int64

	marks
	id string // the key the State holds it under, once State made it
}

// Risk estimates the fraction of the merchant's transactions that are
// fraudulent, in [0, 1]:
//
//	precision = (F + 1) / (F + L + 2)          Beta(1,1)-smoothed share of labelled alerts that were fraud
//	expected  = F + precision * max(0, A-F-L)  confirmed fraud plus the unlabelled alerts at that precision
//	risk      = (expected + m*r0) / (N + m)    shrunk towards the prior rate r0 = 0.01 with weight m = 100
//
// with N transactions, A alerts, F and L alerts labelled fraud and legit.
// The confirmed-fraud rate dominates as labels arrive; until then the alert
// rate stands in for it, discounted by how often alerts turned out right.
// A new merchant scores 0.01.
func (m *MerchantState) Risk() float64 {
	if m == nil {
		return merchantPriorRate
	}
	f, l, a, n := float64(m.ConfirmedFraud), float64(m.ConfirmedLegit), float64(m.Alerts), float64(m.Transactions)
	precision := (f + 1) / (f + l + 2)
	expected := f + precision*max(0, a-f-l)
	r := (expected + merchantPriorWeight*merchantPriorRate) / (n + merchantPriorWeight)
	return min(1, max(0, r))
}

// MarshalBinary encodes the counters, typically in under 20 bytes.
func (m *MerchantState) MarshalBinary() ([]byte, error) {
	e := encoder{b: make([]byte, 0, 24)}
	m.marshal(&e)
	return e.b, nil
}

func (m *MerchantState) marshal(e *encoder) {
	e.byte1(recordVersion)
	e.uvarint(m.Transactions)
	e.uvarint(m.Alerts)
	e.uvarint(m.ConfirmedFraud)
	e.uvarint(m.ConfirmedLegit)
	e.varint(m.Last)
}

// UnmarshalBinary decodes what MarshalBinary wrote.
func (m *MerchantState) UnmarshalBinary(b []byte) error {
	d := decoder{b: b}
	m.unmarshal(&d)
	return d.done()
}

func (m *MerchantState) unmarshal(d *decoder) {
	d.version()
	*m = MerchantState{
		Transactions:   d.uvarint(),
		Alerts:         d.uvarint(),
		ConfirmedFraud: d.uvarint(),
		ConfirmedLegit: d.uvarint(),
		Last:           d.varint(),
	}
}

// merchant returns the merchant's counters for a change, created with Last
// at if the merchant is new.
func (s *State) merchant(id string, at int64) *MerchantState {
	m := s.merchants[id]
	if m == nil {
		// IDs of a decoded event share one copy of its whole record.
		id = strings.Clone(id)
		m = &MerchantState{Last: at, id: id}
		s.creating(EntryRef{rec: recMerchant, id: id}, &m.marks)
		s.merchants[id] = m
	} else {
		s.changing(EntryRef{rec: recMerchant, id: id}, &m.marks)
	}
	return m
}
