package dataset

import (
	"context"
	"iter"
	"slices"

	"floe/internal/spill"
)

// sortBuffer collects records and gives them back in order: the sort of
// SortPartition and Sort, and the buffers of CoGroup and of a join's early
// probe records. It is spill.Sorter, an external merge sort past its budget;
// memSortBuffer, a slice without a budget, stands in for record types
// without a codec.
type sortBuffer[T any] interface {
	Add(ctx context.Context, v T) error
	// All yields every record in order (stable: equal records keep their
	// arrival order), once.
	All(ctx context.Context) iter.Seq2[T, error]
	Stats() spill.Stats
	// Close frees what the buffer holds and removes its files (after a
	// failure too).
	Close() error
}

func newSortBuffer[T any](cmp func(a, b T) int, m *opMemory) sortBuffer[T] {
	s, err := spill.NewSorter(cmp, m.budget, m.opts...)
	if err != nil {
		m.noSpill(err)
		return &memSortBuffer[T]{cmp: cmp}
	}
	m.track(s.Stats)
	return s
}

type memSortBuffer[T any] struct {
	cmp  func(a, b T) int
	rows []T
}

func (b *memSortBuffer[T]) Add(_ context.Context, v T) error {
	b.rows = append(b.rows, v)
	return nil
}

func (b *memSortBuffer[T]) All(context.Context) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		rows := b.rows
		b.rows = nil
		slices.SortStableFunc(rows, b.cmp)
		for _, v := range rows {
			if !yield(v, nil) {
				return
			}
		}
	}
}

func (b *memSortBuffer[T]) Stats() spill.Stats { return spill.Stats{Records: int64(len(b.rows))} }

func (b *memSortBuffer[T]) Close() error {
	b.rows = nil
	return nil
}
