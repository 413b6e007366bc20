package datastream

import (
	"fmt"
	"slices"

	"floe/internal/keygroup"
	"floe/internal/runtime"
	"floe/internal/state"
)

// KeyedContext is what a keyed process function sees: the current key and
// its state.
type KeyedContext[K comparable] struct {
	key     K
	backend *state.Backend[K]
}

// Key is the key of the record being processed.
func (c *KeyedContext[K]) Key() K { return c.key }

// StateDescriptor declares a keyed state of a process function.
type StateDescriptor[K comparable] interface {
	declare(b *state.Backend[K]) error
}

// ValueState is one value per key, kept in the operator's keyed state (it is
// checkpointed, and redistributed by key group when a job is restored at
// another parallelism). Declare it once, outside the function, and pass it to
// Process; it holds no data itself.
//
// A checkpoint keeps a view of the state that shares stored values, and
// encodes it while processing goes on: never change a stored value in place
// (for example an element of a slice inside it); Update with a new value.
type ValueState[K comparable, T any] struct{ name string }

// NewValueState declares a value state called name (unique per operator).
func NewValueState[K comparable, T any](name string) ValueState[K, T] {
	return ValueState[K, T]{name: name}
}

func (s ValueState[K, T]) declare(b *state.Backend[K]) error {
	_, err := state.Value[K, T](b, s.name)
	return err
}

func (s ValueState[K, T]) table(c *KeyedContext[K]) *state.Table[K, T] {
	t, err := state.Value[K, T](c.backend, s.name)
	if err != nil {
		panic(err) // declared with another type: a programming error
	}
	return t
}

// Value returns the current key's value and whether it has one.
func (s ValueState[K, T]) Value(c *KeyedContext[K]) (T, bool) { return s.table(c).Get(c.key) }

// Update sets the current key's value.
func (s ValueState[K, T]) Update(c *KeyedContext[K], v T) { s.table(c).Put(c.key, v) }

// Clear removes the current key's value.
func (s ValueState[K, T]) Clear(c *KeyedContext[K]) { s.table(c).Delete(c.key) }

// Process applies fn to every record of a keyed stream with access to the
// record's key and keyed state (declared in states); fn emits any number of
// results.
func Process[T any, K comparable, U any](ks KeyedStream[T, K], fn func(ctx *KeyedContext[K], v T, emit func(U)), states ...StateDescriptor[K]) Stream[U] {
	env := ks.up.env
	return oneInput(ks.up, "Process", env.parallelism, ks.link(), func(info runtime.TaskInfo, out runtime.Output[U]) (runtime.Output[T], closer, error) {
		b, err := state.NewBackend[K](info.MaxParallelism)
		if err != nil {
			return nil, nil, err
		}
		for _, d := range states {
			if err := d.declare(b); err != nil {
				return nil, nil, err
			}
		}
		start, end := keygroup.Range(info.MaxParallelism, info.Parallelism, info.Subtask)
		return &processOp[T, K, U]{fn: fn, key: ks.key, ctx: &KeyedContext[K]{backend: b}, out: out, emit: out.Collect,
			name: info.Name, subtask: info.Subtask, start: start, end: end}, nil, nil
	})
}

type processOp[T any, K comparable, U any] struct {
	fn         func(*KeyedContext[K], T, func(U))
	key        func(T) K
	ctx        *KeyedContext[K]
	out        runtime.Output[U]
	emit       func(U)
	name       string
	subtask    int
	start, end int // key groups owned
}

func (p *processOp[T, K, U]) Collect(v T) {
	defer runtime.Guard(p.name, p.subtask)
	p.ctx.key = p.key(v)
	p.fn(p.ctx, v, p.emit)
}

func (p *processOp[T, K, U]) Emit(e runtime.Event) { p.out.Emit(e) }

// SnapshotState copies the state maps (cheap) and leaves the encoding to the
// upload, so processing goes on while the checkpoint is written.
func (p *processOp[T, K, U]) SnapshotState(int64) (runtime.OperatorState, error) {
	view, start, end := p.ctx.backend.View(), p.start, p.end
	return runtime.OperatorState{KeyGroupStart: start, EncodeKeyGroups: func() ([][]byte, error) {
		return view.Encode(start, end)
	}}, nil
}

func (p *processOp[T, K, U]) RestoreState(st runtime.OperatorState) error {
	for i, blk := range st.KeyGroups {
		g := st.KeyGroupStart + i
		if len(blk) == 0 {
			continue
		}
		if g < p.start || g >= p.end {
			return fmt.Errorf("%s: restored key group %d is outside this subtask's %d..%d", p.name, g, p.start, p.end-1)
		}
		if err := p.ctx.backend.Restore(blk, false); err != nil {
			return err
		}
	}
	return nil
}

// ListState is a list of values per key.
type ListState[K comparable, T any] struct{ name string }

