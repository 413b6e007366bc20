package dataset

import (
	"context"
	"iter"

	"floe/internal/spill"
)

// aggTable holds one accumulator per key: the hash aggregation of GroupBy's
// Reduce and Aggregate (and so Distinct), on both sides of the shuffle. It
// is spill.Aggregator, which spills partitions to local disk past its
// budget; memAggTable, a Go map without a budget, stands in for key or
// accumulator types that have no codec (they never crossed a network
// edge, so nothing could write them to a file either).
type aggTable[K comparable, V, A any] interface {
	Add(ctx context.Context, k K, v V) error
	AddPartial(ctx context.Context, k K, acc A) error
	// All yields every group once, in no particular order.
	All(ctx context.Context) iter.Seq2[spill.Group[K, A], error]
	Stats() spill.Stats
	// Groups is the number of groups held in memory now.
	Groups() int
	// Close frees what the table holds and removes its files (after a
	// failure too).
	Close() error
}

func newAggTable[K comparable, V, A any](fn spill.Combiner[V, A], m *opMemory) aggTable[K, V, A] {
	a, err := spill.NewAggregator[K](fn, m.budget, m.opts...)
	if err != nil {
		m.noSpill(err)
		return &memAggTable[K, V, A]{fn: fn, m: map[K]*A{}}
	}
	m.track(a.Stats)
	return a
}

// memAggTable is an aggTable in memory. Accumulators are kept by pointer so
// an update hashes its key once.
type memAggTable[K comparable, V, A any] struct {
	fn spill.Combiner[V, A]
	m  map[K]*A
	n  int64
}

func (t *memAggTable[K, V, A]) Add(_ context.Context, k K, v V) error {
	t.n++
	if p, ok := t.m[k]; ok {
		*p = t.fn.Add(*p, v)
		return nil
	}
	p := new(A)
	*p = t.fn.Create(v)
	t.m[k] = p
	return nil
}

func (t *memAggTable[K, V, A]) AddPartial(_ context.Context, k K, acc A) error {
	t.n++
	if p, ok := t.m[k]; ok {
		*p = t.fn.Merge(*p, acc)
		return nil
	}
	p := new(A)
	*p = acc
	t.m[k] = p
	return nil
}

func (t *memAggTable[K, V, A]) All(context.Context) iter.Seq2[spill.Group[K, A], error] {
	return func(yield func(spill.Group[K, A], error) bool) {
		for k, p := range t.m {
			delete(t.m, k)
			if !yield(spill.Group[K, A]{Key: k, Acc: *p}, nil) {
				return
			}
		}
	}
}

func (t *memAggTable[K, V, A]) Stats() spill.Stats { return spill.Stats{Records: t.n} }

func (t *memAggTable[K, V, A]) Groups() int { return len(t.m) }

func (t *memAggTable[K, V, A]) Close() error {
	t.m = nil
	return nil
}
