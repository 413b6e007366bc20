package datastream

import (
	"floe/container/network"
	"floe/container/operator"
)

// The operators below are driven by one task goroutine each. Calls into user
// functions are guarded so a panic names the operator and subtask. The
// stateless ones also take records by pointer (network.PointerOutput), so a
// large record is copied only into the user function's call.

type mapOp[T, U any] struct {
	fn      func(T) U
	out     network.Output[U]
	name    string
	subtask int
}

func (m *mapOp[T, U]) Collect(v T)          { m.out.Collect(m.call(v)) }
func (m *mapOp[T, U]) CollectPtr(p *T)      { m.out.Collect(m.callPtr(p)) }
func (m *mapOp[T, U]) Emit(e network.Event) { m.out.Emit(e) }
func (m *mapOp[T, U]) call(v T) U {
	defer operator.Guard(m.name, m.subtask)
	return m.fn(v)
}
func (m *mapOp[T, U]) callPtr(p *T) U {
	defer operator.Guard(m.name, m.subtask)
	return m.fn(*p)
}

type flatMapOp[T, U any] struct {
	fn      func(T, func(U))
	out     network.Output[U]
	emit    func(U)
	name    string
	subtask int
}

func (f *flatMapOp[T, U]) Collect(v T) {
	defer operator.Guard(f.name, f.subtask)
	f.fn(v, f.emit)
}
func (f *flatMapOp[T, U]) CollectPtr(p *T) {
	defer operator.Guard(f.name, f.subtask)
	f.fn(*p, f.emit)
}
func (f *flatMapOp[T, U]) Emit(e network.Event) { f.out.Emit(e) }

// flatMapRefOp is FlatMapRef's operator: records by pointer into fn and
// out of it.
type flatMapRefOp[T, U any] struct {
	fn      func(*T, func(*U))
	out     network.Output[U]
	emit    func(*U) // network.ByPointer(out)
	scratch T        // a record taken by value: fn's pointer must not make it escape
	name    string
	subtask int
}

func (f *flatMapRefOp[T, U]) Collect(v T) {
	f.scratch = v
	f.CollectPtr(&f.scratch)
}
func (f *flatMapRefOp[T, U]) CollectPtr(p *T) {
	defer operator.Guard(f.name, f.subtask)
	f.fn(p, f.emit)
}
func (f *flatMapRefOp[T, U]) Emit(e network.Event) { f.out.Emit(e) }

type filterOp[T any] struct {
	fn      func(T) bool
	out     network.Output[T]
	outPtr  func(*T) // network.ByPointer(out)
	name    string
	subtask int
}

func (f *filterOp[T]) Collect(v T) {
	if f.call(v) {
		f.out.Collect(v)
	}
}

// CollectPtr passes a kept record on by pointer too.
func (f *filterOp[T]) CollectPtr(p *T) {
	if f.callPtr(p) {
		f.outPtr(p)
	}
}
func (f *filterOp[T]) Emit(e network.Event) { f.out.Emit(e) }
func (f *filterOp[T]) call(v T) bool {
	defer operator.Guard(f.name, f.subtask)
	return f.fn(v)
}
func (f *filterOp[T]) callPtr(p *T) bool {
	defer operator.Guard(f.name, f.subtask)
	return f.fn(*p)
}

// reduceOp keeps one accumulated value per key in memory.
type reduceOp[T any, K comparable] struct {
	fn      func(T, T) T
	key     func(T) K
	acc     map[K]T
	out     network.Output[T]
	name    string
	subtask int
	batch   bool // emit once per key at the end of input
}

func (r *reduceOp[T, K]) Collect(v T) {
	v = r.call(v)
	if !r.batch {
		r.out.Collect(v)
	}
}

func (r *reduceOp[T, K]) call(v T) T {
	defer operator.Guard(r.name, r.subtask)
	k := r.key(v)
	if a, ok := r.acc[k]; ok {
		v = r.fn(a, v)
	}
	r.acc[k] = v
	return v
}
func (r *reduceOp[T, K]) Emit(e network.Event) {
	if r.batch && e.Kind == network.EndOfInput {
		for k, v := range r.acc {
			r.out.Collect(v)
			delete(r.acc, k)
		}
	}
	r.out.Emit(e)
}
