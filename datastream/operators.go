package datastream

import (
	"floe/container/network"
	"floe/container/operator"
	"floe/internal/state"
)

// The operators below are driven by one task goroutine each. Calls into user
// functions are marked (operator.Running: cheaper than a deferred Guard per
// record) so that a panic names the operator and subtask. The
// stateless ones also take records by pointer (network.PointerOutput), so a
// large record is copied only into the user function's call.

type mapOp[T, U any] struct {
	fn  func(T) U
	out network.Output[U]
	id  operator.Ident
	run *operator.Running
}

func (m *mapOp[T, U]) Collect(v T) {
	prev := m.run.Enter(&m.id)
	u := m.fn(v)
	m.run.Leave(prev)
	m.out.Collect(u)
}
func (m *mapOp[T, U]) CollectPtr(p *T) {
	prev := m.run.Enter(&m.id)
	u := m.fn(*p)
	m.run.Leave(prev)
	m.out.Collect(u)
}
func (m *mapOp[T, U]) Emit(e network.Event) { m.out.Emit(e) }

type flatMapOp[T, U any] struct {
	fn   func(T, func(U))
	out  network.Output[U]
	emit func(U)
	id   operator.Ident
	run  *operator.Running
}

func (f *flatMapOp[T, U]) Collect(v T) {
	prev := f.run.Enter(&f.id)
	f.fn(v, f.emit)
	f.run.Leave(prev)
}
func (f *flatMapOp[T, U]) CollectPtr(p *T) {
	prev := f.run.Enter(&f.id)
	f.fn(*p, f.emit)
	f.run.Leave(prev)
}
func (f *flatMapOp[T, U]) Emit(e network.Event) { f.out.Emit(e) }

// flatMapRefOp is FlatMapRef's operator: records by pointer into fn and
// out of it.
type flatMapRefOp[T, U any] struct {
	fn      func(*T, func(*U))
	out     network.Output[U]
	emit    func(*U) // network.ByPointer(out)
	scratch T        // a record taken by value: fn's pointer must not make it escape
	id      operator.Ident
	run     *operator.Running
}

func (f *flatMapRefOp[T, U]) Collect(v T) {
	f.scratch = v
	f.CollectPtr(&f.scratch)
}
func (f *flatMapRefOp[T, U]) CollectPtr(p *T) {
	prev := f.run.Enter(&f.id)
	f.fn(p, f.emit)
	f.run.Leave(prev)
}
func (f *flatMapRefOp[T, U]) Emit(e network.Event) { f.out.Emit(e) }

type filterOp[T any] struct {
	fn     func(T) bool
	out    network.Output[T]
	outPtr network.PointerOutput[T] // network.PointerTo(out)
	id     operator.Ident
	run    *operator.Running
}

func (f *filterOp[T]) Collect(v T) {
	prev := f.run.Enter(&f.id)
	keep := f.fn(v)
	f.run.Leave(prev)
	if keep {
		f.out.Collect(v)
	}
}

// CollectPtr passes a kept record on by pointer too.
func (f *filterOp[T]) CollectPtr(p *T) {
	prev := f.run.Enter(&f.id)
	keep := f.fn(*p)
	f.run.Leave(prev)
	if keep {
		f.outPtr.CollectPtr(p)
	}
}
func (f *filterOp[T]) Emit(e network.Event) { f.out.Emit(e) }

// reduceOp is a BATCH-mode Reduce: one accumulated value per key in memory,
// emitted once per key at the end of input.
type reduceOp[T any, K comparable] struct {
	fn  func(T, T) T
	key func(T) K
	acc map[K]T
	out network.Output[T]
	id  operator.Ident // for operator.Running
	run *operator.Running
}

func (r *reduceOp[T, K]) Collect(v T) {
	prev := r.run.Enter(&r.id)
	k := r.key(v)
	if a, ok := r.acc[k]; ok {
		v = r.fn(a, v)
	}
	r.acc[k] = v
	r.run.Leave(prev)
}

func (r *reduceOp[T, K]) Emit(e network.Event) {
	if e.Kind == network.EndOfInput {
		for k, v := range r.acc {
			r.out.Collect(v)
			delete(r.acc, k)
		}
	}
	r.out.Emit(e)
}

// reduceState is the keyed state of a STREAMING Reduce: the running value.
const reduceState = "_reduce"

// keyedReduceOp is a STREAMING Reduce: the running value of each key is
// keyed state, and every updated value is emitted.
type keyedReduceOp[T any, K comparable] struct {
	*keyedOp[K, T]
	fn  func(T, T) T
	key func(T) K
	tab *state.Table[K, T]
}

func (r *keyedReduceOp[T, K]) Collect(v T) {
	prev := r.run.Enter(&r.id)
	k := r.key(v)
	r.ctx.key = k
	if a, ok := r.tab.Get(k); ok {
		v = r.fn(a, v)
	}
	r.tab.Put(k, v)
	r.run.Leave(prev)
	r.out.Collect(v)
}
