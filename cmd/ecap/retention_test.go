package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRetentionCommandFlags: the policy is required, and an unreachable API
// server fails the run once with an error saying so instead of retrying.
func TestRetentionCommandFlags(t *testing.T) {
	cmd := newRootCommand()
	cmd.SetArgs([]string{"retention", "--namespace=shop"})
	if err := cmd.Execute(); err == nil || !strings.Contains(err.Error(), "--policy") {
		t.Fatalf("without --policy: %v", err)
	}

	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(kubeconfig, []byte(`apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
`), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("KUBECONFIG", kubeconfig)
	cmd = newRootCommand()
	cmd.SetArgs([]string{"retention", "--namespace=shop", "--policy=gdpr"})
	err := cmd.Execute()
	if err == nil || !strings.Contains(err.Error(), "RetentionPolicy shop/gdpr") {
		t.Fatalf("unreachable API server: %v", err)
	}
}
