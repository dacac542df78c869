package segmentation

import (
	"bufio"
	"encoding/csv"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// cdnowDir is the CDNOW sample, laid out as shared/ beside the repository
// both here and in CI.
var cdnowDir = filepath.Join("..", "..", "..", "shared", "datasets", "cdnow")

// cdnowCalibrationEnd is the last day of the 39-week calibration period used
// by Fader, Hardie & Lee (2005).
var cdnowCalibrationEnd = time.Date(1997, 9, 30, 0, 0, 0, 0, time.UTC)

// openCDNOW opens a file of the CDNOW dataset or fails the test: the
// published-results tests must not pass by skipping.
func openCDNOW(t testing.TB, name string) *os.File {
	t.Helper()
	f, err := os.Open(filepath.Join(cdnowDir, name))
	if err != nil {
		t.Fatalf("CDNOW dataset missing: %v (expected shared/datasets/cdnow beside the repository, i.e. %s from this package)", err, cdnowDir)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// readCDNOWRaw reads the raw CDNOW log: whitespace-separated
// "master_id sample_id yyyymmdd number_of_cds dollar_value" rows. The
// customer ID is sample_id without leading zeros, matching the IDs of
// cdnow_customers_summary.csv.
func readCDNOWRaw(r io.Reader) ([]Transaction, error) {
	var out []Transaction
	sc := bufio.NewScanner(r)
	for line := 1; sc.Scan(); line++ {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		if len(f) != 5 {
			return nil, fmt.Errorf("line %d: want 5 fields, got %d", line, len(f))
		}
		id, err := strconv.Atoi(f[1])
		if err != nil {
			return nil, fmt.Errorf("line %d: sample_id: %w", line, err)
		}
		day, err := time.Parse("20060102", f[2])
		if err != nil {
			return nil, fmt.Errorf("line %d: date: %w", line, err)
		}
		amount, err := strconv.ParseFloat(f[4], 64)
		if err != nil {
			return nil, fmt.Errorf("line %d: dollar_value: %w", line, err)
		}
		out = append(out, Transaction{CustomerID: strconv.Itoa(id), Time: day, Amount: amount})
	}
	return out, sc.Err()
}

// cdnowCustomers summarises the CDNOW log in weeks at the published
// calibration end.
func cdnowCustomers(t testing.TB) []Customer {
	t.Helper()
	txs, err := readCDNOWRaw(openCDNOW(t, "CDNOW_sample.txt"))
	if err != nil {
		t.Fatalf("read CDNOW_sample.txt: %v", err)
	}
	acc := NewAccumulator(cdnowCalibrationEnd)
	for _, tx := range txs {
		if err := acc.Add(tx.CustomerID, tx.Time, tx.Amount); err != nil {
			t.Fatal(err)
		}
	}
	cs, err := acc.Customers(Week)
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

type publishedSummary struct {
	x     int
	tx, T float64
}

func readCDNOWSummary(t testing.TB) map[string]publishedSummary {
	t.Helper()
	rows, err := csv.NewReader(openCDNOW(t, "cdnow_customers_summary.csv")).ReadAll()
	if err != nil {
		t.Fatalf("read cdnow_customers_summary.csv: %v", err)
	}
	if len(rows) < 2 || strings.Join(rows[0], ",") != "ID,frequency,recency,T" {
		t.Fatalf("cdnow_customers_summary.csv: unexpected header %v", rows[0])
	}
	out := make(map[string]publishedSummary, len(rows)-1)
	for _, r := range rows[1:] {
		x, err1 := strconv.Atoi(r[1])
		tx, err2 := strconv.ParseFloat(r[2], 64)
		T, err3 := strconv.ParseFloat(r[3], 64)
		if err1 != nil || err2 != nil || err3 != nil {
			t.Fatalf("cdnow_customers_summary.csv: bad row %v", r)
		}
		out[r[0]] = publishedSummary{x: x, tx: tx, T: T}
	}
	return out
}

func TestCDNOWSummaryMatchesPublished(t *testing.T) {
	got := cdnowCustomers(t)
	want := readCDNOWSummary(t)
	if len(got) != len(want) || len(got) != 2357 {
		t.Fatalf("got %d customers, published summary has %d (want 2357)", len(got), len(want))
	}
	for _, c := range got {
		w, ok := want[c.ID]
		if !ok {
			t.Fatalf("customer %s not in the published summary", c.ID)
		}
		if c.Frequency != w.x || math.Abs(c.Recency-w.tx) > 0.01 || math.Abs(c.T-w.T) > 0.01 {
			t.Errorf("customer %s: got (x, t_x, T) = (%d, %.4f, %.4f), published (%d, %.2f, %.2f)",
				c.ID, c.Frequency, c.Recency, c.T, w.x, w.tx, w.T)
		}
	}
}

// round3 rounds to three decimals, as Table 1 of FHL 2005 reports.
func round3(v float64) float64 { return math.Round(v*1000) / 1000 }

func TestCDNOWBGNBDMatchesPublished(t *testing.T) {
	in := NewFitInput(Week, cdnowCustomers(t))
	in.Canonicalize()
	m, err := FitBGNBD(in.Triples)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("BG/NBD on CDNOW: r=%.6f alpha=%.6f a=%.6f b=%.6f LL=%.4f", m.R, m.Alpha, m.A, m.B, m.LogLikelihood)
	// Fader, Hardie & Lee (2005), Table 1.
	for _, c := range []struct {
		name      string
		got, want float64
	}{
		{"r", m.R, 0.243}, {"alpha", m.Alpha, 4.414}, {"a", m.A, 0.793}, {"b", m.B, 2.426},
	} {
		if math.Abs(round3(c.got)-c.want) > 0.001+1e-9 {
			t.Errorf("%s = %.6f, published %.3f", c.name, c.got, c.want)
		}
	}
	if math.Abs(m.LogLikelihood-(-9582.4)) > 0.1 {
		t.Errorf("log-likelihood = %.4f, published -9582.4", m.LogLikelihood)
	}
}
