package kpi

import (
	"math"
	"strings"
	"testing"
)

// TestValueRegistrySlot: values that share their key's bytes (the first
// seven, and lengths that cap at 255) must get slots of their own, found
// again by the scan and by the map past scannedValues, in admission order;
// the empty value is "unknown", and values beyond the maximum fold.
func TestValueRegistrySlot(t *testing.T) {
	long := strings.Repeat("x", 300)
	values := []string{
		"electronics", "electronicz", // same first seven bytes and length
		"DE", "D", "DE\x00", // a shorter value padded with zeros
		"1234567", "12345678", "1234567\x00",
		long, long[:299] + "y", // lengths both capped at 255
		"", // unknown
		"toys", "garden", "books", "fashion",
	}
	const maxValues = 20
	r := valueRegistry{slots: map[string]int32{}}
	want := map[string]int32{}
	for _, v := range values {
		name := v
		if name == "" {
			name = UnknownValue
		}
		want[name] = int32(len(want))
		if got := r.slot(v, maxValues); got != want[name] {
			t.Fatalf("new value %.20q: slot %d, want %d", v, got, want[name])
		}
	}
	for range 2 {
		for _, v := range values {
			name := v
			if name == "" {
				name = UnknownValue
			}
			if got := r.slot(strings.Clone(v), maxValues); got != want[name] {
				t.Fatalf("value %.20q: slot %d, want %d", v, got, want[name])
			}
			if got := r.value(want[name]); got != name {
				t.Fatalf("slot %d holds %.20q, want %.20q", want[name], got, name)
			}
		}
	}
	for i := range maxValues {
		r.slot(strings.Repeat("z", i+1), maxValues)
	}
	if got := r.slot("new", maxValues); got != maxValues {
		t.Fatalf("value beyond the maximum: slot %d, want %d", got, maxValues)
	}
	if r.folded == 0 {
		t.Fatal("no folded value counted")
	}
}

// BenchmarkValueRegistrySlot: a country and a category among five values
// each, as the engine benchmark's transactions have them.
func BenchmarkValueRegistrySlot(b *testing.B) {
	countries := valueRegistry{slots: map[string]int32{}}
	categories := valueRegistry{slots: map[string]int32{}}
	cs := []string{"DE", "FR", "US", "GB", "NL"}
	cats := []string{"books", "toys", "garden", "electronics", "fashion"}
	for i := range 5 {
		countries.slot(cs[i], 100)
		categories.slot(cats[i], 100)
	}
	b.ResetTimer()
	for i := range b.N {
		countries.slot(cs[i%5], 100)
		categories.slot(cats[(i*3)%5], 100)
	}
}

// TestToMillionths: non-finite amounts count as 0, finite ones round to
// the nearest millionth, halves away from zero.
func TestToMillionths(t *testing.T) {
	for _, c := range []struct {
		v    float64
		want int64
	}{
		{math.NaN(), 0}, {math.Inf(1), 0}, {math.Inf(-1), 0}, {0, 0}, {math.Copysign(0, -1), 0},
		{1.5, 1_500_000}, {-2.25, -2_250_000}, {0.0000005, 1}, {-0.0000005, -1}, {0.00000049, 0},
		{123456.789, 123_456_789_000},
	} {
		if got := toMillionths(c.v); got != c.want {
			t.Errorf("toMillionths(%v) = %d, want %d", c.v, got, c.want)
		}
	}
}
