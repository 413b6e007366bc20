// Package benchutil measures what floe's benchmarks report: CPU time from
// getrusage (user + system, all threads of the process), so figures are per
// core rather than per wall-clock second.
package benchutil

import (
	"syscall"
	"testing"
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

// Jobs runs one job per iteration of b: build makes it (not measured) and
// returns the call that runs it (measured). It reports records per second
// per core of CPU time, per wall second, and CPU ns per record, records
// being what one job processes.
func Jobs(b *testing.B, records int64, build func() (run func() error)) {
	var cpu, wall time.Duration
	for b.Loop() {
		run := build()
		m := Start()
		if err := run(); err != nil {
			b.Fatal(err)
		}
		w, c := m.Stop()
		wall += w
		cpu += c
	}
	recs := float64(records) * float64(b.N)
	b.ReportMetric(recs/cpu.Seconds(), "rec/s/core")
	b.ReportMetric(recs/wall.Seconds(), "rec/s")
	b.ReportMetric(float64(cpu.Nanoseconds())/recs, "cpu-ns/rec")
}
