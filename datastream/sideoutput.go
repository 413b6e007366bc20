package datastream

import (
	"fmt"

	"floe/container/network"
	"floe/container/operator"
	"floe/internal/jobgraph"
)

// OutputTag names a side output of records of type X: a second stream an
// operator can emit into besides its main output (late window data, records
// a function sets aside). Tags are matched by id.
type OutputTag[X any] struct{ id string }

// NewOutputTag returns the tag called id.
func NewOutputTag[X any](id string) OutputTag[X] { return OutputTag[X]{id: id} }

// ID is the tag's id.
func (t OutputTag[X]) ID() string { return t.id }

// sideOutputs is implemented by the contexts of functions that may emit
// into side outputs.
type sideOutputs interface {
	sideOutput(id string) any
}

// Emit sends v to the tag's side output of the operator whose context ctx
// is. Without a consumer (no SideOutput stream for the tag) v is dropped.
func (t OutputTag[X]) Emit(ctx sideOutputs, v X) {
	if o, ok := ctx.sideOutput(t.id).(network.Output[X]); ok {
		o.Collect(v)
	}
}

// SideOutput is the stream of what s's operator emits with tag. It runs in
// the tasks of s's operator, at its parallelism.
func SideOutput[X, T any](s Stream[T], tag OutputTag[X]) Stream[X] {
	if tag.id == "" {
		s.env.fail(fmt.Errorf("%w: side output of %q: the tag has no id", ErrInvalidJob, s.n.name))
	}
	for _, l := range s.n.outputs {
		if l.side == tag.id {
			if st, ok := l.to.stream.(Stream[X]); ok {
				return st
			}
			s.env.fail(fmt.Errorf("%w: side output %q of %q asked for with two types", ErrInvalidJob, tag.id, s.n.name))
			return Stream[X]{env: s.env, n: l.to}
		}
	}
	n := &node{name: "Side output " + tag.id, parallelism: s.n.parallelism}
	n.build = func(_ operator.TaskInfo, out any) (any, closer, error) { return out, nil, nil }
	st := newStream[X](s.env, n, &link{from: s.n, part: jobgraph.Forward, side: tag.id})
	n.stream = st
	return st
}
