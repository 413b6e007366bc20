package dataset

// aggTable holds one accumulator per key: the hash aggregation of GroupBy's
// Reduce and Aggregate, on both sides of the shuffle. memAggTable keeps it
// in a Go map; a version that spills to local disk past a memory budget can
// take its place behind this interface (newAggTable).
type aggTable[K comparable, A any] interface {
	// Slot returns k's accumulator, a zero A added for it when k is new
	// (found false). The pointer is valid until the next call.
	Slot(k K) (acc *A, found bool)
	// Drain calls emit once per key with its accumulator and empties the table.
	Drain(emit func(K, A))
	// Close frees what the table holds (after a failure too).
	Close() error
}

func newAggTable[K comparable, A any]() aggTable[K, A] {
	return &memAggTable[K, A]{m: map[K]*A{}}
}

// memAggTable is an aggTable in memory. Accumulators are kept by pointer so
// an update hashes its key once.
type memAggTable[K comparable, A any] struct{ m map[K]*A }

func (t *memAggTable[K, A]) Slot(k K) (*A, bool) {
	if p, ok := t.m[k]; ok {
		return p, true
	}
	p := new(A)
	t.m[k] = p
	return p, false
}

func (t *memAggTable[K, A]) Drain(emit func(K, A)) {
	for k, p := range t.m {
		emit(k, *p)
	}
	clear(t.m)
}

func (t *memAggTable[K, A]) Close() error {
	t.m = nil
	return nil
}
