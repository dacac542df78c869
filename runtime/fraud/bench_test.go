package fraud

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"runtime"
	"testing"
	"time"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/ext"

	"github.com/ecap-dev/ecap/api/v1alpha1"
	"github.com/ecap-dev/ecap/runtime/cputime"
	"github.com/ecap-dev/ecap/runtime/engine/enginetest"
)

// benchState is a partition with 1000 customers who each paid 20 times
// over the past weeks, so lookups hit populated maps and windows.
func benchState(b *testing.B, rs *RuleSet) *State {
	st := NewState(StateConfig{})
	for c := range 1000 {
		for i := range 20 {
			txn := baseTxn(fmt.Sprint("h", c, "-", i), t0.Add(-time.Duration(20-i)*26*time.Hour+time.Duration(c)*time.Second))
			txn.CustomerID = fmt.Sprint("c", c)
			txn.CardFingerprint = fmt.Sprint("card", c)
			txn.DeviceID = fmt.Sprint("dev", c%700)
			txn.MerchantID = fmt.Sprint("m", (c+i)%50)
			txn.Amount = float64(20 + (c+i)%80)
			d := rs.Evaluate(&txn, st)
			rs.Observe(&txn, st, &d)
		}
	}
	return st
}

func benchTxns(n int) []Transaction {
	txns := make([]Transaction, n)
	for i := range txns {
		c := i % 1000
		t := baseTxn(fmt.Sprint("b", i), t0.Add(time.Duration(i)*time.Second))
		t.CustomerID = fmt.Sprint("c", c)
		t.CardFingerprint = fmt.Sprint("card", c)
		t.DeviceID = fmt.Sprint("dev", c%700)
		t.MerchantID = fmt.Sprint("m", i%50)
		t.Amount = float64(15 + i%120)
		txns[i] = t
	}
	return txns
}

// BenchmarkEvaluate scores transactions with the six sample rules against
// a populated state; nothing is observed, so every iteration sees the same
// state.
func BenchmarkEvaluate(b *testing.B) {
	rs := mustCompile(b, sampleSpec())
	st := benchState(b, rs)
	txns := benchTxns(4096)
	b.ReportAllocs()
	cpu := cputime.Process()
	i := 0
	for b.Loop() {
		d := rs.Evaluate(&txns[i%len(txns)], st)
		_ = d
		i++
	}
	reportPerTxn(b, cpu)
}

// BenchmarkEvaluateHit scores a transaction that hits two rules, so the
// cost of collecting Values and the alert ID is included.
func BenchmarkEvaluateHit(b *testing.B) {
	rs := mustCompile(b, sampleSpec())
	st := benchState(b, rs)
	txn := benchTxns(1)[0]
	txn.DeviceID, txn.Country, txn.Amount, txn.Lat, txn.Lon = "dev-new", "BR", 900, -23.55, -46.63
	if d := rs.Evaluate(&txn, st); len(d.Hits) < 2 {
		b.Fatalf("want at least two hits, got %+v", d.Hits)
	}
	b.ReportAllocs()
	cpu := cputime.Process()
	for b.Loop() {
		_ = rs.Evaluate(&txn, st)
	}
	reportPerTxn(b, cpu)
}

// BenchmarkObserve folds transactions into the state: customer history,
// merchant counters and the four sample windows.
func BenchmarkObserve(b *testing.B) {
	rs := mustCompile(b, sampleSpec())
	st := benchState(b, rs)
	txns := benchTxns(4096)
	d := Decision{Outcome: OutcomeAllow}
	b.ReportAllocs()
	cpu := cputime.Process()
	i := 0
	for b.Loop() {
		t := &txns[i%len(txns)]
		t.EventTime = t0.Add(time.Duration(i) * 10 * time.Millisecond)
		rs.Observe(t, st, &d)
		i++
	}
	reportPerTxn(b, cpu)
}

// reportPerTxn reports wall time and process CPU time per transaction.
func reportPerTxn(b *testing.B, cpuBefore time.Duration) {
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/txn")
	b.ReportMetric(float64((cputime.Process()-cpuBefore).Nanoseconds())/float64(b.N), "cpu-ns/txn")
}

// BenchmarkCompile compiles the sample rule set (four features, six rules).
func BenchmarkCompile(b *testing.B) {
	spec := sampleSpec()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Compile("card-fraud", 1, spec); err != nil {
			b.Fatal(err)
		}
	}
}

// benchNative is the native-struct alternative of BenchmarkVariableStrategies.
type benchNative struct {
	Amount  float64
	Country string
	ZScore  float64
}

