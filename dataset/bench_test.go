package dataset_test

import (
	"context"
	"os"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"floe/client"
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
	benchutil.Jobs(b, n, func() func() error {
		env := dataset.NewEnvironment(datastream.WithConfig(config.New(map[string]string{config.Parallelism: "2"})),
			datastream.WithLogger(zerolog.Nop()))
		src := datastream.Generate(env.DataStream(), func(i int64) benchRow { return benchRow{Key: i * 7919 % 100_000, Value: float64(i)} },
			datastream.GeneratorOptions{Count: n})
		build(env, dataset.FromStream(env, src))
		return func() error { _, err := env.Execute(context.Background(), "bench"); return err }
	})
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

// peakMemory runs fn and returns the most heap object bytes seen above the
// level before it, sampled every millisecond, and the process's peak RSS
// during fn (VmHWM after resetting it; 0 where /proc does not allow that).
func peakMemory(fn func()) (heap, rss int64) {
	debug.FreeOSMemory() // so that RSS kept from earlier runs does not count
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	read := func() int64 { metrics.Read(s); return int64(s[0].Value.Uint64()) }
	resetRSS := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) == nil
	base := read()
	stop, done := make(chan struct{}), make(chan int64)
	go func() {
		peak := base
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			peak = max(peak, read())
			select {
			case <-stop:
				done <- peak
				return
			case <-t.C:
			}
		}
	}()
	fn()
	close(stop)
	heap = <-done - base
	if resetRSS {
		if b, err := os.ReadFile("/proc/self/status"); err == nil {
			for l := range strings.Lines(string(b)) {
				if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmHWM:" {
					kb, _ := strconv.ParseInt(f[1], 10, 64)
					rss = kb << 10
				}
			}
		}
	}
	return heap, rss
}

// BenchmarkSpillMemory runs a group-by, a join (hash and sort-merge) and a
// sort (in one subtask and range-partitioned) over 400k
// generated rows (about 28 MB as the operators count them) at parallelism 2
// with 4 MiB of managed memory per TaskManager and with the default (128
// MiB, nothing spills), and reports the peak heap and RSS of the process
// (client, JobManager and both TaskManagers) and the bytes spilled.
func BenchmarkSpillMemory(b *testing.B) {
	const n = 400_000
	jobs := map[string]func(env *dataset.Environment){
		"aggregate": func(env *dataset.Environment) {
			rows := genRows(env, n, genSpillRow)
			g := dataset.GroupBy(rows, func(r spillRow) string { return r.Name })
			datastream.Discard(dataset.Aggregate(g, dataset.Columns(dataset.SumOf(func(r spillRow) float64 { return r.Value }), dataset.CountOf[spillRow]())).Stream())
		},
		"join": func(env *dataset.Environment) {
			p := genRows(env, n, genSpillRow)
			d := genRows(env, n/4, func(i int64) spillRow { r := genSpillRow(i); r.Key = i; return r })
			key := func(r spillRow) int64 { return r.Key }
			datastream.Discard(dataset.FullOuterJoin(p, d, key, key, func(x, y *spillRow) int64 { return 1 }).Stream())
		},
		"join-sort-merge": func(env *dataset.Environment) {
			p := genRows(env, n, genSpillRow)
			d := genRows(env, n/4, func(i int64) spillRow { r := genSpillRow(i); r.Key = i; return r })
			key := func(r spillRow) int64 { return r.Key }
			datastream.Discard(dataset.FullOuterJoin(p, d, key, key, func(x, y *spillRow) int64 { return 1 }, dataset.SortMerge()).Stream())
		},
		"range-sort": func(env *dataset.Environment) {
			datastream.Discard(dataset.RangeSort(genRows(env, n, genSpillRow), dataset.Asc(func(r spillRow) string { return r.Name })).Stream())
		},
		"sort": func(env *dataset.Environment) {
			datastream.Discard(dataset.Sort(genRows(env, n, genSpillRow), dataset.Asc(func(r spillRow) string { return r.Name })).Stream())
		},
	}
	for _, name := range []string{"aggregate", "join", "join-sort-merge", "sort", "range-sort"} {
		for _, managed := range []string{"4mb", ""} {
			label := managed
			if label == "" {
				label = "default"
			}
			b.Run(name+"/managed="+label, func(b *testing.B) {
				var heap, rss, spilledBytes int64
				for b.Loop() {
					env := spillEnv(managed, b.TempDir())
					jobs[name](env)
					var res *client.Result
					h, r := peakMemory(func() {
						var err error
						if res, err = env.Execute(context.Background(), "bench"); err != nil {
							b.Fatal(err)
						}
					})
					heap, rss = max(heap, h), max(rss, r)
					for _, v := range res.Vertices {
						spilledBytes += v.SpilledBytes
					}
				}
				b.ReportMetric(float64(heap)/(1<<20), "peakheapMB")
				b.ReportMetric(float64(rss)/(1<<20), "peakrssMB")
				b.ReportMetric(float64(spilledBytes)/float64(b.N)/(1<<20), "spilledMB")
			})
		}
	}
}
