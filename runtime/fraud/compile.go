package fraud

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/checker"
	"github.com/google/cel-go/common"
	"github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/types/ref"

	"github.com/ecap-dev/ecap/api/v1alpha1"
)

// Defaults for fields the API defaults; the runtime applies them too, for
// specs that did not pass through the API server (files, tests).
const (
	DefaultReviewThreshold = 50
	DefaultBlockThreshold  = 100
	DefaultCostLimit       = 10_000
	minCostLimit           = 100
	maxCostLimit           = 10_000_000
	maxRules               = 256
	maxFeatures            = 64
	maxRuleScore           = 1000
)

var (
	featureNamePattern = regexp.MustCompile(`^[a-z][a-z0-9_]{0,62}$`)
	ruleNamePattern    = regexp.MustCompile(`^[a-z0-9]([-a-z0-9_]{0,61}[a-z0-9])?$`)
)

// CompileError says why one rule's expression was rejected. Message is the
// CEL compiler's report, with position and a caret under the offending
// part, or one in the same form for checks fraud adds (undeclared feature,
// non-bool result, certain cost overrun).
type CompileError struct {
	// Rule is the rule's name.
	Rule string
	// Index is the rule's position in spec.rules.
	Index int
	// Message is the compiler's report.
	Message string
}

func (e *CompileError) Error() string { return fmt.Sprintf("rule %q: %s", e.Rule, e.Message) }

// Field is the path of the offending field, for admission responses.
func (e *CompileError) Field() string { return fmt.Sprintf("spec.rules[%d].expression", e.Index) }

// FieldError says why a field of a spec other than a rule's expression is
// invalid.
type FieldError struct {
	// Field is the path, e.g. "spec.features[2].window".
	Field string
	// Message says what is wrong.
	Message string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Message }

// RuleInfo describes a compiled rule.
type RuleInfo struct {
	Name     string            `json:"name"`
	Enabled  bool              `json:"enabled"`
	Mode     v1alpha1.RuleMode `json:"mode"`
	Severity v1alpha1.Severity `json:"severity"`
	Score    int32             `json:"score"`
	// Reads lists the variables the expression reads; hits report their
	// values.
	Reads []string `json:"reads"`
	// CostMin and CostMax are the checker's static cost estimate, assuming
	// at most 64 categories and strings of at most 256 characters.
	CostMin uint64 `json:"cost_min"`
	CostMax uint64 `json:"cost_max"`
	// CostTracked tells whether evaluation tracks cost against the limit;
	// it does not for rules whose cost is provably within the limit
	// whatever the input.
	CostTracked bool `json:"cost_tracked"`
}

// compiledRule is an enabled rule ready to evaluate.
type compiledRule struct {
	name     string
	score    int32
	severity v1alpha1.Severity
	shadow   bool
	prg      cel.Program
	tracked  bool  // prg tracks its cost against the limit
	reads    []int // variable indices, ascending
	named    []int // reads in the order of the variables' names (Hit.Values)
	ctr      *RuleCounters
	// alone is []string{name}: the rules of an alert only this rule hit,
	// shared by all such alerts (alertEntry.rules is never modified).
	alone []string
}

// compiledFeature is a declared velocity feature.
type compiledFeature struct {
	name  string
	agg   aggregation
	kind  entityKind
	field v1alpha1.FeatureField
	width int64
	sig   string
}

// fieldHash hashes the transaction's value of a distinct_count field; false
// if the transaction has none.
func (f *compiledFeature) fieldHash(t *Transaction) (uint64, bool) {
	var s string
	switch f.field {
	case "amount":
		if math.IsNaN(t.Amount) {
			return 0, false
		}
		return fmix64(math.Float64bits(t.Amount + 0)), true // +0 folds -0 into 0
	case "customer":
		s = t.CustomerID
	case "card":
		s = t.CardFingerprint
	case "device":
		s = t.DeviceID
	case "ip":
		s = t.IP
	case "merchant":
		s = t.MerchantID
	case "country":
		s = t.Country
	}
	if s == "" {
		return 0, false
	}
	return hashString(s), true
}

// observedWindow is a window Observe updates for an entity kind; features
// with one definition share it.
type observedWindow struct {
	sig   string
	agg   aggregation
	width int64
	f     *compiledFeature
}