// BenchmarkVariableStrategies compares ways of handing a transaction to
// CEL on one three-condition rule: the package's qualified variables with a
// lazy activation (a whole Evaluate, decision included), a map-typed
// variable per namespace fed with Go maps, and a native Go struct
// (ext.NativeTypes). It backs the design choice documented in
// docs/fraud.md.
func BenchmarkVariableStrategies(b *testing.B) {
	const expr = `txn.amount > 200.0 && txn.country != "DE" && detectors.amount_zscore > 4.0`
	rs := mustCompile(b, scoreSpec(rule("r", expr, 1, "")))
	st := NewState(StateConfig{})
	txn := baseTxn("x", t0)
	b.Run("qualified-lazy", func(b *testing.B) {
		for b.Loop() {
			_ = rs.Evaluate(&txn, st)
		}
	})

	mapEnv, err := cel.NewEnv(
		cel.Variable("txn", cel.MapType(cel.StringType, cel.DynType)),
		cel.Variable("detectors", cel.MapType(cel.StringType, cel.DoubleType)))
	if err != nil {
		b.Fatal(err)
	}
	b.Run("maps", func(b *testing.B) {
		prg := benchProgram(b, mapEnv, expr)
		for b.Loop() {
			_, _, _ = prg.Eval(map[string]any{
				"txn":       map[string]any{"amount": txn.Amount, "country": txn.Country},
				"detectors": map[string]float64{"amount_zscore": amountZScore(nil, txn.Amount)},
			})
		}
	})

	nativeEnv, err := cel.NewEnv(
		ext.NativeTypes(reflect.TypeFor[benchNative]()),
		cel.Variable("t", cel.ObjectType("fraud.benchNative")))
	if err != nil {
		b.Fatal(err)
	}
	b.Run("native", func(b *testing.B) {
		prg := benchProgram(b, nativeEnv, `t.Amount > 200.0 && t.Country != "DE" && t.ZScore > 4.0`)
		for b.Loop() {
			v := &benchNative{Amount: txn.Amount, Country: txn.Country, ZScore: amountZScore(nil, txn.Amount)}
			_, _, _ = prg.Eval(map[string]any{"t": v})
		}
	})
}

func benchProgram(b *testing.B, env *cel.Env, expr string) cel.Program {
	ast, iss := env.Compile(expr)
	if iss.Err() != nil {
		b.Fatal(iss.Err())
	}
	prg, err := env.Program(ast, cel.EvalOptions(cel.OptOptimize))
	if err != nil {
		b.Fatal(err)
	}
	return prg
}

// BenchmarkStateMarshalBinary encodes a partition's fraud state as the
// engine's checkpoint snapshot does; the partition's events wait while it
// runs, so its time is the tail of the fraud decision latency.
func BenchmarkStateMarshalBinary(b *testing.B) {
	st := benchState(b, mustCompile(b, sampleSpec()))
	var size int
	b.ResetTimer()
	for b.Loop() {
		out, err := st.MarshalBinary()
		if err != nil {
			b.Fatal(err)
		}
		size = len(out)
	}
	b.ReportMetric(float64(size), "bytes")
	z := st.Size()
	b.ReportMetric(float64(z.Customers+z.Merchants+z.Entities+z.Alerts+z.Rules), "entries")
}

// BenchmarkProcess scores and observes transactions, as the engine does
// per event (Holder.Process), against a populated state: with the sample
// rule set and with the engine chain benchmark's.
func BenchmarkProcess(b *testing.B) {
	for _, c := range []struct {
		name string
		spec v1alpha1.FraudRuleSetSpec
	}{{"sample", sampleSpec()}, {"chain", enginetest.ChainRuleSet("bench")}} {
		b.Run(c.name, func(b *testing.B) {
			h := NewHolder()
			if _, err := h.Update("bench", 1, c.spec); err != nil {
				b.Fatal(err)
			}
			st := benchState(b, h.Current())
			txns := benchTxns(4096)
			hits := 0
			b.ReportAllocs()
			cpu := cputime.Process()
			i := 0
			for b.Loop() {
				t := &txns[i%len(txns)]
				t.EventTime = t0.Add(time.Duration(i) * 10 * time.Millisecond)
				d, _ := h.Process(t, st)
				hits += len(d.Hits)
				i++
			}
			reportPerTxn(b, cpu)
			b.ReportMetric(float64(hits)/float64(b.N), "hits/txn")
		})
	}
}

// BenchmarkAlertLog records alerts in a full log of 100,000 (the default
// bound), each one forgetting the oldest, as a busy partition's does: the
// look-up of a replaced entry, the insertion and the eviction, without
// the checkpoint book's hooks.
func BenchmarkAlertLog(b *testing.B) {
	const full = 100_000
	st := NewState(StateConfig{MaxAlerts: full})
	ids := make([]string, full+1<<16)
	for i := range ids {
		ids[i] = AlertID("bench", 1, fmt.Sprint("t", i))
	}
	rules := []string{"r"}
	for i := range full {
		st.alerts.put(st, ids[i], &alertEntry{rules: rules, at: int64(i)}, false)
	}
	b.ReportAllocs()
	i := full
	for b.Loop() {
		id := ids[full+(i-full)%(len(ids)-full)]
		st.alerts.put(st, id, &alertEntry{rules: rules, at: int64(i)}, false)
		i++
	}
	if st.Size().Alerts != full {
		b.Fatalf("%d alerts kept, want %d", st.Size().Alerts, full)
	}
}

