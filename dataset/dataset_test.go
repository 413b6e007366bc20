package dataset_test

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"math"
	"slices"
	"testing"

	"go.uber.org/goleak"

	"floe/config"
	"floe/dataset"
	"floe/datastream"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func newEnv(p int) *dataset.Environment {
	return dataset.NewEnvironment(datastream.WithConfig(config.New(map[string]string{
		config.Parallelism: fmt.Sprint(p), config.BatchSize: "64", "restart-strategy.type": "none"})))
}

func run(t *testing.T, env *dataset.Environment) {
	t.Helper()
	if _, err := env.Execute(context.Background(), t.Name()); err != nil {
		t.Fatal(err)
	}
}

// forEachP runs fn at parallelism 1 and 2.
func forEachP(t *testing.T, fn func(t *testing.T, p int)) {
	for _, p := range []int{1, 2} {
		t.Run(fmt.Sprint("p=", p), func(t *testing.T) { fn(t, p) })
	}
}

// Order is a row of the test's orders table.
type Order struct {
	ID       int64
	Customer string
	Region   string
	Amount   float64
	Qty      int64
}

// Customer is a row of the customers table.
type Customer struct {
	Name    string
	Segment string
}

// orders makes n orders; with skew most of them belong to one customer.
func orders(n int, skew bool) []Order {
	out := make([]Order, n)
	for i := range out {
		c := fmt.Sprintf("c%d", i%23)
		if skew && i%10 != 0 {
			c = "c1"
		}
		out[i] = Order{ID: int64(i), Customer: c, Region: []string{"EU", "US", "ASIA"}[i%3], Amount: float64(i%97) + 0.25, Qty: int64(i % 7)}
	}
	return out
}

func customers() []Customer {
	var out []Customer
	for i := 0; i < 30; i += 2 { // c0, c2, ... c28: some without orders, some orders without customer
		out = append(out, Customer{Name: fmt.Sprintf("c%d", i), Segment: []string{"A", "B"}[i%4/2]})
	}
	out = append(out, Customer{Name: "c4", Segment: "dup"}) // two customers under one key
	return out
}

func sorted[T any](v []T, c func(a, b T) int) []T {
	v = slices.Clone(v)
	slices.SortFunc(v, c)
	return v
}

func TestMapFilterFlatMap(t *testing.T) {
	forEachP(t, func(t *testing.T, p int) {
		in := orders(1000, false)
		env := newEnv(p)
		d := dataset.FromSlice(env, in).Rebalance()
		big := d.Filter(func(o Order) bool { return o.Amount > 50 })
		ids := dataset.Map(big, func(o Order) int64 { return o.ID })
		twice := dataset.FlatMap(ids, func(v int64, emit func(int64)) { emit(v); emit(-v) })
		out := dataset.Collect(twice)
		run(t, env)
		var want []int64
		for _, o := range in {
			if o.Amount > 50 {
				want = append(want, o.ID, -o.ID)
			}
		}
		if got := sorted(out.Items(), cmp.Compare); !slices.Equal(got, sorted(want, cmp.Compare)) {
			t.Fatalf("got %d records, want %d", len(got), len(want))
		}
	})
}

type regionCust struct {
	Region, Customer string
}

