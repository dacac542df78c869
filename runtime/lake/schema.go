package lake

import (
	"fmt"
	"time"
)

// Dataset names a table of the lake; the values are the API's
// spec.sinks.lake.datasets.
type Dataset string

// Datasets.
const (
	Transactions   Dataset = "transactions"
	UserEvents     Dataset = "user_events"
	FraudDecisions Dataset = "fraud_decisions"
	KPIs           Dataset = "kpis"
)

// SchemaVersion is written into every manifest entry. It changes when a
// dataset's columns change incompatibly (renamed or retyped columns; added
// optional columns keep it).
const SchemaVersion = 1

// ParseDataset checks a dataset name.
func ParseDataset(s string) (Dataset, error) {
	switch d := Dataset(s); d {
	case Transactions, UserEvents, FraudDecisions, KPIs:
		return d, nil
	}
	return "", fmt.Errorf("unknown dataset %q (want transactions, user_events, fraud_decisions or kpis)", s)
}

// Row is a row type of one dataset.
type Row interface {
	TransactionRow | UserEventRow | FraudDecisionRow | KPIRow
	// PartitionTime is the time that places the row in a date/hour
	// partition: its event time (a KPI window's start).
	PartitionTime() time.Time
}

// TransactionRow is a validated, enriched transaction (dataset
// transactions). Money is in the transaction's currency; margin is the
// catalog margin in the same currency, 0 without a catalog.
type TransactionRow struct {
	EventID         string    `parquet:"event_id"`
	TransactionID   string    `parquet:"transaction_id"`
	CustomerID      string    `parquet:"customer_id"`
	MerchantID      string    `parquet:"merchant_id"`
	EventTime       time.Time `parquet:"event_time,timestamp(millisecond)"`
	Amount          float64   `parquet:"amount"`
	Currency        string    `parquet:"currency"`
	Lines           int32     `parquet:"lines"`
	Units           int64     `parquet:"units"`
	Categories      []string  `parquet:"categories,list"`
	Brands          []string  `parquet:"brands,list"`
	Margin          float64   `parquet:"margin"`
	UnknownProducts int32     `parquet:"unknown_products"`
	Country         string    `parquet:"country"`
	City            string    `parquet:"city"`
	Channel         string    `parquet:"channel"`
	PaymentMethod   string    `parquet:"payment_method"`
	DeviceID        string    `parquet:"device_id"`
}

// PartitionTime implements Row.
func (r TransactionRow) PartitionTime() time.Time { return r.EventTime }

// UserEventRow is a validated user event (dataset user_events).
type UserEventRow struct {
	EventID       string    `parquet:"event_id"`
	EventTime     time.Time `parquet:"event_time,timestamp(millisecond)"`
	SessionID     string    `parquet:"session_id"`
	CustomerID    string    `parquet:"customer_id"`
	Action        string    `parquet:"action"`
	ProductID     string    `parquet:"product_id"`
	Query         string    `parquet:"query"`
	OrderID       string    `parquet:"order_id"`
	TransactionID string    `parquet:"transaction_id"`
	Page          string    `parquet:"page"`
	Channel       string    `parquet:"channel"`
	DeviceID      string    `parquet:"device_id"`
	Country       string    `parquet:"country"`
}

// PartitionTime implements Row.
func (r UserEventRow) PartitionTime() time.Time { return r.EventTime }

// FraudDecisionRow is one rule set's decision on one transaction (dataset
// fraud_decisions), allow included. AlertID is empty when no rule hit.
type FraudDecisionRow struct {
	AlertID       string    `parquet:"alert_id"`
	TransactionID string    `parquet:"transaction_id"`
	CustomerID    string    `parquet:"customer_id"`
	MerchantID    string    `parquet:"merchant_id"`
	EventTime     time.Time `parquet:"event_time,timestamp(millisecond)"`
	RuleSet       string    `parquet:"rule_set"`
	Generation    int64     `parquet:"generation"`
	Decision      string    `parquet:"decision"`
	Priority      string    `parquet:"priority"`
	Score         int64     `parquet:"score"`
	ShadowScore   int64     `parquet:"shadow_score"`
	RulesHit      []string  `parquet:"rules_hit,list"`
}

// PartitionTime implements Row.
func (r FraudDecisionRow) PartitionTime() time.Time { return r.EventTime }

// KPIRow is one closed KPI window of one input partition for one dimension
// value (dataset kpis); rows of several partitions are merged by summing
// (unique_customers is the partition's estimate and does not sum).
type KPIRow struct {
	ID              string    `parquet:"id"`
	Window          string    `parquet:"window"`
	WindowStart     time.Time `parquet:"window_start,timestamp(millisecond)"`
	WindowEnd       time.Time `parquet:"window_end,timestamp(millisecond)"`
	Dimension       string    `parquet:"dimension"`
	Value           string    `parquet:"value"`
	Partition       int32     `parquet:"partition"`
	Revenue         float64   `parquet:"revenue"`
	Orders          int64     `parquet:"orders"`
	Units           int64     `parquet:"units"`
	AOV             float64   `parquet:"aov"`
	Margin          float64   `parquet:"margin"`
	UniqueCustomers int64     `parquet:"unique_customers"`
	LateOrders      int64     `parquet:"late_orders"`
}

// PartitionTime implements Row.
func (r KPIRow) PartitionTime() time.Time { return r.WindowStart }

// HasCustomers reports whether d's rows name a customer (Erase applies).
func HasCustomers(d Dataset) bool { return customerColumn(d) != "" }

// customerColumn is the column Erase matches customer IDs against; empty
// for datasets without customers.
func customerColumn(d Dataset) string {
	if d == KPIs {
		return ""
	}
	return "customer_id"
}

// PartitionOf returns the Hive-style partition of t:
// "date=YYYY-MM-DD/hour=HH" in UTC.
func PartitionOf(t time.Time) string {
	t = t.UTC()
	return fmt.Sprintf("date=%s/hour=%02d", t.Format("2006-01-02"), t.Hour())
}

// parsePartition returns the start of a partition's hour.
func parsePartition(p string) (time.Time, error) {
	var date string
	var hour int
	if len(p) != len("date=2006-01-02/hour=15") {
		return time.Time{}, fmt.Errorf("invalid partition %q", p)
	}
	if _, err := fmt.Sscanf(p, "date=%10s", &date); err != nil {
		return time.Time{}, fmt.Errorf("invalid partition %q", p)
	}
	if _, err := fmt.Sscanf(p[len("date=2006-01-02/"):], "hour=%02d", &hour); err != nil || hour > 23 {
		return time.Time{}, fmt.Errorf("invalid partition %q", p)
	}
	d, err := time.Parse("2006-01-02", date)
	if err != nil {
		return time.Time{}, fmt.Errorf("invalid partition %q", p)
	}
	return d.Add(time.Duration(hour) * time.Hour), nil
}

// PartitionStart returns the start of a partition's hour
// ("date=YYYY-MM-DD/hour=HH").
func PartitionStart(p string) (time.Time, error) { return parsePartition(p) }
