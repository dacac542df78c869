package main

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ecap-dev/ecap/runtime/generator"
	"github.com/ecap-dev/ecap/runtime/kafkatest"
)

func runGenerateCmd(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := newRootCommand()
	var stderr bytes.Buffer
	cmd.SetErr(&stderr)
	cmd.SetOut(&stderr)
	cmd.SetArgs(append([]string{"generate"}, args...))
	err := cmd.Execute()
	return stderr.String(), err
}

func TestGenerateFilesAreReproducible(t *testing.T) {
	var dirs [2]string
	for i := range dirs {
		dirs[i] = t.TempDir()
		if _, err := runGenerateCmd(t, "--seed", "5", "--customers", "150", "--events", "3000",
			"--bad-fraction", "0.02", "--fraud-rate", "card_testing=40", "--out", dirs[i]); err != nil {
			t.Fatal(err)
		}
	}
	total := 0
	for _, name := range []string{generator.TransactionsFile, generator.UserEventsFile, generator.ProductsFile} {
		a, err := os.ReadFile(filepath.Join(dirs[0], name))
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(filepath.Join(dirs[1], name))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a, b) {
			t.Errorf("%s differs between two runs with the same seed", name)
		}
		total += bytes.Count(a, []byte("\n"))
	}
	if total != 3000 {
		t.Errorf("files hold %d records, want 3000", total)
	}
}

func TestGenerateToKafka(t *testing.T) {
	cluster := kafkatest.Start(t)
	log, err := runGenerateCmd(t, "--seed", "8", "--customers", "200", "--events", "2500",
		"--brokers", strings.Join(cluster.Addrs(), ","), "--partitions", "3",
		"--topic-transactions", "t.tx", "--topic-user-events", "t.ue", "--topic-products", "t.pu")
	if err != nil {
		t.Fatal(err)
	}
	got := 0
	for _, topic := range []string{"t.tx", "t.ue", "t.pu"} {
		n := len(cluster.ReadAll(t, topic))
		if n == 0 {
			t.Errorf("topic %s is empty", topic)
		}
		if p := cluster.Partitions(t, topic); p != 3 {
			t.Errorf("topic %s has %d partitions, want 3", topic, p)
		}
		got += n
	}
	if got != 2500 {
		t.Errorf("topics hold %d records, want 2500", got)
	}
	if !strings.Contains(log, "records=2500") {
		t.Errorf("no final progress line with records=2500 in:\n%s", log)
	}
}

func TestGenerateFlagErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"no output", []string{"--events", "10"}},
		{"two outputs", []string{"--out", dir, "--brokers", "localhost:9092"}},
		{"bad start", []string{"--out", dir, "--start", "yesterday"}},
		{"bad fraud rate", []string{"--out", dir, "--fraud-rate", "phishing=3"}},
		{"bad fraction", []string{"--out", dir, "--bad-fraction", "2"}},
		{"negative rate", []string{"--out", dir, "--rate", "-1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := runGenerateCmd(t, tc.args...); err == nil {
				t.Error("generate succeeded, want an error")
			}
		})
	}
}

func TestGenerateLiveConfig(t *testing.T) {
	now := time.Date(2026, 3, 2, 10, 30, 0, 0, time.UTC)
	o := &generateOptions{customers: 1000, rate: 250, start: "now", out: "x", duration: time.Hour}
	cfg, run, err := o.config(now)
	if err != nil {
		t.Fatal(err)
	}
	if !run.Live || !cfg.Start.Equal(now) || !cfg.End.Equal(now.Add(time.Hour)) {
		t.Errorf("live=%v start=%s end=%s, want live from %s for 1h", run.Live, cfg.Start, cfg.End, now)
	}
	if got := cfg.NaturalRate(); math.Abs(got-250) > 1 {
		t.Errorf("scaled natural rate %s/s, want 250/s", strconv.FormatFloat(got, 'f', 1, 64))
	}
}
