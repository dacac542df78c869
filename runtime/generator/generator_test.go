package generator

import (
	"bytes"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/ecap-dev/ecap/runtime/events"
)

// take returns the next n records of g.
func take(t testing.TB, g *Generator, n int) []Record {
	t.Helper()
	recs := make([]Record, 0, n)
	for range n {
		rec, ok := g.Next()
		if !ok {
			t.Fatalf("generator ended after %d records, want %d", len(recs), n)
		}
		recs = append(recs, rec)
	}
	return recs
}

func TestSameSeedSameBytes(t *testing.T) {
	cfg := Config{Seed: 42, Customers: 300, BadFraction: 0.05,
		FraudRates: map[string]float64{PatternCardTesting: 50, PatternColludingMerchant: 30}}
	a := take(t, New(cfg), 20000)
	b := take(t, New(cfg), 20000)
	for i := range a {
		if a[i].Topic != b[i].Topic || !bytes.Equal(a[i].Key, b[i].Key) || !bytes.Equal(a[i].Value, b[i].Value) ||
			!a[i].EventTime.Equal(b[i].EventTime) || a[i].Bad != b[i].Bad {
			t.Fatalf("record %d differs between runs with the same seed:\n%s\n%s", i, a[i].Value, b[i].Value)
		}
	}
	cfg.Seed = 43
	c := take(t, New(cfg), 20000)
	same := 0
	for i := range a {
		if bytes.Equal(a[i].Value, c[i].Value) {
			same++
		}
	}
	if same > 0 {
		t.Errorf("%d of %d records are identical with a different seed", same, len(a))
	}
}

func TestEndStopsTheStream(t *testing.T) {
	start := time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)
	g := New(Config{Seed: 1, Customers: 500, Start: start, End: start.Add(72 * time.Hour), BadFraction: 0.1})
	n := 0
	var last time.Time
	for {
		rec, ok := g.Next()
		if !ok {
			break
		}
		n++
		if rec.Bad != "" {
			continue // late records go back in time by design
		}
		if rec.EventTime.Before(last) {
			t.Fatalf("record %d at %s is before the previous one at %s", n, rec.EventTime, last)
		}
		last = rec.EventTime
		if rec.EventTime.After(start.Add(72 * time.Hour)) {
			t.Fatalf("record %d at %s is past the end", n, rec.EventTime)
		}
	}
	if n < 500 {
		t.Errorf("got %d records in 72h from 500 customers, want hundreds at least", n)
	}
	for range 100 {
		if _, ok := g.Next(); ok {
			t.Fatal("Next returned a record after the end")
		}
	}
}

// TestValidity checks every good record against the platform's validator
// and every bad one for the rejection its reason promises.
func TestValidity(t *testing.T) {
	const n, fraction = 30000, 0.05
	g := New(Config{Seed: 7, Customers: 300, BadFraction: fraction,
		FraudRates: map[string]float64{PatternCardTesting: 40, PatternAccountTakeover: 20,
			PatternImpossibleTravel: 20, PatternAmountAnomaly: 20, PatternColludingMerchant: 20}})
	// The validator's clock follows the stream, as a live consumer's would.
	var clock time.Time
	v := events.NewValidator(events.ValidatorConfig{Now: func() time.Time { return clock }})
	seen := map[string]bool{}
	bad := map[string]int{}
	for i := range n {
		rec, ok := g.Next()
		if !ok {
			t.Fatal("generator ended early")
		}
		clock = g.Stats().EventTime
		ev, err := v.Decode(rec.Topic, rec.Value)
		if rec.Bad == "" {
			if err != nil {
				t.Fatalf("good record %d fails validation: %v\n%s", i, err, rec.Value)
			}
			seen[ev.ID()] = true
			if tx, ok := ev.(*events.Transaction); ok && tx.Label == nil {
				t.Fatalf("transaction %s has no label", tx.TransactionID)
			}
			continue
		}
		bad[rec.Bad]++
		want := ExpectedRejection(rec.Bad)
		if want == "" {
			if err != nil {
				t.Fatalf("duplicate record %d fails validation: %v", i, err)
			}
			if !seen[ev.ID()] {
				t.Fatalf("duplicate record %d has event_id %s never sent before", i, ev.ID())
			}
			continue
		}
		var rej *events.Rejection
		if !errors.As(err, &rej) || rej.Reason != want {
			t.Fatalf("bad record %d (%s): got %v, want rejection %s\n%s", i, rec.Bad, err, want, rec.Value)
		}
	}
	total := 0
	for _, reason := range BadReasons {
		if bad[reason] == 0 {
			t.Errorf("no bad record of reason %s", reason)
		}
		total += bad[reason]
	}
	if got := float64(total) / n; math.Abs(got-fraction) > 0.1*fraction {
		t.Errorf("bad fraction %.4f, want %.2f ± 10%%", got, fraction)
	}
	stats := g.Stats()
	for _, reason := range BadReasons {
		if stats.Bad[reason] != int64(bad[reason]) {
			t.Errorf("Stats.Bad[%s] = %d, counted %d", reason, stats.Bad[reason], bad[reason])
		}
	}
	t.Logf("bad records: %d of %d (%.2f%%) %v", total, n, 100*float64(total)/n, bad)
}

