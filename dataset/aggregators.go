package dataset

import (
	"cmp"
	"fmt"
	"math"
)

// Aggregator is a user-defined aggregation: records of T fold into an
// accumulator A (Add), accumulators of different subtasks combine (Merge,
// associative and commutative), and the final accumulator gives the result
// (Result). Zero makes a fresh accumulator (nil: A's zero value). Add and
// Merge may change and return the accumulator they are given, which is not
// used afterwards. A crosses the network (combined before the shuffle), so
// it must be a type records can be.
type Aggregator[T, A, R any] struct {
	Zero   func() A
	Add    func(acc A, v T) A
	Merge  func(a, b A) A
	Result func(acc A) R
}

func (a Aggregator[T, A, R]) check() error {
	if a.Add == nil || a.Merge == nil || a.Result == nil {
		return fmt.Errorf("%w: an Aggregator needs Add, Merge and Result", ErrInvalidJob)
	}
	return nil
}

func (a Aggregator[T, A, R]) zero() A {
	if a.Zero == nil {
		var z A
		return z
	}
	return a.Zero()
}

// Number is a type Sum and Avg add.
type Number interface {
	~int | ~int8 | ~int16 | ~int32 | ~int64 | ~uint | ~uint8 | ~uint16 | ~uint32 | ~uint64 | ~float32 | ~float64
}

// Sum adds field over a group.
func Sum[T any, N Number](field func(T) N) Aggregator[T, N, N] {
	return Aggregator[T, N, N]{
		Add:    func(acc N, v T) N { return acc + field(v) },
		Merge:  func(a, b N) N { return a + b },
		Result: func(acc N) N { return acc },
	}
}

// Count counts the records of a group.
func Count[T any]() Aggregator[T, int64, int64] {
	return Aggregator[T, int64, int64]{
		Add:    func(acc int64, _ T) int64 { return acc + 1 },
		Merge:  func(a, b int64) int64 { return a + b },
		Result: func(acc int64) int64 { return acc },
	}
}

// Extreme is the accumulator of Min and Max: Set is false until a record came.
type Extreme[V cmp.Ordered] struct {
	Set bool
	V   V
}

func extreme[T any, V cmp.Ordered](field func(T) V, better func(a, b V) bool) Aggregator[T, Extreme[V], V] {
	return Aggregator[T, Extreme[V], V]{
		Add: func(acc Extreme[V], v T) Extreme[V] {
			if x := field(v); !acc.Set || better(x, acc.V) {
				return Extreme[V]{Set: true, V: x}
			}
			return acc
		},
		Merge: func(a, b Extreme[V]) Extreme[V] {
			if !a.Set || (b.Set && better(b.V, a.V)) {
				return b
			}
			return a
		},
		Result: func(acc Extreme[V]) V { return acc.V },
	}
}

// Min is the least value of field in a group (V's zero value over no records).
func Min[T any, V cmp.Ordered](field func(T) V) Aggregator[T, Extreme[V], V] {
	return extreme(field, func(a, b V) bool { return a < b })
}

// Max is the greatest value of field in a group (V's zero value over no records).
func Max[T any, V cmp.Ordered](field func(T) V) Aggregator[T, Extreme[V], V] {
	return extreme(field, func(a, b V) bool { return a > b })
}

// AvgAcc is the accumulator of Avg.
type AvgAcc struct {
	Sum   float64
	Count int64
}

// Avg is the mean of field over a group (NaN over no records).
func Avg[T any, N Number](field func(T) N) Aggregator[T, AvgAcc, float64] {
	return Aggregator[T, AvgAcc, float64]{
		Add: func(acc AvgAcc, v T) AvgAcc {
			return AvgAcc{Sum: acc.Sum + float64(field(v)), Count: acc.Count + 1}
		},
		Merge: func(a, b AvgAcc) AvgAcc { return AvgAcc{Sum: a.Sum + b.Sum, Count: a.Count + b.Count} },
		Result: func(acc AvgAcc) float64 {
			if acc.Count == 0 {
				return math.NaN()
			}
			return acc.Sum / float64(acc.Count)
		},
	}
}

// Column is one aggregate of Columns, over a float64 projection of T.
type Column[T any] struct {
	kind  columnKind
	field func(T) float64
}

type columnKind uint8

const (
	colSum columnKind = iota
	colCount
	colAvg
	colMin
	colMax
)

// SumOf is the sum of field.
func SumOf[T any](field func(T) float64) Column[T] { return Column[T]{kind: colSum, field: field} }

// CountOf is the number of records.
func CountOf[T any]() Column[T] { return Column[T]{kind: colCount} }

// AvgOf is the mean of field (NaN over no records).
func AvgOf[T any](field func(T) float64) Column[T] { return Column[T]{kind: colAvg, field: field} }

// MinOf is the least value of field (NaN over no records).
func MinOf[T any](field func(T) float64) Column[T] { return Column[T]{kind: colMin, field: field} }

// MaxOf is the greatest value of field (NaN over no records).
func MaxOf[T any](field func(T) float64) Column[T] { return Column[T]{kind: colMax, field: field} }

// ColumnsAcc is the accumulator of Columns: per column a value (sum, min or
// max) and a count.
type ColumnsAcc struct {
	V []float64
	N []int64
}

// Columns computes several aggregates in one pass, as SQL's SELECT list
// does; the result holds them in the order given. For example TPC-H's Q1:
//
//	Columns(SumOf(qty), SumOf(price), AvgOf(qty), CountOf[Lineitem]())
func Columns[T any](cols ...Column[T]) Aggregator[T, ColumnsAcc, []float64] {
	n := len(cols)
	return Aggregator[T, ColumnsAcc, []float64]{
		Zero: func() ColumnsAcc { return ColumnsAcc{V: make([]float64, n), N: make([]int64, n)} },
		Add: func(acc ColumnsAcc, v T) ColumnsAcc {
			for i, c := range cols {
				switch c.kind {
				case colSum, colAvg:
					acc.V[i] += c.field(v)
				case colMin:
					if x := c.field(v); acc.N[i] == 0 || x < acc.V[i] {
						acc.V[i] = x
					}
				case colMax:
					if x := c.field(v); acc.N[i] == 0 || x > acc.V[i] {
						acc.V[i] = x
					}
				}
				acc.N[i]++
			}
			return acc
		},
		Merge: func(a, b ColumnsAcc) ColumnsAcc {
			for i, c := range cols {
				switch c.kind {
				case colSum, colAvg:
					a.V[i] += b.V[i]
				case colMin:
					if b.N[i] > 0 && (a.N[i] == 0 || b.V[i] < a.V[i]) {
						a.V[i] = b.V[i]
					}
				case colMax:
					if b.N[i] > 0 && (a.N[i] == 0 || b.V[i] > a.V[i]) {
						a.V[i] = b.V[i]
					}
				}
				a.N[i] += b.N[i]
			}
			return a
		},
		Result: func(acc ColumnsAcc) []float64 {
			out := make([]float64, n)
			for i, c := range cols {
				switch c.kind {
				case colSum:
					out[i] = acc.V[i]
				case colCount:
					out[i] = float64(acc.N[i])
				default:
					if acc.N[i] == 0 {
						out[i] = math.NaN()
					} else if c.kind == colAvg {
						out[i] = acc.V[i] / float64(acc.N[i])
					} else {
						out[i] = acc.V[i]
					}
				}
			}
			return out
		},
	}
}
