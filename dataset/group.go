package dataset

import (
	"floe/datastream"
	"floe/internal/spill"
)

// KV is a key with a value: a group's key and its aggregate.
type KV[K, V any] struct {
	Key   K
	Value V
}

// Grouped is a data set grouped by a key. Keys are strings, numbers,
// booleans, and structs and arrays of those (as datastream.KeyBy);
// records with equal keys meet in one subtask after the shuffle.
type Grouped[T any, K comparable] struct {
	d   DataSet[T]
	key func(T) K
}

// GroupBy groups d by key.
func GroupBy[T any, K comparable](d DataSet[T], key func(T) K) Grouped[T, K] {
	return Grouped[T, K]{d: d, key: key}
}

// Reduce combines the records of each group with fn (associative and
// commutative: records come in no particular order) into one record per
// group. Records are combined in each producing subtask before the shuffle,
// so one record per key and subtask crosses the network.
func (g Grouped[T, K]) Reduce(fn func(a, b T) T) DataSet[T] {
	key := g.key
	env := g.d.env
	comb := spill.Combiner[T, T]{Create: func(v T) T { return v }, Add: fn, Merge: fn}
	env.holdsMemory()
	combined := datastream.Transform(g.d.s, "Combine", datastream.ExchangeForward[T](), func(info datastream.OperatorInfo) (datastream.BoundedOperator[T, T], error) {
		m := newOpMemory(env, info)
		return &groupOp[T, K, T, T, T]{mem: m, table: newAggTable[K](comb, m), key: key, val: identity[T], out: func(_ K, a T) T { return a },
			combiner: true, create: comb.Create, add: comb.Add}, nil
	})
	combined.SetParallelism(g.d.s.Parallelism())
	env.holdsMemory()
	s := datastream.Transform(combined, "Reduce", datastream.ExchangeHash(key), func(info datastream.OperatorInfo) (datastream.BoundedOperator[T, T], error) {
		m := newOpMemory(env, info)
		return &groupOp[T, K, T, T, T]{mem: m, table: newAggTable[K](comb, m), key: key, partial: true, acc: identity[T], out: func(_ K, a T) T { return a }}, nil
	})
	return DataSet[T]{env: env, s: s}
}

// Aggregate computes agg over each group: one KV of the key and the result
// per group. Accumulators are built in each producing subtask (agg.Add)
// and merged after the shuffle (agg.Merge), so one accumulator per key and
// subtask crosses the network: A must be a type records can be (exported
// fields of numbers, strings, bools, time.Time, slices, structs).
func Aggregate[T any, K comparable, A, R any](g Grouped[T, K], agg Aggregator[T, A, R]) DataSet[KV[K, R]] {
	if err := agg.check(); err != nil {
		g.d.env.fail(err)
		return DataSet[KV[K, R]]{env: g.d.env, s: datastream.Map(g.d.s, func(T) KV[K, R] { return KV[K, R]{} })}
	}
	key := g.key
	env := g.d.env
	partialComb := spill.Combiner[T, A]{Create: func(v T) A { return agg.Add(agg.zero(), v) }, Add: agg.Add, Merge: agg.Merge}
	env.holdsMemory()
	partial := datastream.Transform(g.d.s, "Partial Aggregate", datastream.ExchangeForward[T](), func(info datastream.OperatorInfo) (datastream.BoundedOperator[T, KV[K, A]], error) {
		m := newOpMemory(env, info)
		return &groupOp[T, K, T, A, KV[K, A]]{mem: m, table: newAggTable[K](partialComb, m), key: key, val: identity[T],
			out: func(k K, a A) KV[K, A] { return KV[K, A]{Key: k, Value: a} }, combiner: true, create: partialComb.Create, add: partialComb.Add}, nil
	})
	partial.SetParallelism(g.d.s.Parallelism())
	finalComb := spill.Combiner[KV[K, A], A]{Create: func(kv KV[K, A]) A { return kv.Value }, Add: func(a A, kv KV[K, A]) A { return agg.Merge(a, kv.Value) }, Merge: agg.Merge}
	env.holdsMemory()
	s := datastream.Transform(partial, "Aggregate", datastream.ExchangeHash(func(kv KV[K, A]) K { return kv.Key }), func(info datastream.OperatorInfo) (datastream.BoundedOperator[KV[K, A], KV[K, R]], error) {
		m := newOpMemory(env, info)
		return &groupOp[KV[K, A], K, KV[K, A], A, KV[K, R]]{mem: m, table: newAggTable[K](finalComb, m), key: func(kv KV[K, A]) K { return kv.Key },
			partial: true, acc: func(kv KV[K, A]) A { return kv.Value },
			out: func(k K, a A) KV[K, R] { return KV[K, R]{Key: k, Value: agg.Result(a)} }}, nil
	})
	return DataSet[KV[K, R]]{env: env, s: s}
}

