package fraud

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestHolderKeepsLastGoodOnFailure(t *testing.T) {
	h := NewHolder(WithClock(fixedClock))
	if _, ok := h.Process(&Transaction{}, NewState(StateConfig{})); ok {
		t.Fatal("an empty holder scored a transaction")
	}
	good, err := h.Update("card-fraud", 1, sampleSpec())
	if err != nil {
		t.Fatal(err)
	}
	bad := sampleSpec()
	bad.Rules[3].Expression = "detectors.geo_velocity > 900.0"
	cur, err := h.Update("card-fraud", 2, bad)
	if err == nil || !strings.Contains(err.Error(), `rule "impossible-travel"`) {
		t.Fatalf("want a compile error naming impossible-travel, got %v", err)
	}
	if cur != good || h.Current() != good || h.Current().Generation() != 1 {
		t.Errorf("holder did not keep generation 1 after a failed update")
	}

	// Same generation again: no recompile.
	if again, _ := h.Update("card-fraud", 1, sampleSpec()); again != good {
		t.Error("the same generation was compiled twice")
	}
	next, err := h.Update("card-fraud", 3, sampleSpec())
	if err != nil || next == good || h.Current().Generation() != 3 {
		t.Errorf("generation 3 not installed: %v", err)
	}
	if old := h.Swap(good); old != next || h.Current() != good {
		t.Error("Swap did not return the previous set")
	}
}

// TestHolderConcurrentSwap scores on several goroutines (one per
// partition, each with its own State) while another goroutine swaps
// generations. Run with -race. Each decision must come from exactly one
// generation: its Generation field and the rule it hit agree.
func TestHolderConcurrentSwap(t *testing.T) {
	h := NewHolder()
	specFor := func(gen int64) (spec, rule string) {
		return fmt.Sprintf("gen%d", gen), fmt.Sprintf("txn.amount > 0.0 && %d == %d", gen, gen)
	}
	install := func(gen int64) {
		name, expr := specFor(gen)
		if _, err := h.Update("rs", gen, scoreSpec(rule(name, expr, 60, ""))); err != nil {
			t.Error(err)
		}
	}
	install(1)

	const partitions, perPartition = 4, 2000
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for p := range partitions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st := NewState(StateConfig{})
			for i := range perPartition {
				txn := baseTxn(fmt.Sprint(p, "-", i), t0.Add(time.Duration(i)*time.Second))
				txn.CustomerID = fmt.Sprint("c", p)
				d, ok := h.Process(&txn, st)
				if !ok || len(d.Hits) != 1 || d.Hits[0].Rule != fmt.Sprintf("gen%d", d.Generation) {
					t.Errorf("decision mixes generations: %+v", d)
					return
				}
			}
		}()
	}
	var swapper sync.WaitGroup
	swapper.Add(1)
	go func() {
		defer swapper.Done()
		gen := int64(1)
		for {
			select {
			case <-stop:
				return
			default:
			}
			gen++
			if gen%5 == 0 {
				// A bad spec in between: the last good one stays.
				if _, err := h.Update("rs", gen, scoreSpec(rule("bad", "nope", 1, ""))); err == nil {
					t.Error("bad spec compiled")
				}
				continue
			}
			install(gen)
			_ = h.Stats().Snapshot()
		}
	}()
	wg.Wait()
	close(stop)
	swapper.Wait()

	var hits int64
	for _, r := range h.Stats().Snapshot() {
		hits += r.Hits
	}
	if hits != partitions*perPartition {
		t.Errorf("counted %d hits over all generations, want %d", hits, partitions*perPartition)
	}
}

func TestStatsSurviveReload(t *testing.T) {
	h := NewHolder()
	if _, err := h.Update("rs", 1, scoreSpec(rule("a", "true", 60, ""))); err != nil {
		t.Fatal(err)
	}
	st := NewState(StateConfig{})
	txn := baseTxn("t1", t0)
	h.Process(&txn, st)
	if _, err := h.Update("rs", 2, scoreSpec(rule("a", "txn.amount > 0.0", 60, ""))); err != nil {
		t.Fatal(err)
	}
	txn = baseTxn("t2", t0.Add(time.Minute))
	h.Process(&txn, st)
	if a, _ := h.Stats().Rule("a"); a.Hits != 2 {
		t.Errorf("hits of rule a over two generations = %d, want 2", a.Hits)
	}
}

