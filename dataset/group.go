package dataset

import "floe/datastream"

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
	step := func(acc T, found bool, v T) T {
		if !found {
			return v
		}
		return fn(acc, v)
	}
	combined := datastream.Transform(g.d.s, "Combine", datastream.ExchangeForward[T](), func(datastream.OperatorInfo) (datastream.BoundedOperator[T, T], error) {
		return &groupOp[T, K, T, T]{table: newAggTable[K, T](), key: key, add: step, out: func(_ K, a T) T { return a }}, nil
	})
	combined.SetParallelism(g.d.s.Parallelism())
	s := datastream.Transform(combined, "Reduce", datastream.ExchangeHash(key), func(datastream.OperatorInfo) (datastream.BoundedOperator[T, T], error) {
		return &groupOp[T, K, T, T]{table: newAggTable[K, T](), key: key, add: step, out: func(_ K, a T) T { return a }}, nil
	})
	return DataSet[T]{env: g.d.env, s: s}
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
	partial := datastream.Transform(g.d.s, "Partial Aggregate", datastream.ExchangeForward[T](), func(datastream.OperatorInfo) (datastream.BoundedOperator[T, KV[K, A]], error) {
		return &groupOp[T, K, A, KV[K, A]]{table: newAggTable[K, A](), key: key,
			add: func(acc A, found bool, v T) A {
				if !found {
					acc = agg.zero()
				}
				return agg.Add(acc, v)
			},
			out: func(k K, a A) KV[K, A] { return KV[K, A]{Key: k, Value: a} }}, nil
	})
	partial.SetParallelism(g.d.s.Parallelism())
	s := datastream.Transform(partial, "Aggregate", datastream.ExchangeHash(func(kv KV[K, A]) K { return kv.Key }), func(datastream.OperatorInfo) (datastream.BoundedOperator[KV[K, A], KV[K, R]], error) {
		return &groupOp[KV[K, A], K, A, KV[K, R]]{table: newAggTable[K, A](), key: func(kv KV[K, A]) K { return kv.Key },
			add: func(acc A, found bool, kv KV[K, A]) A {
				if !found {
					return kv.Value
				}
				return agg.Merge(acc, kv.Value)
			},
			out: func(k K, a A) KV[K, R] { return KV[K, R]{Key: k, Value: agg.Result(a)} }}, nil
	})
	return DataSet[KV[K, R]]{env: g.d.env, s: s}
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
type groupOp[T any, K comparable, A, U any] struct {
	table aggTable[K, A]
	key   func(T) K
	add   func(acc A, found bool, v T) A
	out   func(K, A) U
}

func (g *groupOp[T, K, A, U]) Process(v T, _ func(U)) {
	acc, found := g.table.Slot(g.key(v))
	*acc = g.add(*acc, found, v)
}

func (g *groupOp[T, K, A, U]) EndInput(emit func(U)) {
	g.table.Drain(func(k K, a A) { emit(g.out(k, a)) })
}

func (g *groupOp[T, K, A, U]) Close() error { return g.table.Close() }

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
