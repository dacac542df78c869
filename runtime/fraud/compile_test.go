package fraud

import (
	"errors"
	"strings"
	"testing"

	"github.com/ecap-dev/ecap/api/v1alpha1"
)

func specWithRule(expr string) v1alpha1.FraudRuleSetSpec {
	spec := sampleSpec()
	spec.Rules = append(spec.Rules, v1alpha1.FraudRule{Name: "velocity-burst", Expression: expr, Score: 10})
	return spec
}

func TestCompileErrorsNameTheRule(t *testing.T) {
	tests := []struct {
		name string
		expr string
		want []string // substrings of the error
	}{
		{"syntax error", `txn.amount >`, []string{`rule "velocity-burst": ERROR: <input>:1:13: Syntax error`}},
		{"undeclared identifier", `foo > 1`, []string{`rule "velocity-burst": ERROR: <input>:1:1: undeclared reference to 'foo'`}},
		{"undeclared feature", `features.card_txns_1h >= 5`, []string{
			`rule "velocity-burst": ERROR: <input>:1:9: undeclared feature 'card_txns_1h'`,
			"declared: card_txns_10m, card_amount_10m, device_cards_1h, customer_txns_1h",
		}},
		{"unknown transaction field", `txn.amount > 1.0 && txn.colour == "red"`, []string{
			`ERROR: <input>:1:24: undeclared reference to 'txn.colour'`, "txn has: id, event_time",
		}},
		{"non-bool result", `txn.amount * 2.0`, []string{`rule "velocity-burst": ERROR: <input>:1:12: expression must evaluate to bool, got double`}},
		{"no matching overload", `txn.amount + features.card_txns_10m > 3.0`, []string{`found no matching overload for '_+_' applied to '(double, int)'`}},
		{"empty", `  `, []string{`rule "velocity-burst": ERROR: <input>:1:1: expression is empty`}},
		{"too long", strings.Repeat("true && ", 600) + "true", []string{"at most 4096"}},
		{"invalid regex", `txn.city.matches("(")`, []string{`rule "velocity-burst"`, "missing closing )"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Compile("card-fraud", 1, specWithRule(tt.expr))
			if err == nil {
				t.Fatal("Compile succeeded, want an error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not contain %q:\n%v", w, err)
				}
			}
			var ce *CompileError
			if !errors.As(err, &ce) {
				t.Fatalf("error is not a *CompileError: %T", err)
			}
			if ce.Rule != "velocity-burst" || ce.Index != 6 || ce.Field() != "spec.rules[6].expression" {
				t.Errorf("CompileError names rule %q index %d, want velocity-burst, 6", ce.Rule, ce.Index)
			}
		})
	}
}

func TestCompileReportsEveryBadRule(t *testing.T) {
	spec := sampleSpec()
	spec.Rules[1].Expression = "features.nope > 1"
	spec.Rules[4].Expression = "1 +"
	errs := ValidateSpec(spec)
	var rules []string
	for _, err := range errs {
		var ce *CompileError
		if errors.As(err, &ce) {
			rules = append(rules, ce.Rule)
		}
	}
	if strings.Join(rules, ",") != "device-card-fanout,account-takeover" {
		t.Errorf("compile errors for %v, want device-card-fanout and account-takeover; all: %v", rules, errs)
	}
}

func TestValidateSpec(t *testing.T) {
	if errs := ValidateSpec(sampleSpec()); len(errs) != 0 {
		t.Fatalf("sample spec: %v", errs)
	}
	disabled := false
	tests := []struct {
		name   string
		modify func(*v1alpha1.FraudRuleSetSpec)
		field  string
		msg    string
	}{
		{"window too long", func(s *v1alpha1.FraudRuleSetSpec) { s.Features[0].Window = "8d" }, "spec.features[0].window", "between 1s and 7d"},
		{"window unparsable", func(s *v1alpha1.FraudRuleSetSpec) { s.Features[0].Window = "10 minutes" }, "spec.features[0].window", "invalid duration"},
		{"window too short", func(s *v1alpha1.FraudRuleSetSpec) { s.Features[0].Window = "500ms" }, "spec.features[0].window", "between"},
		{"count with field", func(s *v1alpha1.FraudRuleSetSpec) { s.Features[0].Field = "amount" }, "spec.features[0].field", "not allowed for count"},
		{"sum of cards", func(s *v1alpha1.FraudRuleSetSpec) { s.Features[1].Field = "card" }, "spec.features[1].field", "only defined over amount"},
		{"distinct without field", func(s *v1alpha1.FraudRuleSetSpec) { s.Features[2].Field = "" }, "spec.features[2].field", "required"},
		{"bad key", func(s *v1alpha1.FraudRuleSetSpec) { s.Features[0].KeyBy = "email" }, "spec.features[0].keyBy", "must be"},
		{"bad feature name", func(s *v1alpha1.FraudRuleSetSpec) { s.Features[3].Name = "Customer-Txns" }, "spec.features[3].name", "must match"},
		{"duplicate feature", func(s *v1alpha1.FraudRuleSetSpec) { s.Features[3].Name = "card_txns_10m" }, "spec.features[3].name", "duplicate"},
		{"duplicate rule", func(s *v1alpha1.FraudRuleSetSpec) { s.Rules[2].Name = "card-testing" }, "spec.rules[2].name", "duplicate"},
		{"score", func(s *v1alpha1.FraudRuleSetSpec) { s.Rules[0].Score = 1001 }, "spec.rules[0].score", "between"},
		{"severity", func(s *v1alpha1.FraudRuleSetSpec) { s.Rules[0].Severity = "urgent" }, "spec.rules[0].severity", "must be"},
		{"mode", func(s *v1alpha1.FraudRuleSetSpec) { s.Rules[0].Mode = "dry-run" }, "spec.rules[0].mode", "must be"},
		{"thresholds", func(s *v1alpha1.FraudRuleSetSpec) { s.Thresholds = v1alpha1.OutcomeThresholds{Review: 100, Block: 100} }, "spec.thresholds", "below"},
		{"priority", func(s *v1alpha1.FraudRuleSetSpec) { s.Priority.Block = "P0" }, "spec.priority.block", "P1"},
		{"cost limit", func(s *v1alpha1.FraudRuleSetSpec) { s.CostLimit = 10 }, "spec.costLimit", "between"},
		{"no rules", func(s *v1alpha1.FraudRuleSetSpec) { s.Rules = nil }, "spec.rules", "at least one"},
		{"disabled rules are still checked", func(s *v1alpha1.FraudRuleSetSpec) {
			s.Rules[0].Enabled = &disabled
			s.Rules[0].Expression = "txn.amount"
		}, "spec.rules[0].expression", "must evaluate to bool"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := sampleSpec()
			tt.modify(&spec)
			errs := ValidateSpec(spec)
			if len(errs) == 0 {
				t.Fatal("no error")
			}
			var found bool
			for _, err := range errs {
				var fe *FieldError
				var ce *CompileError
				switch {
				case errors.As(err, &fe):
					found = found || (fe.Field == tt.field && strings.Contains(fe.Message, tt.msg))
				case errors.As(err, &ce):
					found = found || (ce.Field() == tt.field && strings.Contains(ce.Message, tt.msg))
				}
			}
			if !found {
				t.Errorf("want an error on %s containing %q, got %v", tt.field, tt.msg, errs)
			}
		})
	}
}

