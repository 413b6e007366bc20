package datastream

import (
	"context"
	"fmt"

	"floe/container/network"
	"floe/container/operator"
	"floe/internal/jobgraph"
	"floe/internal/keygroup"
)

// This file holds the hooks that batch operators (package floe/dataset) are
// built from: operators told when their input ends, two-input operators told
// when each input ends, and the exchange in front of an operator.

// Partitioner picks the subtask, 0 <= i < n, of the next operator that gets v.
// It must give the same answer in every process for the same v and n.
type Partitioner[T any] func(v T, n int) int

// Exchange is how records of T travel from an operator to the subtasks of
// the operator that reads them. The zero Exchange is a forward edge.
type Exchange[T any] struct {
	part jobgraph.Partitioning
	sel  func(subtask, maxParallelism int) any
	err  error
}

// ExchangeForward keeps records in their subtask: the operators are chained
// when their parallelism is equal, and the records are rebalanced otherwise.
func ExchangeForward[T any]() Exchange[T] { return Exchange[T]{part: jobgraph.Forward} }

// ExchangeRebalance spreads records round robin.
func ExchangeRebalance[T any]() Exchange[T] { return Exchange[T]{part: jobgraph.Rebalance} }

// ExchangeBroadcast sends every record to every subtask.
func ExchangeBroadcast[T any]() Exchange[T] { return Exchange[T]{part: jobgraph.Broadcast} }

// ExchangeHash sends records with equal keys to one subtask, by key group as
// KeyBy does: two inputs hashed by one key type at one parallelism meet.
func ExchangeHash[T any, K comparable](key func(T) K) Exchange[T] {
	h, err := keygroup.NewHasher[K]()
	if err != nil {
		return Exchange[T]{err: err}
	}
	return Exchange[T]{part: jobgraph.Hash, sel: func(_, maxPar int) any {
		return hashSelector(h, key, maxPar)
	}}
}

// ExchangePartition sends every record to the subtask p picks.
func ExchangePartition[T any](p Partitioner[T]) Exchange[T] {
	return Exchange[T]{part: jobgraph.Hash, sel: func(_, _ int) any {
		return network.Selector[T](func(v T, n int) int {
			i := p(v, n)
			if i < 0 || i >= n {
				panic(network.Abort{Err: fmt.Errorf("partitioner chose subtask %d of %d", i, n)})
			}
			return i
		})
	}}
}

func (x Exchange[T]) link(s Stream[T], op string) *link {
	if x.err != nil {
		s.env.fail(fmt.Errorf("%w: %s after %q: %w", ErrInvalidJob, op, s.n.name, x.err))
	}
	part := x.part
	if part == "" {
		part = jobgraph.Forward
	}
	return &link{from: s.n, part: part, selector: x.sel}
}

// OperatorInfo is what an operator's constructor knows about its subtask.
type OperatorInfo struct {
	Name        string
	Subtask     int
	Parallelism int
	// Attempt counts the subtask's restarts (0 at first).
	Attempt int
	// Context is the task's context, done when the task is cancelled (nil
	// outside a TaskManager). floe's batch operators find the TaskManager's
	// managed memory in it.
	Context context.Context
}

func operatorInfo(info operator.TaskInfo) OperatorInfo {
	return OperatorInfo{Name: info.Name, Subtask: info.Subtask, Parallelism: info.Parallelism, Attempt: info.Attempt, Context: info.Context}
}

// BoundedOperator is a one-input operator that learns when its input ends.
// One goroutine calls it. If it implements Close() error, Close runs when the
// task ends, successful or not (to free memory or files).
type BoundedOperator[T, U any] interface {
	// Process handles one record; emit sends results on.
	Process(v T, emit func(U))
	// EndInput is called once, after the last record.
	EndInput(emit func(U))
}

// Transform adds an operator built by newOp for each subtask, reading s
// through the exchange in. It behaves the same in BATCH and STREAMING mode:
// EndInput runs at the end of a bounded input (never for an unbounded one).
func Transform[T, U any](s Stream[T], name string, in Exchange[T], newOp func(OperatorInfo) (BoundedOperator[T, U], error)) Stream[U] {
	t := oneInput(s, name, s.env.parallelism, in.link(s, name), func(info operator.TaskInfo, out network.Output[U]) (network.Output[T], closer, error) {
		op, err := newOp(operatorInfo(info))
		if err != nil {
			return nil, nil, err
		}
		return &boundedOp[T, U]{op: op, out: out, emit: out.Collect, id: ident(info), run: info.Runner()}, closerOf(op), nil
	})
	t.n.bounded = true
	return t
}

func closerOf(op any) closer {
	if c, ok := op.(interface{ Close() error }); ok {
		return c.Close
	}
	return nil
}

type boundedOp[T, U any] struct {
	op   BoundedOperator[T, U]
	out  network.Output[U]
	emit func(U)
	id   operator.Ident // for operator.Running
	run  *operator.Running
}

func (b *boundedOp[T, U]) Collect(v T) {
	prev := b.run.Enter(&b.id)
	b.op.Process(v, b.emit)
	b.run.Leave(prev)
}

