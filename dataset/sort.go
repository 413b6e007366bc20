package dataset

import (
	"cmp"
	"container/heap"
	"fmt"
	"slices"

	"floe/datastream"
)

// Order compares two records as cmp.Compare does: negative when a comes
// first, positive when b does, 0 when they tie.
type Order[T any] func(a, b T) int

// Asc orders by field, smallest first.
func Asc[T any, V cmp.Ordered](field func(T) V) Order[T] {
	return func(a, b T) int { return cmp.Compare(field(a), field(b)) }
}

// Desc orders by field, greatest first.
func Desc[T any, V cmp.Ordered](field func(T) V) Order[T] {
	return func(a, b T) int { return cmp.Compare(field(b), field(a)) }
}

// OrderBy orders by the first of orders, then by the next for ties, as SQL's
// ORDER BY a, b DESC:
//
//	OrderBy(Asc(func(r Row) string { return r.Flag }), Desc(func(r Row) float64 { return r.Revenue }))
func OrderBy[T any](orders ...Order[T]) Order[T] {
	return func(a, b T) int {
		for _, o := range orders {
			if c := o(a, b); c != 0 {
				return c
			}
		}
		return 0
	}
}

// SortPartition sorts the records of each subtask of d by order, in place:
// the partitioning stays as it is.
func SortPartition[T any](d DataSet[T], order Order[T]) DataSet[T] {
	env := d.env
	env.holdsMemory()
	s := datastream.Transform(d.s, "SortPartition", datastream.ExchangeForward[T](), func(info datastream.OperatorInfo) (datastream.BoundedOperator[T, T], error) {
		m := newOpMemory(env, info)
		return &sortOp[T]{mem: m, buf: newSortBuffer(order, m)}, nil
	})
	return derive(d, s)
}

// Sort is d in total order, in one subtask: the operators that follow (Map,
// Filter, sinks) keep that parallelism of 1 and the order, so a file sink
// writes one ordered file. (Today every record passes through that one
// subtask's sort buffer; a range-partitioned sort is left to do.)
func Sort[T any](d DataSet[T], order Order[T]) DataSet[T] {
	env := d.env
	env.holdsMemory()
	s := datastream.Transform(d.s, "Sort", datastream.ExchangeRebalance[T](), func(info datastream.OperatorInfo) (datastream.BoundedOperator[T, T], error) {
		m := newOpMemory(env, info)
		return &sortOp[T]{mem: m, buf: newSortBuffer(order, m)}, nil
	})
	s.SetParallelism(1)
	return DataSet[T]{env: d.env, s: s}
}

type sortOp[T any] struct {
	mem *opMemory
	buf sortBuffer[T]
}

func (s *sortOp[T]) Process(v T, _ func(T)) { s.mem.check(s.buf.Add(s.mem.ctx, v)) }

func (s *sortOp[T]) EndInput(emit func(T)) {
	for v, err := range s.buf.All(s.mem.ctx) {
		s.mem.check(err)
		emit(v)
	}
}

func (s *sortOp[T]) Close() error {
	err := s.buf.Close()
	s.mem.report()
	return err
}

// First is n records of d (any n: the first each subtask sees, cut to n in
// one subtask), or all when d holds fewer.
func First[T any](d DataSet[T], n int) DataSet[T] {
	if n < 0 {
		d.env.fail(fmt.Errorf("%w: First(%d): n must not be negative", ErrInvalidJob, n))
	}
	mk := func(datastream.OperatorInfo) (datastream.BoundedOperator[T, T], error) {
		return &firstOp[T]{left: n}, nil
	}
	local := datastream.Transform(d.s, "First (local)", datastream.ExchangeForward[T](), mk)
	local.SetParallelism(d.s.Parallelism())
	s := datastream.Transform(local, "First", datastream.ExchangeRebalance[T](), mk)
	s.SetParallelism(1)
	return DataSet[T]{env: d.env, s: s}
}

type firstOp[T any] struct{ left int }

func (f *firstOp[T]) Process(v T, emit func(T)) {
	if f.left > 0 {
		f.left--
		emit(v)
	}
}
func (f *firstOp[T]) EndInput(func(T)) {}

// TopN is the first n records of d by order, in order, in one subtask (as
// Sort followed by First, but each subtask keeps only its n best, so memory
// and network carry n records per subtask). Ties at the cut are broken
// arbitrarily.
func TopN[T any](d DataSet[T], n int, order Order[T]) DataSet[T] {
	if n < 0 {
		d.env.fail(fmt.Errorf("%w: TopN(%d): n must not be negative", ErrInvalidJob, n))
	}
	mk := func(datastream.OperatorInfo) (datastream.BoundedOperator[T, T], error) {
		return &topOp[T]{h: &boundedHeap[T]{n: n, order: order}}, nil
	}
	local := datastream.Transform(d.s, "TopN (local)", datastream.ExchangeForward[T](), mk)
	local.SetParallelism(d.s.Parallelism())
	s := datastream.Transform(local, "TopN", datastream.ExchangeRebalance[T](), mk)
	s.SetParallelism(1)
	return DataSet[T]{env: d.env, s: s}
}

type topOp[T any] struct{ h *boundedHeap[T] }

func (t *topOp[T]) Process(v T, _ func(T)) { t.h.offer(v) }
func (t *topOp[T]) EndInput(emit func(T)) {
	rows := t.h.rows
	slices.SortStableFunc(rows, t.h.order)
	for _, v := range rows {
		emit(v)
	}
	t.h.rows = nil
}

// boundedHeap keeps the n best records: a heap whose root is the worst kept.
type boundedHeap[T any] struct {
	n     int
	order Order[T]
	rows  []T
}

func (h *boundedHeap[T]) offer(v T) {
	if h.n == 0 {
		return
	}
	if len(h.rows) < h.n {
		heap.Push(h, v)
		return
	}
	if h.order(v, h.rows[0]) < 0 {
		h.rows[0] = v
		heap.Fix(h, 0)
	}
}

func (h *boundedHeap[T]) Len() int           { return len(h.rows) }
func (h *boundedHeap[T]) Less(i, j int) bool { return h.order(h.rows[i], h.rows[j]) > 0 }
func (h *boundedHeap[T]) Swap(i, j int)      { h.rows[i], h.rows[j] = h.rows[j], h.rows[i] }
func (h *boundedHeap[T]) Push(x any)         { h.rows = append(h.rows, x.(T)) }
func (h *boundedHeap[T]) Pop() any {
	v := h.rows[len(h.rows)-1]
	h.rows = h.rows[:len(h.rows)-1]
	return v
}
