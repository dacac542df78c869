package generator

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/ecap-dev/ecap/runtime/ctxtime"
	"github.com/ecap-dev/ecap/runtime/events"
	"github.com/ecap-dev/ecap/runtime/kafkaio"
)

// Sink receives generated records in batches.
type Sink interface {
	// Write stores recs, in order. The records are not reused afterwards.
	Write(ctx context.Context, recs []Record) error
	// Close flushes and releases the sink.
	Close() error
}

// Topics names the destination of each event kind.
type Topics struct {
	Transactions, UserEvents, Products string
}

// For returns the topic of kind.
func (t Topics) For(kind events.Kind) string {
	switch kind {
	case events.KindTransaction:
		return t.Transactions
	case events.KindUserEvent:
		return t.UserEvents
	}
	return t.Products
}

// KafkaSink writes records through a kafkaio.Sink: acks=all, keyed by
// customer ID (product ID for products), so Write returns once every
// record is durable.
type KafkaSink struct {
	w      kafkaio.Sink
	topics Topics
	msgs   []kafka.Message
}

var _ Sink = (*KafkaSink)(nil)

// NewKafkaSink returns a Sink on w. Closing it closes w.
func NewKafkaSink(w kafkaio.Sink, topics Topics) *KafkaSink {
	return &KafkaSink{w: w, topics: topics}
}

// Write implements Sink.
func (s *KafkaSink) Write(ctx context.Context, recs []Record) error {
	s.msgs = s.msgs[:0]
	for i := range recs {
		r := &recs[i]
		s.msgs = append(s.msgs, kafka.Message{Topic: s.topics.For(r.Topic), Key: r.Key, Value: r.Value, Time: r.EventTime})
	}
	if err := s.w.WriteBatch(ctx, s.msgs); err != nil {
		return fmt.Errorf("failed to write %d generated records: %w", len(recs), err)
	}
	return nil
}

// Close implements Sink.
func (s *KafkaSink) Close() error { return s.w.Close() }

// File names of a FileSink's directory.
const (
	TransactionsFile = "transactions.ndjson"
	UserEventsFile   = "user_events.ndjson"
	ProductsFile     = "products.ndjson"
)

// FileSink writes one NDJSON file per kind into a directory. A malformed
// record is written as is, on its own line (a value never contains a
// newline: events.Encode escapes them).
type FileSink struct {
	files [3]*os.File
	bufs  [3]*bufio.Writer
}

var _ Sink = (*FileSink)(nil)

// NewFileSink creates dir if needed and truncates the three files in it.
func NewFileSink(dir string) (*FileSink, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("failed to create output directory: %w", err)
	}
	s := &FileSink{}
	for i, name := range [3]string{TransactionsFile, UserEventsFile, ProductsFile} {
		f, err := os.Create(filepath.Join(dir, name))
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("failed to create output file: %w", err)
		}
		s.files[i], s.bufs[i] = f, bufio.NewWriterSize(f, 1<<16)
	}
	return s, nil
}

// Write implements Sink.
func (s *FileSink) Write(_ context.Context, recs []Record) error {
	for i := range recs {
		b := s.bufs[kindIndex(recs[i].Topic)]
		b.Write(recs[i].Value)
		if err := b.WriteByte('\n'); err != nil {
			return fmt.Errorf("failed to write generated records: %w", err)
		}
	}
	return nil
}

// Close implements Sink.
func (s *FileSink) Close() error {
	var errs []error
	for i, f := range s.files {
		if f == nil {
			continue
		}
		if s.bufs[i] != nil {
			errs = append(errs, s.bufs[i].Flush())
		}
		errs = append(errs, f.Close())
	}
	return errors.Join(errs...)
}

// RunOptions controls Run.
type RunOptions struct {
	// MaxRecords stops after this many records; 0 means until the
	// generator's End (or ctx is done).
	MaxRecords int64
	// Rate caps records per second of wall time; 0 means as fast as
	// possible.
	Rate float64
	// Live holds every record back until the wall clock reaches its event
	// time, so that event times are never in the future (Config.Start near
	// now). Late bad records are not held back.
	Live bool
	// BatchSize is the most records per Sink.Write. Default 500.
	BatchSize int
	// Progress, if set, is called with the generator's Stats about every
	// ProgressEvery (default 2s) and once at the end.
	Progress      func(Stats)
	ProgressEvery time.Duration
	// Now and Sleep stand in for the wall clock; nil means the real one.
	Now   func() time.Time
	Sleep func(ctx context.Context, d time.Duration) error
}

// Run pulls records from g and writes them to sink in batches until
// MaxRecords, the generator's end, or ctx is done (which is not an error).
// It does not close sink.
func Run(ctx context.Context, g *Generator, sink Sink, o RunOptions) error {
	if o.BatchSize <= 0 {
		o.BatchSize = 500
	}
	if o.ProgressEvery <= 0 {
		o.ProgressEvery = 2 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Sleep == nil {
		o.Sleep = func(ctx context.Context, d time.Duration) error {
			if !ctxtime.Sleep(ctx, d) {
				return ctx.Err()
			}
			return nil
		}
	}
	batch := make([]Record, 0, o.BatchSize)
	flush := func(ctx context.Context) error {
		if len(batch) == 0 {
			return nil
		}
		err := sink.Write(ctx, batch)
		batch = batch[:0]
		return err
	}
	begin := o.Now()
	lastProgress := begin
	var n int64
	for o.MaxRecords == 0 || n < o.MaxRecords {
		if ctx.Err() != nil {
			break
		}
		rec, ok := g.Next()
		if !ok {
			break
		}
		var due time.Time
		if o.Rate > 0 {
			due = begin.Add(time.Duration(float64(n) / o.Rate * 1e9))
		}
		if o.Live && rec.Bad != BadLate && rec.EventTime.After(due) {
			due = rec.EventTime
		}
		if now := o.Now(); due.After(now) {
			// Hand over what is ready before waiting, so that a slow rate
			// does not hold records back for a whole batch.
			if err := flush(ctx); err != nil {
				return err
			}
			if err := o.Sleep(ctx, due.Sub(now)); err != nil {
				break
			}
		}
		batch = append(batch, rec)
		n++
		if len(batch) == cap(batch) {
			if err := flush(ctx); err != nil {
				return err
			}
		}
		if o.Progress != nil {
			if now := o.Now(); now.Sub(lastProgress) >= o.ProgressEvery {
				lastProgress = now
				o.Progress(g.Stats())
			}
		}
	}
	// What was generated is written even when ctx ended the run; the
	// sink's own timeouts bound the wait.
	if err := flush(context.WithoutCancel(ctx)); err != nil {
		return err
	}
	if o.Progress != nil {
		o.Progress(g.Stats())
	}
	return nil
}
