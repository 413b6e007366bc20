package spill

import (
	"cmp"
	"context"
	"maps"
	"slices"
	"strings"
	"testing"
)

// acc is a test accumulator with a string part, so that its size varies.
type acc struct {
	Sum    float64
	N      int64
	MinPad string
}

var accFn = Combiner[rec, acc]{
	Create: func(v rec) acc { return acc{Sum: v.Val, N: 1, MinPad: v.Pad} },
	Add: func(a acc, v rec) acc {
		a.Sum += v.Val
		a.N++
		a.MinPad = min(a.MinPad, v.Pad)
		return a
	},
	Merge: func(a, b acc) acc { return acc{Sum: a.Sum + b.Sum, N: a.N + b.N, MinPad: min(a.MinPad, b.MinPad)} },
}

// plainAggregate is the same aggregation with a Go map.
func plainAggregate(in []rec) map[string]acc {
	m := map[string]acc{}
	for _, r := range in {
		if a, ok := m[r.Key]; ok {
			m[r.Key] = accFn.Add(a, r)
		} else {
			m[r.Key] = accFn.Create(r)
		}
	}
	return m
}

func aggregateWith(t *testing.T, in []rec, partial bool, budget *Budget, opts ...Option) (map[string]acc, Stats) {
	t.Helper()
	return aggregateWithKeys(t, in, partial, budget, func(r rec) string { return r.Key }, opts...)
}

// aggregateWithKeys is aggregateWith on other keys of the same records.
func aggregateWithKeys[K comparable](t *testing.T, in []rec, partial bool, budget *Budget, key func(rec) K, opts ...Option) (map[K]acc, Stats) {
	t.Helper()
	dir := t.TempDir()
	a, err := NewAggregator[K](accFn, budget, append([]Option{WithDirs(dir)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := a.Close(); err != nil {
			t.Error(err)
		}
		assertEmptyDir(t, dir)
	}()
	ctx := context.Background()
	for i, r := range in {
		if partial && i%2 == 1 {
			err = a.AddPartial(ctx, key(r), accFn.Create(r))
		} else {
			err = a.Add(ctx, key(r), r)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	out := map[K]acc{}
	for g, err := range a.All(ctx) {
		if err != nil {
			t.Fatal(err)
		}
		if _, dup := out[g.Key]; dup {
			t.Fatalf("group %v came out twice", g.Key)
		}
		out[g.Key] = g.Acc
	}
	return out, a.Stats()
}

// aggCase is an input of the aggregation tests: n records over distinct
// keys, a skew fraction of them on one key, every other one added as a
// partial accumulator if partial.
type aggCase struct {
	name     string
	n        int
	distinct int
	skew     float64
	partial  bool
	opts     []Option
}

func TestAggregatorMatchesMap(t *testing.T) {
	cases := []aggCase{
		{"empty", 0, 1, 0, false, nil},
		{"distinct", 40000, 1 << 30, 0, false, nil},
		{"duplicates", 40000, 5000, 0, false, nil},
		{"partials", 40000, 1 << 30, 0, true, nil},
		{"skewed", 40000, 1 << 30, 0.5, false, nil},
		{"one-key", 20000, 1, 0, false, nil},
		{"repartition", 40000, 1 << 30, 0, false, []Option{WithPartitions(2)}},
		// Runs of one key (the last key's group is remembered across spills).
		{"clustered", 40000, 5000, 0, false, nil},
		{"clustered-partials", 40000, 5000, 0, true, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := genRecs(2, tc.n, tc.distinct, tc.skew)
			if strings.HasPrefix(tc.name, "clustered") {
				slices.SortStableFunc(in, func(a, b rec) int { return cmp.Compare(a.Key, b.Key) })
			}
			want := plainAggregate(in)
			var groupBytes int64
			for k, v := range want {
				g := Group[string, acc]{k, v}
				groupBytes += shapeOf[Group[string, acc]]().size(ptrOf(&g)) + 8 + 4 + mapEntryOverhead
			}
			budget := max(groupBytes/4, 1)
			got, st := aggregateWith(t, in, tc.partial, NewBudget(budget), tc.opts...)
			if !maps.Equal(got, want) {
				t.Fatalf("budget %d: %d groups differ from the map's %d (first: %v)", budget, len(got), len(want), firstMapDiff(got, want))
			}
			free, fst := aggregateWith(t, in, tc.partial, NewBudget(0))
			if !maps.Equal(free, want) || fst.Files != 0 {
				t.Fatalf("unlimited: differ from the map or spilled (%+v)", fst)
			}
			if len(want) >= 20000 && st.SpilledRecords == 0 {
				t.Errorf("groups 4x the budget did not spill: %+v", st)
			}
			if tc.name == "repartition" && st.Repartitions == 0 {
				t.Errorf("2 partitions of 4x the budget were not split again: %+v", st)
			}
			t.Logf("budget %d: %+v", budget, st)
		})
	}
}

func firstMapDiff(a, b map[string]acc) any {
	for _, k := range slices.SortedFunc(maps.Keys(b), cmp.Compare) {
		if a[k] != b[k] {
			return []any{k, a[k], b[k]}
		}
	}
	return len(a)
}

// TestAggregatorFlush: in flush mode a full table goes to the flush
// function instead of spill files, and the flushed partial accumulators
// merged with what All yields at the end equal the map's aggregation.
func TestAggregatorFlush(t *testing.T) {
	in := genRecs(3, 40000, 1<<30, 0.2)
	want := plainAggregate(in)
	dir := t.TempDir()
	a, err := NewAggregator[string](accFn, NewBudget(256<<10), WithDirs(dir))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	got := map[string]acc{}
	fold := func(g Group[string, acc]) {
		if p, ok := got[g.Key]; ok {
			got[g.Key] = accFn.Merge(p, g.Acc)
		} else {
			got[g.Key] = g.Acc
		}
	}
	flushed := 0
	a.SetFlush(func(g Group[string, acc]) error {
		flushed++
		fold(g)
		return nil
	})
	ctx := context.Background()
	for _, r := range in {
		if err := a.Add(ctx, r.Key, r); err != nil {
			t.Fatal(err)
		}
	}
	for g, err := range a.All(ctx) {
		if err != nil {
			t.Fatal(err)
		}
		fold(g)
	}
	st := a.Stats()
	if st.Flushes == 0 || st.FlushedGroups != int64(flushed) {
		t.Fatalf("groups 4x the budget were not flushed (or miscounted, %d): %+v", flushed, st)
	}
	if st.SpilledBytes != 0 || st.Files != 0 {
		t.Fatalf("flush mode spilled: %+v", st)
	}
	if !maps.Equal(got, want) {
		t.Fatalf("flushed and final groups differ from the map (first: %v)", firstMapDiff(got, want))
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	assertEmptyDir(t, dir)
	t.Logf("%+v", st)
}
