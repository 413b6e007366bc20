package network

import "floe/internal/rpc/floepb"

// EventKind is the kind of a control event travelling in-band with records:
// the wire's own enum, so nothing maps one onto the other.
type EventKind = floepb.EventKind

// The events (DATA, zero, marks a message that carries records).
const (
	// EndOfInput: no record follows on this path.
	EndOfInput = floepb.EventKind_END_OF_PARTITION
	// Watermark: no record with an event time <= Value follows.
	Watermark = floepb.EventKind_WATERMARK
	// Barrier: checkpoint Value's barrier.
	Barrier = floepb.EventKind_BARRIER
	// CancelBarrier: checkpoint Value is abandoned.
	CancelBarrier = floepb.EventKind_CANCEL_BARRIER
	// WatermarkStatus: Value 1 marks the path idle (its watermark holds no
	// consumer back until it is active again); Value 0 marks it active.
	WatermarkStatus = floepb.EventKind_WATERMARK_STATUS
)

// Event is a control event. Events are ordered with the records around them.
type Event struct {
	Kind  EventKind
	Value int64
	// Text is the directory a barrier's checkpoint or savepoint is written to.
	Text string
	// Priority marks an unaligned checkpoint's barrier: writers queue it
	// ahead of the messages their partitions still hold (PrioritySink).
	Priority bool
}

// Output receives the records and events of one operator.
type Output[T any] interface {
	Collect(T)
	Emit(Event)
}

// PointerOutput is implemented by the Outputs that can take a record by
// pointer: CollectPtr(p) is Collect(*p) without copying the record into the
// call, which for records of hundreds of bytes costs more than the call.
// The callee reads *p during the call only: it neither keeps p nor changes
// *p. Chained operators that pass their input on unchanged (a filter, the
// watermark assigner, a fan-out) use it.
type PointerOutput[T any] interface {
	CollectPtr(p *T)
}

// ByPointer returns a function that collects *p into o: by pointer where o
// is a PointerOutput, else by value. Resolve it once, when the chain is built.
// (For a user function's emit; the chain's own hops use PointerTo.)
func ByPointer[T any](o Output[T]) func(*T) {
	if po, ok := o.(PointerOutput[T]); ok {
		return po.CollectPtr
	}
	return func(p *T) { o.Collect(*p) }
}

// PointerTo returns o as a PointerOutput: o itself where it is one, else an
// adapter that collects *p by value. Calling CollectPtr on it is one dynamic
// call per record, where ByPointer's method value is two (the closure, then
// the method through the interface): that is the cost of a chain's hop.
func PointerTo[T any](o Output[T]) PointerOutput[T] {
	if po, ok := o.(PointerOutput[T]); ok {
		return po
	}
	return byValue[T]{o}
}

type byValue[T any] struct{ o Output[T] }

func (b byValue[T]) CollectPtr(p *T) { b.o.Collect(*p) }

// Fanout returns one Output that forwards to all of outs.
func Fanout[T any](outs []Output[T]) Output[T] {
	switch len(outs) {
	case 0:
		return Discard[T]{}
	case 1:
		return outs[0]
	}
	f := &fanout[T]{outs: outs, ptrs: make([]PointerOutput[T], len(outs))}
	for i, o := range outs {
		f.ptrs[i] = PointerTo(o)
	}
	return f
}

// fanout hands each record to every output by pointer where it can, so a
// large record is not copied once per output.
type fanout[T any] struct {
	outs []Output[T]
	ptrs []PointerOutput[T]
}

func (f *fanout[T]) Collect(v T) {
	for _, o := range f.outs { // by value: &v would move v to the heap
		o.Collect(v)
	}
}

func (f *fanout[T]) CollectPtr(p *T) {
	for _, c := range f.ptrs {
		c.CollectPtr(p)
	}
}

func (f *fanout[T]) Emit(e Event) {
	for _, o := range f.outs {
		o.Emit(e)
	}
}

// Discard drops everything.
type Discard[T any] struct{}

func (Discard[T]) Collect(T)     {}
func (Discard[T]) CollectPtr(*T) {}
func (Discard[T]) Emit(Event)    {}
