//go:build !unix

package testkit

import "time"

// CPUTime cannot be read here: 0.
func CPUTime() time.Duration { return 0 }