// BenchmarkProcessLarge is BenchmarkProcess/chain against a state the size
// of the engine chain benchmark's (20,000 customers, each with a card,
// paying about nine times an hour in all, a quarter of the transactions
// alerting), warmed up with 200,000 transactions: the customers, cards,
// windows and alerts no longer fit in the caches, as in the engine.
func BenchmarkProcessLarge(b *testing.B) {
	h, st, next := largeState(b)
	txns := make([]Transaction, b.N)
	for i := range txns {
		next(&txns[i])
	}
	hits := 0
	b.ReportAllocs()
	b.ResetTimer()
	cpu := cputime.Process()
	for i := range b.N {
		d, _ := h.Process(&txns[i], st)
		hits += len(d.Hits)
	}
	reportPerTxn(b, cpu)
	b.ReportMetric(float64(hits)/float64(b.N), "hits/txn")
}

// largeState is BenchmarkProcessLarge's holder and warm state, and the
// function that makes its next transaction.
func largeState(b *testing.B) (*Holder, *State, func(*Transaction)) {
	const customers = 20_000
	h := NewHolder()
	if _, err := h.Update("bench", 1, enginetest.ChainRuleSet("bench")); err != nil {
		b.Fatal(err)
	}
	st := NewState(StateConfig{})
	rng := rand.New(rand.NewPCG(1, 2))
	ids := make([]string, customers)
	for i := range ids {
		ids[i] = fmt.Sprintf("cust-%06d", i)
	}
	at := t0
	n := 0
	next := func(t *Transaction) {
		c := rng.IntN(customers)
		*t = Transaction{ID: fmt.Sprintf("txn-%09d", n), EventTime: at, CustomerID: ids[c], Amount: float64(5 + rng.IntN(300)),
			Currency: "EUR", PaymentMethod: "card", CardFingerprint: ids[c][5:] + "-card", DeviceID: ids[c][5:] + "-dev",
			Country: "DE", MerchantID: fmt.Sprint("m", rng.IntN(200)), Channel: "web", Lines: 1, Units: 1}
		at = at.Add(20 * time.Millisecond)
		n++
	}
	var t Transaction
	for range 200_000 {
		next(&t)
		h.Process(&t, st)
	}
	return h, st, next
}

// BenchmarkFindObserved processes BenchmarkProcessLarge's stream against
// its state in chunks of 1,000 transactions that alternate between
// Process as it is, which looks the observed entities up first
// (findObserved), and the same steps without that: on a shared machine
// two runs differ by more than the change, two chunks a few milliseconds
// apart much less. It reports each way's CPU time per transaction (the
// mean over its chunks, the first 8 left out); both ways leave the state
// the same.
func BenchmarkFindObserved(b *testing.B) {
	h, st, next := largeState(b)
	rs := h.Current()
	const chunk = 1000
	txns := make([]Transaction, chunk*(8+max(4, (b.N+chunk-1)/chunk)))
	for i := range txns {
		next(&txns[i])
	}
	var cpu [2]time.Duration // without, with
	var done [2]int
	// The garbage collector's work on the set-up's heap would otherwise
	// fall into the first chunks, which are all one way's.
	runtime.GC()
	b.ResetTimer()
	// Each pair of chunks runs both ways, in an order drawn at random: a
	// fixed pattern (ABBA) gave one way's positions 4% less CPU when both
	// ways were the same.
	order := rand.New(rand.NewPCG(3, 4))
	first := false
	for c := 0; c*chunk < len(txns); c++ {
		if c%2 == 0 {
			first = order.IntN(2) == 1
		}
		with := first == (c%2 == 0)
		w := 0
		if with {
			w = 1
		}
		start := cputime.Process()
		for i := c * chunk; i < (c+1)*chunk; i++ {
			a := newActivation(rs, &txns[i], st)
			a.pinned, a.evaluatedAt = true, txns[i].EventTime
			if with {
				a.findObserved()
			}
			d := rs.evaluateWith(a)
			rs.observeWith(a, &d)
			a.release()
		}
		if c >= 8 { // the first chunks warm the caches up for this loop
			cpu[w] += cputime.Process() - start
			done[w] += chunk
		}
	}
	b.ReportMetric(float64(cpu[0].Nanoseconds())/float64(done[0]), "cpu-ns/txn-without")
	b.ReportMetric(float64(cpu[1].Nanoseconds())/float64(done[1]), "cpu-ns/txn-with")
	b.ReportMetric(float64(cpu[1])/float64(cpu[0])*float64(done[0])/float64(done[1]), "with/without")
}
