package kpi

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/ecap-dev/ecap/api/v1alpha1"
)

// Defaults applied by ConfigFromSpec where the spec leaves a field empty;
// they match the API's kubebuilder defaults.
const (
	DefaultMaxOutOfOrderness  = 10 * time.Second
	DefaultAllowedLateness    = time.Minute
	DefaultMaxDimensionValues = 50
)

// maxWindowsPerEvent bounds size/advance of a Hopping window, i.e. how many
// windows one event updates; beyond it a hop is too small for its size.
const maxWindowsPerEvent = 1440

// Window is one window definition. Advance equals Size for a Tumbling window.
type Window struct {
	Name    string
	Size    time.Duration
	Advance time.Duration
}

// Tumbling returns a back-to-back window of the given size.
func Tumbling(name string, size time.Duration) Window {
	return Window{Name: name, Size: size, Advance: size}
}

// Hopping returns overlapping windows of size starting every advance.
func Hopping(name string, size, advance time.Duration) Window {
	return Window{Name: name, Size: size, Advance: advance}
}

// Config configures an Aggregator.
type Config struct {
	// Partition is the input partition the Aggregator serves; it is part of
	// every result ID.
	Partition int32
	// Windows to compute, 1 to 8.
	Windows []Window
	// Dimensions to group by besides the overall total, each at most once.
	Dimensions []v1alpha1.KPIDimension
	// MaxOutOfOrderness is how far the watermark trails the largest event
	// time seen.
	MaxOutOfOrderness time.Duration
	// AllowedLateness keeps a window open this long after the watermark
	// passed its end.
	AllowedLateness time.Duration
	// MaxDimensionValues bounds the values per dimension with a series of
	// their own; 0 means DefaultMaxDimensionValues.
	MaxDimensionValues int
	// OmitSketches leaves WindowResult.CustomersSketch empty. Results then
	// cannot be united across partitions (Merge adds unique customers, which
	// is exact only when partitions see disjoint customers).
	OmitSketches bool
}