func TestGroupByAggregate(t *testing.T) {
	for _, skew := range []bool{false, true} {
		t.Run(fmt.Sprint("skew=", skew), func(t *testing.T) {
			forEachP(t, func(t *testing.T, p int) {
				in := orders(5000, skew)
				env := newEnv(p)
				d := dataset.FromSlice(env, in).Rebalance()
				g := dataset.GroupBy(d, func(o Order) regionCust { return regionCust{o.Region, o.Customer} })
				amount := func(o Order) float64 { return o.Amount }
				cols := dataset.Collect(dataset.Aggregate(g, dataset.Columns(dataset.SumOf(amount), dataset.CountOf[Order](),
					dataset.AvgOf(amount), dataset.MinOf(amount), dataset.MaxOf(amount))))
				sums := dataset.Collect(dataset.Aggregate(g, dataset.Sum(func(o Order) int64 { return o.Qty })))
				mins := dataset.Collect(dataset.Aggregate(g, dataset.Min(func(o Order) int64 { return o.ID })))
				maxs := dataset.Collect(dataset.Aggregate(g, dataset.Max(func(o Order) string { return fmt.Sprint(o.ID) })))
				avgs := dataset.Collect(dataset.Aggregate(g, dataset.Avg(func(o Order) int64 { return o.Qty })))
				counts := dataset.Collect(dataset.Aggregate(g, dataset.Count[Order]()))
				reduced := dataset.Collect(g.Reduce(func(a, b Order) Order { a.Qty += b.Qty; return a }))
				run(t, env)

				type agg struct {
					sum, min, max float64
					n, qty        int64
					minID         int64
					maxS          string
				}
				want := map[regionCust]*agg{}
				for _, o := range in {
					k := regionCust{o.Region, o.Customer}
					a, ok := want[k]
					if !ok {
						a = &agg{min: math.Inf(1), max: math.Inf(-1), minID: math.MaxInt64}
						want[k] = a
					}
					a.sum += o.Amount
					a.n++
					a.qty += o.Qty
					a.min = min(a.min, o.Amount)
					a.max = max(a.max, o.Amount)
					a.minID = min(a.minID, o.ID)
					a.maxS = max(a.maxS, fmt.Sprint(o.ID))
				}
				near := func(a, b float64) bool { return math.Abs(a-b) <= 1e-9*max(1, math.Abs(b)) }
				if got := cols.Items(); len(got) != len(want) {
					t.Fatalf("Columns: %d groups, want %d", len(got), len(want))
				}
				for _, kv := range cols.Items() {
					w := want[kv.Key]
					v := kv.Value
					if w == nil || !near(v[0], w.sum) || v[1] != float64(w.n) || !near(v[2], w.sum/float64(w.n)) || v[3] != w.min || v[4] != w.max {
						t.Fatalf("Columns %v = %v, want %+v", kv.Key, v, w)
					}
				}
				for _, kv := range sums.Items() {
					if kv.Value != want[kv.Key].qty {
						t.Fatalf("Sum %v = %d, want %d", kv.Key, kv.Value, want[kv.Key].qty)
					}
				}
				for _, kv := range mins.Items() {
					if kv.Value != want[kv.Key].minID {
						t.Fatalf("Min %v = %d, want %d", kv.Key, kv.Value, want[kv.Key].minID)
					}
				}
				for _, kv := range maxs.Items() {
					if kv.Value != want[kv.Key].maxS {
						t.Fatalf("Max %v = %s, want %s", kv.Key, kv.Value, want[kv.Key].maxS)
					}
				}
				for _, kv := range avgs.Items() {
					if w := want[kv.Key]; !near(kv.Value, float64(w.qty)/float64(w.n)) {
						t.Fatalf("Avg %v = %v", kv.Key, kv.Value)
					}
				}
				for _, kv := range counts.Items() {
					if kv.Value != want[kv.Key].n {
						t.Fatalf("Count %v = %d, want %d", kv.Key, kv.Value, want[kv.Key].n)
					}
				}
				for _, o := range reduced.Items() {
					if w := want[regionCust{o.Region, o.Customer}]; o.Qty != w.qty {
						t.Fatalf("Reduce %v = %d, want %d", o.Customer, o.Qty, w.qty)
					}
				}
				for name, n := range map[string]int{"Sum": len(sums.Items()), "Min": len(mins.Items()), "Max": len(maxs.Items()),
					"Avg": len(avgs.Items()), "Count": len(counts.Items()), "Reduce": len(reduced.Items())} {
					if n != len(want) {
						t.Fatalf("%s: %d groups, want %d", name, n, len(want))
					}
				}
			})
		})
	}
}

// joined is a row of the join tests' output; the pointers' absence is
// spelled out as flags so results compare as values.
type joined struct {
	OrderID  int64
	HasOrder bool
	Customer string
	Segment  string
	HasCust  bool
}

// expectJoin is the nested-loop join of orders and customers, keeping
// unmatched rows of the sides asked for.
func expectJoin(os []Order, cs []Customer, keepO, keepC bool) []joined {
	var out []joined
	matchedC := map[int]bool{}
	for _, o := range os {
		found := false
		for i, c := range cs {
			if o.Customer == c.Name {
				found = true
				matchedC[i] = true
				out = append(out, joined{OrderID: o.ID, HasOrder: true, Customer: o.Customer, Segment: c.Segment, HasCust: true})
			}
		}
		if !found && keepO {
			out = append(out, joined{OrderID: o.ID, HasOrder: true, Customer: o.Customer})
		}
	}
	if keepC {
		for i, c := range cs {
			if !matchedC[i] {
				out = append(out, joined{Customer: c.Name, Segment: c.Segment, HasCust: true})
			}
		}
	}
	return out
}

func cmpJoined(a, b joined) int {
	return cmp.Or(cmp.Compare(a.OrderID, b.OrderID), cmp.Compare(a.Customer, b.Customer), cmp.Compare(a.Segment, b.Segment),
		cmpBool(a.HasOrder, b.HasOrder), cmpBool(a.HasCust, b.HasCust))
}

func cmpBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	}
	return -1
}

func mkJoined(o *Order, c *Customer) joined {
	var j joined
	if o != nil {
		j.OrderID, j.HasOrder, j.Customer = o.ID, true, o.Customer
	}
	if c != nil {
		j.Customer, j.Segment, j.HasCust = c.Name, c.Segment, true
	}
	return j
}

