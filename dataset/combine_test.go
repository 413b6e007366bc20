package dataset_test

import (
	"cmp"
	"slices"
	"testing"

	"floe/dataset"
)

// lineRow is a row of input clustered by Order, as lineitem is.
type lineRow struct {
	Order int64
	Qty   int64
}

// clusteredLines has runs of 1-4 lines per order over 60 000 orders (more
// runs than a combiner tables before it decides to pass runs on), and then
// the first 1000 orders again, so a key comes back after its run ended.
func clusteredLines() []lineRow {
	var out []lineRow
	for o := range int64(60000) {
		for i := range o%4 + 1 {
			out = append(out, lineRow{Order: o, Qty: i + o%7})
		}
	}
	for o := range int64(1000) {
		out = append(out, lineRow{Order: o, Qty: 100})
	}
	return out
}

// The combiner before a shuffle folds runs of one key and, when its table
// holds nearly a group per run, emits the runs as they end: the sums after
// the shuffle still equal a map's, for Aggregate and Reduce.
func TestCombinerRunsOfClusteredKeys(t *testing.T) {
	in := clusteredLines()
	want := map[int64]int64{}
	for _, l := range in {
		want[l.Order] += l.Qty
	}
	wantKV := make([]dataset.KV[int64, int64], 0, len(want))
	for k, v := range want {
		wantKV = append(wantKV, dataset.KV[int64, int64]{Key: k, Value: v})
	}
	byKey := func(a, b dataset.KV[int64, int64]) int { return cmp.Compare(a.Key, b.Key) }
	slices.SortFunc(wantKV, byKey)
	forEachP(t, func(t *testing.T, p int) {
		env := newEnv(p)
		src := dataset.FromSlice(env, in)
		g := dataset.GroupBy(src, func(l lineRow) int64 { return l.Order })
		agg := dataset.Collect(dataset.Aggregate(g, dataset.Sum(func(l lineRow) int64 { return l.Qty })))
		red := dataset.Collect(g.Reduce(func(a, b lineRow) lineRow { return lineRow{Order: a.Order, Qty: a.Qty + b.Qty} }))
		run(t, env)
		got := slices.SortedFunc(slices.Values(agg.Items()), byKey)
		if !slices.Equal(got, wantKV) {
			t.Fatalf("Aggregate: %d groups, want %d", len(got), len(wantKV))
		}
		var gotR []dataset.KV[int64, int64]
		for _, l := range red.Items() {
			gotR = append(gotR, dataset.KV[int64, int64]{Key: l.Order, Value: l.Qty})
		}
		slices.SortFunc(gotR, byKey)
		if !slices.Equal(gotR, wantKV) {
			t.Fatalf("Reduce: %d groups, want %d", len(gotR), len(wantKV))
		}
	})
}
