// Package benchutil measures what floe's benchmarks report: CPU time from
// getrusage (user + system, all threads of the process), so figures are per
// core rather than per wall-clock second.
package benchutil

import (
	"syscall"
	"time"
)

// CPUTime returns the process's user plus system CPU time so far.
func CPUTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// Meter measures one run.
type Meter struct {
	wall time.Time
	cpu  time.Duration
}

// Start begins a measurement.
func Start() Meter { return Meter{wall: time.Now(), cpu: CPUTime()} }

// Stop returns the wall and CPU time since Start.
func (m Meter) Stop() (wall, cpu time.Duration) {
	return time.Since(m.wall), CPUTime() - m.cpu
}
