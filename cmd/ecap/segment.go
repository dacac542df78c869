package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/ecap-dev/ecap/runtime/segmentation"
)

func init() { extraCommands = append(extraCommands, newSegmentCommand) }

// segmentOptions are the flags of `ecap segment`.
type segmentOptions struct {
	transactions   string
	calibrationEnd string
	unit           string
	horizon        float64
	bins           int
	output         string
	cohorts        bool
}

func newSegmentCommand() *cobra.Command {
	o := &segmentOptions{}
	cmd := &cobra.Command{
		Use:   "segment",
		Short: "Fit BG/NBD and Gamma-Gamma, score RFM segments and CLV over a file of transactions (backfill)",
		Long: `segment reads transactions (the platform's NDJSON transaction events, or CSV
with a header naming customer_id, timestamp and amount), summarises each
customer up to the calibration end (inclusive), fits the models and prints
the parameters and segment counts as JSON. --output writes one CSV row per
customer.`,
		RunE: func(cmd *cobra.Command, _ []string) error { return runSegment(o, cmd.OutOrStdout()) },
	}
	f := cmd.Flags()
	f.StringVar(&o.transactions, "transactions", "", "NDJSON or CSV file of transactions (- for stdin)")
	f.StringVar(&o.calibrationEnd, "calibration-end", "", "last day of the calibration period, YYYY-MM-DD (inclusive)")
	f.StringVar(&o.unit, "unit", "week", "time unit of recency, T and horizons: day or week")
	f.Float64Var(&o.horizon, "horizon", 52, "forecast horizon for expected purchases, in --unit")
	f.IntVar(&o.bins, "bins", 5, "RFM score bins")
	f.StringVar(&o.output, "output", "", "write per-customer rows to this CSV file")
	f.BoolVar(&o.cohorts, "cohorts", false, "include the cohort retention matrix by acquisition month")
	_ = cmd.MarkFlagRequired("transactions")
	_ = cmd.MarkFlagRequired("calibration-end")
	return cmd
}

func runSegment(o *segmentOptions, stdout io.Writer) error {
	end, err := time.Parse(time.DateOnly, o.calibrationEnd)
	if err != nil {
		return fmt.Errorf("--calibration-end: want YYYY-MM-DD, got %q", o.calibrationEnd)
	}
	unit := segmentation.Unit(o.unit)
	if err := unit.Validate(); err != nil {
		return fmt.Errorf("--unit: %w", err)
	}
	if !(o.horizon > 0) {
		return fmt.Errorf("--horizon: must be greater than zero, got %v", o.horizon)
	}
	in := os.Stdin
	if o.transactions != "-" {
		if in, err = os.Open(o.transactions); err != nil {
			return fmt.Errorf("--transactions: %w", err)
		}
		defer in.Close()
	}
	acc := segmentation.NewAccumulator(end)
	cohorts := segmentation.NewCohortBuilder()
	err = segmentation.ScanTransactions(in, func(t segmentation.Transaction) error {
		if t.Time.Before(end.AddDate(0, 0, 1)) { // the calibration period, its end day included
			cohorts.Add(t.CustomerID, t.Time)
		}
		return acc.Add(t.CustomerID, t.Time, t.Amount)
	})
	if err != nil {
		return fmt.Errorf("%s: %w", o.transactions, err)
	}
	customers, err := acc.Customers(unit)
	if err != nil {
		return err
	}
	res, err := segmentation.Analyze(customers, unit, segmentation.Config{
		Horizon: o.horizon,
		RFM:     segmentation.RFMConfig{Bins: o.bins},
	})
	if err != nil {
		return fmt.Errorf("failed to fit the models: %w", err)
	}
	if o.cohorts {
		m := cohorts.Matrix()
		res.Cohorts = &m
	}
	if o.output != "" {
		if err := writeRows(o.output, res.Customers); err != nil {
			return err
		}
	}
	res.Customers = nil // the JSON summary carries parameters and counts only
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(res)
}

func writeRows(path string, rows []segmentation.Row) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("--output: %w", err)
	}
	if err := segmentation.WriteCSV(f, rows); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
