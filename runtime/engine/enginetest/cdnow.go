package enginetest

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/ecap-dev/ecap/runtime/segmentation"
)

// CDNOWCalibrationEnd is the last day of the 39-week calibration period of
// Fader, Hardie & Lee (2005).
var CDNOWCalibrationEnd = time.Date(1997, 9, 30, 0, 0, 0, 0, time.UTC)

// CDNOWEvents reads CDNOW_sample.txt in dir ("master_id sample_id yyyymmdd
// cds dollars" rows) and returns, as platform transaction events keyed by
// customer, the rows up to and including the day through. The customer ID
// is sample_id without leading zeros, as in cdnow_customers_summary.csv;
// each row is one order line whose amount is the row's dollar value, at
// noon UTC of its day.
func CDNOWEvents(dir string, through time.Time) ([]Txn, error) {
	f, err := os.Open(filepath.Join(dir, "CDNOW_sample.txt"))
	if err != nil {
		return nil, fmt.Errorf("CDNOW dataset missing: %w", err)
	}
	defer f.Close()
	var out []Txn
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		fs := strings.Fields(sc.Text())
		if len(fs) == 0 {
			continue
		}
		if len(fs) != 5 {
			return nil, fmt.Errorf("CDNOW_sample.txt line %d: want 5 fields, got %q", line, sc.Text())
		}
		id, err1 := strconv.Atoi(fs[1])
		day, err2 := time.Parse("20060102", fs[2])
		cds, err3 := strconv.Atoi(fs[3])
		amount, err4 := strconv.ParseFloat(fs[4], 64)
		if err1 != nil || err2 != nil || err3 != nil || err4 != nil {
			return nil, fmt.Errorf("CDNOW_sample.txt line %d: %q", line, sc.Text())
		}
		if day.After(through) {
			continue
		}
		cid := strconv.Itoa(id)
		t := day.Add(12 * time.Hour)
		out = append(out, CustomerTxn(fmt.Sprintf("cdnow-%05d", line), cid, t, amount, max(cds, 1)))
	}
	return out, sc.Err()
}

// CustomerTxn builds a minimal valid transaction event: one order line of
// quantity 1 at amount (so the amount is exact), paid by card, in USD.
// units only names the product.
func CustomerTxn(eventID, customerID string, t time.Time, amount float64, units int) Txn {
	m := map[string]any{
		"event_id": eventID, "type": "transaction", "schema_version": 1,
		"event_time": t.UTC().Format(time.RFC3339Nano), "transaction_id": "txn-" + eventID,
		"customer_id": customerID, "merchant_id": "cdnow", "channel": "web",
		"lines":  []map[string]any{{"product_id": fmt.Sprintf("cds-%d", units), "quantity": 1, "unit_price": amount}},
		"amount": amount, "currency": "USD",
		"payment": map[string]any{"method": "card", "card_fingerprint": "fp-" + customerID},
		"geo":     map[string]any{"country": "US"},
	}
	b, _ := json.Marshal(m)
	return Txn{Key: []byte(customerID), Value: b, CustomerID: customerID, EventID: eventID, Amount: amount, EventTime: t.UTC()}
}

// CDNOWCohorts is the cohort matrix of the CDNOW rows in dir up to and
// including the day through, computed from the raw rows the way `ecap
// segment --cohorts` does (segmentation.CohortBuilder): the brute-force
// reference of the runtime's matrix.
func CDNOWCohorts(dir string, through time.Time) ([]segmentation.CohortRow, error) {
	f, err := os.Open(filepath.Join(dir, "CDNOW_sample.txt"))
	if err != nil {
		return nil, fmt.Errorf("CDNOW dataset missing: %w", err)
	}
	defer f.Close()
	b := segmentation.NewCohortBuilder()
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		fs := strings.Fields(sc.Text())
		if len(fs) == 0 {
			continue
		}
		day, err := time.Parse("20060102", fs[min(2, len(fs)-1)])
		if len(fs) != 5 || err != nil {
			return nil, fmt.Errorf("CDNOW_sample.txt line %d: %q", line, sc.Text())
		}
		if !day.After(through) {
			b.Add(strings.TrimLeft(fs[1], "0"), day)
		}
	}
	return b.Matrix().Cohorts, sc.Err()
}
