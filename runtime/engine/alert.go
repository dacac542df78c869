package engine

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/ecap-dev/ecap/runtime/events"
	"github.com/ecap-dev/ecap/runtime/fraud"
)

// appendAlert appends the record written to sinks.alertsTopic: d exactly as
// encoding/json.Marshal writes it (field order, omitempty, escaping, number
// and time formats), without reflection. Alerts are keyed and deduplicated
// by their bytes, so the encoding must not drift; TestAppendAlert compares
// the two. It fails where json.Marshal fails: a time outside the years
// 0-9999 or a non-finite number.
func appendAlert(b []byte, d *fraud.Decision) ([]byte, error) {
	var err error
	b = append(b, '{')
	if d.AlertID != "" {
		b = append(b, `"alert_id":`...)
		b = events.AppendJSONString(b, d.AlertID)
		b = append(b, ',')
	}
	b = append(b, `"transaction_id":`...)
	b = events.AppendJSONString(b, d.TransactionID)
	b = append(b, `,"customer_id":`...)
	b = events.AppendJSONString(b, d.CustomerID)
	if d.MerchantID != "" {
		b = append(b, `,"merchant_id":`...)
		b = events.AppendJSONString(b, d.MerchantID)
	}
	b = append(b, `,"event_time":`...)
	if b, err = appendJSONTime(b, d.EventTime); err != nil {
		return nil, err
	}
	b = append(b, `,"score":`...)
	b = strconv.AppendInt(b, d.Score, 10)
	b = append(b, `,"shadow_score":`...)
	b = strconv.AppendInt(b, d.ShadowScore, 10)
	b = append(b, `,"outcome":`...)
	b = events.AppendJSONString(b, string(d.Outcome))
	if d.Priority != "" {
		b = append(b, `,"priority":`...)
		b = events.AppendJSONString(b, string(d.Priority))
	}
	b = append(b, `,"rule_set":`...)
	b = events.AppendJSONString(b, d.RuleSet)
	b = append(b, `,"generation":`...)
	b = strconv.AppendInt(b, d.Generation, 10)
	if len(d.Hits) > 0 {
		b = append(b, `,"hits":[`...)
		for i := range d.Hits {
			if i > 0 {
				b = append(b, ',')
			}
			if b, err = appendHit(b, &d.Hits[i]); err != nil {
				return nil, err
			}
		}
		b = append(b, ']')
	}
	if len(d.Errors) > 0 {
		b = append(b, `,"errors":[`...)
		for i, e := range d.Errors {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"rule":`...)
			b = events.AppendJSONString(b, e.Rule)
			b = append(b, `,"message":`...)
			b = events.AppendJSONString(b, e.Message)
			if e.CostExceeded {
				b = append(b, `,"cost_exceeded":true`...)
			}
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	b = append(b, `,"evaluated_at":`...)
	if b, err = appendJSONTime(b, d.EvaluatedAt); err != nil {
		return nil, err
	}
	return append(b, '}'), nil
}

// appendHit appends one fraud.Hit as encoding/json writes it: the values
// in their order (by name, as fraud.Evaluate makes them), as
// fraud.HitValues.MarshalJSON writes them.
func appendHit(b []byte, h *fraud.Hit) ([]byte, error) {
	b = append(b, `{"rule":`...)
	b = events.AppendJSONString(b, h.Rule)
	b = append(b, `,"score":`...)
	b = strconv.AppendInt(b, int64(h.Score), 10)
	b = append(b, `,"severity":`...)
	b = events.AppendJSONString(b, string(h.Severity))
	b = append(b, `,"mode":`...)
	b = events.AppendJSONString(b, string(h.Mode))
	if len(h.Values) > 0 {
		b = append(b, `,"values":{`...)
		for i := range h.Values {
			v := &h.Values[i]
			if i > 0 {
				b = append(b, ',')
			}
			b = events.AppendJSONString(b, v.Name)
			b = append(b, ':')
			var err error
			if b, err = appendJSONValue(b, v.Value); err != nil {
				return nil, err
			}
		}
		b = append(b, '}')
	}
	return append(b, '}'), nil
}

// appendJSONValue appends a hit value. The types fraud hands out for
// scalar variables are written directly; anything else (lists, maps) goes
// through encoding/json.
func appendJSONValue(b []byte, v any) ([]byte, error) {
	switch x := v.(type) {
	case nil:
		return append(b, "null"...), nil
	case bool:
		return strconv.AppendBool(b, x), nil
	case int64:
		return strconv.AppendInt(b, x, 10), nil
	case uint64:
		return strconv.AppendUint(b, x, 10), nil
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return nil, fmt.Errorf("failed to encode hit value %v as JSON", x)
		}
		return events.AppendJSONFloat(b, x), nil
	case string:
		return events.AppendJSONString(b, x), nil
	case time.Time:
		return appendJSONTime(b, x)
	}
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return append(b, raw...), nil
}

// appendJSONTime appends t as time.Time.MarshalJSON does, with its errors.
// Times in UTC, which alerts carry, take the events codec's writer, which
// computes the calendar date directly.
func appendJSONTime(b []byte, t time.Time) ([]byte, error) {
	b = append(b, '"')
	if f, ok := events.AppendRFC3339UTC(b, t); ok {
		return append(f, '"'), nil
	}
	b, err := t.AppendText(b)
	if err != nil {
		return nil, fmt.Errorf("failed to encode time: %w", err)
	}
	return append(b, '"'), nil
}

// alertRoom is the room reserved for an alert record: one with two hits
// and their values fits.
const alertRoom = 1024
