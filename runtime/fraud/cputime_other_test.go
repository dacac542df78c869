//go:build !unix

package fraud

import "time"

// processCPU is unavailable here; the cpu-ns metrics read 0.
func processCPU() time.Duration { return 0 }
