package events

import (
	"bytes"
	"encoding/json"
	"maps"
	"net/netip"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/valyala/fastjson"

	"github.com/ecap-dev/ecap/runtime/cputime"
)

// reportRate adds an events/s metric derived from ns/op.
func reportRate(b *testing.B) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// cpuMeter reports CPU time per operation (see processCPU).
type cpuMeter struct{ start time.Duration }

func startCPU() cpuMeter {
	t := cputime.Process()
	return cpuMeter{t}
}

func (m cpuMeter) report(b *testing.B) {
	if end := cputime.Process(); end > 0 {
		b.ReportMetric(float64(end-m.start)/float64(b.N), "cpu-ns/op")
	}
}

// compact returns the example of kind without white space, as producers
// send it.
func compact(b *testing.B, kind Kind) []byte {
	var buf bytes.Buffer
	if err := json.Compact(&buf, example(b, kind)); err != nil {
		b.Fatal(err)
	}
	return buf.Bytes()
}

// BenchmarkDecodeValidateTransaction is the data plane's per-record cost
// for the example transaction as sent on the wire (compact, 3 lines).
func BenchmarkDecodeValidateTransaction(b *testing.B) {
	data := compact(b, KindTransaction)
	v := testValidator()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	cpu := startCPU()
	for b.Loop() {
		if _, err := v.Decode(KindTransaction, data); err != nil {
			b.Fatal(err)
		}
	}
	cpu.report(b)
	reportRate(b)
}

func BenchmarkDecodeValidate(b *testing.B) {
	v := testValidator()
	for _, kind := range Kinds {
		b.Run(string(kind), func(b *testing.B) {
			data := compact(b, kind)
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			cpu := startCPU()
			for b.Loop() {
				if _, err := v.Decode(kind, data); err != nil {
					b.Fatal(err)
				}
			}
			cpu.report(b)
			reportRate(b)
		})
	}
	b.Run("rejected", func(b *testing.B) {
		data := mutate(b, example(b, KindTransaction), func(m map[string]any) { line(m, 2)["quantity"] = 0 })
		b.ReportAllocs()
		for b.Loop() {
			if _, err := v.Decode(KindTransaction, data); err == nil {
				b.Fatal("accepted")
			}
		}
		reportRate(b)
	})
}

func BenchmarkEncode(b *testing.B) {
	v := testValidator()
	for _, kind := range Kinds {
		b.Run(string(kind), func(b *testing.B) {
			ev, err := v.Decode(kind, example(b, kind))
			if err != nil {
				b.Fatal(err)
			}
			buf := make([]byte, 0, 2048)
			b.ReportAllocs()
			for b.Loop() {
				if buf, err = AppendEncode(buf[:0], ev); err != nil {
					b.Fatal(err)
				}
			}
			b.SetBytes(int64(len(buf)))
			reportRate(b)
		})
	}
	// The transaction as the engine writes it: from the block it was
	// decoded into (compact, as producers send it), whose strings, numbers
	// and time are copied where they need no formatting.
	b.Run("transaction_block", func(b *testing.B) {
		var block TransactionBlock
		txn, err := v.DecodeTransactionInto(&block, compactExample(b, KindTransaction))
		if err != nil {
			b.Fatal(err)
		}
		buf := make([]byte, 0, 2048)
		b.ReportAllocs()
		cpu := startCPU()
		for b.Loop() {
			if buf, err = block.AppendEncode(buf[:0], txn); err != nil {
				b.Fatal(err)
			}
		}
		b.SetBytes(int64(len(buf)))
		cpu.report(b)
		reportRate(b)
	})
	b.Run("encoding_json", func(b *testing.B) {
		ev, _ := v.Decode(KindTransaction, example(b, KindTransaction))
		b.ReportAllocs()
		cpu := startCPU()
		for b.Loop() {
			if _, err := json.Marshal(ev); err != nil {
				b.Fatal(err)
			}
		}
		cpu.report(b)
		reportRate(b)
	})
}

// BenchmarkDecoderChoice decodes and validates the example transaction
// three ways: encoding/json into the struct, the fastjson library's parse
// tree copied into the struct, and this package's schema-specific reader.
// The numbers are quoted in docs/events.md.
func BenchmarkDecoderChoice(b *testing.B) {
	data := compact(b, KindTransaction)
	v := testValidator()
	b.Run("encoding_json", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		b.ReportAllocs()
		cpu := startCPU()
		for b.Loop() {
			var tx Transaction
			if err := json.Unmarshal(data, &tx); err != nil {
				b.Fatal(err)
			}
			if err := v.Validate(&tx); err != nil {
				b.Fatal(err)
			}
		}
		cpu.report(b)
		reportRate(b)
	})
	b.Run("fastjson", func(b *testing.B) {
		var p fastjson.Parser
		b.SetBytes(int64(len(data)))
		b.ReportAllocs()
		cpu := startCPU()
		for b.Loop() {
			tx, err := fastjsonTransaction(&p, data)
			if err != nil {
				b.Fatal(err)
			}
			if err := v.Validate(tx); err != nil {
				b.Fatal(err)
			}
		}
		cpu.report(b)
		reportRate(b)
	})
	b.Run("ecap", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		b.ReportAllocs()
		cpu := startCPU()
		for b.Loop() {
			if _, err := v.Decode(KindTransaction, data); err != nil {
				b.Fatal(err)
			}
		}
		cpu.report(b)
		reportRate(b)
	})
}