// RuleSet is one compiled generation of a FraudRuleSet. It is immutable and
// safe for concurrent use; the State it reads and writes is not.
type RuleSet struct {
	name       string
	generation int64
	rules      []compiledRule
	infos      []RuleInfo
	features   []compiledFeature
	observe    [numKinds][]observedWindow
	vars       []variable
	varIndex   map[string]int
	review     int64
	block      int64
	priority   v1alpha1.AlertPriorities
	costLimit  uint64
	stats      *Stats
	now        func() time.Time
}

// Option configures a RuleSet at compile time.
type Option func(*RuleSet)

// WithClock sets the clock for Decision.EvaluatedAt; tests use a fake one.
func WithClock(now func() time.Time) Option { return func(rs *RuleSet) { rs.now = now } }

// WithStats makes the rule set count into s, typically the Holder's, so
// that counters survive reloads. By default each rule set counts on its own.
func WithStats(s *Stats) Option { return func(rs *RuleSet) { rs.useStats(s) } }

func (rs *RuleSet) useStats(s *Stats) {
	rs.stats = s
	for i := range rs.rules {
		rs.rules[i].ctr = s.counters(rs.rules[i].name)
	}
}

// Name is the FraudRuleSet's name.
func (rs *RuleSet) Name() string { return rs.name }

// Generation is the FraudRuleSet generation compiled.
func (rs *RuleSet) Generation() int64 { return rs.generation }

// Rules describes every rule of the spec, enabled or not, in spec order.
func (rs *RuleSet) Rules() []RuleInfo { return slices.Clone(rs.infos) }

// CompiledRules is the number of enabled rules, for status.compiledRules.
func (rs *RuleSet) CompiledRules() int { return len(rs.rules) }

// Stats returns the counters the rule set counts into.
func (rs *RuleSet) Stats() *Stats { return rs.stats }

// Compile validates and compiles a FraudRuleSet spec. Every problem is
// reported, joined: *CompileError for expressions, *FieldError for the
// rest; errors.As finds the first of either kind. Compile once per
// generation: compiling costs tens to hundreds of microseconds per rule,
// evaluating well under one.
func Compile(name string, generation int64, spec v1alpha1.FraudRuleSetSpec, opts ...Option) (*RuleSet, error) {
	rs, errs := compile(name, generation, &spec)
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	rs.now = time.Now
	rs.useStats(NewStats())
	for _, o := range opts {
		o(rs)
	}
	return rs, nil
}

// ValidateSpec reports every problem of a spec, for the admission webhook
// and the controller: the compile errors of every rule (disabled ones too,
// so that enabling a rule cannot break a rule set) and the sanity of
// features, windows, thresholds, priorities and the cost limit. It
// repeats what the CRD schema checks, because specs also come from files.
func ValidateSpec(spec v1alpha1.FraudRuleSetSpec) []error {
	_, errs := compile("", 0, &spec)
	return errs
}

