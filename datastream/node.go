package datastream

import (
	"fmt"
	"reflect"

	"floe/internal/codec"
	"floe/internal/jobgraph"
	"floe/internal/runtime"
)

// node is one operator of the graph being built. Its typed behaviour is held
// in closures made by generic constructors, so the graph itself is untyped.
type node struct {
	id          int
	name, uid   string
	parallelism int
	inputs      []*link
	outputs     []*link
	isSource    bool
	isSink      bool
	slotGroup   string
	// outType is the node's output type, for error messages.
	outType reflect.Type

	// build creates the operator for one subtask. out is a runtime.Output[OUT]
	// (nil for sinks); it returns a runtime.Output[IN] for operators with
	// inputs, or a sourceFunc for sources.
	build func(info runtime.TaskInfo, out any) (any, closer, error)
	// plumbing of the node's output type
	out *plumbing
	// stream is the Stream[OUT] of a side-output node, so asking twice for
	// one side output gives one stream.
	stream any
}

// closer is called when the task ends; may be nil.
type closer func() error

// link is an edge between two nodes.
type link struct {
	from, to *node
	part     jobgraph.Partitioning
	input    int // input index at to
	// side is the output tag when the link carries a side output.
	side string
	// selector returns a runtime.Selector[OUT] for producer subtask i (HASH edges).
	selector func(subtask, maxParallelism int) any
}

// plumbing holds what the runtime needs for records of one type.
type plumbing struct {
	// writer returns a runtime.Output[T] that writes to the network.
	writer func(sink runtime.ChannelSink, n int, l *link, info runtime.TaskInfo) (any, func(), func() int64, error)
	// decoder returns a runtime.Decoder pushing into target, a runtime.Output[T].
	decoder func(target any) (runtime.Decoder, error)
	fanout  func(outs []any) any
	discard func() any
	// emit sends an event into a runtime.Output[T].
	emit func(out any, e runtime.Event)
	// tee returns a runtime.Output[T] that collects into out and sends
	// events to out and to every one of events (side outputs).
	tee func(out any, events []func(runtime.Event)) any
	// check returns the codec error for T, if any (only needed on network edges).
	check func() error
}

func plumbingFor[T any]() *plumbing {
	return &plumbing{
		writer: func(sink runtime.ChannelSink, n int, l *link, info runtime.TaskInfo) (any, func(), func() int64, error) {
			c, err := codec.For[T]()
			if err != nil {
				return nil, nil, nil, err
			}
			batch, err := batchSize(info)
			if err != nil {
				return nil, nil, nil, err
			}
			var sel runtime.Selector[T]
			switch l.part {
			case jobgraph.Forward:
				sel = runtime.Forward[T](info.Subtask)
			case jobgraph.Rebalance:
				sel = runtime.RoundRobin[T](info.Subtask)
			case jobgraph.Broadcast:
				sel = runtime.Broadcast[T]()
			case jobgraph.Hash:
				sel = l.selector(info.Subtask, info.MaxParallelism).(runtime.Selector[T])
			default:
				return nil, nil, nil, fmt.Errorf("unknown partitioning %q", l.part)
			}
			w := runtime.NewRecordWriter(c, sink, n, sel, batch)
			return runtime.Output[T](w), w.Flush, w.RecordsOut, nil
		},
		decoder: func(target any) (runtime.Decoder, error) {
			c, err := codec.For[T]()
			if err != nil {
				return nil, err
			}
			return &decoder[T]{r: c.NewReader(nil), out: target.(runtime.Output[T])}, nil
		},
		fanout: func(outs []any) any {
			typed := make([]runtime.Output[T], len(outs))
			for i, o := range outs {
				typed[i] = o.(runtime.Output[T])
			}
			return runtime.Fanout(typed)
		},
		discard: func() any { return runtime.Output[T](runtime.Discard[T]{}) },
		emit:    func(out any, e runtime.Event) { out.(runtime.Output[T]).Emit(e) },
		tee: func(out any, events []func(runtime.Event)) any {
			return runtime.Output[T](&tee[T]{out: out.(runtime.Output[T]), events: events})
		},
		check: func() error {
			_, err := codec.For[T]()
			return err
		},
	}
}

// tee forwards records to out, and events to out and side outputs.
type tee[T any] struct {
	out    runtime.Output[T]
	events []func(runtime.Event)
}

func (t *tee[T]) Collect(v T) { t.out.Collect(v) }

func (t *tee[T]) Emit(e runtime.Event) {
	for _, f := range t.events {
		f(e)
	}
	t.out.Emit(e)
}

// decoder turns one channel's Arrow batches back into records.
type decoder[T any] struct {
	r    *codec.Reader[T]
	out  runtime.Output[T]
	rows []T
}

func (d *decoder[T]) Decode(payload []byte) (int, error) {
	rows, err := d.r.Read(payload, d.rows[:0])
	if err != nil {
		return 0, err
	}
	for _, v := range rows {
		d.out.Collect(v)
	}
	clear(rows)
	d.rows = rows[:0]
	return len(rows), nil
}

func (e *Environment) addNode(n *node, inputs ...*link) *node {
	n.id = len(e.nodes)
	if n.parallelism == 0 {
		n.parallelism = e.parallelism
	}
	for _, l := range inputs {
		l.to = n
		n.inputs = append(n.inputs, l)
		l.from.outputs = append(l.from.outputs, l)
	}
	e.nodes = append(e.nodes, n)
	return n
}
