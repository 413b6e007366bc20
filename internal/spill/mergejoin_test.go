package spill

import (
	"context"
	"fmt"
	"maps"
	"testing"
)

// nestedLoopJoin is the join by two plain loops.
func nestedLoopJoin(jt JoinType, ls []cust, rs []order) map[string]int {
	out := map[string]int{}
	rm := make([]bool, len(rs))
	for i := range ls {
		found := false
		for k := range rs {
			if ls[i].Key == rs[k].Cust {
				out[pairKey(&ls[i], &rs[k])]++
				found, rm[k] = true, true
			}
		}
		if !found && jt.buildOuter() {
			out[pairKey(&ls[i], nil)]++
		}
	}
	if jt.probeOuter() {
		for k := range rs {
			if !rm[k] {
				out[pairKey(nil, &rs[k])]++
			}
		}
	}
	return out
}

func mergeJoinWith(t *testing.T, jt JoinType, ls []cust, rs []order, budget *Budget) (map[string]int, Stats) {
	t.Helper()
	dir := t.TempDir()
	j, err := NewMergeJoin(jt, func(c cust) string { return c.Key }, func(o order) string { return o.Cust }, budget, WithDirs(dir))
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := j.Close(); err != nil {
			t.Error(err)
		}
		assertEmptyDir(t, dir)
	}()
	ctx := context.Background()
	// Both inputs interleaved, as a two-input operator gets them.
	for i := range max(len(ls), len(rs)) {
		if i < len(rs) {
			if err := j.AddRight(ctx, rs[i]); err != nil {
				t.Fatal(err)
			}
		}
		if i < len(ls) {
			if err := j.AddLeft(ctx, ls[i]); err != nil {
				t.Fatal(err)
			}
		}
	}
	out := map[string]int{}
	err = j.Finish(ctx, func(l *cust, r *order) error {
		if l == nil && r == nil {
			return fmt.Errorf("both sides nil")
		}
		out[pairKey(l, r)]++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := j.Finish(ctx, func(*cust, *order) error { return nil }); err == nil {
		t.Error("a second Finish did not fail")
	}
	return out, j.Stats()
}

func TestMergeJoinMatchesNestedLoops(t *testing.T) {
	cases := []struct {
		name         string
		nl, nr, keys int
		skew         float64
	}{
		{"empty", 0, 0, 1, 0},
		{"empty-left", 0, 500, 100, 0},
		{"empty-right", 500, 0, 100, 0},
		{"unique", 4000, 4000, 4000, 0},
		{"duplicates", 4000, 4000, 500, 0},
		{"skewed", 1200, 1200, 600, 0.3},
	}
	for _, tc := range cases {
		ls, rs := genJoin(tc.nl, tc.nr, tc.keys, tc.skew)
		budget := max((bytesOf(ls)+bytesOf(rs))/4, 64<<10)
		for _, jt := range []JoinType{InnerJoin, LeftOuterJoin, RightOuterJoin, FullOuterJoin} {
			t.Run(tc.name+"/"+jt.String(), func(t *testing.T) {
				want := nestedLoopJoin(jt, ls, rs)
				if hash := plainJoin(jt, ls, rs); !maps.Equal(hash, want) {
					t.Fatal("the two references differ")
				}
				got, st := mergeJoinWith(t, jt, ls, rs, NewBudget(budget))
				if !maps.Equal(got, want) {
					t.Fatalf("budget %d: %d distinct results, want %d (%+v)", budget, len(got), len(want), st)
				}
				free, fst := mergeJoinWith(t, jt, ls, rs, NewBudget(0))
				if !maps.Equal(free, want) || fst.Files != 0 {
					t.Fatalf("unlimited: differ or spilled (%+v)", fst)
				}
				if tc.nl >= 4000 && st.Runs == 0 {
					t.Errorf("inputs 4x the budget were not sorted in runs: %+v", st)
				}
				if tc.name == "skewed" && st.NestedLoops == 0 {
					t.Errorf("a key with 30%% of both sides (over the budget) was held in memory: %+v", st)
				}
				t.Logf("budget %d: %+v", budget, st)
			})
		}
	}
}

// TestSorterSmallBudgetRuns: at a budget of a few hundred records, a
// sorter writes runs of about that many records, not one run per record
// (its buffer's capacity, rounded up by append, once outgrew the budget).
func TestSorterSmallBudgetRuns(t *testing.T) {
	ls, _ := genJoin(1200, 0, 600, 0.3)
	dir := t.TempDir()
	s, err := NewSorter(func(a, b hashed[cust]) int { return cmpUint(a.Hash, b.Hash) }, NewBudget(32<<10), WithDirs(dir))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	for i, l := range ls {
		if err := s.Add(ctx, hashed[cust]{Hash: uint64(len(ls) - i), V: l}); err != nil {
			t.Fatal(err)
		}
	}
	n := 0
	for v, err := range s.All(ctx) {
		if err != nil {
			t.Fatal(err)
		}
		if n++; v.Hash != uint64(n) {
			t.Fatalf("record %d has hash %d", n, v.Hash)
		}
	}
	if st := s.Stats(); st.Runs == 0 || st.Runs > 20 {
		t.Fatalf("1200 records of ~70 bytes at a 32 KiB budget made %d runs: %+v", st.Runs, st)
	}
}
