package dataset

import "slices"

// sortBuffer collects records and gives them back in order: the sort of
// SortPartition and Sort. memSortBuffer keeps them in a slice; a version
// that writes sorted runs to local disk past a memory budget and merges them
// can take its place behind this interface (newSortBuffer).
type sortBuffer[T any] interface {
	Add(v T)
	// Sorted calls emit for every record in order (stable: equal records keep
	// their arrival order) and empties the buffer.
	Sorted(emit func(T))
	// Close frees what the buffer holds (after a failure too).
	Close() error
}

func newSortBuffer[T any](cmp func(a, b T) int) sortBuffer[T] {
	return &memSortBuffer[T]{cmp: cmp}
}

type memSortBuffer[T any] struct {
	cmp  func(a, b T) int
	rows []T
}

func (b *memSortBuffer[T]) Add(v T) { b.rows = append(b.rows, v) }

func (b *memSortBuffer[T]) Sorted(emit func(T)) {
	slices.SortStableFunc(b.rows, b.cmp)
	for _, v := range b.rows {
		emit(v)
	}
	b.rows = nil
}

func (b *memSortBuffer[T]) Close() error {
	b.rows = nil
	return nil
}