func TestParseFraudRates(t *testing.T) {
	got, err := ParseFraudRates("card_testing=2.5, amount_anomaly=0")
	if err != nil || got[PatternCardTesting] != 2.5 || got[PatternAmountAnomaly] != 0 || len(got) != 2 {
		t.Errorf("ParseFraudRates = %v, %v", got, err)
	}
	for _, in := range []string{"card_testing", "nope=1", "card_testing=-1", "card_testing=x"} {
		if _, err := ParseFraudRates(in); err == nil {
			t.Errorf("ParseFraudRates(%q) succeeded, want an error", in)
		}
	}
}

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
	}{
		{"negative customers", Config{Customers: -1}},
		{"bad fraction above 1", Config{BadFraction: 1.5}},
		{"unknown pattern", Config{FraudRates: map[string]float64{"phishing": 1}}},
		{"end before start", Config{End: DefaultStart.Add(-time.Hour)}},
		{"tiny catalogue", Config{Products: 3}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := NewChecked(tc.cfg); err == nil {
				t.Error("NewChecked succeeded, want an error")
			}
		})
	}
}

func BenchmarkGenerate(b *testing.B) {
	g := New(Config{Seed: 1, Customers: 10000, BadFraction: 0.01})
	var bytes int64
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		rec, ok := g.Next()
		if !ok {
			b.Fatal("generator ended")
		}
		bytes += int64(len(rec.Value))
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	b.SetBytes(bytes / int64(b.N))
}

// TestFraudEpisodesScaleWithTimeScale: a live demo compresses activity with
// TimeScale (ecap dev: 2000 customers at 300 records/s) and covers only a few
// minutes of event time. The wait before a fraud episode (up to 48h) must be
// compressed with it, or no fraud reaches such a run at all.
func TestFraudEpisodesScaleWithTimeScale(t *testing.T) {
	start := time.Date(2026, time.March, 2, 12, 0, 0, 0, time.UTC)
	cfg := Config{Seed: 1, Customers: 2000, Start: start, End: start.Add(8 * time.Minute),
		FraudRates: map[string]float64{PatternCardTesting: 40, PatternAccountTakeover: 20, PatternImpossibleTravel: 20,
			PatternAmountAnomaly: 20, PatternColludingMerchant: 20}}
	cfg.TimeScale = 300 / cfg.NaturalRate()
	g := New(cfg)
	for {
		if _, ok := g.Next(); !ok {
			break
		}
	}
	st := g.Stats()
	if st.LegitTransactions < 200 {
		t.Fatalf("only %d legitimate transactions in 8 minutes; the test needs more to earn fraud credit", st.LegitTransactions)
	}
	// The patterns whose episode starts after a wait must show up; the
	// travel gap (10-50 min) is part of the pattern and is not compressed.
	for _, p := range []string{PatternCardTesting, PatternAccountTakeover, PatternAmountAnomaly, PatternColludingMerchant} {
		if st.Fraud[p] == 0 {
			t.Errorf("no %s transactions in 8 minutes of event time at TimeScale %.0f with %d legitimate ones: %v",
				p, cfg.TimeScale, st.LegitTransactions, st.Fraud)
		}
	}
}