// NewListState declares a list state called name.
func NewListState[K comparable, T any](name string) ListState[K, T] {
	return ListState[K, T]{name: name}
}

func (s ListState[K, T]) declare(b *state.Backend[K]) error {
	_, err := state.Value[K, []T](b, s.name)
	return err
}

func (s ListState[K, T]) table(c *KeyedContext[K]) *state.Table[K, []T] {
	t, err := state.Value[K, []T](c.backend, s.name)
	if err != nil {
		panic(err)
	}
	return t
}

// Get returns the current key's list (nil when empty). Do not modify it.
func (s ListState[K, T]) Get(c *KeyedContext[K]) []T {
	v, _ := s.table(c).Get(c.key)
	return v
}

// Add appends v to the current key's list.
func (s ListState[K, T]) Add(c *KeyedContext[K], v T) {
	t := s.table(c)
	l, _ := t.Get(c.key)
	t.Put(c.key, append(l, v))
}

// Update replaces the current key's list.
func (s ListState[K, T]) Update(c *KeyedContext[K], vs []T) { s.table(c).Put(c.key, vs) }

// Clear empties the current key's list.
func (s ListState[K, T]) Clear(c *KeyedContext[K]) { s.table(c).Delete(c.key) }

// MapState is a map per key. Its entries are kept as a Go map and
// checkpointed as a list of pairs.
type MapState[K comparable, UK comparable, UV any] struct{ name string }

// NewMapState declares a map state called name.
func NewMapState[K comparable, UK comparable, UV any](name string) MapState[K, UK, UV] {
	return MapState[K, UK, UV]{name: name}
}

// MapEntry is one entry of a MapState.
type MapEntry[UK comparable, UV any] struct {
	Key   UK
	Value UV
}

func (s MapState[K, UK, UV]) declare(b *state.Backend[K]) error {
	_, err := state.Value[K, []MapEntry[UK, UV]](b, s.name)
	return err
}

func (s MapState[K, UK, UV]) table(c *KeyedContext[K]) *state.Table[K, []MapEntry[UK, UV]] {
	t, err := state.Value[K, []MapEntry[UK, UV]](c.backend, s.name)
	if err != nil {
		panic(err)
	}
	return t
}

// Get returns the value of uk under the current key.
func (s MapState[K, UK, UV]) Get(c *KeyedContext[K], uk UK) (UV, bool) {
	l, _ := s.table(c).Get(c.key)
	for _, e := range l {
		if e.Key == uk {
			return e.Value, true
		}
	}
	var zero UV
	return zero, false
}

// Put sets uk to v under the current key.
func (s MapState[K, UK, UV]) Put(c *KeyedContext[K], uk UK, v UV) {
	t := s.table(c)
	l, _ := t.Get(c.key)
	for i := range l {
		if l[i].Key == uk {
			// Copy on write: a checkpoint's view may hold the old slice.
			l = slices.Clone(l)
			l[i].Value = v
			t.Put(c.key, l)
			return
		}
	}
	t.Put(c.key, append(l, MapEntry[UK, UV]{uk, v}))
}

// Remove deletes uk under the current key.
func (s MapState[K, UK, UV]) Remove(c *KeyedContext[K], uk UK) {
	t := s.table(c)
	l, _ := t.Get(c.key)
	for i := range l {
		if l[i].Key == uk {
			l = slices.Delete(slices.Clone(l), i, i+1) // copy on write, as Put
			if len(l) == 0 {
				t.Delete(c.key)
			} else {
				t.Put(c.key, l)
			}
			return
		}
	}
}

// Entries returns the current key's entries. Do not modify them.
func (s MapState[K, UK, UV]) Entries(c *KeyedContext[K]) []MapEntry[UK, UV] {
	l, _ := s.table(c).Get(c.key)
	return l
}

// ReducingState keeps one value per key, folding every added value in with reduce.
type ReducingState[K comparable, T any] struct {
	name   string
	reduce func(acc, v T) T
}

// NewReducingState declares a reducing state called name.
func NewReducingState[K comparable, T any](name string, reduce func(acc, v T) T) ReducingState[K, T] {
	return ReducingState[K, T]{name: name, reduce: reduce}
}

func (s ReducingState[K, T]) declare(b *state.Backend[K]) error {
	_, err := state.Value[K, T](b, s.name)
	return err
}

// Add folds v into the current key's value.
func (s ReducingState[K, T]) Add(c *KeyedContext[K], v T) {
	t, err := state.Value[K, T](c.backend, s.name)
	if err != nil {
		panic(err)
	}
	if acc, ok := t.Get(c.key); ok {
		v = s.reduce(acc, v)
	}
	t.Put(c.key, v)
}

// Get returns the current key's reduced value.
func (s ReducingState[K, T]) Get(c *KeyedContext[K]) (T, bool) {
	t, err := state.Value[K, T](c.backend, s.name)
	if err != nil {
		panic(err)
	}
	return t.Get(c.key)
}
