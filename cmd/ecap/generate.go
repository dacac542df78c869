package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/ecap-dev/ecap/runtime/events"
	"github.com/ecap-dev/ecap/runtime/generator"
	"github.com/ecap-dev/ecap/runtime/kafkaio"
)

func init() { extraCommands = append(extraCommands, newGenerateCommand) }

// generateOptions are the flags of `ecap generate`.
type generateOptions struct {
	seed        uint64
	customers   int
	products    int
	events      int64
	duration    time.Duration
	rate        float64
	start       string
	timeScale   float64
	badFraction float64
	fraudRates  string
	brokers     string
	topics      generator.Topics
	partitions  int
	out         string
}

func newGenerateCommand() *cobra.Command {
	o := &generateOptions{}
	cmd := &cobra.Command{
		Use:   "generate",
		Short: "Generate a seeded, deterministic stream of realistic commerce events",
		Long: `generate simulates a shop's customers (BG/NBD-style purchase rates and
dropout, Gamma-Gamma spend), catalogue, browsing funnel, campaigns and
calendar, with labelled fraud and optional malformed input, and writes the
events to Kafka (--brokers) or NDJSON files (--out). The same flags and seed
give the same records, byte for byte.

--start now makes a live stream: records are held back until the wall clock
reaches their event time. Pass --rate to set the pace; the population's
activity is then scaled (--time-scale) to produce about that rate.`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return runGenerate(ctx, o, cmd.ErrOrStderr())
		},
	}
	f := cmd.Flags()
	f.Uint64Var(&o.seed, "seed", 1, "random seed; the same seed gives the same records")
	f.IntVar(&o.customers, "customers", 1000, "customers at the start (more arrive over time)")
	f.IntVar(&o.products, "products", 200, "catalogue size")
	f.Int64Var(&o.events, "events", 0, "stop after this many records (default 10000 unless --duration is set)")
	f.DurationVar(&o.duration, "duration", 0, "stop at this much event time after --start")
	f.Float64Var(&o.rate, "rate", 0, "records per second of wall time, 0 for as fast as possible")
	f.StringVar(&o.start, "start", "", `event time of the first record, RFC 3339 or "now" (default `+generator.DefaultStart.Format(time.RFC3339)+`)`)
	f.Float64Var(&o.timeScale, "time-scale", 0, "multiply customer activity by this factor (default 1, or derived from --rate with --start now)")
	f.Float64Var(&o.badFraction, "bad-fraction", 0, "share of deliberately malformed records, 0 to 1")
	f.StringVar(&o.fraudRates, "fraud-rate", "", "fraud per 1000 legitimate transactions, PATTERN=N,... (patterns: "+strings.Join(generator.FraudPatterns, ", ")+")")
	f.StringVar(&o.brokers, "brokers", "", "Kafka bootstrap brokers, host:port,...")
	f.StringVar(&o.topics.Transactions, "topic-transactions", "ecap.transactions", "Kafka topic for transactions")
	f.StringVar(&o.topics.UserEvents, "topic-user-events", "ecap.user-events", "Kafka topic for user events")
	f.StringVar(&o.topics.Products, "topic-products", "ecap.products", "Kafka topic for product updates (compacted)")
	f.IntVar(&o.partitions, "partitions", 0, "create missing topics with this many partitions (0: topics must exist)")
	f.StringVar(&o.out, "out", "", "write transactions.ndjson, user_events.ndjson and products.ndjson into this directory")
	return cmd
}

// config turns the flags into a generator configuration and run options.
func (o *generateOptions) config(now time.Time) (generator.Config, generator.RunOptions, error) {
	cfg := generator.Config{
		Seed:        o.seed,
		Customers:   o.customers,
		Products:    o.products,
		BadFraction: o.badFraction,
		TimeScale:   o.timeScale,
	}
	run := generator.RunOptions{MaxRecords: o.events, Rate: o.rate}
	var err error
	if cfg.FraudRates, err = generator.ParseFraudRates(o.fraudRates); err != nil {
		return cfg, run, fmt.Errorf("--fraud-rate: %w", err)
	}
	switch o.start {
	case "":
	case "now":
		cfg.Start = now.UTC().Truncate(time.Millisecond)
		run.Live = true
	default:
		if cfg.Start, err = time.Parse(time.RFC3339, o.start); err != nil {
			return cfg, run, fmt.Errorf(`--start: want RFC 3339 or "now", got %q`, o.start)
		}
	}
	if o.customers <= 0 {
		return cfg, run, fmt.Errorf("--customers: must be positive, got %d", o.customers)
	}
	if o.events < 0 || o.duration < 0 || o.rate < 0 || o.timeScale < 0 {
		return cfg, run, errors.New("--events, --duration, --rate and --time-scale must not be negative")
	}
	if o.duration > 0 {
		start := cfg.Start
		if start.IsZero() {
			start = generator.DefaultStart
		}
		cfg.End = start.Add(o.duration)
	} else if o.events == 0 {
		run.MaxRecords = 10000
	}
	if run.Live && o.rate > 0 && o.timeScale == 0 {
		// Scale activity so the population produces about --rate by itself;
		// the pacing then only smooths it.
		cfg.TimeScale = o.rate / cfg.NaturalRate()
	}
	if (o.brokers == "") == (o.out == "") {
		return cfg, run, errors.New("exactly one of --brokers and --out is required")
	}
	return cfg, run, nil
}

