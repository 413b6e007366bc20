package spill

import (
	"cmp"
	"context"
	"slices"
	"testing"
)

func byKey(a, b rec) int { return cmp.Compare(a.Key, b.Key) }

func sortWith(t *testing.T, in []rec, budget *Budget, opts ...Option) ([]rec, Stats) {
	t.Helper()
	dir := t.TempDir()
	s, err := NewSorter(byKey, budget, append([]Option{WithDirs(dir)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
		assertEmptyDir(t, dir)
	}()
	ctx := context.Background()
	for _, r := range in {
		if err := s.Add(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	var out []rec
	for r, err := range s.All(ctx) {
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	return out, s.Stats()
}

func TestSorterMatchesStableSort(t *testing.T) {
	cases := []struct {
		name     string
		n        int
		distinct int
		skew     float64
		opts     []Option
	}{
		{"empty", 0, 1, 0, nil},
		{"one", 1, 1, 0, nil},
		{"distinct", 40000, 1 << 30, 0, nil},
		{"duplicates", 40000, 50, 0, nil},
		{"skewed", 40000, 10000, 0.6, nil},
		{"all-equal", 20000, 1, 0, nil},
		{"multi-level", 40000, 1 << 30, 0, []Option{WithFanIn(2)}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := genRecs(1, tc.n, tc.distinct, tc.skew)
			want := slices.Clone(in)
			slices.SortStableFunc(want, byKey)
			budget := max(bytesOf(in)/4, 1)
			got, st := sortWith(t, in, NewBudget(budget), tc.opts...)
			if !slices.Equal(got, want) {
				t.Fatalf("budget %d: %d records, differ from the stable sort (first: %v)", budget, len(got), firstDiff(got, want))
			}
			free, fst := sortWith(t, in, NewBudget(0))
			if !slices.Equal(free, want) || fst.Runs != 0 {
				t.Fatalf("unlimited: differ from the stable sort or spilled (%+v)", fst)
			}
			if tc.n >= 20000 && st.Runs < 2 {
				t.Errorf("data 4x the budget made %d runs", st.Runs)
			}
			if tc.name == "multi-level" && st.MergePasses == 0 {
				t.Errorf("fan-in 2 made no intermediate merge pass: %+v", st)
			}
			t.Logf("%+v", st)
		})
	}
}

func firstDiff[T comparable](a, b []T) any {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return []any{i, a[i], b[i]}
		}
	}
	return []int{len(a), len(b)}
}
