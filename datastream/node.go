package datastream

import (
	"fmt"
	"reflect"

	"floe/container/network"
	"floe/container/operator"
	"floe/internal/codec"
	"floe/internal/jobgraph"
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

	// build creates the operator for one subtask. out is a network.Output[OUT]
	// (nil for sinks); it returns a network.Output[IN] for operators with
	// inputs, or a sourceFunc for sources.
	build func(info operator.TaskInfo, out any) (any, closer, error)
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
	// selector returns a network.Selector[OUT] for producer subtask i (HASH edges).
	selector func(subtask, maxParallelism int) any
}

// plumbing holds what the runtime needs for records of one type.
type plumbing struct {
	// writer returns a network.Output[T] that writes to the network.
	writer func(sink network.ChannelSink, n int, l *link, info operator.TaskInfo) (any, func(), func() int64, error)
	// decoder returns a network.Decoder pushing into target, a network.Output[T].
	decoder func(target any) (network.Decoder, error)
	fanout  func(outs []any) any
	discard func() any
	// emit sends an event into a network.Output[T].
	emit func(out any, e network.Event)
	// tee returns a network.Output[T] that collects into out and sends
	// events to out and to every one of events (side outputs).
	tee func(out any, events []func(network.Event)) any
	// check returns the codec error for T, if any (only needed on network edges).
	check func() error
}

func plumbingFor[T any]() *plumbing {
	return &plumbing{
		writer: func(sink network.ChannelSink, n int, l *link, info operator.TaskInfo) (any, func(), func() int64, error) {
			c, err := codec.For[T]()
			if err != nil {
				return nil, nil, nil, err
			}
			batch, err := batchSize(info)
			if err != nil {
				return nil, nil, nil, err
			}
			var sel network.Selector[T]
			switch l.part {
			case jobgraph.Forward:
				sel = network.Forward[T](info.Subtask)
			case jobgraph.Rebalance:
				sel = network.RoundRobin[T](info.Subtask)
			case jobgraph.Broadcast:
				sel = network.Broadcast[T]()
			case jobgraph.Hash:
				sel = l.selector(info.Subtask, info.MaxParallelism).(network.Selector[T])
			default:
				return nil, nil, nil, fmt.Errorf("unknown partitioning %q", l.part)
			}
			w := network.NewRecordWriter(c, sink, n, sel, batch)
			return network.Output[T](w), w.Flush, w.RecordsOut, nil
		},
		decoder: func(target any) (network.Decoder, error) {
			c, err := codec.For[T]()
			if err != nil {
				return nil, err
			}
			return &decoder[T]{r: c.NewReader(nil), out: target.(network.Output[T])}, nil
		},
		fanout: func(outs []any) any {
			typed := make([]network.Output[T], len(outs))
			for i, o := range outs {
				typed[i] = o.(network.Output[T])
			}
			return network.Fanout(typed)
		},
		discard: func() any { return network.Output[T](network.Discard[T]{}) },
		emit:    func(out any, e network.Event) { out.(network.Output[T]).Emit(e) },
		tee: func(out any, events []func(network.Event)) any {
			return network.Output[T](&tee[T]{out: out.(network.Output[T]), events: events})
		},
		check: func() error {
			_, err := codec.For[T]()
			return err
		},
	}
}

// tee forwards records to out, and events to out and side outputs.
type tee[T any] struct {
	out    network.Output[T]
	events []func(network.Event)
}

func (t *tee[T]) Collect(v T) { t.out.Collect(v) }

func (t *tee[T]) Emit(e network.Event) {
	for _, f := range t.events {
		f(e)
	}
	t.out.Emit(e)
}

// decoder turns one channel's Arrow batches back into records.
type decoder[T any] struct {
	r    *codec.Reader[T]
	out  network.Output[T]
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