func compile(name string, generation int64, spec *v1alpha1.FraudRuleSetSpec) (*RuleSet, []error) {
	var errs []error
	fieldErr := func(field, format string, args ...any) {
		errs = append(errs, &FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
	}
	rs := &RuleSet{name: name, generation: generation}

	// Thresholds, priorities and cost limit; zero means unset.
	rs.review, rs.block = int64(spec.Thresholds.Review), int64(spec.Thresholds.Block)
	if rs.review == 0 {
		rs.review = DefaultReviewThreshold
	}
	if rs.block == 0 {
		rs.block = DefaultBlockThreshold
	}
	if rs.review < 1 {
		fieldErr("spec.thresholds.review", "must be at least 1, got %d", rs.review)
	}
	if rs.block < 1 {
		fieldErr("spec.thresholds.block", "must be at least 1, got %d", rs.block)
	}
	if rs.review >= rs.block {
		fieldErr("spec.thresholds", "review (%d) must be below block (%d)", rs.review, rs.block)
	}
	rs.priority = spec.Priority
	if rs.priority.Review == "" {
		rs.priority.Review = "P3"
	}
	if rs.priority.Block == "" {
		rs.priority.Block = "P1"
	}
	for _, p := range []struct {
		field string
		value v1alpha1.AlertPriority
	}{{"spec.priority.review", rs.priority.Review}, {"spec.priority.block", rs.priority.Block}} {
		switch p.value {
		case "P1", "P2", "P3", "P4":
		default:
			fieldErr(p.field, "must be one of P1, P2, P3, P4, got %q", p.value)
		}
	}
	switch limit := spec.CostLimit; {
	case limit == 0:
		rs.costLimit = DefaultCostLimit
	case limit < minCostLimit || limit > maxCostLimit:
		fieldErr("spec.costLimit", "must be between %d and %d, got %d", minCostLimit, maxCostLimit, limit)
		rs.costLimit = DefaultCostLimit
	default:
		rs.costLimit = uint64(limit)
	}

	// Features. A feature with a valid name is declared even if the rest
	// of it is invalid, so that rules using it do not report a second,
	// misleading error.
	if len(spec.Features) > maxFeatures {
		fieldErr("spec.features", "at most %d features, got %d", maxFeatures, len(spec.Features))
	}
	rs.vars = slices.Clip(staticVars)
	featureNames := map[string]bool{}
	var featureDecls []cel.EnvOption
	for i, f := range spec.Features {
		path := fmt.Sprintf("spec.features[%d]", i)
		if !featureNamePattern.MatchString(f.Name) {
			fieldErr(path+".name", "must match %s, got %q", featureNamePattern, f.Name)
			continue
		}
		if featureNames[f.Name] {
			fieldErr(path+".name", "duplicate feature %q", f.Name)
			continue
		}
		featureNames[f.Name] = true
		cf := compiledFeature{name: f.Name}
		valid := true
		var ok bool
		if cf.agg, ok = parseAggregation(f.Aggregation); !ok {
			fieldErr(path+".aggregation", "must be count, sum or distinct_count, got %q", f.Aggregation)
			valid = false
		}
		if cf.kind, ok = parseKey(f.KeyBy); !ok {
			fieldErr(path+".keyBy", "must be customer, card, device, ip or merchant, got %q", f.KeyBy)
			valid = false
		}
		cf.field = f.Field
		switch cf.agg {
		case aggCount:
			if f.Field != "" {
				fieldErr(path+".field", "not allowed for count, got %q", f.Field)
				valid = false
			}
		case aggSum:
			if f.Field != "amount" {
				fieldErr(path+".field", "sum is only defined over amount, got %q", f.Field)
				valid = false
			}
		case aggDistinct:
			switch f.Field {
			case "amount", "customer", "card", "device", "ip", "merchant", "country":
			case "":
				fieldErr(path+".field", "required for distinct_count")
				valid = false
			default:
				fieldErr(path+".field", "must be amount, customer, card, device, ip, merchant or country, got %q", f.Field)
				valid = false
			}
		}
		w, err := f.Window.Parse()
		switch {
		case err != nil:
			fieldErr(path+".window", "%v", err)
			valid = false
		case w < MinWindow || w > MaxWindow:
			fieldErr(path+".window", "must be between %v and 7d, got %q", MinWindow, f.Window)
			valid = false
		}
		typ, isSum := cel.IntType, cf.agg == aggSum
		if isSum {
			typ = cel.DoubleType
		}
		idx := len(rs.features)
		doc := fmt.Sprintf("%s per %s over %s", f.Aggregation, f.KeyBy, f.Window)
		if f.Field != "" {
			doc = fmt.Sprintf("%s of %s per %s over %s", f.Aggregation, f.Field, f.KeyBy, f.Window)
		}
		rs.vars = append(rs.vars, variable{
			name: "features." + f.Name,
			typ:  typ,
			doc:  doc,
			get: func(a *activation) ref.Val {
				v := a.feature(idx)
				if isSum {
					return dbl(v)
				}
				return integer(int64(v))
			},
		})
		featureDecls = append(featureDecls, cel.Variable("features."+f.Name, typ))
		if valid {
			cf.width = bucketWidth(w)
			cf.sig = windowSignature(cf.agg, f.KeyBy, f.Field, cf.width)
		}
		rs.features = append(rs.features, cf)
	}
	for i := range rs.features {
		f := &rs.features[i]
		if f.sig == "" {
			continue
		}
		if !slices.ContainsFunc(rs.observe[f.kind], func(o observedWindow) bool { return o.sig == f.sig }) {
			rs.observe[f.kind] = append(rs.observe[f.kind], observedWindow{sig: f.sig, agg: f.agg, width: f.width, f: f})
		}
	}
	rs.varIndex = make(map[string]int, len(rs.vars))
	for i, v := range rs.vars {
		rs.varIndex[v.name] = i
	}

	// Rules.
	base, err := baseEnv()
	if err != nil {
		return nil, append(errs, fmt.Errorf("failed to build the CEL environment: %w", err))
	}
	env, err := base.Extend(featureDecls...)
	if err != nil {
		return nil, append(errs, fmt.Errorf("failed to declare features: %w", err))
	}
	switch n := len(spec.Rules); {
	case n == 0:
		fieldErr("spec.rules", "at least one rule is required")
	case n > maxRules:
		fieldErr("spec.rules", "at most %d rules, got %d", maxRules, n)
	}
	ruleNames := map[string]bool{}
	for i, r := range spec.Rules {
		path := fmt.Sprintf("spec.rules[%d]", i)
		if !ruleNamePattern.MatchString(r.Name) {
			fieldErr(path+".name", "must match %s, got %q", ruleNamePattern, r.Name)
		} else if ruleNames[r.Name] {
			fieldErr(path+".name", "duplicate rule %q", r.Name)
		}
		ruleNames[r.Name] = true
		if r.Score < 0 || r.Score > maxRuleScore {
			fieldErr(path+".score", "must be between 0 and %d, got %d", maxRuleScore, r.Score)
		}
		severity := r.Severity
		switch severity {
		case "":
			severity = v1alpha1.SeverityMedium
		case v1alpha1.SeverityLow, v1alpha1.SeverityMedium, v1alpha1.SeverityHigh, v1alpha1.SeverityCritical:
		default:
			fieldErr(path+".severity", "must be low, medium, high or critical, got %q", r.Severity)
		}
		mode := r.Mode
		switch mode {
		case "":
			mode = v1alpha1.RuleModeEnforce
		case v1alpha1.RuleModeEnforce, v1alpha1.RuleModeShadow:
		default:
			fieldErr(path+".mode", "must be enforce or shadow, got %q", r.Mode)
		}
		prg, reads, cost, tracked, cerr := rs.compileRule(env, r.Expression)
		if cerr != "" {
			errs = append(errs, &CompileError{Rule: r.Name, Index: i, Message: cerr})
			continue
		}
		info := RuleInfo{
			Name: r.Name, Enabled: r.IsEnabled(), Mode: mode, Severity: severity, Score: r.Score,
			CostMin: cost.Min, CostMax: cost.Max, CostTracked: tracked,
		}
		for _, v := range reads {
			info.Reads = append(info.Reads, rs.vars[v].name)
		}
		rs.infos = append(rs.infos, info)
		if r.IsEnabled() {
			rs.rules = append(rs.rules, compiledRule{
				name: r.Name, score: r.Score, severity: severity,
				shadow: mode == v1alpha1.RuleModeShadow, prg: prg, tracked: tracked, reads: reads,
				named: rs.byName(reads), alone: []string{r.Name},
			})
		}
	}
	return rs, errs
}

// compileRule parses, checks and plans one expression. The error, if any,
// is a display string in the compiler's format.
func (rs *RuleSet) compileRule(env *cel.Env, expr string) (prg cel.Program, reads []int, cost checker.CostEstimate, tracked bool, msg string) {
	if strings.TrimSpace(expr) == "" {
		return nil, nil, cost, false, "ERROR: <input>:1:1: expression is empty"
	}
	if n := len(expr); n > maxExpressionLen {
		return nil, nil, cost, false, fmt.Sprintf("ERROR: <input>:1:1: expression is %d bytes long, at most %d are allowed", n, maxExpressionLen)
	}
	parsed, iss := env.Parse(expr)
	if iss.Err() != nil {
		return nil, nil, cost, false, iss.String()
	}
	checked, iss := env.Check(parsed)
	if iss.Err() != nil {
		// The checker reports "undeclared reference to 'features'" for an
		// undeclared feature; say what is actually missing instead.
		if unknown := rs.unknownNames(parsed); unknown != nil {
			return nil, nil, cost, false, unknown.String()
		}
		return nil, nil, cost, false, iss.String()
	}
	if t := checked.OutputType(); !t.IsExactType(cel.BoolType) {
		iss := cel.NewIssuesWithSourceInfo(common.NewErrors(parsed.Source()), checked.NativeRep().SourceInfo())
		iss.ReportErrorAtID(checked.NativeRep().Expr().ID(), "expression must evaluate to bool, got %s", t)
		return nil, nil, cost, false, iss.String()
	}
	cost, err := env.EstimateCost(checked, sizeEstimator{})
	if err != nil {
		return nil, nil, cost, false, "ERROR: <input>:1:1: cost estimation failed: " + err.Error()
	}
	if cost.Min > rs.costLimit {
		return nil, nil, cost, false, fmt.Sprintf("ERROR: <input>:1:1: estimated cost of at least %d exceeds the cost limit of %d on every transaction", cost.Min, rs.costLimit)
	}
	// The checker's estimate is an upper bound of the runtime cost (the
	// two are kept in step in cel-go, and Kubernetes relies on it). Made
	// without size assumptions, a bound within the limit proves the rule
	// can never exceed it, and the rule runs without a cost tracker,
	// which would otherwise cost more than a simple rule itself.
	opts := []cel.ProgramOption{cel.EvalOptions(cel.OptOptimize)}
	bound, err := env.EstimateCost(checked, unboundedSizes{})
	if err != nil || bound.Max > rs.costLimit {
		opts = append(opts, cel.CostLimit(rs.costLimit))
		tracked = true
	} else {
		// Variables read by index rather than by name (see varRead).
		opts = append(opts, cel.CustomDecoratorV2(rs.readVars))
	}
	prg, err = env.Program(checked, opts...)
	if err != nil {
		return nil, nil, cost, false, "ERROR: <input>:1:1: " + err.Error()
	}
	return prg, rs.reads(checked), cost, tracked, ""
}

// reads lists the declared variables an expression references, from the
// checker's reference map.
func (rs *RuleSet) reads(checked *cel.Ast) []int {
	var out []int
	for _, ref := range checked.NativeRep().ReferenceMap() {
		if len(ref.OverloadIDs) > 0 {
			continue
		}
		if i, ok := rs.varIndex[ref.Name]; ok && !slices.Contains(out, i) {
			out = append(out, i)
		}
	}
	slices.Sort(out)
	return out
}

// byName returns the variable indices vars sorted by the variables'
// names, the order of a hit's values.
func (rs *RuleSet) byName(vars []int) []int {
	out := slices.Clone(vars)
	slices.SortFunc(out, func(i, j int) int { return strings.Compare(rs.vars[i].name, rs.vars[j].name) })
	return out
}

// unknownNames reports selections such as features.x or txn.y whose
// qualified name is not declared, nil if there are none.
func (rs *RuleSet) unknownNames(parsed *cel.Ast) *cel.Issues {
	var iss *cel.Issues
	ast.PostOrderVisit(parsed.NativeRep().Expr(), ast.NewExprVisitor(func(e ast.Expr) {
		if e.Kind() != ast.SelectKind {
			return
		}
		sel := e.AsSelect()
		op := sel.Operand()
		if op.Kind() != ast.IdentKind || !slices.Contains(namespaces, op.AsIdent()) {
			return
		}
		ns := op.AsIdent()
		if _, ok := rs.varIndex[ns+"."+sel.FieldName()]; ok {
			return
		}
		if iss == nil {
			iss = cel.NewIssuesWithSourceInfo(common.NewErrors(parsed.Source()), parsed.NativeRep().SourceInfo())
		}
		var declared []string
		for _, v := range rs.vars {
			if f, ok := strings.CutPrefix(v.name, ns+"."); ok {
				declared = append(declared, f)
			}
		}
		if ns == "features" {
			list := "none"
			if len(declared) > 0 {
				list = strings.Join(declared, ", ")
			}
			iss.ReportErrorAtID(e.ID(), "undeclared feature '%s': declare it in spec.features (declared: %s)", sel.FieldName(), list)
			return
		}
		iss.ReportErrorAtID(e.ID(), "undeclared reference to '%s.%s' (%s has: %s)", ns, sel.FieldName(), ns, strings.Join(declared, ", "))
	}))
	return iss
}

// sizeEstimator bounds variable sizes for the static cost estimate. The
// bounds are typical, not enforced: the runtime cost limit is what holds.
type sizeEstimator struct{}

const (
	estCategories = 64
	estString     = 256
)

func (sizeEstimator) EstimateSize(n checker.AstNode) *checker.SizeEstimate {
	p := n.Path()
	if len(p) == 0 {
		return nil
	}
	switch {
	case p[0] == "txn.categories" && len(p) == 1:
		return &checker.SizeEstimate{Min: 0, Max: estCategories}
	case n.Type().IsExactType(cel.StringType):
		return &checker.SizeEstimate{Min: 0, Max: estString}
	}
	return nil
}

func (sizeEstimator) EstimateCallCost(string, string, *checker.AstNode, []checker.AstNode) *checker.CallEstimate {
	return nil
}

// unboundedSizes assumes nothing about sizes: every list and string may be
// arbitrarily long.
type unboundedSizes struct{}

func (unboundedSizes) EstimateSize(checker.AstNode) *checker.SizeEstimate { return nil }

func (unboundedSizes) EstimateCallCost(string, string, *checker.AstNode, []checker.AstNode) *checker.CallEstimate {
	return nil
}
