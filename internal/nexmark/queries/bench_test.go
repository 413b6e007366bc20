package queries_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"floe/config"
	"floe/datastream"
	"floe/internal/benchutil"
	"floe/internal/nexmark"
	"floe/internal/nexmark/queries"
)

// BenchmarkQuery runs each Nexmark query locally over generated events, as
// fast as the source goes, with the blackhole sink, at parallelism 1 and 2
// (parallelism 2: two TaskManagers over loopback gRPC), and reports events
// per second per core of CPU time (getrusage: the whole process, generator
// included), events per wall second and CPU nanoseconds per event.
func BenchmarkQuery(b *testing.B) {
	const n = 1_000_000
	for _, q := range queries.Names() {
		for _, p := range []int{1, 2} {
			b.Run(fmt.Sprintf("%s/p%d", q, p), func(b *testing.B) {
				var cpu, wall time.Duration
				for b.Loop() {
					env := datastream.NewEnvironment(datastream.WithConfig(config.New(map[string]string{config.Parallelism: fmt.Sprint(p)})),
						datastream.WithLogger(zerolog.Nop()))
					if err := queries.Build(env, queries.Options{Query: q, Events: n, Gen: nexmark.DefaultConfig()}, queries.Discard); err != nil {
						b.Fatal(err)
					}
					m := benchutil.Start()
					if _, err := env.Execute(context.Background(), "bench-nexmark-"+q); err != nil {
						b.Fatal(err)
					}
					w, c := m.Stop()
					wall += w
					cpu += c
				}
				evs := float64(n) * float64(b.N)
				b.ReportMetric(evs/cpu.Seconds(), "ev/s/core")
				b.ReportMetric(evs/wall.Seconds(), "ev/s")
				b.ReportMetric(float64(cpu.Nanoseconds())/evs, "cpu-ns/ev")
			})
		}
	}
}

// BenchmarkMetrics runs q0 and q5 at parallelism 2 with metrics on (the
// TaskManagers' listeners, per-batch counters and clocks) and off
// (metrics.enabled=false): compare with benchstat -col /metrics.
func BenchmarkMetrics(b *testing.B) {
	const n = 1_000_000
	for _, q := range []string{"q0", "q5"} {
		for _, on := range []bool{true, false} {
			b.Run(fmt.Sprintf("%s/metrics=%s", q, map[bool]string{true: "on", false: "off"}[on]), func(b *testing.B) {
				var cpu, wall time.Duration
				for b.Loop() {
					env := datastream.NewEnvironment(datastream.WithConfig(config.New(map[string]string{config.Parallelism: "2",
						config.MetricsEnabled: fmt.Sprint(on)})), datastream.WithLogger(zerolog.Nop()))
					if err := queries.Build(env, queries.Options{Query: q, Events: n, Gen: nexmark.DefaultConfig()}, queries.Discard); err != nil {
						b.Fatal(err)
					}
					m := benchutil.Start()
					if _, err := env.Execute(context.Background(), "bench-metrics-"+q); err != nil {
						b.Fatal(err)
					}
					w, c := m.Stop()
					wall += w
					cpu += c
				}
				evs := float64(n) * float64(b.N)
				b.ReportMetric(evs/cpu.Seconds(), "ev/s/core")
				b.ReportMetric(evs/wall.Seconds(), "ev/s")
			})
		}
	}
}
