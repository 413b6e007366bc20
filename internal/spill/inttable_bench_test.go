package spill

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// joinBenchKeys are TPC-H-like keys: a build side of n order keys (runs of
// 8 out of every 32, a random sixth of them, as q5's orders of one year)
// and a probe side of 4 lines per order of all orders, in key order (as
// lineitem) or shuffled.
func joinBenchKeys(n int, ordered bool) (build, probe []int64) {
	rng := rand.New(rand.NewPCG(9, 9))
	for o := int64(0); len(build) < n; o++ {
		k := o/8*32 + o%8 + 1
		if rng.IntN(6) == 0 {
			build = append(build, k)
		}
		for range 4 {
			probe = append(probe, k)
		}
	}
	if !ordered {
		rng.Shuffle(len(probe), func(i, j int) { probe[i], probe[j] = probe[j], probe[i] })
	}
	return build, probe
}

// BenchmarkJoinTable looks up the probe keys in a table over the build
// keys, by the Go map or the intTable; per probe key.
func BenchmarkJoinTable(b *testing.B) {
	for _, order := range []string{"ordered", "random"} {
		build, probe := joinBenchKeys(250_000, order == "ordered")
		for _, index := range []string{"map", "int"} {
			b.Run(fmt.Sprintf("probe=%s/index=%s", order, index), func(b *testing.B) {
				var tab table[int64]
				tab.build(len(build), func(i int) int64 { return build[i] }, index == "int", 7)
				hits := 0
				b.ResetTimer()
				for b.Loop() {
					for _, k := range probe {
						if tab.first(k) >= 0 {
							hits++
						}
					}
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(probe)), "ns/probe")
				if hits == 0 {
					b.Fatal("no hits")
				}
			})
		}
	}
}

// BenchmarkHashJoinInt64 is a whole HashJoin on int64 keys without a
// budget: Build the orders, Probe the lines in key order (no run of equal
// keys skipped: the lines are taken one per order at a time), Finish; per
// record.
func BenchmarkHashJoinInt64(b *testing.B) {
	type ord struct{ Key, Cust int64 }
	type line struct {
		Key         int64
		Price, Disc float64
	}
	build, probe := joinBenchKeys(250_000, true)
	probe = slices.Compact(probe)
	ctx := context.Background()
	var results int
	emit := func(*ord, *line) error { results++; return nil }
	for b.Loop() {
		j, err := NewHashJoin(InnerJoin, func(o ord) int64 { return o.Key }, func(l line) int64 { return l.Key }, NewBudget(0), WithDirs(b.TempDir()))
		if err != nil {
			b.Fatal(err)
		}
		for i, k := range build {
			if err := j.Build(ctx, ord{k, int64(i)}); err != nil {
				b.Fatal(err)
			}
		}
		for i, k := range probe {
			if err := j.Probe(ctx, line{k, float64(i), 0.05}, emit); err != nil {
				b.Fatal(err)
			}
		}
		if err := j.Finish(ctx, emit); err != nil {
			b.Fatal(err)
		}
		j.Close()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*(len(build)+len(probe))), "ns/record")
}