// fastjsonTransaction copies a fastjson parse tree into a Transaction, doing
// the same work as Decode minus the detailed type errors.
func fastjsonTransaction(p *fastjson.Parser, data []byte) (*Transaction, error) {
	root, err := p.ParseBytes(data)
	if err != nil {
		return nil, err
	}
	str := func(v *fastjson.Value, key string) string { return string(v.GetStringBytes(key)) }
	tx := &Transaction{
		Envelope: Envelope{
			EventID:       str(root, "event_id"),
			Type:          Kind(str(root, "type")),
			SchemaVersion: root.GetInt("schema_version"),
		},
		TransactionID: str(root, "transaction_id"),
		CustomerID:    str(root, "customer_id"),
		MerchantID:    str(root, "merchant_id"),
		Channel:       Channel(str(root, "channel")),
		Amount:        root.GetFloat64("amount"),
		Currency:      str(root, "currency"),
	}
	if tx.EventTime, err = time.Parse(time.RFC3339Nano, str(root, "event_time")); err != nil {
		return nil, err
	}
	tx.EventTime = tx.EventTime.UTC()
	for _, l := range root.GetArray("lines") {
		tx.Lines = append(tx.Lines, Line{ProductID: str(l, "product_id"), Quantity: l.GetInt64("quantity"), UnitPrice: l.GetFloat64("unit_price")})
	}
	if pm := root.Get("payment"); pm != nil {
		tx.Payment = Payment{Method: PaymentMethod(str(pm, "method")), CardFingerprint: str(pm, "card_fingerprint"), CardBIN: str(pm, "card_bin")}
	}
	if d := root.Get("device"); d != nil {
		tx.Device = Device{ID: str(d, "id"), Type: DeviceType(str(d, "type")), OS: str(d, "os"), UserAgent: str(d, "user_agent")}
	}
	if ip := root.GetStringBytes("ip"); ip != nil {
		if tx.IP, err = netip.ParseAddr(string(ip)); err != nil {
			return nil, err
		}
	}
	if g := root.Get("geo"); g != nil {
		tx.Geo = Geo{Country: str(g, "country"), City: str(g, "city")}
		if lat := g.Get("lat"); lat != nil {
			f := lat.GetFloat64()
			tx.Geo.Lat = &f
		}
		if lon := g.Get("lon"); lon != nil {
			f := lon.GetFloat64()
			tx.Geo.Lon = &f
		}
	}
	if l := root.Get("label"); l != nil {
		tx.Label = &Label{Fraud: l.GetBool("fraud"), Pattern: str(l, "pattern")}
	}
	return tx, nil
}

func BenchmarkQualityObserve(b *testing.B) {
	ev, err := testValidator().Decode(KindTransaction, example(b, KindTransaction))
	if err != nil {
		b.Fatal(err)
	}
	var q Quality
	b.ReportAllocs()
	for b.Loop() {
		q.Observe(ev)
	}
	reportRate(b)
}

// BenchmarkDecodeTransactionInto decodes and validates the example
// transaction into a reused block, as the engine does, in the member orders
// producers write: this package's Encode order, alphabetical
// (encoding/json of a map, as enginetest's generator writes), and
// reversed.
func BenchmarkDecodeTransactionInto(b *testing.B) {
	v := testValidator()
	ev, err := v.Decode(KindTransaction, example(b, KindTransaction))
	if err != nil {
		b.Fatal(err)
	}
	encoded, err := Encode(ev)
	if err != nil {
		b.Fatal(err)
	}
	sorted := mutate(b, encoded, func(map[string]any) {})
	var m map[string]json.RawMessage
	if err := json.Unmarshal(encoded, &m); err != nil {
		b.Fatal(err)
	}
	names := slices.Sorted(maps.Keys(m))
	slices.Reverse(names)
	reversed := []byte{'{'}
	for i, n := range names {
		if i > 0 {
			reversed = append(reversed, ',')
		}
		reversed = append(append(strconv.AppendQuote(reversed, n), ':'), m[n]...)
	}
	reversed = append(reversed, '}')
	for _, c := range []struct {
		name string
		data []byte
	}{{"encoded", encoded}, {"sorted", sorted}, {"reversed", reversed}} {
		b.Run(c.name, func(b *testing.B) {
			var block TransactionBlock
			b.SetBytes(int64(len(c.data)))
			b.ReportAllocs()
			cpu := startCPU()
			for b.Loop() {
				if _, err := v.DecodeTransactionInto(&block, c.data); err != nil {
					b.Fatal(err)
				}
			}
			cpu.report(b)
		})
	}
}
