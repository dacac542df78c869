package fraud

import (
	"math"
	"sync"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/ext"
)

// The rule language.
//
// Rules see four namespaces of typed variables: txn (the transaction),
// customer (its history before this transaction), detectors (built-in
// detectors), merchant (the merchant's counters in this partition) and
// features (the rule set's velocity features). Each field is declared as a
// CEL variable with a qualified name ("txn.amount"), which gives three
// things at once: the checker knows every field's exact type, a reference
// to an unknown field or undeclared feature fails at compile time, and the
// evaluator asks the activation for exactly the fields a rule reads, by
// name, so nothing a rule does not read is computed (see activation).

// variable is one declared variable and how to compute it.
type variable struct {
	name string
	typ  *cel.Type
	get  func(a *activation) ref.Val
	doc  string
}

func str(s string) ref.Val { return types.String(s) }

// dbl boxes f for CEL. Counts (velocity features, most of what rules
// compare) are small whole numbers: those come boxed from a table, since
// boxing a float64 allocates.
func dbl(f float64) ref.Val {
	if f >= 0 && f < float64(len(wholeDoubles)) && f == math.Trunc(f) && !math.Signbit(f) {
		return wholeDoubles[int(f)]
	}
	return types.Double(f)
}

// wholeDoubles are 0, 1, 2, ... boxed once, and wholeFloats the same as
// plain float64 for hit values (native).
var (
	wholeDoubles = func() (t [1024]ref.Val) {
		for i := range t {
			t[i] = types.Double(i)
		}
		return t
	}()
	wholeFloats = func() (t [len(wholeDoubles)]any) {
		for i := range t {
			t[i] = float64(i)
		}
		return t
	}()
)

func integer(i int64) ref.Val { return types.Int(i) }

