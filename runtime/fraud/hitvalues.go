package fraud

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// HitValue is one variable a hit's rule read, by qualified name
// ("detectors.amount_zscore"), as the rule saw it.
type HitValue struct {
	Name  string
	Value any
}

// HitValues are the variables a hit's rule read, sorted by name (Evaluate
// makes them so: the order is the rule's, fixed at compile time). A slice
// rather than a map: a hit costs one small allocation instead of a map's
// two and its groups, and the alert encoding needs no sort.
//
// It encodes as a JSON object with the names as keys, in slice order: for
// sorted values, byte for byte what encoding/json writes for the map it
// replaced. It decodes from such an object, sorting by name.
type HitValues []HitValue

// Get returns the value of the variable name, false if the rule did not
// read it.
func (v HitValues) Get(name string) (any, bool) {
	for i := range v {
		if v[i].Name == name {
			return v[i].Value, true
		}
	}
	return nil, false
}

// MarshalJSON implements json.Marshaler: an object, keys in slice order.
func (v HitValues) MarshalJSON() ([]byte, error) {
	if v == nil {
		return []byte("null"), nil
	}
	b := []byte{'{'}
	for i, x := range v {
		if i > 0 {
			b = append(b, ',')
		}
		k, err := json.Marshal(x.Name)
		if err != nil {
			return nil, err
		}
		val, err := json.Marshal(x.Value)
		if err != nil {
			return nil, fmt.Errorf("hit value %s: %w", x.Name, err)
		}
		b = append(append(append(b, k...), ':'), val...)
	}
	return append(b, '}'), nil
}

// UnmarshalJSON implements json.Unmarshaler: an object (or null), decoded
// as encoding/json decodes a map[string]any, sorted by name.
func (v *HitValues) UnmarshalJSON(b []byte) error {
	if bytes.Equal(bytes.TrimSpace(b), []byte("null")) {
		*v = nil
		return nil
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	out := make(HitValues, 0, len(m))
	for k, x := range m {
		out = append(out, HitValue{Name: k, Value: x})
	}
	slices.SortFunc(out, func(x, y HitValue) int { return strings.Compare(x.Name, y.Name) })
	*v = out
	return nil
}
