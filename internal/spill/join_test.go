package spill

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
)

// side records of the join tests: build rows and probe rows share keys.
type order struct {
	Cust string
	ID   int64
	Note string
}

type cust struct {
	Key  string
	Name string
}

// pairKey names one result; counts of results compare as multisets.
func pairKey(b *cust, p *order) string {
	bs, ps := "-", "-"
	if b != nil {
		bs = b.Key + "/" + b.Name
	}
	if p != nil {
		ps = fmt.Sprintf("%s/%d", p.Cust, p.ID)
	}
	return bs + "|" + ps
}

// plainJoin is the join by a Go map from key to probe positions.
func plainJoin(jt JoinType, bs []cust, ps []order) map[string]int {
	out := map[string]int{}
	byKey := map[string][]int{}
	for k := range ps {
		byKey[ps[k].Cust] = append(byKey[ps[k].Cust], k)
	}
	pm := make([]bool, len(ps))
	for i := range bs {
		ks := byKey[bs[i].Key]
		for _, k := range ks {
			out[pairKey(&bs[i], &ps[k])]++
			pm[k] = true
		}
		if len(ks) == 0 && jt.buildOuter() {
			out[pairKey(&bs[i], nil)]++
		}
	}
	if jt.probeOuter() {
		for k := range ps {
			if !pm[k] {
				out[pairKey(nil, &ps[k])]++
			}
		}
	}
	return out
}

func joinWith(t *testing.T, jt JoinType, bs []cust, ps []order, budget *Budget, opts ...Option) (map[string]int, Stats) {
	t.Helper()
	return joinWithKeys(t, jt, bs, ps, budget, func(c cust) string { return c.Key }, func(o order) string { return o.Cust }, opts...)
}

// joinWithKeys is joinWith on other keys of the same records.
func joinWithKeys[K comparable](t *testing.T, jt JoinType, bs []cust, ps []order, budget *Budget, keyB func(cust) K, keyP func(order) K, opts ...Option) (map[string]int, Stats) {
	t.Helper()
	dir := t.TempDir()
	j, err := NewHashJoin(jt, keyB, keyP, budget, append([]Option{WithDirs(dir)}, opts...)...)
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
	out := map[string]int{}
	emit := func(b *cust, p *order) error {
		if b == nil && p == nil {
			return fmt.Errorf("both sides nil")
		}
		out[pairKey(b, p)]++
		return nil
	}
	for _, b := range bs {
		if err := j.Build(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range ps {
		if err := j.Probe(ctx, p, emit); err != nil {
			t.Fatal(err)
		}
	}
	if err := j.Finish(ctx, emit); err != nil {
		t.Fatal(err)
	}
	return out, j.Stats()
}

// genJoin makes nb build rows over keys 0..distinct-1 (with duplicates when
// nb > distinct) and np probe rows over keys 0..2*distinct-1 (half of them
// unmatched), a skew fraction of the probe rows and build rows on key 7.
func genJoin(nb, np, distinct int, skew float64) ([]cust, []order) {
	rs := genRecs(3, nb+np, 1, 0) // payload only
	bs := make([]cust, nb)
	for i := range bs {
		k := (i * 7919) % max(distinct, 1)
		if skew > 0 && float64(i%100) < skew*100 {
			k = 7
		}
		bs[i] = cust{Key: fmt.Sprintf("c%06d", k), Name: rs[i].Pad}
	}
	ps := make([]order, np)
	for i := range ps {
		k := (i * 104729) % max(2*distinct, 1)
		if skew > 0 && float64(i%100) < skew*100 {
			k = 7
		}
		ps[i] = order{Cust: fmt.Sprintf("c%06d", k), ID: int64(i), Note: rs[nb+i].Pad}
	}
	return bs, ps
}

// joinCase is an input of the join tests (genJoin's arguments).
type joinCase struct {
	name         string
	nb, np, keys int
	skew         float64
	opts         []Option
}

func TestHashJoinMatchesNestedLoops(t *testing.T) {
	cases := []joinCase{
		{"empty", 0, 0, 1, 0, nil},
		{"empty-build", 0, 500, 100, 0, nil},
		{"empty-probe", 500, 0, 100, 0, nil},
		{"unique", 20000, 20000, 20000, 0, nil},
		{"duplicates", 20000, 20000, 5000, 0, nil},
		{"repartition", 20000, 20000, 20000, 0, []Option{WithPartitions(2)}},
		{"skewed", 1500, 1500, 1500, 0.3, nil},
		// The probe side in runs of one key (the last key's matches are remembered).
		{"clustered-probe", 20000, 20000, 5000, 0, nil},
	}
	for _, tc := range cases {
		bs, ps := genJoin(tc.nb, tc.np, tc.keys, tc.skew)
		if tc.name == "clustered-probe" {
			slices.SortStableFunc(ps, func(a, b order) int { return strings.Compare(a.Cust, b.Cust) })
		}
		budget := max(bytesOf(bs)/4, 1)
		for _, jt := range []JoinType{InnerJoin, LeftOuterJoin, RightOuterJoin, FullOuterJoin} {
			t.Run(tc.name+"/"+jt.String(), func(t *testing.T) {
				want := plainJoin(jt, bs, ps)
				got, st := joinWith(t, jt, bs, ps, NewBudget(budget), tc.opts...)
				if !maps.Equal(got, want) {
					t.Fatalf("budget %d: %d distinct results, want %d (%+v)", budget, len(got), len(want), st)
				}
				free, fst := joinWith(t, jt, bs, ps, NewBudget(0))
				if !maps.Equal(free, want) || fst.Files != 0 {
					t.Fatalf("unlimited: differ or spilled (%+v)", fst)
				}
				if tc.nb >= 1500 && st.SpilledRecords == 0 {
					t.Errorf("build side 4x the budget did not spill: %+v", st)
				}
				if tc.name == "skewed" && st.NestedLoops == 0 {
					t.Errorf("a key with 30%% of the build side (4x the budget) was not joined by nested loops: %+v", st)
				}
				if tc.name == "repartition" && st.Repartitions == 0 {
					t.Errorf("2 partitions of 4x the budget were not split again: %+v", st)
				}
				t.Logf("budget %d: %+v", budget, st)
			})
		}
	}
}
