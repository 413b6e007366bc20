package spill

import (
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// intKeySets are build sides for the intTable tests, by name.
func intKeySets() map[string][]int64 {
	rng := rand.New(rand.NewPCG(1, 2))
	sets := map[string][]int64{
		"empty":      nil,
		"zero":       {0},
		"one-key":    {42, 42, 42, 42, 42},
		"extremes":   {math.MinInt64, math.MaxInt64, 0, -1, 1, math.MinInt64, math.MaxInt64},
		"negative":   nil,
		"dense":      nil,
		"sparse":     nil, // spread evenly over a range far larger than the table
		"crowded":    nil, // most keys in a corner of their range: redone with mixed homes
		"random":     nil, // all 64 bits
		"duplicates": nil,
		"strided":    nil, // multiples of 2^20: one home per key in order, many collisions mixed
		"orders":     nil, // TPC-H order keys: runs of 8 out of every 32, a random seventh of them
	}
	for i := range 5000 {
		sets["negative"] = append(sets["negative"], -int64(i)*3)
		sets["dense"] = append(sets["dense"], int64(i))
		sets["sparse"] = append(sets["sparse"], rng.Int64N(1<<40))
		sets["random"] = append(sets["random"], int64(rng.Uint64()))
		sets["duplicates"] = append(sets["duplicates"], rng.Int64N(300)-150)
		sets["strided"] = append(sets["strided"], int64(i)<<20)
		if o := int64(i/8*32 + i%8 + 1); rng.IntN(7) == 0 {
			sets["orders"] = append(sets["orders"], o)
		}
	}
	for i := range 3000 {
		sets["crowded"] = append(sets["crowded"], int64(i))
	}
	sets["crowded"] = append(sets["crowded"], 1<<62)
	rng.Shuffle(len(sets["dense"]), func(i, j int) { d := sets["dense"]; d[i], d[j] = d[j], d[i] })
	return sets
}

// TestIntTableMatchesMap builds intTables over the key sets and looks up
// every key, its neighbours and random absent ones, against a Go map from
// key to record indexes.
func TestIntTableMatchesMap(t *testing.T) {
	for name, keys := range intKeySets() {
		t.Run(name, func(t *testing.T) {
			want := map[int64][]int32{}
			for i, k := range keys {
				want[k] = append([]int32{int32(i)}, want[k]...) // newest first
			}
			var tab intTable
			next := make([]int32, len(keys))
			tab.build(len(keys), func(i int) uint64 { return uint64(keys[i]) }, next, 7)
			chain := func(k int64) []int32 {
				var got []int32
				for i := tab.first(uint64(k)); i >= 0; i = next[i] {
					got = append(got, i)
				}
				return got
			}
			probes := slices.Collect(maps.Keys(want))
			rng := rand.New(rand.NewPCG(3, 4))
			for _, k := range slices.Clone(probes) {
				probes = append(probes, k-1, k+1, int64(rng.Uint64()))
			}
			probes = append(probes, 0, -1, math.MinInt64, math.MaxInt64)
			for _, k := range probes {
				if got := chain(k); !slices.Equal(got, want[k]) {
					t.Fatalf("key %d: records %v, want %v (mixed %v)", k, got, want[k], tab.mixed)
				}
			}
			if n := len(tab.keys); n < 2*len(keys) || n&(n-1) != 0 {
				t.Errorf("%d slots for %d keys: want a power of two, at least twice as many", n, len(keys))
			}
			switch name {
			case "crowded":
				if !tab.mixed {
					t.Error("keys crowded in a corner of their range kept ordered homes")
				}
			case "dense", "sparse", "negative", "orders":
				if tab.mixed {
					t.Error("keys spread evenly over their range got mixed homes")
				}
			}
		})
	}
}

func TestIntKeys(t *testing.T) {
	type orderKey int64
	type pair struct{ A, B int32 }
	for _, c := range []struct {
		got, want bool
		name      string
	}{
		{intKeys[int64](), true, "int64"},
		{intKeys[uint64](), true, "uint64"},
		{intKeys[int](), true, "int"},
		{intKeys[orderKey](), true, "orderKey"},
		{intKeys[int32](), false, "int32"},
		{intKeys[float64](), false, "float64"}, // -0 == +0 with other bits
		{intKeys[string](), false, "string"},
		{intKeys[pair](), false, "pair"},
	} {
		if c.got != c.want {
			t.Errorf("intKeys[%s] = %v, want %v", c.name, c.got, c.want)
		}
	}
}

// TestHashJoinIntKeys is TestHashJoinMatchesNestedLoops's join on int64
// keys (intTables, keygroup.Mix partitions), spilling and not: the string keys
// c000123 become -3*123, so the results are the same.
func TestHashJoinIntKeys(t *testing.T) {
	num := func(s string) int64 {
		n, err := strconv.ParseInt(strings.TrimPrefix(s, "c"), 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		return -3 * n
	}
	cases := []joinCase{
		{"empty-build", 0, 500, 100, 0, nil},
		{"unique", 20000, 20000, 20000, 0, nil},
		{"duplicates", 20000, 20000, 5000, 0, nil},
		{"repartition", 20000, 20000, 20000, 0, []Option{WithPartitions(2)}},
		{"skewed", 1500, 1500, 1500, 0.3, nil},
	}
	for _, tc := range cases {
		bs, ps := genJoin(tc.nb, tc.np, tc.keys, tc.skew)
		budget := max(bytesOf(bs)/4, 1)
		for _, jt := range []JoinType{InnerJoin, FullOuterJoin} {
			t.Run(tc.name+"/"+jt.String(), func(t *testing.T) {
				want := plainJoin(jt, bs, ps)
				for _, b := range []int64{budget, 0} {
					got, st := joinWithKeys(t, jt, bs, ps, NewBudget(b), func(c cust) int64 { return num(c.Key) },
						func(o order) int64 { return num(o.Cust) }, tc.opts...)
					if !maps.Equal(got, want) {
						t.Fatalf("budget %d: %d distinct results, want %d (%+v)", b, len(got), len(want), st)
					}
					if b > 0 && tc.nb >= 1500 && st.SpilledRecords == 0 {
						t.Errorf("build side 4x the budget did not spill: %+v", st)
					}
				}
			})
		}
	}
}

// TestAggregatorIntKeys is TestAggregatorMatchesMap's aggregation on int64
// keys (a Go map of int64 keys: the key type intTable's join takes), spilling and not: the string keys key-0000123 become
// 5-2*123, so the groups are the same.
func TestAggregatorIntKeys(t *testing.T) {
	num := func(s string) int64 {
		n, err := strconv.ParseInt(strings.TrimPrefix(s, "key-"), 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		return 5 - 2*n
	}
	cases := []aggCase{
		{"empty", 0, 1, 0, false, nil},
		{"distinct", 40000, 1 << 30, 0, false, nil},
		{"duplicates", 40000, 5000, 0, false, nil},
		{"partials", 40000, 1 << 30, 0, true, nil},
		{"repartition", 40000, 1 << 30, 0, false, []Option{WithPartitions(2)}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := genRecs(2, tc.n, tc.distinct, tc.skew)
			want := map[int64]acc{}
			for k, v := range plainAggregate(in) {
				want[num(k)] = v
			}
			budget := max(bytesOf(in)/8, 1)
			for _, b := range []int64{budget, 0} {
				got, st := aggregateWithKeys(t, in, tc.partial, NewBudget(b), func(r rec) int64 { return num(r.Key) }, tc.opts...)
				if !maps.Equal(got, want) {
					t.Fatalf("budget %d: %d groups, want %d (%+v)", b, len(got), len(want), st)
				}
				if b > 0 && len(want) >= 20000 && st.SpilledRecords == 0 {
					t.Errorf("groups past the budget did not spill: %+v", st)
				}
			}
		})
	}
}
