package dataset

import "floe/datastream"

// Map applies fn to every record. Map, FlatMap and Filter run at the
// parallelism of their input and are chained to the operator producing it.
func Map[T, U any](d DataSet[T], fn func(T) U) DataSet[U] {
	return derive(d, datastream.Map(d.s, fn))
}

// FlatMap calls fn for every record; fn emits any number of results.
func FlatMap[T, U any](d DataSet[T], fn func(v T, emit func(U))) DataSet[U] {
	return derive(d, datastream.FlatMap(d.s, fn))
}

// Filter keeps the records for which fn is true.
func (d DataSet[T]) Filter(fn func(T) bool) DataSet[T] {
	return derive(d, d.s.Filter(fn))
}

// Union is the records of d and of others (in no particular order).
func (d DataSet[T]) Union(others ...DataSet[T]) DataSet[T] {
	ss := make([]datastream.Stream[T], len(others))
	for i, o := range others {
		ss[i] = o.s
	}
	return DataSet[T]{env: d.env, s: d.s.Union(ss...)}
}

// Rebalance spreads the records evenly over the next operator's subtasks.
func (d DataSet[T]) Rebalance() DataSet[T] {
	return DataSet[T]{env: d.env, s: d.s.Rebalance()}
}

// PartitionCustom sends every record to the subtask p picks (of the
// environment's parallelism).
func (d DataSet[T]) PartitionCustom(p datastream.Partitioner[T]) DataSet[T] {
	s := datastream.Transform(d.s, "PartitionCustom", datastream.ExchangePartition(p), func(datastream.OperatorInfo) (datastream.BoundedOperator[T, T], error) {
		return passThrough[T]{}, nil
	})
	return DataSet[T]{env: d.env, s: s}
}

type passThrough[T any] struct{}

func (passThrough[T]) Process(v T, emit func(T)) { emit(v) }
func (passThrough[T]) EndInput(func(T))          {}
