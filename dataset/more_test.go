package dataset_test

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"floe/client"
	"floe/dataset"
)

func TestDistinctUnionAggregateAll(t *testing.T) {
	forEachP(t, func(t *testing.T, p int) {
		in := orders(3000, true)
		env := newEnv(p)
		d := dataset.FromSlice(env, in).Rebalance()
		regions := dataset.Collect(dataset.Distinct(dataset.Map(d, func(o Order) string { return o.Region })))
		pairs := dataset.Collect(dataset.DistinctBy(d, func(o Order) regionCust { return regionCust{o.Region, o.Customer} }))
		both := d.Union(dataset.FromSlice(env, in[:100]))
		n := dataset.Collect(dataset.AggregateAll(both, dataset.Count[Order]()))
		total := dataset.Collect(dataset.AggregateAll(d, dataset.Sum(func(o Order) float64 { return o.Amount })))
		empty := dataset.FromSlice(env, []Order(nil))
		emptyAll := dataset.Collect(dataset.AggregateAll(empty, dataset.Avg(func(o Order) float64 { return o.Amount })))
		emptyGroups := dataset.Collect(dataset.Aggregate(dataset.GroupBy(empty, func(o Order) string { return o.Region }), dataset.Count[Order]()))
		emptyDistinct := dataset.Collect(dataset.Distinct(dataset.Map(empty, func(o Order) int64 { return o.ID })))
		run(t, env)

		wantRegions := map[string]bool{}
		wantPairs := map[regionCust]bool{}
		var wantTotal float64
		for _, o := range in {
			wantRegions[o.Region] = true
			wantPairs[regionCust{o.Region, o.Customer}] = true
			wantTotal += o.Amount
		}
		if got := regions.Items(); len(got) != len(wantRegions) {
			t.Fatalf("Distinct: %v", got)
		}
		got := map[regionCust]bool{}
		for _, o := range pairs.Items() {
			got[regionCust{o.Region, o.Customer}] = true
		}
		if len(got) != len(wantPairs) || len(pairs.Items()) != len(wantPairs) {
			t.Fatalf("DistinctBy: %d records, %d keys, want %d", len(pairs.Items()), len(got), len(wantPairs))
		}
		if got := n.Items(); !slices.Equal(got, []int64{int64(len(in) + 100)}) {
			t.Fatalf("Count of a union: %v, want %d", got, len(in)+100)
		}
		if got := total.Items(); len(got) != 1 || math.Abs(got[0]-wantTotal) > 1e-6 {
			t.Fatalf("Sum: %v, want %v", got, wantTotal)
		}
		if got := emptyAll.Items(); len(got) != 1 || !math.IsNaN(got[0]) {
			t.Fatalf("Avg of nothing: %v, want one NaN", got)
		}
		if len(emptyGroups.Items()) != 0 || len(emptyDistinct.Items()) != 0 {
			t.Fatalf("groups of nothing: %v %v", emptyGroups.Items(), emptyDistinct.Items())
		}
	})
}

// lineKey is a two-column key, as TPC-H's (orderkey, linenumber) or
// (partkey, suppkey).
type lineKey struct {
	Order int64
	Line  int32
}

type line struct {
	Order int64
	Line  int32
	Price float64
}

type shipment struct {
	Order int64
	Line  int32
	Mode  string
}