func TestCompileDefaults(t *testing.T) {
	spec := sampleSpec()
	spec.Thresholds = v1alpha1.OutcomeThresholds{}
	spec.Priority = v1alpha1.AlertPriorities{}
	spec.CostLimit = 0
	rs := mustCompile(t, spec)
	if rs.review != 50 || rs.block != 100 || rs.priority.Review != "P3" || rs.priority.Block != "P1" || rs.costLimit != 10000 {
		t.Errorf("defaults not applied: review %d block %d priority %+v cost %d", rs.review, rs.block, rs.priority, rs.costLimit)
	}
}

func TestRuleInfo(t *testing.T) {
	spec := sampleSpec()
	off := false
	spec.Rules[2].Enabled = &off
	rs := mustCompile(t, spec)
	if rs.CompiledRules() != 5 {
		t.Errorf("CompiledRules = %d, want 5 (one disabled)", rs.CompiledRules())
	}
	infos := rs.Rules()
	if len(infos) != 6 || infos[2].Enabled {
		t.Fatalf("Rules() = %+v", infos)
	}
	got := strings.Join(infos[4].Reads, ",")
	want := "txn.amount,customer.txn_count,customer.avg_amount,detectors.new_device,detectors.new_country"
	if got != want {
		t.Errorf("account-takeover reads %s, want %s", got, want)
	}
	if infos[5].Mode != v1alpha1.RuleModeShadow || infos[0].Severity != v1alpha1.SeverityHigh {
		t.Errorf("mode/severity not carried: %+v", infos)
	}
	for _, in := range infos {
		if in.CostMax < in.CostMin || in.CostMax == 0 {
			t.Errorf("%s: implausible cost estimate [%d, %d]", in.Name, in.CostMin, in.CostMax)
		}
		// Plain comparisons are provably within the limit: no tracker.
		if in.CostTracked {
			t.Errorf("%s: cost tracked, want untracked", in.Name)
		}
	}
	spec.Rules[0].Expression = `txn.categories.exists(c, c.startsWith("gift"))`
	if info := mustCompile(t, spec).Rules()[0]; !info.CostTracked {
		t.Errorf("a comprehension over an unbounded list must be cost-tracked: %+v", info)
	}
}

func TestStaticCostLimit(t *testing.T) {
	spec := sampleSpec()
	spec.CostLimit = 100
	// A comprehension over a 200-element literal costs well over 100 on
	// every transaction.
	spec.Rules[0].Expression = "[" + strings.Repeat("1,", 199) + "1].all(x, x > 0)"
	_, err := Compile("card-fraud", 1, spec)
	if err == nil || !strings.Contains(err.Error(), `rule "card-testing"`) || !strings.Contains(err.Error(), "exceeds the cost limit of 100") {
		t.Errorf("want a static cost error naming card-testing, got %v", err)
	}
}

func TestVariables(t *testing.T) {
	vars := mustCompile(t, sampleSpec()).Variables()
	last := vars[len(vars)-1]
	if last.Name != "features.customer_txns_1h" || last.Type != "int" || last.Doc != "count per customer over 1h" {
		t.Errorf("last variable = %+v", last)
	}
	if vars[3].Name != "txn.amount" || vars[3].Type != "double" {
		t.Errorf("vars[3] = %+v", vars[3])
	}
}
