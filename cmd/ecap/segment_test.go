package main

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ecap-dev/ecap/runtime/engine/enginetest"
	"github.com/ecap-dev/ecap/runtime/segmentation"
)

// cdnowCSV converts the raw CDNOW sample (id, customer, YYYYMMDD, CDs,
// dollars) into the CSV input of `ecap segment`.
func cdnowCSV(t *testing.T) string {
	t.Helper()
	raw, err := os.Open(filepath.Join("..", "..", "..", "shared", "datasets", "cdnow", "CDNOW_sample.txt"))
	if err != nil {
		t.Fatalf("the CDNOW dataset is required (../shared/datasets/cdnow): %v", err)
	}
	defer raw.Close()
	var b strings.Builder
	b.WriteString("customer_id,timestamp,amount\n")
	s := bufio.NewScanner(raw)
	for s.Scan() {
		f := strings.Fields(s.Text())
		if len(f) != 5 {
			continue
		}
		d := f[2]
		fmt.Fprintf(&b, "%s,%s-%s-%s,%s\n", f[1], d[:4], d[4:6], d[6:], f[4])
	}
	path := filepath.Join(t.TempDir(), "cdnow.csv")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestSegmentReproducesCDNOW(t *testing.T) {
	in := cdnowCSV(t)
	out := filepath.Join(t.TempDir(), "customers.csv")
	var stdout bytes.Buffer
	cmd := newRootCommand()
	cmd.SetOut(&stdout)
	cmd.SetArgs([]string{"segment", "--transactions", in, "--calibration-end", "1997-09-30", "--unit", "week", "--horizon", "39", "--output", out, "--cohorts"})
	if err := cmd.Execute(); err != nil {
		t.Fatalf("segment: %v", err)
	}
	var res struct {
		BGNBD           struct{ R, Alpha, A, B, LogLikelihood float64 }
		GammaGamma      struct{ P, Q, V float64 } `json:"gammaGamma"`
		Segments        map[string]int
		CustomersScored int
		Cohorts         *segmentation.CohortMatrix
	}
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, stdout.String())
	}
	// Fader, Hardie & Lee (2005), Table 1.
	for name, c := range map[string]struct{ got, want, tol float64 }{
		"r": {res.BGNBD.R, 0.243, 0.0005}, "alpha": {res.BGNBD.Alpha, 4.414, 0.0005},
		"a": {res.BGNBD.A, 0.793, 0.0005}, "b": {res.BGNBD.B, 2.426, 0.0005},
		"logLikelihood": {res.BGNBD.LogLikelihood, -9582.4, 0.05},
	} {
		if math.Abs(c.got-c.want) > c.tol {
			t.Errorf("%s = %v, want %v", name, c.got, c.want)
		}
	}
	// The cohort matrix covers the calibration period, its end day
	// included and nothing later.
	want, err := enginetest.CDNOWCohorts(filepath.Join("..", "..", "..", "shared", "datasets", "cdnow"), enginetest.CDNOWCalibrationEnd)
	if err != nil {
		t.Fatal(err)
	}
	if res.Cohorts == nil || fmt.Sprint(res.Cohorts.Cohorts) != fmt.Sprint(want) {
		t.Errorf("cohorts %+v, want %+v", res.Cohorts, want)
	}
	if res.CustomersScored != 2357 {
		t.Errorf("customersScored = %d, want 2357", res.CustomersScored)
	}
	total := 0
	for _, n := range res.Segments {
		total += n
	}
	if total != 2357 {
		t.Errorf("segment counts sum to %d, want 2357", total)
	}

	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2358 {
		t.Fatalf("customers.csv has %d lines, want a header and 2357 rows", len(rows))
	}
	for _, col := range []string{"customer_id", "frequency", "recency", "T", "monetary", "p_alive", "expected_purchases", "clv", "r_score", "f_score", "m_score", "segment"} {
		if !slices.Contains(rows[0], col) {
			t.Errorf("customers.csv header %v lacks %q", rows[0], col)
		}
	}
}

func TestSegmentBadInput(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.csv")
	if err := os.WriteFile(bad, []byte("customer_id,timestamp,amount\nc1,2024-01-01,12.5\nc2,not-a-date,3\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"malformed calibration end", []string{"--transactions", bad, "--calibration-end", "30/09/1997"}, "--calibration-end"},
		{"unknown unit", []string{"--transactions", bad, "--calibration-end", "2024-02-01", "--unit", "month"}, "--unit"},
		{"missing file", []string{"--transactions", filepath.Join(dir, "nope.csv"), "--calibration-end", "2024-02-01"}, "nope.csv"},
		{"bad row names line and field", []string{"--transactions", bad, "--calibration-end", "2024-02-01"}, "line 3"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cmd := newRootCommand()
			cmd.SetOut(&bytes.Buffer{})
			cmd.SetArgs(append([]string{"segment"}, tc.args...))
			err := cmd.Execute()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v, want one containing %q", err, tc.want)
			}
		})
	}
}
