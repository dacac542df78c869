package main

import (
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ecap-dev/ecap/api/v1alpha1"
	"github.com/ecap-dev/ecap/runtime/engine/enginetest"
	"github.com/ecap-dev/ecap/runtime/kafkatest"
	"github.com/ecap-dev/ecap/runtime/lake"
	"github.com/ecap-dev/ecap/runtime/lake/laketest"
)

// TestRuntimeLakeS3Unreachable runs `ecap runtime` with an S3 lake (keys
// from the Secret env vars) whose bucket does not answer: the process keeps
// running, /readyz and /v1/status say why, and once the bucket answers
// every transaction is committed exactly once.
func TestRuntimeLakeS3Unreachable(t *testing.T) {
	bin := buildECAP(t)
	cluster := kafkatest.Start(t)
	cluster.CreateTopic(t, "txns", 2, nil)
	s3 := laketest.NewS3(t, "ecap-lake")
	s3.SetDown(true)
	rc := v1alpha1.RuntimeConfig{
		TypeMeta: metavOf(),
		Pipeline: v1alpha1.PipelineConfig{Name: "lakes3", Namespace: "test", Generation: 1, Spec: v1alpha1.PipelineSpec{
			Kafka:  v1alpha1.KafkaSpec{Brokers: cluster.Addrs()},
			Topics: v1alpha1.PipelineTopics{Transactions: "txns", DeadLetter: "dlq"},
			State:  v1alpha1.StateSpec{CheckpointInterval: "300ms"},
			Sinks: v1alpha1.SinksSpec{Lake: &v1alpha1.LakeSink{
				Datasets:       []v1alpha1.LakeDataset{v1alpha1.DatasetTransactions},
				S3:             &v1alpha1.S3Lake{Endpoint: s3.Endpoint, Bucket: s3.Bucket, Prefix: "shop", Insecure: true, Region: "us-east-1", Credentials: v1alpha1.CredentialsSource{SecretRef: &v1alpha1.SecretCredentials{Name: "lake-keys"}}},
				CommitInterval: "500ms",
			}},
		}},
	}
	dir := t.TempDir()
	cfgPath, logf := runtimeFiles(t, dir, rc)
	addr := freeAddr(t)
	cmd := exec.Command(bin, "runtime", "--config", cfgPath, "--admin-addr", addr)
	cmd.Env = append(os.Environ(), envS3AccessKey+"="+laketest.AccessKey, envS3SecretKey+"="+laketest.SecretKey)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &child{cmd: cmd, done: make(chan error, 1)}
	go func() { c.done <- cmd.Wait() }()
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGKILL)
	}()
	waitReady(t, addr, c)

	gen := enginetest.NewGenerator(3, 100, 20, time.Now().Add(-10*time.Minute), 100*time.Millisecond)
	var txns []enginetest.Txn
	var recs []kafkatest.Record
	for range 500 {
		x := gen.Next()
		txns = append(txns, x)
		recs = append(recs, kafkatest.Record{Key: x.Key, Value: x.Value})
	}
	cluster.Produce(t, "txns", recs...)

	readyz := func() (int, string) {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		code, body := readyz()
		if code == http.StatusServiceUnavailable && strings.Contains(body, "lake unavailable") {
			break
		}
		select {
		case err := <-c.done:
			t.Fatalf("runtime exited while the bucket was down: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("readyz never reported the lake: %d %q", code, body)
		}
		time.Sleep(100 * time.Millisecond)
	}
	st, err := getStatus(addr)
	if err != nil || st.Lake == nil || st.Lake.Healthy || st.Lake.LastError == "" || st.Lake.BufferedRows == 0 {
		t.Fatalf("status during the outage: %+v (%v)", st.Lake, err)
	}
	time.Sleep(2 * time.Second) // and it stays up
	select {
	case err := <-c.done:
		t.Fatalf("runtime exited while the bucket was down: %v", err)
	default:
	}

	s3.SetDown(false)
	l := lake.New(s3.Store(t), lake.Options{Prefix: "shop"})
	deadline = time.Now().Add(60 * time.Second)
	for {
		rows, err := lake.Read[lake.TransactionRow](context.Background(), l, lake.Transactions, lake.AsOf{})
		code, _ := readyz()
		if err == nil && len(rows) >= len(txns) && code == http.StatusOK {
			seen := map[string]bool{}
			for _, r := range rows {
				if seen[r.EventID] {
					t.Fatalf("event %s twice in the lake", r.EventID)
				}
				seen[r.EventID] = true
			}
			for _, x := range txns {
				if !seen[x.EventID] {
					t.Fatalf("event %s missing from the lake", x.EventID)
				}
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("lake holds %d of %d rows after the outage (readyz %d, err %v)", len(rows), len(txns), code, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-c.done:
		if err != nil {
			t.Fatalf("runtime did not exit 0 on SIGTERM: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("runtime did not stop on SIGTERM")
	}
}
