package kafkaio_test

import (
	"context"
	"testing"
	"time"

	"github.com/ecap-dev/ecap/runtime/kafkaio"
	"github.com/ecap-dev/ecap/runtime/kafkatest"
)

// SetTopicConfigs changes only the keys it is given; TopicConfigs reads
// them back, reports a missing topic per topic, and ListTopics sees every
// topic.
func TestTopicConfigsRoundTrip(t *testing.T) {
	cluster := kafkatest.Start(t)
	segment := "1048576"
	cluster.CreateTopic(t, "a", 1, map[string]*string{"segment.bytes": &segment})
	cluster.CreateTopic(t, "b", 1, nil)
	c := newClient(t, kafkaio.Config{Brokers: cluster.Addrs()})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	topics, err := c.ListTopics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tp := range topics {
		if !tp.Internal {
			names = append(names, tp.Name)
		}
	}
	if len(names) != 2 || names[0] != "a" || names[1] != "b" {
		t.Fatalf("ListTopics = %v, want [a b]", topics)
	}

	errs, err := c.SetTopicConfigs(ctx, map[string]map[string]string{"a": {"retention.ms": "3600000", "cleanup.policy": "compact"}})
	if err != nil || len(errs) != 0 {
		t.Fatalf("SetTopicConfigs: %v %v", err, errs)
	}
	configs, topicErrs, err := c.TopicConfigs(ctx, []string{"a", "b", "missing"}, []string{"retention.ms", "cleanup.policy", "segment.bytes"})
	if err != nil {
		t.Fatal(err)
	}
	if got := configs["a"]; got["retention.ms"] != "3600000" || got["cleanup.policy"] != "compact" || got["segment.bytes"] != segment {
		t.Errorf("configs of a = %v, want retention.ms=3600000, cleanup.policy=compact and segment.bytes kept at %s", got, segment)
	}
	if got := configs["b"]; got["retention.ms"] == "3600000" || got["cleanup.policy"] != "delete" {
		t.Errorf("configs of b = %v, want b untouched", got)
	}
	if topicErrs["missing"] == nil || configs["missing"] != nil {
		t.Errorf("missing topic: configs %v, errors %v; want an error for it", configs["missing"], topicErrs)
	}
}
