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
