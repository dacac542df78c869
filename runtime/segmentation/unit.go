package segmentation

import "fmt"

// Unit is the time unit in which recency, age and horizons are expressed.
type Unit string

// Supported time units.
const (
	// Day is one calendar day (86,400 s, UTC).
	Day Unit = "day"
	// Week is seven days; times in weeks are fractional.
	Week Unit = "week"
)

// days returns the length of the unit in days.
func (u Unit) days() float64 {
	switch u {
	case Day:
		return 1
	case Week:
		return 7
	}
	return 0
}

// Validate reports whether u is a supported unit.
func (u Unit) Validate() error {
	if u.days() == 0 {
		return fmt.Errorf("unknown time unit %q: want %q or %q", string(u), Day, Week)
	}
	return nil
}

// fromDays converts a whole number of days to the unit.
func (u Unit) fromDays(d int32) float64 {
	return float64(d) / u.days()
}
