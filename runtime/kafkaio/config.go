package kafkaio

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/segmentio/kafka-go/sasl/scram"
)

// Config is the Kafka connection and tuning of one runtime. Zero tuning
// fields take the defaults below, chosen for the runtime's loop of "fetch a
// batch, write its outputs and changelog with acks=all, commit".
type Config struct {
	// Brokers is the bootstrap list, host:port each. Required.
	Brokers []string
	// ClientID is sent to the brokers (quotas, broker logs). Default "ecap".
	ClientID string
	// TLS, when set, is used for every broker connection.
	TLS *tls.Config
	// SASL, when set, authenticates every connection (see NewSASL).
	SASL sasl.Mechanism

	// Group is the consumer group of the Source (one per Pipeline).
	Group string
	// Topics are the Source's input topics. They must be co-partitioned:
	// the same partition count and the same key (customer ID) with the same
	// partitioner, so that partition n of every topic holds the same
	// customers.
	Topics []string

	// BatchTimeout is how long the writer waits to fill a partition batch
	// before sending it; every synchronous WriteBatch waits this long for
	// its last partial batches. kafka-go's default of 1s would add a second
	// to every WriteBatch; default 1ms (on kfake, 0.2-2ms perform alike,
	// 10ms halves the rate of 1000-record WriteBatch calls).
	BatchTimeout time.Duration
	// BatchSize is the most records in one produce batch; default 2000.
	BatchSize int
	// BatchBytes is the most bytes in one produce request (uncompressed);
	// default 1 MiB, the broker's default message.max.bytes.
	BatchBytes int64
	// Compression of produced batches: "none", "gzip", "snappy", "lz4" or
	// "zstd"; default "lz4".
	Compression string
	// WriteTimeout bounds one produce request; default 10s.
	WriteTimeout time.Duration
	// MaxAttempts is how often the writer tries a batch before failing
	// WriteBatch; default 10 (with 100ms..1s backoff).
	MaxAttempts int

	// MinBytes is the least data a fetch waits for; default 1 byte (never
	// hold back records to fill a fetch).
	MinBytes int
	// MaxBytes is the most data one partition fetch returns; default 10 MiB.
	MaxBytes int
	// MaxWait is how long a fetch waits for MinBytes; it bounds how quickly
	// an idle partition notices new records and how quickly fetchers stop
	// on a rebalance. Default 250ms.
	MaxWait time.Duration
	// MaxBatchRecords caps the records in one Batch handed to the Handler;
	// default 1000. It is also each partition reader's prefetch queue, so
	// a member buffers up to about 3*MaxBatchRecords records per owned
	// topic-partition (queue, batch being built, batch waiting).
	MaxBatchRecords int

	// HeartbeatInterval is the group heartbeat period; it is also how fast
	// this member notices a rebalance. Default 1s.
	HeartbeatInterval time.Duration
	// SessionTimeout is how long the coordinator waits for heartbeats before
	// it declares this member dead and reassigns its partitions. Default 10s.
	SessionTimeout time.Duration
	// RebalanceTimeout is how long the coordinator waits for members to
	// rejoin; OnRevoked must finish within it. Default 60s.
	RebalanceTimeout time.Duration
	// JoinGroupBackoff is the wait before rejoining after a failed join;
	// default 1s.
	JoinGroupBackoff time.Duration
	// GroupBalancers are the assignment strategies offered, in order of
	// preference. Default: a fresh CopartitionBalancer, then kafka-go's
	// range balancer (also co-partitioning when partition counts match).
	GroupBalancers []kafka.GroupBalancer
	// StartOffset is where a partition without a committed offset starts:
	// kafka.FirstOffset (default) or kafka.LastOffset.
	StartOffset int64

	// DialTimeout bounds connection set-up (TCP, TLS, SASL); default 10s.
	DialTimeout time.Duration
	// Logger receives kafka-go's error logs and this package's warnings;
	// nil discards them. kafka-go's chatty info logs are forwarded only
	// when the logger has debug enabled.
	Logger *slog.Logger
}

// Defaults for Config's zero fields.
const (
	DefaultBatchTimeout      = time.Millisecond
	DefaultBatchSize         = 2000
	DefaultBatchBytes        = 1 << 20
	DefaultCompression       = "lz4"
	DefaultWriteTimeout      = 10 * time.Second
	DefaultMaxAttempts       = 10
	DefaultMinBytes          = 1
	DefaultMaxBytes          = 10 << 20
	DefaultMaxWait           = 250 * time.Millisecond
	DefaultMaxBatchRecords   = 1000
	DefaultHeartbeatInterval = time.Second
	DefaultSessionTimeout    = 10 * time.Second
	DefaultRebalanceTimeout  = 60 * time.Second
	DefaultJoinGroupBackoff  = time.Second
	DefaultDialTimeout       = 10 * time.Second
)

