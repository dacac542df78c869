package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRuntimeRejectsBadConfig(t *testing.T) {
	tests := []struct{ name, json, want string }{
		{"unknown field", `{"pipeline":{"name":"p","spec":{"kafka":{"brokers":["b:9092"]},"topics":{"transactions":"t","deadLetter":"d"}}},"bogus":1}`, `unknown field "bogus"`},
		{"missing brokers", `{"pipeline":{"name":"p","spec":{"kafka":{},"topics":{"transactions":"t","deadLetter":"d"}}}}`, "pipeline.spec.kafka.brokers"},
		{"missing dead letter", `{"pipeline":{"name":"p","spec":{"kafka":{"brokers":["b:9092"]},"topics":{"transactions":"t"}}}}`, "pipeline.spec.topics.deadLetter"},
		{"bad duration", `{"pipeline":{"name":"p","spec":{"kafka":{"brokers":["b:9092"]},"topics":{"transactions":"t","deadLetter":"d"},"state":{"checkpointInterval":"soon"}}}}`, "pipeline.spec.state.checkpointInterval"},
		{"sasl without credentials env", `{"pipeline":{"name":"p","spec":{"kafka":{"brokers":["b:9092"],"sasl":{"mechanism":"PLAIN","credentials":{"secretRef":{"name":"s"}}}},"topics":{"transactions":"t","deadLetter":"d"}}}}`, "ECAP_KAFKA_USERNAME"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(envKafkaUsername, "")
			path := filepath.Join(t.TempDir(), "runtime.json")
			if err := os.WriteFile(path, []byte(tt.json), 0o644); err != nil {
				t.Fatal(err)
			}
			err := runRuntime(t.Context(), path, "127.0.0.1:0", "off", groupTuning{})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one naming %q", err, tt.want)
			}
		})
	}
}
