package dataset_test

import (
	"context"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"floe/config"
	"floe/dataset"
	"floe/datastream"
	"floe/internal/benchutil"
)

type benchRow struct {
	Key   int64
	Value float64
}

// runBench runs the job build makes over n generated rows at parallelism 2
// and reports records per second per core of CPU time, and per wall second.
func runBench(b *testing.B, n int64, build func(env *dataset.Environment, rows dataset.DataSet[benchRow])) {
	var cpu, wall time.Duration
	for b.Loop() {
		env := dataset.NewEnvironment(datastream.WithConfig(config.New(map[string]string{config.Parallelism: "2"})),
			datastream.WithLogger(zerolog.Nop()))
		src := datastream.Generate(env.DataStream(), func(i int64) benchRow { return benchRow{Key: i * 7919 % 100_000, Value: float64(i)} },
			datastream.GeneratorOptions{Count: n})
		build(env, dataset.FromStream(env, src))
		m := benchutil.Start()
		if _, err := env.Execute(context.Background(), "bench"); err != nil {
			b.Fatal(err)
		}
		w, c := m.Stop()
		wall += w
		cpu += c
	}
	recs := float64(n) * float64(b.N)
	b.ReportMetric(recs/cpu.Seconds(), "rec/s/core")
	b.ReportMetric(recs/wall.Seconds(), "rec/s")
}

// BenchmarkAggregate groups 2M rows into 100k groups (sum and count).
func BenchmarkAggregate(b *testing.B) {
	runBench(b, 2_000_000, func(_ *dataset.Environment, rows dataset.DataSet[benchRow]) {
		g := dataset.GroupBy(rows, func(r benchRow) int64 { return r.Key })
		datastream.Discard(dataset.Aggregate(g, dataset.Columns(dataset.SumOf(func(r benchRow) float64 { return r.Value }), dataset.CountOf[benchRow]())).Stream())
	})
}

// BenchmarkJoin joins 2M rows with a 100k-row build side.
func BenchmarkJoin(b *testing.B) {
	runBench(b, 2_000_000, func(env *dataset.Environment, rows dataset.DataSet[benchRow]) {
		dim := datastream.Generate(env.DataStream(), func(i int64) benchRow { return benchRow{Key: i} }, datastream.GeneratorOptions{Count: 100_000})
		j := dataset.Join(rows, dataset.FromStream(env, dim), func(r benchRow) int64 { return r.Key }, func(r benchRow) int64 { return r.Key },
			func(a, d benchRow) float64 { return a.Value + d.Value })
		datastream.Discard(j.Stream())
	})
}

// BenchmarkSort sorts 2M rows in one subtask.
func BenchmarkSort(b *testing.B) {
	runBench(b, 2_000_000, func(_ *dataset.Environment, rows dataset.DataSet[benchRow]) {
		datastream.Discard(dataset.Sort(rows, dataset.Asc(func(r benchRow) int64 { return r.Key })).Stream())
	})
}
