package segmentation

import (
	"fmt"
	"time"
)

// Parts selects the optional models of FitAvailable.
type Parts struct {
	// Churn fits the BG/NBD model (P(alive), expected purchases).
	Churn bool
	// Value fits the gamma-gamma model (CLV); it needs Churn.
	Value bool
	// MinCustomers is the fewest customers the BG/NBD is fitted on; fewer
	// leave the model without it.
	MinCustomers int
}

// FitNotes says which requested parts FitAvailable left out and why.
type FitNotes struct {
	// Churn is why the BG/NBD part is missing; empty when fitted or not
	// requested.
	Churn string `json:"churn,omitempty"`
	// Value is why the gamma-gamma part is missing.
	Value string `json:"value,omitempty"`
}

// FitAvailable fits what the data supports: the RFM thresholds always, the
// BG/NBD and gamma-gamma models when requested and identifiable. A running
// platform needs segments even while its customers are too few or too new
// for the probabilistic models (no repeat purchase yet, every customer
// acquired today); those parts are then left out (Model.NoChurn,
// Model.NoValue) and the notes say why. Only an invalid configuration or
// input is an error. Like Fit, the result depends only on the multisets of
// the input, not on how it was split.
func FitAvailable(in *FitInput, cfg Config, parts Parts) (*Model, FitNotes, error) {
	var notes FitNotes
	cfg, err := cfg.withDefaults(in.Unit)
	if err != nil {
		return nil, notes, fmt.Errorf("invalid config: %w", err)
	}
	c := in.Clone()
	if err := c.Validate(); err != nil {
		return nil, notes, fmt.Errorf("invalid fit input: %w", err)
	}
	c.Canonicalize()
	m := &Model{Unit: c.Unit, Customers: c.Customers(), Config: cfg, NoChurn: true, NoValue: true}
	m.RFM = newRFMModel(c, cfg.RFM.Bins)
	switch {
	case !parts.Churn:
	case m.Customers < parts.MinCustomers:
		notes.Churn = fmt.Sprintf("%d customers, fewer than the %d the BG/NBD is fitted on", m.Customers, parts.MinCustomers)
	default:
		if m.BGNBD, err = FitBGNBD(c.Triples); err != nil {
			notes.Churn = err.Error()
		} else {
			m.NoChurn = false
		}
	}
	switch {
	case !parts.Value:
	case m.NoChurn:
		if parts.Churn {
			notes.Value = "CLV needs the BG/NBD model, which is missing"
		} else {
			notes.Value = "CLV needs the BG/NBD model, which is disabled"
		}
	default:
		if m.GammaGamma, err = FitGammaGamma(c.Values); err != nil {
			notes.Value = err.Error()
		} else {
			m.NoValue = false
		}
	}
	return m, notes, nil
}

// Standing is how a customer's purchases lie relative to a calibration end.
type Standing int

// Standings of CustomerOf.
const (
	// Calibrated: every purchase is on or before the calibration end day.
	Calibrated Standing = iota
	// NotYetAcquired: the first purchase is after the calibration end day;
	// the customer is not part of the calibration period.
	NotYetAcquired
	// PurchasedAfterEnd: the first purchase is in the calibration period and
	// some later one after it. A Summary cannot split its purchase days at
	// an arbitrary day, so the calibration summary is unknown.
	PurchasedAfterEnd
)

// CustomerOf returns the calibration summary in unit u of a customer whose
// purchases s summarises, for a calibration period ending with the UTC day
// of calibrationEnd (inclusive). The Customer is meaningful only when the
// Standing is Calibrated.
func CustomerOf(id string, s *Summary, calibrationEnd time.Time, u Unit) (Customer, Standing) {
	end := dayOf(calibrationEnd)
	switch {
	case s.PurchaseDays == 0 || s.FirstDay > end:
		return Customer{ID: id}, NotYetAcquired
	case s.LastDay > end:
		return Customer{ID: id}, PurchasedAfterEnd
	}
	a := Accumulator{end: end}
	return a.customer(id, s, u), Calibrated
}