// staticVars are the variables every rule set declares, in documentation
// order. docs/fraud.md lists them; TestDocsListEveryVariable keeps the two
// in step.
var staticVars = []variable{
	{"txn.id", cel.StringType, func(a *activation) ref.Val { return str(a.txn.ID) }, "transaction ID"},
	{"txn.event_time", cel.TimestampType, func(a *activation) ref.Val { return types.Timestamp{Time: a.txn.EventTime} }, "event time"},
	{"txn.customer_id", cel.StringType, func(a *activation) ref.Val { return str(a.txn.CustomerID) }, "customer ID"},
	{"txn.amount", cel.DoubleType, func(a *activation) ref.Val { return dbl(a.txn.Amount) }, "amount in major currency units"},
	{"txn.currency", cel.StringType, func(a *activation) ref.Val { return str(a.txn.Currency) }, "ISO 4217 code"},
	{"txn.payment_method", cel.StringType, func(a *activation) ref.Val { return str(a.txn.PaymentMethod) }, "card, paypal, apple_pay, google_pay, bank_transfer, cod, gift_card, crypto"},
	{"txn.card_fingerprint", cel.StringType, func(a *activation) ref.Val { return str(a.txn.CardFingerprint) }, "card fingerprint, empty if not a card"},
	{"txn.device_id", cel.StringType, func(a *activation) ref.Val { return str(a.txn.DeviceID) }, "device ID, empty if unknown"},
	{"txn.ip", cel.StringType, func(a *activation) ref.Val { return str(a.txn.IP) }, "client IP, empty if unknown"},
	{"txn.country", cel.StringType, func(a *activation) ref.Val { return str(a.txn.Country) }, "ISO 3166-1 alpha-2 country, empty if unknown"},
	{"txn.city", cel.StringType, func(a *activation) ref.Val { return str(a.txn.City) }, "city, empty if unknown"},
	{"txn.lat", cel.DoubleType, func(a *activation) ref.Val { return dbl(a.txn.Lat) }, "latitude in degrees, 0 unless has_geo"},
	{"txn.lon", cel.DoubleType, func(a *activation) ref.Val { return dbl(a.txn.Lon) }, "longitude in degrees, 0 unless has_geo"},
	{"txn.has_geo", cel.BoolType, func(a *activation) ref.Val { return types.Bool(a.txn.geo()) }, "whether lat/lon are known and valid"},
	{"txn.merchant_id", cel.StringType, func(a *activation) ref.Val { return str(a.txn.MerchantID) }, "merchant ID, empty if unknown"},
	{"txn.channel", cel.StringType, func(a *activation) ref.Val { return str(a.txn.Channel) }, "web, mobile_app, marketplace, store, call_center"},
	{"txn.lines", cel.IntType, func(a *activation) ref.Val { return integer(a.txn.Lines) }, "number of order lines"},
	{"txn.units", cel.IntType, func(a *activation) ref.Val { return integer(a.txn.Units) }, "units over all lines"},
	{"txn.categories", cel.ListType(cel.StringType), func(a *activation) ref.Val {
		return types.NewStringList(types.DefaultTypeAdapter, a.txn.Categories)
	}, "product categories of the lines"},
	{"txn.margin", cel.DoubleType, func(a *activation) ref.Val { return dbl(a.txn.Margin) }, "gross margin in major currency units"},

	{"customer.txn_count", cel.IntType, func(a *activation) ref.Val { return integer(a.customer().TxnCount) }, "earlier transactions"},
	{"customer.total_amount", cel.DoubleType, func(a *activation) ref.Val { return dbl(a.customer().TotalAmount) }, "sum of earlier amounts"},
	{"customer.avg_amount", cel.DoubleType, func(a *activation) ref.Val { return dbl(a.customer().AvgAmount) }, "mean of earlier amounts, 0 if none"},
	{"customer.stddev_amount", cel.DoubleType, func(a *activation) ref.Val { return dbl(a.customer().StddevAmount) }, "sample standard deviation of earlier amounts, 0 below 2"},
	{"customer.days_since_first", cel.DoubleType, func(a *activation) ref.Val { return dbl(a.customer().DaysSinceFirst) }, "days since the first transaction, 0 if none"},
	{"customer.seconds_since_last", cel.DoubleType, func(a *activation) ref.Val { return dbl(a.customer().SecondsSinceLast) }, "seconds since the previous transaction, +Inf if none"},
	{"customer.devices", cel.IntType, func(a *activation) ref.Val { return integer(a.customer().Devices) }, "distinct devices remembered (at most 16)"},
	{"customer.countries", cel.IntType, func(a *activation) ref.Val { return integer(a.customer().Countries) }, "distinct countries remembered (at most 16)"},
	{"customer.is_new", cel.BoolType, func(a *activation) ref.Val { return types.Bool(a.customer().IsNew) }, "no earlier transaction"},

	{"detectors.amount_zscore", cel.DoubleType, func(a *activation) ref.Val { return dbl(amountZScore(a.cust, a.txn.Amount)) }, "z-score of the amount against the customer's earlier amounts"},
	{"detectors.geo_velocity_kmh", cel.DoubleType, func(a *activation) ref.Val { kmh, _ := a.geo(); return dbl(kmh) }, "speed from the previous located transaction, km/h"},
	{"detectors.geo_distance_km", cel.DoubleType, func(a *activation) ref.Val { _, km := a.geo(); return dbl(km) }, "distance from the previous located transaction, km"},
	{"detectors.new_device", cel.BoolType, func(a *activation) ref.Val { return types.Bool(newDevice(a.cust, a.txn)) }, "device not among the customer's recent devices"},
	{"detectors.new_country", cel.BoolType, func(a *activation) ref.Val { return types.Bool(newCountry(a.cust, a.txn)) }, "country not among the customer's recent countries"},
	{"detectors.merchant_risk", cel.DoubleType, func(a *activation) ref.Val { return dbl(merchantRisk(a.st, a.txn)) }, "estimated fraud rate of the merchant, 0..1"},

	{"merchant.txn_count", cel.IntType, func(a *activation) ref.Val { return integer(clampInt(a.merchant().Transactions)) }, "earlier transactions at the merchant (this partition)"},
	{"merchant.alerts", cel.IntType, func(a *activation) ref.Val { return integer(clampInt(a.merchant().Alerts)) }, "earlier review/block outcomes at the merchant"},
	{"merchant.confirmed_fraud", cel.IntType, func(a *activation) ref.Val { return integer(clampInt(a.merchant().ConfirmedFraud)) }, "alerts at the merchant labelled fraud"},
	{"merchant.confirmed_legit", cel.IntType, func(a *activation) ref.Val { return integer(clampInt(a.merchant().ConfirmedLegit)) }, "alerts at the merchant labelled legit"},
}

func clampInt(u uint64) int64 { return int64(min(u, math.MaxInt64)) }

// namespaces are the roots of qualified variable names.
var namespaces = []string{"txn", "customer", "detectors", "merchant", "features"}

// Limits on what the parser accepts. The API bounds expressions at 4096
// characters; the recursion and node limits stop pathological inputs from
// costing the webhook seconds.
const (
	maxExpressionLen = 4096
	maxNesting       = 64
)

// baseEnv is the environment without features, built once per process.
var baseEnv = sync.OnceValues(func() (*cel.Env, error) {
	opts := []cel.EnvOption{
		ext.Strings(),
		ext.Sets(),
		cel.CrossTypeNumericComparisons(true),
		cel.DefaultUTCTimeZone(true),
		cel.ParserExpressionSizeLimit(maxExpressionLen),
		cel.ParserRecursionLimit(maxNesting),
		cel.ExpressionNestingDepthLimit(maxNesting),
	}
	for _, v := range staticVars {
		opts = append(opts, cel.Variable(v.name, v.typ))
	}
	return cel.NewEnv(opts...)
})

// VariableInfo describes a variable rules can read.
type VariableInfo struct {
	Name string `json:"name"`
	Type string `json:"type"`
	Doc  string `json:"doc"`
}

// Variables lists the variables the rule set's rules can read: the fixed
// ones and the rule set's features.
func (rs *RuleSet) Variables() []VariableInfo {
	out := make([]VariableInfo, len(rs.vars))
	for i, v := range rs.vars {
		out[i] = VariableInfo{Name: v.name, Type: v.typ.String(), Doc: v.doc}
	}
	return out
}
