package retention

import (
	"reflect"
	"strings"
	"testing"

	"github.com/ecap-dev/ecap/api/v1alpha1"
	"github.com/ecap-dev/ecap/runtime/lake"
)

// TestSelectDatasets: names match exactly, patterns are anchored, and
// what matches nothing the lake sink writes is reported.
func TestSelectDatasets(t *testing.T) {
	have := []lake.Dataset{lake.Transactions, lake.UserEvents, lake.KPIs}
	for _, tc := range []struct {
		name      string
		sel       v1alpha1.TargetSelector
		chosen    []lake.Dataset
		unmatched []string
	}{
		{"names", v1alpha1.TargetSelector{Names: []string{"kpis", "transactions"}}, []lake.Dataset{lake.Transactions, lake.KPIs}, nil},
		{"unknown name", v1alpha1.TargetSelector{Names: []string{"transactions", "fraud_decisions"}}, []lake.Dataset{lake.Transactions}, []string{"fraud_decisions"}},
		{"anchored pattern", v1alpha1.TargetSelector{Pattern: "events"}, nil, []string{"pattern events"}},
		{"pattern", v1alpha1.TargetSelector{Pattern: ".*_events|kpis"}, []lake.Dataset{lake.UserEvents, lake.KPIs}, nil},
		{"names and pattern", v1alpha1.TargetSelector{Names: []string{"kpis"}, Pattern: "trans.*"}, []lake.Dataset{lake.Transactions, lake.KPIs}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			chosen, unmatched, err := SelectDatasets(tc.sel, have)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(chosen, tc.chosen) || !reflect.DeepEqual(unmatched, tc.unmatched) {
				t.Fatalf("got %v, unmatched %v; want %v, %v", chosen, unmatched, tc.chosen, tc.unmatched)
			}
		})
	}
	if _, _, err := SelectDatasets(v1alpha1.TargetSelector{Pattern: "(["}, have); err == nil || !strings.Contains(err.Error(), "selector.pattern") {
		t.Fatalf("bad pattern: %v", err)
	}
}
