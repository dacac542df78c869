package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ecap-dev/ecap/api/v1alpha1"
	"github.com/ecap-dev/ecap/runtime/engine"
	"github.com/ecap-dev/ecap/runtime/engine/enginetest"
	"github.com/ecap-dev/ecap/runtime/kafkatest"
)

// `ecap runtime` picks Segmentations up from its config file without a
// restart: a new run-now value runs them on demand, and a generation the
// runtime cannot run is reported in /v1/status while the process stays up.
func TestRuntimeHotReloadsSegmentations(t *testing.T) {
	cluster := kafkatest.Start(t)
	cluster.CreateTopic(t, "txns", 2, nil)
	now := time.Now().UTC()
	var recs []kafkatest.Record
	for i := range 60 {
		x := enginetest.CustomerTxn(fmt.Sprintf("e-%d", i), fmt.Sprintf("c-%d", i%20), now.Add(-time.Duration(60-i)*time.Second), 10+float64(i), 1)
		recs = append(recs, kafkatest.Record{Key: x.Key, Value: x.Value})
	}
	cluster.Produce(t, "txns", recs...)

	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "runtime.json")
	write := func(segs ...v1alpha1.SegmentationConfig) {
		rc := v1alpha1.RuntimeConfig{TypeMeta: metavOf(), Segmentations: segs,
			Pipeline: v1alpha1.PipelineConfig{Name: "seg", Namespace: "test", Generation: 1, Spec: v1alpha1.PipelineSpec{
				Kafka:  v1alpha1.KafkaSpec{Brokers: cluster.Addrs()},
				Topics: v1alpha1.PipelineTopics{Transactions: "txns", DeadLetter: "dlq"},
				Sinks:  v1alpha1.SinksSpec{CustomerProfilesTopic: "profiles"},
			}}}
		b, err := json.Marshal(rc)
		if err != nil {
			t.Fatal(err)
		}
		tmp := cfgPath + ".tmp"
		if err := os.WriteFile(tmp, b, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, cfgPath); err != nil {
			t.Fatal(err)
		}
	}
	seg := func(gen int64, schedule, runNow string) v1alpha1.SegmentationConfig {
		return v1alpha1.SegmentationConfig{Name: "rfm", Generation: gen, RunNow: runNow, Spec: v1alpha1.SegmentationSpec{
			PipelineRef: v1alpha1.LocalObjectReference{Name: "seg"}, Schedule: v1alpha1.Schedule(schedule)}}
	}
	write()

	addr := freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- runRuntime(ctx, cfgPath, addr, groupTuning{}) }()
	defer func() {
		cancel()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Error("runtime did not stop")
		}
	}()
	wait := func(what string, ok func(engine.Status) bool) engine.Status {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			select {
			case err := <-done:
				t.Fatalf("runtime returned: %v", err)
			default:
			}
			st, err := getStatus(addr)
			if err == nil && ok(st) {
				return st
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: not reached: %+v (%v)", what, st, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	wait("caught up", func(st engine.Status) bool {
		var sum int64
		for _, p := range st.Partitions {
			sum += p.Offset
		}
		return st.Ready && sum == int64(len(recs))
	})

	for _, value := range []string{"a", "b"} {
		write(seg(1, "@every 24h", value))
		st := wait("run for run-now "+value, func(st engine.Status) bool {
			return len(st.Segmentations) == 1 && st.Segmentations[0].LastRun != nil && st.Segmentations[0].LastRun.RunNow == value
		})
		// The second run's profiles are those of the first: not rewritten
		// (unless the runs straddle midnight UTC, which moves T).
		run := st.Segmentations[0].LastRun
		if run.CustomersScored != 20 || run.ProfilesWritten+run.ProfilesUnchanged != 20 || value == "a" && run.ProfilesWritten != 20 {
			t.Errorf("run %q: %d customers scored, %d profiles written, %d unchanged; want 20 scored, all written by the first run",
				value, run.CustomersScored, run.ProfilesWritten, run.ProfilesUnchanged)
		}
	}
	write(seg(2, "every now and then", "b"))
	st := wait("generation 2 refused", func(st engine.Status) bool {
		return len(st.Segmentations) == 1 && st.Segmentations[0].AppliedGeneration == 0 && st.Segmentations[0].LastError != ""
	})
	if msg := st.Segmentations[0].LastError; !strings.Contains(msg, "spec.schedule") || !strings.Contains(msg, "generation 2") {
		t.Errorf("lastError %q: want the generation and the field named", msg)
	}
}
