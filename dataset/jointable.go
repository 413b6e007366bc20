package dataset

// buildTable is a hash join's build side: the rows of one input by key.
// memBuildTable keeps them in a Go map; a version that spills partitions to
// local disk past a memory budget can take its place behind this interface
// (newBuildTable).
type buildTable[K comparable, T any] interface {
	// Add stores v under k.
	Add(k K, v T)
	// Probe calls fn for every row under k, marks them matched, and reports
	// whether there was one.
	Probe(k K, fn func(v *T)) bool
	// Unmatched calls fn for every row that no Probe matched.
	Unmatched(fn func(v *T))
	// Close frees what the table holds (after a failure too).
	Close() error
}

func newBuildTable[K comparable, T any]() buildTable[K, T] {
	return &memBuildTable[K, T]{m: map[K]*buildRows[T]{}}
}

type buildRows[T any] struct {
	rows    []T
	matched bool
}

type memBuildTable[K comparable, T any] struct{ m map[K]*buildRows[T] }

func (t *memBuildTable[K, T]) Add(k K, v T) {
	r, ok := t.m[k]
	if !ok {
		r = &buildRows[T]{}
		t.m[k] = r
	}
	r.rows = append(r.rows, v)
}

func (t *memBuildTable[K, T]) Probe(k K, fn func(*T)) bool {
	r, ok := t.m[k]
	if !ok {
		return false
	}
	r.matched = true
	for i := range r.rows {
		fn(&r.rows[i])
	}
	return true
}

func (t *memBuildTable[K, T]) Unmatched(fn func(*T)) {
	for _, r := range t.m {
		if !r.matched {
			for i := range r.rows {
				fn(&r.rows[i])
			}
		}
	}
}

func (t *memBuildTable[K, T]) Close() error {
	t.m = nil
	return nil
}