func runGenerate(ctx context.Context, o *generateOptions, stderr io.Writer) error {
	cfg, run, err := o.config(time.Now())
	if err != nil {
		return err
	}
	g, err := generator.NewChecked(cfg)
	if err != nil {
		return err
	}
	sink, err := o.openSink(ctx)
	if err != nil {
		return err
	}
	p := newProgress(stderr, run.MaxRecords, g.Config())
	run.Progress, run.ProgressEvery = p.report, p.every
	runErr := generator.Run(ctx, g, sink, run)
	closeErr := sink.Close()
	p.done()
	if runErr != nil {
		return runErr
	}
	if closeErr != nil {
		return fmt.Errorf("failed to close the output: %w", closeErr)
	}
	return nil
}

func (o *generateOptions) openSink(ctx context.Context) (generator.Sink, error) {
	if o.out != "" {
		return generator.NewFileSink(o.out)
	}
	client, err := kafkaio.NewClient(kafkaio.Config{Brokers: strings.Split(o.brokers, ","), ClientID: "ecap-generate"})
	if err != nil {
		return nil, fmt.Errorf("--brokers: %w", err)
	}
	if o.partitions > 0 {
		err := client.EnsureTopics(ctx,
			kafkaio.TopicSpec{Name: o.topics.Transactions, Partitions: o.partitions},
			kafkaio.TopicSpec{Name: o.topics.UserEvents, Partitions: o.partitions},
			kafkaio.CompactedTopic(o.topics.Products, o.partitions, 0),
		)
		if err != nil {
			client.Close()
			return nil, fmt.Errorf("failed to ensure topics: %w", err)
		}
	}
	return &clientSink{KafkaSink: generator.NewKafkaSink(client.NewWriter(), o.topics), client: client}, nil
}

// clientSink closes the Kafka client after the writer.
type clientSink struct {
	*generator.KafkaSink
	client *kafkaio.Client
}

func (s *clientSink) Close() error { return errors.Join(s.KafkaSink.Close(), s.client.Close()) }

// progress reports on a run: a single line redrawn in place on a terminal,
// structured log lines otherwise.
type progress struct {
	w        io.Writer
	tty      bool
	log      *slog.Logger
	every    time.Duration
	total    int64 // records wanted, 0 if bounded by event time
	from, to time.Time
	begin    time.Time
	drawn    bool
}

func newProgress(w io.Writer, total int64, cfg generator.Config) *progress {
	p := &progress{w: w, total: total, from: cfg.Start, to: cfg.End, begin: time.Now(), every: 5 * time.Second}
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		p.tty, p.every = true, 200*time.Millisecond
	} else {
		p.log = slog.New(slog.NewTextHandler(w, nil))
	}
	return p
}

func (p *progress) report(s generator.Stats) {
	elapsed := time.Since(p.begin).Seconds()
	rate := float64(s.Records) / max(elapsed, 1e-9)
	var fraud, bad int64
	for _, n := range s.Fraud {
		fraud += n
	}
	for _, n := range s.Bad {
		bad += n
	}
	if !p.tty {
		p.log.Info("generating", "records", s.Records, "perSecond", int64(rate),
			"transactions", s.ByKind[events.KindTransaction], "fraud", fraud,
			"userEvents", s.ByKind[events.KindUserEvent], "productUpdates", s.ByKind[events.KindProductUpdate],
			"bad", bad, "customers", s.Customers, "eventTime", s.EventTime.Format(time.RFC3339))
		return
	}
	frac := -1.0
	switch {
	case p.total > 0:
		frac = float64(s.Records) / float64(p.total)
	case !p.to.IsZero() && !s.EventTime.IsZero():
		frac = s.EventTime.Sub(p.from).Seconds() / p.to.Sub(p.from).Seconds()
	}
	bar := ""
	if frac >= 0 {
		const width = 24
		filled := int(min(frac, 1) * width)
		bar = fmt.Sprintf("[%s%s] %3.0f%% ", strings.Repeat("#", filled), strings.Repeat("-", width-filled), min(frac, 1)*100)
	}
	fmt.Fprintf(p.w, "\r\x1b[K%s%d records %.0f/s | tx %d (fraud %d) | user %d | products %d | bad %d | %s",
		bar, s.Records, rate, s.ByKind[events.KindTransaction], fraud, s.ByKind[events.KindUserEvent],
		s.ByKind[events.KindProductUpdate], bad, s.EventTime.Format("2006-01-02 15:04"))
	p.drawn = true
}

// done ends the progress line.
func (p *progress) done() {
	if p.tty && p.drawn {
		fmt.Fprintln(p.w)
	}
}