func (b *boundedOp[T, U]) Emit(e network.Event) {
	if e.Kind == network.EndOfInput {
		b.end()
	}
	b.out.Emit(e)
}

func (b *boundedOp[T, U]) end() {
	prev := b.run.Enter(&b.id)
	b.op.EndInput(b.emit)
	b.run.Leave(prev)
}

// BoundedOperator2 is a two-input operator that learns when each input ends,
// so it can read one input whole before it uses the other (a hash join's
// build side). The runtime does not choose which input it reads first: a
// record of either input may come at any time until that input has ended.
// One goroutine calls it; Close() error, if implemented, runs at the end.
type BoundedOperator2[A, B, U any] interface {
	Process1(v A, emit func(U))
	Process2(v B, emit func(U))
	// EndInput is called once per input (1 or 2) when it has ended; the
	// second call is the end of all input.
	EndInput(input int, emit func(U))
}

// Transform2Option changes how Transform2's operator reads its inputs.
type Transform2Option func(*node)

// ReadSecondFirst declares that the operator uses input 2 whole before
// input 1 (a hash join's build side). In BATCH mode the runtime then reads
// input 2 to its end before any record of input 1, and a FORWARD input 1 of
// the same parallelism is chained into the operator (its records are not
// written to an exchange) unless both inputs come from a common upstream
// operator. In STREAMING mode it changes nothing: records of either input
// come as they arrive.
func ReadSecondFirst() Transform2Option { return func(n *node) { n.secondFirst = true } }

// Transform2 adds a two-input operator reading a (input 1) and b (input 2)
// through their exchanges.
func Transform2[A, B, U any](a Stream[A], b Stream[B], name string, inA Exchange[A], inB Exchange[B],
	newOp func(OperatorInfo) (BoundedOperator2[A, B, U], error), opts ...Transform2Option) Stream[U] {
	env := a.env
	if b.env != env {
		env.fail(fmt.Errorf("%w: %s of streams from different environments", ErrInvalidJob, name))
	}
	n := &node{name: name, parallelism: env.parallelism, bounded: true}
	for _, o := range opts {
		o(n)
	}
	n.build = func(info operator.TaskInfo, out any) (any, closer, error) {
		op, err := newOp(operatorInfo(info))
		if err != nil {
			return nil, nil, err
		}
		o := out.(network.Output[U])
		return &boundedOp2[A, B, U]{op: op, out: o, emit: o.Collect, id: ident(info), run: info.Runner()}, closerOf(op), nil
	}
	l1, l2 := inA.link(a, name), inB.link(b, name)
	l2.input = 1
	return newStream[U](env, n, l1, l2)
}

type boundedOp2[A, B, U any] struct {
	op   BoundedOperator2[A, B, U]
	out  network.Output[U]
	emit func(U)
	id   operator.Ident // for operator.Running
	run  *operator.Running
	// chained: input 1 comes from the operator before it in the chain, whose
	// end of input ends input 1 (ended2: input 2, a network input, has ended).
	chained, ended2 bool
}

// chainInput1 marks input 1 as chained (graph.go).
func (b *boundedOp2[A, B, U]) chainInput1() { b.chained = true }

// inputEnded is the end of a network input of a chained operator: input 2.
func (b *boundedOp2[A, B, U]) inputEnded(i int) {
	b.ended2 = true
	b.endInput(i)
}

func (b *boundedOp2[A, B, U]) input(i int) any {
	if i == 0 {
		return network.Output[A](bounded2In1[A, B, U]{b})
	}
	return network.Output[B](bounded2In2[A, B, U]{b})
}

// endInput is called by the chain when input i (0-based) has ended.
func (b *boundedOp2[A, B, U]) endInput(i int) {
	prev := b.run.Enter(&b.id)
	b.op.EndInput(i+1, b.emit)
	b.run.Leave(prev)
}

type bounded2In1[A, B, U any] struct{ b *boundedOp2[A, B, U] }

func (c bounded2In1[A, B, U]) Collect(v A) {
	prev := c.b.run.Enter(&c.b.id)
	c.b.op.Process1(v, c.b.emit)
	c.b.run.Leave(prev)
}

// Emit takes the task's events (they enter through the first input). A
// chained input 1 ends with the chain's end of input, which goes on only
// once input 2 has ended too (the task reads it first).
func (c bounded2In1[A, B, U]) Emit(e network.Event) {
	if c.b.chained && e.Kind == network.EndOfInput {
		if !c.b.ended2 {
			panic(network.Abort{Err: fmt.Errorf("%s: the chained input ended before the other input", c.b.id.Name)})
		}
		c.b.endInput(0)
	}
	c.b.out.Emit(e)
}

type bounded2In2[A, B, U any] struct{ b *boundedOp2[A, B, U] }

func (c bounded2In2[A, B, U]) Collect(v B) {
	prev := c.b.run.Enter(&c.b.id)
	c.b.op.Process2(v, c.b.emit)
	c.b.run.Leave(prev)
}

func (c bounded2In2[A, B, U]) Emit(network.Event) {}

// inputEnder is implemented by head operators that want to know when each
// of their inputs ends (before the chain's end of input).
type inputEnder interface{ endInput(i int) }
