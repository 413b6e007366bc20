package spill

import (
	"context"
	"fmt"
	"runtime"
	"runtime/metrics"
	"strconv"
	"testing"
	"time"
)

// heapPeak runs fn and returns the most heap object bytes seen above the
// level before it (live input included in neither), sampled every
// millisecond: what the operator's records, tables and garbage took.
// The second figure is the peak of the live heap the collector found at
// the end of its cycles (garbage excluded).
func heapPeak(fn func()) (objects, live int64) {
	runtime.GC()
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/gc/heap/live:bytes"}}
	read := func() (int64, int64) { metrics.Read(s); return int64(s[0].Value.Uint64()), int64(s[1].Value.Uint64()) }
	base, baseLive := read()
	stop, done := make(chan struct{}), make(chan [2]int64)
	go func() {
		peak, peakLive := base, baseLive
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			o, l := read()
			peak, peakLive = max(peak, o), max(peakLive, l)
			select {
			case <-stop:
				done <- [2]int64{peak, peakLive}
				return
			case <-t.C:
			}
		}
	}()
	fn()
	close(stop)
	p := <-done
	return p[0] - base, p[1] - baseLive
}

// genRec is record i of a stream over distinct keys, made on the fly so
// that the input is not live in the heap while the operator runs.
func genRec(i, distinct int) rec {
	h := uint64(i)*0x9E3779B97F4A7C15 + 1
	h ^= h >> 29
	return rec{Key: "key-" + strconv.Itoa(int(h%uint64(distinct))), Seq: int64(i), Val: float64(h % 1000), Pad: "pad-" + strconv.FormatUint(h, 16)}
}

// estimate is the operators' estimate of n generated records.
func estimate(n, distinct int) int64 {
	var t int64
	sh := shapeOf[rec]()
	for i := range n {
		r := genRec(i, distinct)
		t += sh.size(ptrOf(&r))
	}
	return t
}

func report(b *testing.B, n int, budget int64, st Stats, peak, live int64) {
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/record")
	b.ReportMetric(float64(st.SpilledBytes)/float64(n), "spilledB/record")
	b.ReportMetric(float64(peak)/(1<<20), "peakheapMB")
	b.ReportMetric(float64(live)/(1<<20), "peakliveMB")
	if budget > 0 {
		b.ReportMetric(float64(budget)/(1<<20), "budgetMB")
		b.ReportMetric(float64(peak)/float64(budget), "peak/budget")
	}
	b.ReportMetric(0, "ns/op")
}

// budgets: unlimited, and a quarter of the input's estimated size.
func budgetsFor(est int64) []int64 { return []int64{0, est / 4} }

func BenchmarkSorter(b *testing.B) {
	const n, distinct = 400_000, 1 << 30
	ctx := context.Background()
	for _, budget := range budgetsFor(estimate(n, distinct)) {
		b.Run(fmt.Sprintf("budget=%d", budget), func(b *testing.B) {
			var st Stats
			var peak, live int64
			for b.Loop() {
				peak, live = heapPeak(func() {
					s, err := NewSorter(byKey, NewBudget(budget), WithDirs(b.TempDir()))
					if err != nil {
						b.Fatal(err)
					}
					defer s.Close()
					for i := range n {
						if err := s.Add(ctx, genRec(i, distinct)); err != nil {
							b.Fatal(err)
						}
					}
					for _, err := range s.All(ctx) {
						if err != nil {
							b.Fatal(err)
						}
					}
					st = s.Stats()
				})
			}
			report(b, n, budget, st, peak, live)
		})
	}
}

func BenchmarkAggregator(b *testing.B) {
	const n, distinct = 400_000, 200_000
	ctx := context.Background()
	for _, budget := range budgetsFor(estimate(n, distinct) / 2) { // two values a group
		b.Run(fmt.Sprintf("budget=%d", budget), func(b *testing.B) {
			var st Stats
			var peak, live int64
			for b.Loop() {
				peak, live = heapPeak(func() {
					a, err := NewAggregator[string](accFn, NewBudget(budget), WithDirs(b.TempDir()))
					if err != nil {
						b.Fatal(err)
					}
					defer a.Close()
					for i := range n {
						r := genRec(i, distinct)
						if err := a.Add(ctx, r.Key, r); err != nil {
							b.Fatal(err)
						}
					}
					for _, err := range a.All(ctx) {
						if err != nil {
							b.Fatal(err)
						}
					}
					st = a.Stats()
				})
			}
			report(b, n, budget, st, peak, live)
		})
	}
}

func BenchmarkHashJoin(b *testing.B) {
	const nb, np = 200_000, 400_000
	build := func(i int) cust { r := genRec(i, 1); return cust{Key: "c" + strconv.Itoa(i), Name: r.Pad} }
	probe := func(i int) order {
		r := genRec(i, 1)
		return order{Cust: "c" + strconv.Itoa(i/2*2%(2*nb)), ID: int64(i), Note: r.Pad}
	}
	var est int64
	for i := range nb {
		c := build(i)
		est += shapeOf[cust]().size(ptrOf(&c))
	}
	ctx := context.Background()
	for _, budget := range budgetsFor(est) {
		b.Run(fmt.Sprintf("budget=%d", budget), func(b *testing.B) {
			var st Stats
			var peak, live int64
			var results int
			emit := func(*cust, *order) error { results++; return nil }
			for b.Loop() {
				peak, live = heapPeak(func() {
					j, err := NewHashJoin(FullOuterJoin, func(c cust) string { return c.Key }, func(o order) string { return o.Cust }, NewBudget(budget), WithDirs(b.TempDir()))
					if err != nil {
						b.Fatal(err)
					}
					defer j.Close()
					for i := range nb {
						if err := j.Build(ctx, build(i)); err != nil {
							b.Fatal(err)
						}
					}
					for i := range np {
						if err := j.Probe(ctx, probe(i), emit); err != nil {
							b.Fatal(err)
						}
					}
					if err := j.Finish(ctx, emit); err != nil {
						b.Fatal(err)
					}
					st = j.Stats()
				})
			}
			report(b, nb+np, budget, st, peak, live)
		})
	}
}