// TestProcessIsEvaluateThenObserve: Process, which evaluates and observes
// with one activation (and looks the observed entities up first,
// findObserved), decides, changes the state and calls BeforeChange
// exactly as Evaluate followed by Observe do, over new and known
// customers, cards, devices and merchants, and across TakeChanges epochs.
func TestProcessIsEvaluateThenObserve(t *testing.T) {
	h := NewHolder(WithClock(fixedClock))
	if _, err := h.Update("card-fraud", 1, sampleSpec()); err != nil {
		t.Fatal(err)
	}
	rs := h.Current()
	var hookA, hookB []string
	stA := NewState(StateConfig{BeforeChange: func(r EntryRef, _ *Mark) { hookA = append(hookA, r.Key()) }})
	stB := NewState(StateConfig{BeforeChange: func(r EntryRef, _ *Mark) { hookB = append(hookB, r.Key()) }})
	published := 0
	for i := range 400 {
		txn := baseTxn(fmt.Sprint("t", i), t0.Add(time.Duration(i)*20*time.Second))
		txn.CustomerID = fmt.Sprint("c", i%7)
		txn.CardFingerprint = fmt.Sprint("card", i%5)
		txn.DeviceID = fmt.Sprint("dev", i%3)
		txn.MerchantID = fmt.Sprint("m", i%4)
		txn.Amount = float64(3 + i*37%400)
		if i%11 == 0 {
			txn.CardFingerprint, txn.MerchantID = "", ""
		}
		if i%13 == 0 {
			txn.Country, txn.Lat, txn.Lon = "BR", -23.55, -46.63
		}
		dA, ok := h.Process(&txn, stA)
		if !ok {
			t.Fatal("Process scored nothing")
		}
		dB := rs.Evaluate(&txn, stB)
		rs.Observe(&txn, stB, &dB)
		if fmt.Sprintf("%+v", dA) != fmt.Sprintf("%+v", dB) {
			t.Fatalf("txn %d: Process decided\n%+v\nEvaluate decided\n%+v", i, dA, dB)
		}
		if dA.Publish() {
			published++
		}
		if i%50 == 49 {
			stA.TakeChanges(func(EntryRef) {})
			stB.TakeChanges(func(EntryRef) {})
		}
	}
	if published == 0 || published == 400 {
		t.Fatalf("%d of 400 decisions published: the stream tests too little", published)
	}
	if strings.Join(hookA, " ") != strings.Join(hookB, " ") {
		t.Errorf("BeforeChange order differs:\nProcess %v\nObserve %v", hookA, hookB)
	}
	a, _ := stA.MarshalBinary()
	b, _ := stB.MarshalBinary()
	if string(a) != string(b) {
		t.Error("Process and Evaluate+Observe left different states")
	}
}

// TestProcessAtPinsEvaluatedAt: ProcessAt decides as Process does, with
// EvaluatedAt the time it was given instead of the clock's.
func TestProcessAtPinsEvaluatedAt(t *testing.T) {
	h := NewHolder(WithClock(fixedClock))
	if _, err := h.Update("card-fraud", 1, sampleSpec()); err != nil {
		t.Fatal(err)
	}
	stA, stB := NewState(StateConfig{}), NewState(StateConfig{})
	for i := range 50 {
		txn := baseTxn(fmt.Sprint("t", i), t0.Add(time.Duration(i)*time.Minute))
		txn.DeviceID = fmt.Sprint("dev", i%6)
		dA, _ := h.Process(&txn, stA)
		dB, ok := h.ProcessAt(&txn, stB, txn.EventTime)
		if !ok || !dB.EvaluatedAt.Equal(txn.EventTime) || !dA.EvaluatedAt.Equal(fixedClock()) {
			t.Fatalf("txn %d: evaluated at %v (Process) and %v (ProcessAt)", i, dA.EvaluatedAt, dB.EvaluatedAt)
		}
		dB.EvaluatedAt = dA.EvaluatedAt
		if fmt.Sprintf("%+v", dA) != fmt.Sprintf("%+v", dB) {
			t.Fatalf("txn %d: Process decided\n%+v\nProcessAt decided\n%+v", i, dA, dB)
		}
	}
}