// ConfigFromSpec resolves a Pipeline's KPI spec for one partition, applying
// the API defaults, and validates it.
func ConfigFromSpec(spec *v1alpha1.KPISpec, partition int32) (Config, error) {
	if spec == nil {
		return Config{}, fmt.Errorf("kpis: spec is nil")
	}
	cfg := Config{
		Partition:          partition,
		Dimensions:         append([]v1alpha1.KPIDimension(nil), spec.Dimensions...),
		MaxDimensionValues: int(spec.MaxDimensionValues),
	}
	var err error
	if cfg.MaxOutOfOrderness, err = durationOr(spec.MaxOutOfOrderness, DefaultMaxOutOfOrderness); err != nil {
		return Config{}, fmt.Errorf("kpis.maxOutOfOrderness: %w", err)
	}
	if cfg.AllowedLateness, err = durationOr(spec.AllowedLateness, DefaultAllowedLateness); err != nil {
		return Config{}, fmt.Errorf("kpis.allowedLateness: %w", err)
	}
	for i, w := range spec.Windows {
		size, err := w.Size.Parse()
		if err != nil {
			return Config{}, fmt.Errorf("kpis.windows[%d].size: %w", i, err)
		}
		switch w.Type {
		case v1alpha1.WindowTumbling:
			if w.Advance != "" {
				return Config{}, fmt.Errorf("kpis.windows[%d].advance: not allowed for Tumbling windows", i)
			}
			cfg.Windows = append(cfg.Windows, Tumbling(w.Name, size))
		case v1alpha1.WindowHopping:
			advance, err := w.Advance.Parse()
			if err != nil {
				return Config{}, fmt.Errorf("kpis.windows[%d].advance: %w", i, err)
			}
			cfg.Windows = append(cfg.Windows, Hopping(w.Name, size, advance))
		default:
			return Config{}, fmt.Errorf("kpis.windows[%d].type: unknown window type %q", i, w.Type)
		}
	}
	if err := cfg.Validate(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

func durationOr(d v1alpha1.Duration, def time.Duration) (time.Duration, error) {
	if d == "" {
		return def, nil
	}
	return d.Parse()
}

// Validate reports the first problem with c, naming the field.
func (c *Config) Validate() error {
	if len(c.Windows) == 0 || len(c.Windows) > 8 {
		return fmt.Errorf("kpis.windows: need 1 to 8 windows, have %d", len(c.Windows))
	}
	names := make(map[string]bool, len(c.Windows))
	for i, w := range c.Windows {
		switch {
		case w.Name == "":
			return fmt.Errorf("kpis.windows[%d].name: must not be empty", i)
		case names[w.Name]:
			return fmt.Errorf("kpis.windows[%d].name: duplicate window %q", i, w.Name)
		case w.Size <= 0:
			return fmt.Errorf("kpis.windows[%d].size: must be positive, have %s", i, w.Size)
		case w.Advance <= 0 || w.Advance > w.Size:
			return fmt.Errorf("kpis.windows[%d].advance: must be positive and at most size %s, have %s", i, w.Size, w.Advance)
		case w.Size%w.Advance != 0:
			return fmt.Errorf("kpis.windows[%d].size: %s is not a multiple of advance %s", i, w.Size, w.Advance)
		case w.Size/w.Advance > maxWindowsPerEvent:
			return fmt.Errorf("kpis.windows[%d].advance: %s puts an event into %d windows of size %s, at most %d allowed",
				i, w.Advance, w.Size/w.Advance, w.Size, maxWindowsPerEvent)
		}
		names[w.Name] = true
	}
	if len(c.Dimensions) > len(dimensionIndex) {
		return fmt.Errorf("kpis.dimensions: at most %d dimensions, have %d", len(dimensionIndex), len(c.Dimensions))
	}
	seen := make(map[v1alpha1.KPIDimension]bool, len(c.Dimensions))
	for i, d := range c.Dimensions {
		if _, ok := dimensionIndex[d]; !ok {
			return fmt.Errorf("kpis.dimensions[%d]: unknown dimension %q", i, d)
		}
		if seen[d] {
			return fmt.Errorf("kpis.dimensions[%d]: duplicate dimension %q", i, d)
		}
		seen[d] = true
	}
	if c.MaxOutOfOrderness < 0 {
		return fmt.Errorf("kpis.maxOutOfOrderness: must not be negative, have %s", c.MaxOutOfOrderness)
	}
	if c.AllowedLateness < 0 {
		return fmt.Errorf("kpis.allowedLateness: must not be negative, have %s", c.AllowedLateness)
	}
	if c.MaxDimensionValues < 0 || c.MaxDimensionValues > 1000 {
		return fmt.Errorf("kpis.maxDimensionValues: must be 1 to 1000 (0 for the default), have %d", c.MaxDimensionValues)
	}
	return nil
}

func (c *Config) maxValues() int {
	if c.MaxDimensionValues == 0 {
		return DefaultMaxDimensionValues
	}
	return c.MaxDimensionValues
}

// fingerprint is a canonical rendering of everything in c that shapes an
// Aggregator's state; a snapshot only restores into an identical one.
func (c *Config) fingerprint() string {
	var b strings.Builder
	b.WriteString("p=")
	b.WriteString(strconv.FormatInt(int64(c.Partition), 10))
	for _, w := range c.Windows {
		fmt.Fprintf(&b, ";w=%s/%d/%d", w.Name, int64(w.Size), int64(w.Advance))
	}
	for _, d := range c.Dimensions {
		b.WriteString(";d=")
		b.WriteString(string(d))
	}
	fmt.Fprintf(&b, ";ooo=%d;late=%d;max=%d", int64(c.MaxOutOfOrderness), int64(c.AllowedLateness), c.maxValues())
	return b.String()
}
