package engine

import (
	"encoding/base64"
	"fmt"
	"math"
	"strconv"

	"github.com/ecap-dev/ecap/runtime/events"
	"github.com/ecap-dev/ecap/runtime/kpi"
)

// appendKPIResult appends the KPI record of r, byte for byte what
// json.Marshal(r) writes (field order and names from the struct tags, the
// sketch in standard base64 and left out when empty), without reflection:
// json.Marshal allocated the record and walked the struct for every series
// of every closed window. TestAppendKPIResult compares the two. It fails
// where json.Marshal fails: a time outside the years 0 to 9999 or a float
// that is not finite.
func appendKPIResult(b []byte, r *kpi.WindowResult) ([]byte, error) {
	for _, f := range [...]float64{r.Revenue, r.AOV, r.Margin} {
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return nil, fmt.Errorf("failed to encode KPI result %s: unsupported value %v", r.ID, f)
		}
	}
	var err error
	b = append(b, `{"id":`...)
	b = events.AppendJSONString(b, r.ID)
	b = append(b, `,"window":`...)
	b = events.AppendJSONString(b, r.Window)
	b = append(b, `,"start":`...)
	if b, err = appendJSONTime(b, r.Start); err != nil {
		return nil, err
	}
	b = append(b, `,"end":`...)
	if b, err = appendJSONTime(b, r.End); err != nil {
		return nil, err
	}
	b = append(b, `,"dimension":`...)
	b = events.AppendJSONString(b, r.Dimension)
	b = append(b, `,"value":`...)
	b = events.AppendJSONString(b, r.Value)
	b = append(b, `,"partition":`...)
	b = strconv.AppendInt(b, int64(r.Partition), 10)
	b = append(b, `,"revenue":`...)
	b = events.AppendJSONFloat(b, r.Revenue)
	b = append(b, `,"orders":`...)
	b = strconv.AppendInt(b, r.Orders, 10)
	b = append(b, `,"units":`...)
	b = strconv.AppendInt(b, r.Units, 10)
	b = append(b, `,"aov":`...)
	b = events.AppendJSONFloat(b, r.AOV)
	b = append(b, `,"margin":`...)
	b = events.AppendJSONFloat(b, r.Margin)
	b = append(b, `,"unique_customers":`...)
	b = strconv.AppendUint(b, r.UniqueCustomers, 10)
	b = append(b, `,"late_orders":`...)
	b = strconv.AppendInt(b, r.LateOrders, 10)
	if len(r.CustomersSketch) > 0 {
		b = append(b, `,"customers_sketch":"`...)
		b = base64.StdEncoding.AppendEncode(b, r.CustomersSketch)
		b = append(b, '"')
	}
	return append(b, '}'), nil
}

// kpiResultRoom is the room reserved for the record of r: the fixed part,
// its strings escaped at up to six bytes per byte, and its sketch.
func kpiResultRoom(r *kpi.WindowResult) int {
	return 400 + 6*(len(r.ID)+len(r.Window)+len(r.Dimension)+len(r.Value)) +
		base64.StdEncoding.EncodedLen(len(r.CustomersSketch))
}
