//go:build !unix

package events

import "time"

func processCPU() (time.Duration, bool) { return 0, false }
