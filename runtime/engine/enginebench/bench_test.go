package enginebench

import "testing"

func report(b *testing.B, figs []Figure, err error) {
	b.Helper()
	if err != nil {
		b.Fatal(err)
	}
	for _, f := range figs {
		b.ReportMetric(f.Value, f.Unit+"("+f.Name+")")
	}
}

// BenchmarkEngineChain: engine_events_per_sec_per_core and the latency
// quantiles, no Kafka.
func BenchmarkEngineChain(b *testing.B) {
	for range b.N {
		figs, err := EngineChain(50_000)
		report(b, figs, err)
	}
}

// BenchmarkStateBytesPerCustomer: heap and checkpoint bytes per customer.
func BenchmarkStateBytesPerCustomer(b *testing.B) {
	for range b.N {
		figs, err := StateBytesPerCustomer(50_000)
		report(b, figs, err)
	}
}

// BenchmarkEndToEnd: e2e and raw consume rates through kfake, their ratio,
// and the restore rate.
func BenchmarkEndToEnd(b *testing.B) {
	for range b.N {
		figs, err := EndToEnd(100_000)
		report(b, figs, err)
	}
}

// BenchmarkChainEvent: one op is one transaction through the whole chain
// (batches of 1000, as EngineChain), so -benchmem gives the chain's own
// allocations and bytes per event without the set-up EngineChain's
// allocs/op include.
func BenchmarkChainEvent(b *testing.B) {
	l, gen, err := newLocal(20_000, 500)
	if err != nil {
		b.Fatal(err)
	}
	// Warm the state up first, so that the measured events meet customers,
	// cards and windows that exist, as a running engine's do.
	warm := messages(gen, 20_000)
	for i := 0; i < len(warm); i += 1000 {
		l.ProcessTransactions(warm[i:min(i+1000, len(warm))])
	}
	msgs := messages(gen, b.N)
	for i := range msgs {
		msgs[i].Offset = int64(len(warm) + i)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < len(msgs); i += 1000 {
		l.ProcessTransactions(msgs[i:min(i+1000, len(msgs))])
	}
}
