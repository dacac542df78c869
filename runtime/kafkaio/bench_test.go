package kafkaio_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/ecap-dev/ecap/runtime/cputime"
	"github.com/ecap-dev/ecap/runtime/kafkaio"
	"github.com/ecap-dev/ecap/runtime/kafkatest"
)

// benchTransaction returns a transaction event of about 410 bytes, shaped
// like runtime/events/testdata/examples/transaction.json, keyed by
// customer. Its fields vary like real traffic so compression ratios are
// realistic.
func benchTransaction(r *rand.Rand, i int) kafka.Message {
	customer := fmt.Sprintf("cus-%06d", r.IntN(50_000))
	value := fmt.Appendf(nil, `{"event_id":"%08x-%04x-4%03x-a%03x-%012x","type":"transaction","schema_version":1,`+
		`"event_time":"2026-03-14T09:%02d:%02d.%03dZ","transaction_id":"txn-%09d","customer_id":"%s","merchant_id":"mer-%04d",`+
		`"lines":[{"product_id":"sku-%04d","quantity":%d,"unit_price":%d.%02d}],"amount":%d.%02d,"currency":"EUR",`+
		`"payment":{"method":"card","card_fingerprint":"fp_%010x","card_bin":"424242"}}`,
		r.Uint32(), r.IntN(1<<16), r.IntN(1<<12), r.IntN(1<<12), r.Uint64()&(1<<48-1),
		r.IntN(60), r.IntN(60), r.IntN(1000), i, customer, r.IntN(5000),
		r.IntN(10_000), 1+r.IntN(5), r.IntN(200), r.IntN(100), r.IntN(1000), r.IntN(100),
		r.Uint64()&(1<<40-1))
	return kafka.Message{Key: []byte(customer), Value: value}
}

func benchMessages(topic string, n int) []kafka.Message {
	r := rand.New(rand.NewPCG(1, 2))
	msgs := make([]kafka.Message, n)
	for i := range msgs {
		msgs[i] = benchTransaction(r, i)
		msgs[i].Topic = topic
	}
	return msgs
}

// BenchmarkRawConsume measures how fast a GroupSource drains a 4-partition
// topic of ~400-byte JSON transactions on kfake, with no processing. One
// iteration reads the whole topic with a fresh consumer group.
func BenchmarkRawConsume(b *testing.B) {
	records := 200_000
	if testing.Short() {
		records = 20_000
	}
	for _, codec := range []string{"none", "lz4"} {
		b.Run("compression="+codec, func(b *testing.B) {
			c := kafkatest.Start(b)
			c.CreateTopic(b, "transactions", 4, nil)
			cfg := kafkaio.Config{Brokers: c.Addrs(), Compression: codec}
			w := newClient(b, cfg).NewWriter()
			msgs := benchMessages("transactions", records)
			ctx := context.Background()
			for i := 0; i < len(msgs); i += 10_000 {
				if err := w.WriteBatch(ctx, msgs[i:min(i+10_000, len(msgs))]); err != nil {
					b.Fatal(err)
				}
			}
			w.Close()

			b.ResetTimer()
			var total kafkaio.ConsumeThroughput
			for range b.N {
				res, err := kafkaio.MeasureRawConsume(ctx, cfg, "transactions")
				if err != nil {
					b.Fatal(err)
				}
				if res.Records < int64(records) {
					b.Fatalf("read %d records, want %d", res.Records, records)
				}
				total.Records += res.Records
				total.Bytes += res.Bytes
				total.Elapsed += res.Elapsed
				total.Join += res.Join
				total.CPU += res.CPU
			}
			b.ReportMetric(total.RecordsPerSec(), "records/s")
			b.ReportMetric(total.MBPerSec(), "MB/s")
			b.ReportMetric(total.RecordsPerCPUSec(), "records/cpu-s")
			b.ReportMetric(float64(total.Join.Milliseconds())/float64(b.N), "join-ms")
		})
	}
}

// BenchmarkWriter measures WriteBatch throughput (acks=all) of batches of
// 1000 transactions over 4 partitions, per compression codec, from one
// caller and from 4 concurrent callers (like 4 partition goroutines of the
// engine).
func BenchmarkWriter(b *testing.B) {
	const batch = 1000
	cases := []struct {
		codec   string
		callers int
	}{{"none", 1}, {"lz4", 1}, {"snappy", 1}, {"zstd", 1}, {"lz4", 4}}
	for _, tc := range cases {
		b.Run(fmt.Sprintf("compression=%s/callers=%d", tc.codec, tc.callers), func(b *testing.B) {
			c := kafkatest.Start(b)
			c.CreateTopic(b, "out", 4, nil)
			w := newClient(b, kafkaio.Config{Brokers: c.Addrs(), Compression: tc.codec}).NewWriter()
			defer w.Close()
			msgs := benchMessages("out", 20*batch)
			ctx := context.Background()
			if err := w.WriteBatch(ctx, msgs[:batch]); err != nil { // warm metadata and connections
				b.Fatal(err)
			}
			b.ResetTimer()
			start, cpu0 := time.Now(), cputime.Process()
			var next atomic.Int64
			var wg sync.WaitGroup
			for range tc.callers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						i := next.Add(1) - 1
						if i >= int64(b.N) {
							return
						}
						off := (i % 20) * batch
						if err := w.WriteBatch(ctx, msgs[off:off+batch]); err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			b.ReportMetric(float64(b.N*batch)/time.Since(start).Seconds(), "records/s")
			// CPU of the whole process (writer and in-process broker) per
			// record: what producing one output record costs the machine.
			b.ReportMetric((cputime.Process()-cpu0).Seconds()*1e6/float64(b.N*batch), "cpu-us/record")
		})
	}
}

// BenchmarkWriterBatchTimeout shows what the writer's linger costs a
// synchronous WriteBatch of 1000 records (lz4): every call waits for the
// partial batches of each partition to time out.
func BenchmarkWriterBatchTimeout(b *testing.B) {
	const batch = 1000
	for _, bt := range []time.Duration{200 * time.Microsecond, 500 * time.Microsecond, time.Millisecond, 2 * time.Millisecond, 10 * time.Millisecond} {
		b.Run("timeout="+bt.String(), func(b *testing.B) {
			c := kafkatest.Start(b)
			c.CreateTopic(b, "out", 4, nil)
			w := newClient(b, kafkaio.Config{Brokers: c.Addrs(), BatchTimeout: bt}).NewWriter()
			defer w.Close()
			msgs := benchMessages("out", 20*batch)
			ctx := context.Background()
			if err := w.WriteBatch(ctx, msgs[:batch]); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			start := time.Now()
			for i := range b.N {
				off := (i % 20) * batch
				if err := w.WriteBatch(ctx, msgs[off:off+batch]); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*batch)/time.Since(start).Seconds(), "records/s")
		})
	}
}
