package kpi

import (
	"time"

	"github.com/ecap-dev/ecap/api/v1alpha1"
)

// Indexes into Observation.Dims.
const (
	DimCategory = iota
	DimCountry
	DimChannel
	DimPaymentMethod
)

var dimensionIndex = map[v1alpha1.KPIDimension]int{
	v1alpha1.DimensionCategory:      DimCategory,
	v1alpha1.DimensionCountry:       DimCountry,
	v1alpha1.DimensionChannel:       DimChannel,
	v1alpha1.DimensionPaymentMethod: DimPaymentMethod,
}

// Observation is one transaction, or one category's share of a transaction
// (see the package comment), as the KPIs see it. Amounts are in the
// reporting currency.
type Observation struct {
	EventTime  time.Time
	CustomerID string
	// Revenue is the amount of the transaction or of the category's lines.
	Revenue float64
	// Units is the number of units bought.
	Units int64
	// Margin is the margin of the lines whose cost is known.
	Margin float64
	// Orders is 1 for a transaction (in every split of it).
	Orders int64
	// Continuation marks the second and later category splits of one
	// transaction: they do not count another order in the overall series
	// nor in the transaction-level dimensions, and they are not counted
	// again as late.
	Continuation bool
	// Dims holds the dimension values, indexed by DimCategory, DimCountry,
	// DimChannel and DimPaymentMethod.
	Dims [4]string
}

// CategoryShare is one category's part of a transaction.
type CategoryShare struct {
	Category string
	Revenue  float64
	Units    int64
	Margin   float64
}

// AddTransaction adds one transaction as one Observation per category
// share. base carries the transaction-level fields (time, customer, country,
// channel, payment method); with shares, its Revenue, Units, Margin and
// category are replaced by each share's. With no shares, base is added as it
// is. Either way the transaction counts as one order. It reports whether the
// transaction was late for some window name (see Add).
func (a *Aggregator) AddTransaction(base Observation, shares []CategoryShare) (late bool) {
	base.Orders = 1
	base.Continuation = false
	return a.add(&base, shares)
}
