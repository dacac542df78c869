package engine

import "github.com/ecap-dev/ecap/runtime/admin"

// AdminBackend adapts the engine to admin.Backend.
type AdminBackend struct{ E *Engine }

var (
	_ admin.Backend             = AdminBackend{}
	_ admin.SegmentationBackend = AdminBackend{}
)

func (a AdminBackend) Ready() bool { return a.E.Ready() }
func (a AdminBackend) Status() any { return a.E.Status() }
func (a AdminBackend) Customer(id string) (any, bool) {
	return a.E.Customer(id)
}

func (a AdminBackend) SegmentationProfile(name, id string) (any, bool, string) {
	return a.E.SegmentationProfile(name, id)
}
