package fraud

import (
	"cmp"
	"iter"
	"slices"
	"sort"
	"time"

	"github.com/ecap-dev/ecap/api/v1alpha1"
)

// LabeledTransaction is a transaction with optional ground truth, such as
// the data generator's label.
type LabeledTransaction struct {
	Transaction Transaction
	// Labeled tells whether Fraud and Pattern are known.
	Labeled bool
	// Fraud is the ground truth.
	Fraud bool
	// Pattern names the fraud pattern, for per-pattern recall.
	Pattern string
}

// BacktestOptions tune a backtest.
type BacktestOptions struct {
	// State configures the state the backtest builds up.
	State StateConfig
	// FeedbackDelay, if positive, feeds the ground truth of every published
	// alert back as analyst feedback once event time has moved this far
	// past it, as an analyst queue would; merchant risk and rule precision
	// then learn during the run. Zero disables feedback.
	FeedbackDelay time.Duration
}

// Metrics are confusion counts and the scores derived from them. Precision,
// recall and F1 are 0 when undefined (no positives).
type Metrics struct {
	TruePositives  int64   `json:"tp"`
	FalsePositives int64   `json:"fp"`
	FalseNegatives int64   `json:"fn"`
	TrueNegatives  int64   `json:"tn"`
	Precision      float64 `json:"precision"`
	Recall         float64 `json:"recall"`
	F1             float64 `json:"f1"`
}

func (m *Metrics) add(predicted, actual bool) {
	switch {
	case predicted && actual:
		m.TruePositives++
	case predicted:
		m.FalsePositives++
	case actual:
		m.FalseNegatives++
	default:
		m.TrueNegatives++
	}
}

func (m *Metrics) finish() {
	if p := m.TruePositives + m.FalsePositives; p > 0 {
		m.Precision = float64(m.TruePositives) / float64(p)
	}
	if a := m.TruePositives + m.FalseNegatives; a > 0 {
		m.Recall = float64(m.TruePositives) / float64(a)
	}
	if m.Precision+m.Recall > 0 {
		m.F1 = 2 * m.Precision * m.Recall / (m.Precision + m.Recall)
	}
}

// RuleBacktest is one rule's activity and quality. Its metrics treat "the
// rule hit" as the prediction, whatever its mode and the outcome.
type RuleBacktest struct {
	Rule    string            `json:"rule"`
	Mode    v1alpha1.RuleMode `json:"mode"`
	Hits    int64             `json:"hits"`
	Errors  int64             `json:"errors"`
	Metrics Metrics           `json:"metrics"`
}

// PatternRecall is the share of one fraud pattern's transactions that were
// alerted (review or block).
type PatternRecall struct {
	Pattern  string  `json:"pattern"`
	Fraud    int64   `json:"fraud"`
	Detected int64   `json:"detected"`
	Recall   float64 `json:"recall"`
}

// BacktestReport summarises a backtest.
type BacktestReport struct {
	RuleSet      string            `json:"rule_set"`
	Generation   int64             `json:"generation"`
	Transactions int64             `json:"transactions"`
	Labeled      int64             `json:"labeled"`
	Fraud        int64             `json:"fraud"`
	Outcomes     map[Outcome]int64 `json:"outcomes"`
	// Overall treats an outcome of review or block as predicting fraud,
	// over labelled transactions.
	Overall  Metrics         `json:"overall"`
	Rules    []RuleBacktest  `json:"rules"`
	Patterns []PatternRecall `json:"patterns"`
	// Errors counts failed rule evaluations.
	Errors int64 `json:"errors"`
	// FeedbackApplied counts labels fed back (BacktestOptions.FeedbackDelay).
	FeedbackApplied int64 `json:"feedback_applied"`
}

// Backtest replays transactions, in event-time order, through Evaluate and
// Observe on a fresh state, as the runtime would, and scores the decisions
// against the ground truth. The rule set's counters are not touched: the
// run counts into its own Stats.
func Backtest(rs *RuleSet, txns iter.Seq[LabeledTransaction], opts BacktestOptions) BacktestReport {
	run := *rs
	run.rules = slices.Clone(rs.rules)
	run.useStats(NewStats())
	st := NewState(opts.State)

	rep := BacktestReport{
		RuleSet:    rs.name,
		Generation: rs.generation,
		Outcomes:   map[Outcome]int64{OutcomeAllow: 0, OutcomeReview: 0, OutcomeBlock: 0},
	}
	rules := make([]RuleBacktest, len(run.rules))
	index := make(map[string]int, len(run.rules))
	for i, r := range run.rules {
		mode := v1alpha1.RuleModeEnforce
		if r.shadow {
			mode = v1alpha1.RuleModeShadow
		}
		rules[i] = RuleBacktest{Rule: r.name, Mode: mode}
		index[r.name] = i
	}
	patterns := map[string]*PatternRecall{}
	type pending struct {
		due int64
		fb  Feedback
	}
	var queue []pending
	hit := make([]bool, len(run.rules))

	for lt := range txns {
		t := &lt.Transaction
		at := unixNano(t.EventTime)
		for len(queue) > 0 && queue[0].due <= at {
			if st.ApplyFeedback(queue[0].fb, run.stats) == nil {
				rep.FeedbackApplied++
			}
			queue = queue[1:]
		}

		d := run.Evaluate(t, st)
		run.Observe(t, st, &d)
		rep.Transactions++
		rep.Outcomes[d.Outcome]++
		rep.Errors += int64(len(d.Errors))
		clear(hit)
		for _, h := range d.Hits {
			i := index[h.Rule]
			hit[i] = true
			rules[i].Hits++
		}
		for _, e := range d.Errors {
			rules[index[e.Rule]].Errors++
		}
		if !lt.Labeled {
			continue
		}
		rep.Labeled++
		rep.Overall.add(d.Alerted(), lt.Fraud)
		for i := range rules {
			rules[i].Metrics.add(hit[i], lt.Fraud)
		}
		if lt.Fraud {
			rep.Fraud++
			name := cmp.Or(lt.Pattern, "(none)")
			p := patterns[name]
			if p == nil {
				p = &PatternRecall{Pattern: name}
				patterns[name] = p
			}
			p.Fraud++
			if d.Alerted() {
				p.Detected++
			}
		}
		if opts.FeedbackDelay > 0 && d.Publish() {
			label := LabelLegit
			if lt.Fraud {
				label = LabelFraud
			}
			due := at + int64(opts.FeedbackDelay)
			if due < at {
				due = at // overflow at the end of time
			}
			// Keep the queue ordered by due time, first in first out among
			// equals.
			i := sort.Search(len(queue), func(i int) bool { return queue[i].due > due })
			queue = slices.Insert(queue, i, pending{due: due, fb: Feedback{AlertID: d.AlertID, Label: label}})
		}
	}

	rep.Overall.finish()
	for i := range rules {
		rules[i].Metrics.finish()
	}
	rep.Rules = rules
	for _, p := range patterns {
		if p.Fraud > 0 {
			p.Recall = float64(p.Detected) / float64(p.Fraud)
		}
		rep.Patterns = append(rep.Patterns, *p)
	}
	slices.SortFunc(rep.Patterns, func(a, b PatternRecall) int { return cmp.Compare(a.Pattern, b.Pattern) })
	return rep
}