// AggregateAll computes agg over the whole data set: one record, also when
// d is empty (then the result of agg's zero accumulator, as SQL's aggregates
// without GROUP BY). Partial accumulators are merged in one subtask.
func AggregateAll[T, A, R any](d DataSet[T], agg Aggregator[T, A, R]) DataSet[R] {
	if err := agg.check(); err != nil {
		d.env.fail(err)
		return DataSet[R]{env: d.env, s: datastream.Map(d.s, func(T) R { var r R; return r })}
	}
	partial := datastream.Transform(d.s, "Partial Aggregate", datastream.ExchangeForward[T](), func(datastream.OperatorInfo) (datastream.BoundedOperator[T, A], error) {
		return &allOp[T, A, A]{acc: agg.zero(), add: agg.Add, out: func(a A, seen bool) (A, bool) { return a, seen }}, nil
	})
	partial.SetParallelism(d.s.Parallelism())
	s := datastream.Transform(partial, "Aggregate", datastream.ExchangeRebalance[A](), func(datastream.OperatorInfo) (datastream.BoundedOperator[A, R], error) {
		return &allOp[A, A, R]{acc: agg.zero(), add: agg.Merge, out: func(a A, _ bool) (R, bool) { return agg.Result(a), true }}, nil
	})
	s.SetParallelism(1)
	return DataSet[R]{env: d.env, s: s}
}

// Distinct keeps one of each set of equal records.
func Distinct[T comparable](d DataSet[T]) DataSet[T] {
	return DistinctBy(d, func(v T) T { return v }).Name("Distinct")
}

// DistinctBy keeps one record (any) per key.
func DistinctBy[T any, K comparable](d DataSet[T], key func(T) K) DataSet[T] {
	return GroupBy(d, key).Reduce(func(a, _ T) T { return a }).Name("DistinctBy")
}

// groupOp folds records into a table by key and emits the table at the end.
// With partial, a record carries a partial accumulator (acc(v)) that is
// merged; otherwise it is a value that is added. A combiner (before the
// shuffle) does not spill: when its memory share is full it emits its
// partial accumulators and starts again (spill.Aggregator.SetFlush), so
// only the aggregation after the shuffle spills.
//
// A combiner folds runs of records with equal keys (input clustered by key,
// as a table in key order) into one accumulator before the table sees it.
// When the table holds nearly a group per run (keys seldom come back after
// their run, as lineitem's orders), it only costs a hash table the size of
// the input's keys: the combiner then emits each run's accumulator as it
// ends, without the table.
type groupOp[T any, K comparable, V, A, U any] struct {
	mem      *opMemory
	table    aggTable[K, V, A]
	key      func(T) K
	partial  bool
	val      func(T) V // the value of a record (not partial)
	acc      func(T) A // the partial accumulator of a record (partial)
	out      func(K, A) U
	combiner bool
	flushing bool // the table's flush function is set

	// combiners: the current run of one key
	create  func(V) A
	add     func(A, V) A
	runKey  K
	runAcc  A
	inRun   bool
	runs    int
	passing bool // runs are emitted, not tabled
}

// runsToDecide is how many runs a combiner tables before it checks whether
// the table combines them.
const runsToDecide = 1 << 15

// flusher is an aggTable that can hand a full table on (spill.Aggregator).
type flusher[K, A any] interface {
	SetFlush(fn func(spill.Group[K, A]) error)
}

func (g *groupOp[T, K, V, A, U]) Process(v T, emit func(U)) {
	if g.combiner && !g.flushing {
		g.flushing = true
		if f, ok := g.table.(flusher[K, A]); ok {
			f.SetFlush(func(grp spill.Group[K, A]) error {
				emit(g.out(grp.Key, grp.Acc))
				return nil
			})
		}
	}
	if g.create != nil {
		k := g.key(v)
		if g.inRun && k == g.runKey {
			g.runAcc = g.add(g.runAcc, g.val(v))
			return
		}
		g.endRun(emit)
		g.runKey, g.runAcc, g.inRun = k, g.create(g.val(v)), true
		return
	}
	var err error
	if g.partial {
		err = g.table.AddPartial(g.mem.ctx, g.key(v), g.acc(v))
	} else {
		err = g.table.Add(g.mem.ctx, g.key(v), g.val(v))
	}
	g.mem.check(err)
}

// endRun hands a combiner's current run on: to the table, or downstream.
func (g *groupOp[T, K, V, A, U]) endRun(emit func(U)) {
	if !g.inRun {
		return
	}
	g.inRun = false
	if g.passing {
		emit(g.out(g.runKey, g.runAcc))
		return
	}
	g.mem.check(g.table.AddPartial(g.mem.ctx, g.runKey, g.runAcc))
	if g.runs++; g.runs == runsToDecide && g.table.Groups() > runsToDecide*3/4 {
		g.passing = true
	}
}

func (g *groupOp[T, K, V, A, U]) EndInput(emit func(U)) {
	g.endRun(emit)
	for grp, err := range g.table.All(g.mem.ctx) {
		g.mem.check(err)
		emit(g.out(grp.Key, grp.Acc))
	}
}

func (g *groupOp[T, K, V, A, U]) Close() error {
	err := g.table.Close()
	g.mem.report()
	return err
}

// allOp folds every record into one accumulator.
type allOp[T, A, U any] struct {
	acc  A
	seen bool
	add  func(A, T) A
	out  func(A, bool) (U, bool)
}

func (a *allOp[T, A, U]) Process(v T, _ func(U)) {
	a.acc = a.add(a.acc, v)
	a.seen = true
}

func (a *allOp[T, A, U]) EndInput(emit func(U)) {
	if u, ok := a.out(a.acc, a.seen); ok {
		emit(u)
	}
}

func identity[T any](v T) T { return v }
