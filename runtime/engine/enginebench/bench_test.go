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

// maxChainAllocsPerEvent bounds the chain's heap allocations per
// transaction in TestChainAllocations: 2,000 customers on the RuntimeConfig
// pipeline, where most transactions hit a rule and publish an alert. It
// measures about 10.9 (28.2 before the decoded transaction's block was reused,
// output records shared blocks and alerts were encoded without
// reflection); most of what is left is the decision's hits and state that
// grows.
const maxChainAllocsPerEvent = 14

// TestChainAllocations keeps the chain's allocations per event from
// creeping back: it counts them over batches of warm state, as
// BenchmarkChainEvent does.
func TestChainAllocations(t *testing.T) {
	l, gen, err := newLocal(2_000, 500)
	if err != nil {
		t.Fatal(err)
	}
	const batch = 1000
	msgs := messages(gen, 31*batch)
	for i := range msgs {
		msgs[i].Offset = int64(i)
	}
	next := 0
	run := func() {
		l.ProcessTransactions(msgs[next : next+batch])
		next += batch
	}
	for range 20 { // warm up
		run()
	}
	perEvent := testing.AllocsPerRun(10, run) / batch
	t.Logf("%.2f allocations per event", perEvent)
	if perEvent > maxChainAllocsPerEvent {
		t.Fatalf("the chain allocates %.2f times per event, more than %d", perEvent, maxChainAllocsPerEvent)
	}
	if l.ProcessTransactions(nil) != 0 {
		t.Fatal("an empty batch produced records")
	}
}