func TestMultiKeyJoinAndCoGroup(t *testing.T) {
	var lines []line
	var ships []shipment
	for i := range 2000 {
		lines = append(lines, line{Order: int64(i / 4), Line: int32(i % 4), Price: float64(i)})
		if i%3 != 0 {
			ships = append(ships, shipment{Order: int64(i / 4), Line: int32(i % 4), Mode: []string{"AIR", "RAIL"}[i%2]})
		}
	}
	ships = append(ships, shipment{Order: 9999, Line: 1, Mode: "SHIP"}) // no line
	keyL := func(l line) lineKey { return lineKey{l.Order, l.Line} }
	keyS := func(s shipment) lineKey { return lineKey{s.Order, s.Line} }
	forEachP(t, func(t *testing.T, p int) {
		env := newEnv(p)
		l := dataset.FromSlice(env, lines).Rebalance()
		s := dataset.FromSlice(env, ships)
		type out struct {
			Key  lineKey
			Mode string
		}
		joined := dataset.Collect(dataset.JoinWith(l, s, keyL, keyS, func(x line, y shipment, emit func(out)) {
			if y.Mode == "AIR" {
				emit(out{keyL(x), y.Mode})
			}
		}))
		type counts struct {
			Key    lineKey
			Ls, Ss int
		}
		groups := dataset.Collect(dataset.CoGroup(l, s, keyL, keyS, func(k lineKey, ls []line, ss []shipment, emit func(counts)) {
			emit(counts{k, len(ls), len(ss)})
		}))
		run(t, env)

		var want []out
		wantGroups := map[lineKey]counts{}
		for _, x := range lines {
			c := wantGroups[keyL(x)]
			c.Key, c.Ls = keyL(x), c.Ls+1
			wantGroups[keyL(x)] = c
		}
		for _, y := range ships {
			c := wantGroups[keyS(y)]
			c.Key, c.Ss = keyS(y), c.Ss+1
			wantGroups[keyS(y)] = c
			for _, x := range lines {
				if keyL(x) == keyS(y) && y.Mode == "AIR" {
					want = append(want, out{keyL(x), y.Mode})
				}
			}
		}
		byKey := func(a, b out) int {
			return cmp.Or(cmp.Compare(a.Key.Order, b.Key.Order), cmp.Compare(a.Key.Line, b.Key.Line))
		}
		if got := sorted(joined.Items(), byKey); !slices.Equal(got, sorted(want, byKey)) {
			t.Fatalf("join on two columns: %d rows, want %d", len(got), len(want))
		}
		if got := groups.Items(); len(got) != len(wantGroups) {
			t.Fatalf("CoGroup: %d groups, want %d", len(got), len(wantGroups))
		}
		for _, g := range groups.Items() {
			if wantGroups[g.Key] != g {
				t.Fatalf("CoGroup %v, want %v", g, wantGroups[g.Key])
			}
		}
	})
}

func TestCross(t *testing.T) {
	forEachP(t, func(t *testing.T, p int) {
		a := orders(500, false)
		b := []string{"x", "y", "z"}
		env := newEnv(p)
		pairs := dataset.Collect(dataset.Cross(dataset.FromSlice(env, a).Rebalance(), dataset.FromSlice(env, b), func(o Order, s string) string {
			return fmt.Sprint(o.ID, s)
		}))
		none := dataset.Collect(dataset.Cross(dataset.FromSlice(env, a), dataset.FromSlice(env, []string(nil)), func(o Order, s string) string { return s }))
		run(t, env)
		var want []string
		for _, o := range a {
			for _, s := range b {
				want = append(want, fmt.Sprint(o.ID, s))
			}
		}
		if got := sorted(pairs.Items(), strings.Compare); !slices.Equal(got, sorted(want, strings.Compare)) {
			t.Fatalf("Cross: %d pairs, want %d", len(got), len(want))
		}
		if len(none.Items()) != 0 {
			t.Fatalf("Cross with nothing: %v", none.Items())
		}
	})
}

func TestInvalidJobs(t *testing.T) {
	env := newEnv(1)
	o := dataset.FromSlice(env, orders(10, false))
	c := dataset.FromSlice(env, customers())
	dataset.Collect(dataset.FullOuterJoin(o, c, func(o Order) string { return o.Customer }, func(c Customer) string { return c.Name },
		mkJoined, dataset.BroadcastBuild()))
	if _, err := env.Execute(t.Context(), "bad"); err == nil || !strings.Contains(err.Error(), "broadcast") {
		t.Fatalf("a full outer broadcast join: %v, want a refusal", err)
	}
}

// A panic in a user function fails the job with client.ErrJobFailed and the
// operator's name.
func TestUserPanicFailsJob(t *testing.T) {
	env := newEnv(2)
	o := dataset.FromSlice(env, orders(100, false))
	c := dataset.FromSlice(env, customers())
	dataset.Collect(dataset.Join(o, c, func(o Order) string { return o.Customer }, func(c Customer) string { return c.Name },
		func(o Order, c Customer) int64 {
			if o.ID == 46 { // customer c0, which exists
				panic("bad order 46")
			}
			return o.ID
		}).Name("PanickyJoin"))
	_, err := env.Execute(t.Context(), "panic")
	if !errors.Is(err, client.ErrJobFailed) || !strings.Contains(err.Error(), "bad order 46") || !strings.Contains(err.Error(), "PanickyJoin") {
		t.Fatalf("got %v, want a job failure naming the operator and the panic", err)
	}
}

// A time.Time key is refused before anything runs.
func TestTimeKeyRefused(t *testing.T) {
	env := newEnv(1)
	d := dataset.FromSlice(env, []time.Time{time.Unix(0, 0)})
	dataset.Collect(dataset.Aggregate(dataset.GroupBy(d, func(t time.Time) time.Time { return t }), dataset.Count[time.Time]()))
	if _, err := env.Execute(t.Context(), "time-key"); !errors.Is(err, dataset.ErrInvalidJob) {
		t.Fatalf("got %v, want ErrInvalidJob", err)
	}
}
