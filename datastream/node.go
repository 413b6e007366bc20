package datastream

import (
	"fmt"
	"reflect"

	"floe/container/network"
	"floe/container/operator"
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
	// secondFirst: a two-input operator that reads input 2 whole first
	// (ReadSecondFirst); chainIn: in BATCH mode its input 1 is chained.
	secondFirst, chainIn bool
	slotGroup            string
	// outputDir is a file sink's directory (see prepareOutputs), and
	// overwrite whether its earlier files may be replaced.
	outputDir string
	overwrite bool
	// splits are a file source's input splits, which the JobManager hands
	// its subtasks on demand.
	splits *jobgraph.InputSplits
	// outType is the node's output type, for error messages.
	outType reflect.Type
	// keyedState: the operator keeps keyed state (jobgraph.Operator.KeyedState).
	keyedState bool
	// bounded: a Transform or Transform2, whose state checkpoints do not hold.
	bounded bool

	// build creates the operator for one subtask. out is a network.Output[OUT]
	// (nil for sinks); it returns a network.Output[IN] for operators with
	// inputs, or a sourceFunc for sources.
	build func(info operator.TaskInfo, out any) (any, closer, error)
	// plumbing of the node's output type
	out plumbing
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

// plumbing is what the untyped graph does with records of one type: the
// typed pieces are the data plane's (container/network); plumbingFor[T]
// only converts the graph's untyped outputs (each a network.Output[T]) back
// to their type, once per subtask when a chain is built.
type plumbing interface {
	// writer returns the network writer of edge l: a network.Output[T].
	writer(sink network.ChannelSink, n int, l *link, info operator.TaskInfo) (netWriter, error)
	// output joins outs (the node's chained consumers and writers) into the
	// node's network.Output[T]; events also go to every one of events (side
	// outputs) first.
	output(outs []any, events []func(network.Event)) any
	// decoder returns a network.Decoder pushing into target, a network.Output[T].
	decoder(target any) (network.Decoder, error)
	// emit sends an event into a network.Output[T].
	emit(out any, e network.Event)
	// check returns the codec error for T, if any (only needed on network edges).
	check() error
}

// netWriter is a network.RecordWriter of some type.
type netWriter interface {
	Flush()
	RecordsOut() int64
}

func plumbingFor[T any]() plumbing { return typed[T]{} }

type typed[T any] struct{}

func (typed[T]) writer(sink network.ChannelSink, n int, l *link, info operator.TaskInfo) (netWriter, error) {
	batch, err := batchSize(info)
	if err != nil {
		return nil, err
	}
	var sel network.Selector[T]
	switch l.part {
	case jobgraph.Forward:
		sel = network.Forward[T]()
	case jobgraph.Rebalance:
		sel = network.RoundRobin[T](info.Subtask)
	case jobgraph.Broadcast:
		sel = network.Broadcast[T]()
	case jobgraph.Hash:
		sel = l.selector(info.Subtask, info.MaxParallelism).(network.Selector[T])
	default:
		return nil, fmt.Errorf("unknown partitioning %q", l.part)
	}
	return network.NewWriter(sink, n, sel, batch)
}

func (typed[T]) output(outs []any, events []func(network.Event)) any {
	typed := make([]network.Output[T], len(outs))
	for i, o := range outs {
		typed[i] = o.(network.Output[T])
	}
	return network.Tee(network.Fanout(typed), events)
}

func (typed[T]) decoder(target any) (network.Decoder, error) {
	return network.NewDecoder(target.(network.Output[T]))
}

func (typed[T]) emit(out any, e network.Event) { out.(network.Output[T]).Emit(e) }

func (typed[T]) check() error { return network.CheckType[T]() }

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
