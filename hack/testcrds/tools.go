// Package testcrds pins the Go API types of the third-party kinds the Helm
// chart renders (cert-manager's Certificate and Issuer, the Prometheus
// Operator's ServiceMonitor and PrometheusRule). It is a module of its own so
// that ECAP itself does not depend on them: hack/gen-test-crds.sh runs
// controller-gen over these types to write the CRDs the chart's server-side
// dry-run test installs into envtest.
package testcrds

import (
	_ "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	_ "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
)
