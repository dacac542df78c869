package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/spf13/cobra"

	"github.com/ecap-dev/ecap/api/v1alpha1"
	"github.com/ecap-dev/ecap/controllers/offline"
	"github.com/ecap-dev/ecap/runtime/engine"
	"github.com/ecap-dev/ecap/runtime/events"
	"github.com/ecap-dev/ecap/runtime/fraud"
)

func init() { extraCommands = append(extraCommands, newBacktestCommand) }

type backtestOptions struct {
	rules, events, topic string
	brokers              []string
	feedbackDelay        time.Duration
}

// backtestOutput is what `ecap backtest` prints.
type backtestOutput struct {
	fraud.BacktestReport
	// Skipped counts input records that are not valid transaction events,
	// by rejection reason; they are not scored.
	Skipped map[string]int64 `json:"skipped"`
}

func newBacktestCommand() *cobra.Command {
	o := &backtestOptions{}
	cmd := &cobra.Command{
		Use:   "backtest",
		Short: "Evaluate a FraudRuleSet over historical transactions and report hits, alerts, precision and recall",
		Long: `backtest admits the FraudRuleSet in --rules as the API server would, scores
every transaction event of --events (NDJSON) or of --topic on --brokers in
event-time order, building the same per-customer state as the runtime, and
prints a JSON report: hits per rule (enforce and shadow), outcomes, and
precision/recall overall, per rule and per fraud pattern against the events'
ground-truth labels where present.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runBacktest(cmd.Context(), o, cmd.OutOrStdout()) },
	}
	f := cmd.Flags()
	f.StringVar(&o.rules, "rules", "", "FraudRuleSet manifest (YAML)")
	f.StringVar(&o.events, "events", "", "NDJSON file of transaction events")
	f.StringVar(&o.topic, "topic", "", "Kafka topic of transaction events (read from the start to its end)")
	f.StringSliceVar(&o.brokers, "brokers", []string{"localhost:9092"}, "Kafka brokers, with --topic")
	f.DurationVar(&o.feedbackDelay, "feedback-delay", 0, "feed each alert's ground truth back as analyst feedback after this much event time (0: no feedback)")
	_ = cmd.MarkFlagRequired("rules")
	cmd.MarkFlagsMutuallyExclusive("events", "topic")
	cmd.MarkFlagsOneRequired("events", "topic")
	return cmd
}

func runBacktest(ctx context.Context, o *backtestOptions, out io.Writer) error {
	raw, err := os.ReadFile(o.rules)
	if err != nil {
		return fmt.Errorf("--rules: %w", err)
	}
	obj, err := offline.Admit(ctx, raw)
	if err != nil {
		return fmt.Errorf("--rules %s: %w", o.rules, err)
	}
	frs, ok := obj.(*v1alpha1.FraudRuleSet)
	if !ok {
		return fmt.Errorf("--rules %s: want a FraudRuleSet, got %T", o.rules, obj)
	}
	rs, err := fraud.Compile(frs.Name, max(frs.Generation, 1), frs.Spec)
	if err != nil {
		return fmt.Errorf("--rules %s: %w", o.rules, err)
	}

	var records [][]byte
	if o.events != "" {
		records, err = readLines(o.events)
	} else {
		records, err = readTopic(ctx, o.brokers, o.topic)
	}
	if err != nil {
		return err
	}
	// History is judged by event time, not against the wall clock.
	v := events.NewValidator(events.ValidatorConfig{MaxFutureSkew: -1, MaxAge: -1})
	skipped := map[string]int64{}
	var txns []fraud.LabeledTransaction
	for _, rec := range records {
		ev, err := v.Decode(events.KindTransaction, rec)
		if err != nil {
			var rej *events.Rejection
			if errors.As(err, &rej) {
				skipped[rej.Reason]++
			} else {
				skipped["undecodable"]++
			}
			continue
		}
		txns = append(txns, engine.LabeledTransaction(ev.(*events.Transaction)))
	}
	sort.SliceStable(txns, func(i, j int) bool { return txns[i].Transaction.EventTime.Before(txns[j].Transaction.EventTime) })
	report := fraud.Backtest(rs, func(yield func(fraud.LabeledTransaction) bool) {
		for _, t := range txns {
			if !yield(t) {
				return
			}
		}
	}, fraud.BacktestOptions{FeedbackDelay: o.feedbackDelay})
	enc := json.NewEncoder(out)
	enc.SetIndent("", "  ")
	return enc.Encode(backtestOutput{BacktestReport: report, Skipped: skipped})
}

func readLines(path string) ([][]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("--events: %w", err)
	}
	defer f.Close()
	var out [][]byte
	s := bufio.NewScanner(f)
	s.Buffer(make([]byte, 64<<10), 4<<20)
	for s.Scan() {
		if line := bytes.TrimSpace(s.Bytes()); len(line) > 0 {
			out = append(out, bytes.Clone(line))
		}
	}
	if err := s.Err(); err != nil {
		return nil, fmt.Errorf("--events %s: %w", path, err)
	}
	return out, nil
}

// readTopic reads every partition of topic from its first offset to the end
// it had when the read started.
func readTopic(ctx context.Context, brokers []string, topic string) ([][]byte, error) {
	conn, err := kafka.DialContext(ctx, "tcp", brokers[0])
	if err != nil {
		return nil, fmt.Errorf("--brokers %s: %w", strings.Join(brokers, ","), err)
	}
	parts, err := conn.ReadPartitions(topic)
	conn.Close()
	if err != nil {
		return nil, fmt.Errorf("--topic %s: %w", topic, err)
	}
	var out [][]byte
	for _, p := range parts {
		leader, err := kafka.DialLeader(ctx, "tcp", brokers[0], topic, p.ID)
		if err != nil {
			return nil, fmt.Errorf("--topic %s partition %d: %w", topic, p.ID, err)
		}
		first, last, err := leader.ReadOffsets()
		leader.Close()
		if err != nil {
			return nil, fmt.Errorf("--topic %s partition %d: %w", topic, p.ID, err)
		}
		if first >= last {
			continue
		}
		r := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, Topic: topic, Partition: p.ID, MinBytes: 1, MaxBytes: 8 << 20})
		if err := r.SetOffset(first); err != nil {
			r.Close()
			return nil, err
		}
		for {
			m, err := r.ReadMessage(ctx)
			if err != nil {
				r.Close()
				return nil, fmt.Errorf("--topic %s partition %d: %w", topic, p.ID, err)
			}
			out = append(out, m.Value)
			if m.Offset+1 >= last {
				break
			}
		}
		r.Close()
	}
	return out, nil
}