// withDefaults returns c with zero tuning fields set and the result checked.
func (c Config) withDefaults() (Config, error) {
	if len(c.Brokers) == 0 {
		return c, errors.New("kafka config: no brokers")
	}
	for _, b := range c.Brokers {
		if !strings.Contains(b, ":") {
			return c, fmt.Errorf("kafka config: broker address %q has no port", b)
		}
	}
	setDefault(&c.ClientID, "ecap")
	setDefault(&c.BatchTimeout, DefaultBatchTimeout)
	setDefault(&c.BatchSize, DefaultBatchSize)
	setDefault(&c.BatchBytes, DefaultBatchBytes)
	setDefault(&c.Compression, DefaultCompression)
	setDefault(&c.WriteTimeout, DefaultWriteTimeout)
	setDefault(&c.MaxAttempts, DefaultMaxAttempts)
	setDefault(&c.MinBytes, DefaultMinBytes)
	setDefault(&c.MaxBytes, DefaultMaxBytes)
	setDefault(&c.MaxWait, DefaultMaxWait)
	setDefault(&c.MaxBatchRecords, DefaultMaxBatchRecords)
	setDefault(&c.HeartbeatInterval, DefaultHeartbeatInterval)
	setDefault(&c.SessionTimeout, DefaultSessionTimeout)
	setDefault(&c.RebalanceTimeout, DefaultRebalanceTimeout)
	setDefault(&c.JoinGroupBackoff, DefaultJoinGroupBackoff)
	setDefault(&c.DialTimeout, DefaultDialTimeout)
	setDefault(&c.StartOffset, kafka.FirstOffset)
	if c.StartOffset != kafka.FirstOffset && c.StartOffset != kafka.LastOffset {
		return c, fmt.Errorf("kafka config: start offset must be kafka.FirstOffset or kafka.LastOffset, got %d", c.StartOffset)
	}
	if c.MinBytes > c.MaxBytes {
		return c, fmt.Errorf("kafka config: min bytes %d above max bytes %d", c.MinBytes, c.MaxBytes)
	}
	if c.HeartbeatInterval >= c.SessionTimeout {
		return c, fmt.Errorf("kafka config: heartbeat interval %s must be below session timeout %s", c.HeartbeatInterval, c.SessionTimeout)
	}
	if _, err := compressionCodec(c.Compression); err != nil {
		return c, err
	}
	return c, nil
}

func setDefault[T comparable](v *T, def T) {
	var zero T
	if *v == zero {
		*v = def
	}
}

func compressionCodec(name string) (kafka.Compression, error) {
	switch strings.ToLower(name) {
	case "none":
		return 0, nil
	case "gzip":
		return kafka.Gzip, nil
	case "snappy":
		return kafka.Snappy, nil
	case "lz4":
		return kafka.Lz4, nil
	case "zstd":
		return kafka.Zstd, nil
	}
	return 0, fmt.Errorf("kafka config: unknown compression %q (want none, gzip, snappy, lz4 or zstd)", name)
}

// NewSASL returns the kafka-go mechanism for a SASL mechanism name as Kafka
// spells it: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512.
func NewSASL(mechanism, username, password string) (sasl.Mechanism, error) {
	switch strings.ToUpper(mechanism) {
	case "PLAIN":
		return plain.Mechanism{Username: username, Password: password}, nil
	case "SCRAM-SHA-256":
		return scram.Mechanism(scram.SHA256, username, password)
	case "SCRAM-SHA-512":
		return scram.Mechanism(scram.SHA512, username, password)
	}
	return nil, fmt.Errorf("unsupported SASL mechanism %q (want PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512)", mechanism)
}

// Client holds what the Source, Writer, Changelog and admin calls share: the
// resolved Config, a dialer for per-partition connections and a kafka-go
// transport (connection pool and metadata cache). It is safe for concurrent
// use. Create it once per runtime and Close it last.
type Client struct {
	cfg       Config
	dialer    *kafka.Dialer
	transport *kafka.Transport
	admin     *kafka.Client
	log       *slog.Logger
}

// NewClient checks cfg and applies defaults. It does no I/O; use Ping to
// check that the brokers answer.
func NewClient(cfg Config) (*Client, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &Client{
		cfg: cfg,
		log: log,
		dialer: &kafka.Dialer{
			ClientID:      cfg.ClientID,
			Timeout:       cfg.DialTimeout,
			DualStack:     true,
			TLS:           cfg.TLS,
			SASLMechanism: cfg.SASL,
		},
		transport: &kafka.Transport{
			ClientID:    cfg.ClientID,
			DialTimeout: cfg.DialTimeout,
			TLS:         cfg.TLS,
			SASL:        cfg.SASL,
		},
	}
	c.admin = &kafka.Client{Addr: kafka.TCP(cfg.Brokers...), Transport: c.transport, Timeout: 30 * time.Second}
	return c, nil
}

// Config returns the resolved configuration (defaults applied).
func (c *Client) Config() Config { return c.cfg }

// Close releases the shared connections. Close the Source, Writers and
// Changelogs first.
func (c *Client) Close() error {
	c.transport.CloseIdleConnections()
	return nil
}

// Ping checks that a bootstrap broker answers a metadata request. The error
// names every broker tried and why it failed.
func (c *Client) Ping(ctx context.Context) error {
	conn, err := c.dialAny(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(c.cfg.DialTimeout))
	if _, err := conn.Brokers(); err != nil {
		return fmt.Errorf("failed to read cluster metadata from %s: %w", conn.RemoteAddr(), err)
	}
	return nil
}

// kafkaLoggers returns kafka-go loggers writing to c's logger: errors at
// warn level (kafka-go retries what it logs), info only at debug level.
func (c *Client) kafkaLoggers(component string) (info, errLog kafka.Logger) {
	errLog = kafka.LoggerFunc(func(format string, args ...any) {
		c.log.Warn("kafka client error", "component", component, "detail", fmt.Sprintf(format, args...))
	})
	if c.log.Enabled(context.Background(), slog.LevelDebug) {
		info = kafka.LoggerFunc(func(format string, args ...any) {
			c.log.Debug("kafka client", "component", component, "detail", fmt.Sprintf(format, args...))
		})
	}
	return info, errLog
}
