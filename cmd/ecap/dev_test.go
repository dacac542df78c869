package main

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// `ecap dev` on its defaults runs the platform end to end: the embedded
// Kafka, the generator, the runtime on config/samples; the summary shows
// events processed, dead-lettered bad input, closed KPI windows and the
// customers of each segment of the sample Segmentation's last run.
func TestDevRunsEndToEnd(t *testing.T) {
	dir := t.TempDir()
	o := &devOptions{
		samples: filepath.Join("..", "..", "config", "samples"), pipeline: "shop",
		dataDir: filepath.Join(dir, "data"), port: freePort(t),
		adminAddr: "127.0.0.1:" + strconv.Itoa(freePort(t)),
		rate:      300, seed: 1, badFraction: 0.02,
		summary: filepath.Join(dir, "summary.json"),
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := runDev(ctx, o, io.Discard); err != nil {
		t.Fatalf("ecap dev: %v", err)
	}
	raw, err := os.ReadFile(o.summary)
	if err != nil {
		t.Fatal(err)
	}
	var s devSummary
	if err := json.Unmarshal(raw, &s); err != nil {
		t.Fatalf("summary %s: %v", raw, err)
	}
	if s.Events == 0 || s.DLQ == 0 || s.KPIWindows == 0 || s.Alerts == 0 {
		t.Fatalf("summary %s: want events, dead-lettered events, KPI windows and fraud alerts", raw)
	}
	segmented := 0
	for _, n := range s.Segments {
		segmented += n
	}
	if len(s.Segments) == 0 || segmented == 0 {
		t.Errorf("summary %s: want customers in segments", raw)
	}
	if s.DLQ*10 > s.Events {
		t.Errorf("summary %s: more than 10%% dead-lettered with a 2%% bad fraction", raw)
	}
}

// A sample that does not admit is refused with the file and field named.
func TestDevRefusesInvalidSamples(t *testing.T) {
	dir := t.TempDir()
	bad := []byte("apiVersion: analytics.ecap.dev/v1alpha1\nkind: Pipeline\nmetadata: {name: shop}\nspec:\n  kafka: {brokers: []}\n  topics: {transactions: t, deadLetter: d}\n")
	if err := os.WriteFile(filepath.Join(dir, "pipeline.yaml"), bad, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := loadDevSamples(context.Background(), &devOptions{samples: dir, pipeline: "shop"})
	if err == nil {
		t.Fatal("an invalid Pipeline was admitted")
	}
	for _, want := range []string{"pipeline.yaml", "spec.kafka.brokers"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}
