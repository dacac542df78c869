package segmentation

import (
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
)

// Result is the outcome of a segmentation run, ready for JSON.
type Result struct {
	// Unit is the time unit of recency, T and horizons.
	Unit Unit `json:"unit"`
	// Horizon is the period of expected_purchases, in Unit.
	Horizon float64 `json:"horizon"`
	// BGNBD is the fitted purchase and dropout model.
	BGNBD BGNBD `json:"bgnbd"`
	// GammaGamma is the fitted transaction value model.
	GammaGamma GammaGamma `json:"gammaGamma"`
	// RFM holds the RFM score thresholds.
	RFM RFMModel `json:"rfm"`
	// Segments counts the scored customers per segment.
	Segments map[string]int `json:"segments"`
	// CustomersScored is the number of rows.
	CustomersScored int `json:"customersScored"`
	// Cohorts is the retention matrix by acquisition month, when the caller
	// built one (CohortBuilder); NewResult leaves it nil.
	Cohorts *CohortMatrix `json:"cohorts,omitempty"`
	// Customers holds the per-customer rows; WriteCSV writes them as CSV.
	Customers []Row `json:"customers,omitempty"`
}

// NewResult gathers a model and its scored rows.
func NewResult(m *Model, rows []Row) *Result {
	res := &Result{
		Unit:            m.Unit,
		Horizon:         m.Config.Horizon,
		BGNBD:           m.BGNBD,
		GammaGamma:      m.GammaGamma,
		RFM:             m.RFM,
		Segments:        make(map[string]int),
		CustomersScored: len(rows),
		Customers:       rows,
	}
	for i := range rows {
		res.Segments[rows[i].Segment]++
	}
	return res
}

// csvHeader is the header of WriteCSV, the JSON names of Row.
var csvHeader = []string{
	"customer_id", "frequency", "recency", "T", "monetary", "spend",
	"p_alive", "expected_purchases", "clv", "r_score", "f_score", "m_score", "segment",
}

// WriteCSV writes rows as CSV with a header; floats use the shortest form
// that reads back exactly.
func WriteCSV(w io.Writer, rows []Row) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(csvHeader); err != nil {
		return fmt.Errorf("failed to write CSV header: %w", err)
	}
	rec := make([]string, len(csvHeader))
	f := func(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
	for i := range rows {
		r := &rows[i]
		rec[0] = r.CustomerID
		rec[1] = strconv.Itoa(r.Frequency)
		rec[2] = f(r.Recency)
		rec[3] = f(r.T)
		rec[4] = f(r.Monetary)
		rec[5] = f(r.Spend)
		rec[6] = f(r.PAlive)
		rec[7] = f(r.ExpectedPurchases)
		rec[8] = f(r.CLV)
		rec[9] = strconv.Itoa(r.RScore)
		rec[10] = strconv.Itoa(r.FScore)
		rec[11] = strconv.Itoa(r.MScore)
		rec[12] = r.Segment
		if err := cw.Write(rec); err != nil {
			return fmt.Errorf("failed to write CSV row %d: %w", i+1, err)
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("failed to write CSV: %w", err)
	}
	return nil
}
