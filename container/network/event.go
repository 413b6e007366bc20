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
}

// Output receives the records and events of one operator.
type Output[T any] interface {
	Collect(T)
	Emit(Event)
}

// Fanout returns one Output that forwards to all of outs.
func Fanout[T any](outs []Output[T]) Output[T] {
	switch len(outs) {
	case 0:
		return Discard[T]{}
	case 1:
		return outs[0]
	}
	return fanout[T](outs)
}

type fanout[T any] []Output[T]

func (f fanout[T]) Collect(v T) {
	for _, o := range f {
		o.Collect(v)
	}
}

func (f fanout[T]) Emit(e Event) {
	for _, o := range f {
		o.Emit(e)
	}
}

// Discard drops everything.
type Discard[T any] struct{}

func (Discard[T]) Collect(T)  {}
func (Discard[T]) Emit(Event) {}