func TestJoins(t *testing.T) {
	byCust := func(o Order) string { return o.Customer }
	byName := func(c Customer) string { return c.Name }
	cases := []struct {
		name         string
		keepO, keepC bool
		opts         []dataset.JoinOption
	}{
		{"inner", false, false, nil},
		{"inner/build-left", false, false, []dataset.JoinOption{dataset.BuildLeft()}},
		{"inner/broadcast", false, false, []dataset.JoinOption{dataset.BroadcastBuild()}},
		{"left", true, false, nil},
		{"left/broadcast", true, false, []dataset.JoinOption{dataset.BroadcastBuild()}},
		{"right", false, true, nil},
		{"right/build-left", false, true, []dataset.JoinOption{dataset.BuildLeft()}},
		{"right/broadcast-left", false, true, []dataset.JoinOption{dataset.BuildLeft(), dataset.BroadcastBuild()}},
		{"full", true, true, nil},
		{"full/build-left", true, true, []dataset.JoinOption{dataset.BuildLeft()}},
		{"inner/sort-merge", false, false, []dataset.JoinOption{dataset.SortMerge()}},
		{"left/sort-merge", true, false, []dataset.JoinOption{dataset.SortMerge()}},
		{"right/sort-merge", false, true, []dataset.JoinOption{dataset.SortMerge()}},
		{"full/sort-merge", true, true, []dataset.JoinOption{dataset.SortMerge()}},
	}
	inputs := map[string]func() ([]Order, []Customer){
		"plain":       func() ([]Order, []Customer) { return orders(3000, false), customers() },
		"skewed":      func() ([]Order, []Customer) { return orders(3000, true), customers() },
		"empty-left":  func() ([]Order, []Customer) { return nil, customers() },
		"empty-right": func() ([]Order, []Customer) { return orders(100, false), nil },
	}
	for _, in := range slices.Sorted(maps.Keys(inputs)) {
		for _, c := range cases {
			t.Run(in+"/"+c.name, func(t *testing.T) {
				forEachP(t, func(t *testing.T, p int) {
					os, cs := inputs[in]()
					env := newEnv(p)
					o := dataset.FromSlice(env, os).Rebalance()
					cu := dataset.FromSlice(env, cs)
					var res dataset.DataSet[joined]
					switch {
					case c.keepO && c.keepC:
						res = dataset.FullOuterJoin(o, cu, byCust, byName, mkJoined, c.opts...)
					case c.keepO:
						res = dataset.LeftOuterJoin(o, cu, byCust, byName, func(x Order, y *Customer) joined { return mkJoined(&x, y) }, c.opts...)
					case c.keepC:
						res = dataset.RightOuterJoin(o, cu, byCust, byName, func(x *Order, y Customer) joined { return mkJoined(x, &y) }, c.opts...)
					default:
						res = dataset.Join(o, cu, byCust, byName, func(x Order, y Customer) joined { return mkJoined(&x, &y) }, c.opts...)
					}
					out := dataset.Collect(res)
					run(t, env)
					got := sorted(out.Items(), cmpJoined)
					want := sorted(expectJoin(os, cs, c.keepO, c.keepC), cmpJoined)
					if !slices.Equal(got, want) {
						t.Fatalf("%d rows, want %d", len(got), len(want))
					}
				})
			})
		}
	}
}

func TestSort(t *testing.T) {
	forEachP(t, func(t *testing.T, p int) {
		in := orders(2000, false)
		order := dataset.OrderBy(dataset.Asc(func(o Order) string { return o.Region }), dataset.Desc(func(o Order) float64 { return o.Amount }),
			dataset.Asc(func(o Order) int64 { return o.ID }))
		env := newEnv(p)
		d := dataset.FromSlice(env, in).Rebalance()
		all := dataset.Collect(dataset.Map(dataset.Sort(d, order), func(o Order) int64 { return o.ID }))
		top := dataset.Collect(dataset.TopN(d, 17, order))
		parts := dataset.Collect(dataset.SortPartition(d, order))
		first := dataset.Collect(dataset.First(d, 5))
		none := dataset.Collect(dataset.TopN(dataset.FromSlice(env, []Order(nil)), 3, order))
		run(t, env)
		want := sorted(in, order)
		var wantIDs []int64
		for _, o := range want {
			wantIDs = append(wantIDs, o.ID)
		}
		if got := all.Items(); !slices.Equal(got, wantIDs) {
			t.Fatalf("Sort: %d ids, not in order", len(got))
		}
		if got := top.Items(); !slices.Equal(got, want[:17]) {
			t.Fatalf("TopN: %v", got)
		}
		if got := parts.Items(); !slices.Equal(sorted(got, order), want) {
			t.Fatalf("SortPartition lost or added records")
		}
		if got := first.Items(); len(got) != 5 {
			t.Fatalf("First(5): %d records", len(got))
		}
		if got := none.Items(); len(got) != 0 {
			t.Fatalf("TopN of nothing: %v", got)
		}
	})
}
