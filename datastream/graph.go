package datastream

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"

	"floe/checkpoint"
	"floe/config"
	"floe/container/network"
	"floe/container/operator"
	"floe/internal/jobgraph"
)

// chained reports whether l joins two operators into one task. A side
// output is always chained to the operator that produces it.
func chained(l *link) bool {
	if l.side != "" {
		return true
	}
	if l.part != jobgraph.Forward || l.from.parallelism != l.to.parallelism || l.from.slotGroup != l.to.slotGroup {
		return false
	}
	return len(l.to.inputs) == 1 || l.to.chainIn && l.input == 0
}

// chainedInto reports whether n runs in the task of the operator before it.
func chainedInto(n *node) bool {
	for _, l := range n.inputs {
		if chained(l) {
			return true
		}
	}
	return false
}

// markChainedInputs decides, in BATCH mode, which two-input operators that
// read input 2 first get their input 1 chained: when it is FORWARD and the
// two inputs share no upstream operator (a chain holding both would read
// its own output).
func markChainedInputs(nodes []*node) {
	ancestors := func(n *node) map[*node]bool {
		seen := map[*node]bool{}
		var walk func(m *node)
		walk = func(m *node) {
			if seen[m] {
				return
			}
			seen[m] = true
			for _, l := range m.inputs {
				walk(l.from)
			}
		}
		walk(n)
		return seen
	}
	for _, n := range nodes {
		if !n.secondFirst || len(n.inputs) != 2 || n.inputs[0].input != 0 || n.inputs[1].input != 1 {
			continue
		}
		in1, in2 := n.inputs[0], n.inputs[1]
		if in1.part != jobgraph.Forward || in1.side != "" || in1.from.parallelism != n.parallelism || in1.from.slotGroup != n.slotGroup {
			continue
		}
		a, b := ancestors(in1.from), ancestors(in2.from)
		shared := false
		for m := range a {
			if b[m] {
				shared = true
				break
			}
		}
		n.chainIn = !shared
	}
}

// jobGraph turns the nodes into vertices of chained operators.
func (e *Environment) jobGraph(name string) (*jobgraph.JobGraph, error) {
	if len(e.errs) > 0 {
		return nil, errors.Join(e.errs...)
	}
	if len(e.nodes) == 0 {
		return nil, fmt.Errorf("%w: no operators", ErrInvalidJob)
	}
	// A Transform's state is the user's own, outside checkpoints: a job
	// restored from one would run it from nothing and lose what it held.
	if iv, _ := e.conf.Duration(checkpoint.KeyInterval, 0); iv > 0 && e.RuntimeMode() != Batch {
		for _, n := range e.nodes {
			if n.bounded {
				return nil, fmt.Errorf("%w: %q (Transform) keeps state that checkpoints do not hold: run the job with %s=BATCH or without %s", ErrInvalidJob, n.name, RuntimeModeKey, checkpoint.KeyInterval)
			}
		}
	}
	// A side output runs in its producer's tasks.
	for _, n := range e.nodes {
		for _, l := range n.outputs {
			if l.side != "" {
				l.to.parallelism, l.to.slotGroup = n.parallelism, n.slotGroup
			}
		}
	}
	// A forward edge between different parallelism becomes a rebalance (as in Flink).
	for _, n := range e.nodes {
		for _, l := range n.inputs {
			if l.part == jobgraph.Forward && l.from.parallelism != n.parallelism {
				l.part = jobgraph.Rebalance
			}
		}
		if n.uid == "" {
			n.uid = fmt.Sprintf("%d-%s", n.id, strings.ToLower(strings.ReplaceAll(n.name, " ", "-")))
		}
		if !n.isSink && len(n.outputs) == 0 {
			return nil, fmt.Errorf("%w: the output of %q goes nowhere: add a sink", ErrInvalidJob, n.name)
		}
	}
	for _, n := range e.nodes {
		n.chainIn = false
	}
	if e.RuntimeMode() == Batch {
		markChainedInputs(e.nodes)
	}
	g := &jobgraph.JobGraph{Name: name, MaxParallelism: e.maxPar, Config: e.conf}
	if len(e.inProcessOnly) > 0 {
		g.Config = g.Config.With(config.InProcessOnly, strings.Join(e.inProcessOnly, ","))
	}
	vertexOf := map[*node]*jobgraph.Vertex{}
	edgeOf := map[*link]*jobgraph.Edge{}
	headOf := map[*jobgraph.Vertex]*node{}
	for _, n := range e.nodes { // construction order is topological
		if chainedInto(n) {
			continue
		}
		v := &jobgraph.Vertex{ID: len(g.Vertices), Parallelism: n.parallelism, IsSource: n.isSource, SlotGroup: n.slotGroup, Splits: n.splits}
		headOf[v] = n
		g.Vertices = append(g.Vertices, v)
		var names []string
		var walk func(m *node)
		walk = func(m *node) {
			vertexOf[m] = v
			names = append(names, m.name)
			v.Operators = append(v.Operators, jobgraph.Operator{ID: m.id, UID: m.uid, Name: m.name, KeyedState: m.keyedState})
			if m.outputDir != "" {
				v.OutputDirs = append(v.OutputDirs, m.outputDir)
			}
			for _, l := range m.outputs {
				if chained(l) {
					walk(l.to)
					continue
				}
				if err := m.out.check(); err != nil {
					e.fail(fmt.Errorf("%w: records of %q cannot cross the network: %w", ErrInvalidJob, m.name, err))
				}
				ge := &jobgraph.Edge{Source: v.ID, Index: len(v.Outputs), Input: l.input, Partitioning: l.part}
				v.Outputs = append(v.Outputs, ge)
				edgeOf[l] = ge
			}
		}
		walk(n)
		v.Name = strings.Join(names, " -> ")
		v.Build = e.builder(n, edgeOf)
	}
	if len(e.errs) > 0 {
		return nil, errors.Join(e.errs...)
	}
	// The head's inputs keep their index (0, or 1 for a two-input head); the
	// network inputs of operators inside a chain are numbered after them.
	inner := map[*jobgraph.Vertex]int{}
	for _, n := range e.nodes {
		v := vertexOf[n]
		for _, l := range n.inputs {
			if ge, ok := edgeOf[l]; ok {
				ge.Target = v.ID
				if headOf[v] != n {
					ge.Input = 2 + inner[v]
					inner[v]++
				}
				v.Inputs = append(v.Inputs, ge)
			}
		}
	}
	if len(inner) > 0 {
		topoSort(g)
	}
	return g, g.Validate()
}

// topoSort puts the vertices in an order where each comes after those it
// reads, keeping construction order where it can: a chain holding a
// two-input operator was made where its first operator was, possibly before
// the producer of the operator's other input.
func topoSort(g *jobgraph.JobGraph) {
	n := len(g.Vertices)
	pending := make([]int, n)
	for _, v := range g.Vertices {
		pending[v.ID] = len(v.Inputs)
	}
	order := make([]*jobgraph.Vertex, 0, n)
	placed := make([]bool, n)
	for len(order) < n {
		progress := false
		for _, v := range g.Vertices { // the first ready vertex in construction order
			if placed[v.ID] || pending[v.ID] > 0 {
				continue
			}
			placed[v.ID] = true
			order = append(order, v)
			for _, e := range v.Outputs {
				pending[e.Target]--
			}
			progress = true
			break
		}
		if !progress {
			return // a cycle: Validate reports it
		}
	}
	newID := make([]int, n)
	for i, v := range order {
		newID[v.ID] = i
	}
	for _, v := range order {
		for _, e := range v.Outputs {
			e.Source, e.Target = newID[e.Source], newID[e.Target]
		}
	}
	for i, v := range order {
		v.ID = i
	}
	g.Vertices = order
}

// builder returns the BuildFunc of the chain headed by head.
func (e *Environment) builder(head *node, edgeOf map[*link]*jobgraph.Edge) jobgraph.BuildFunc {
	return func(info operator.TaskInfo, sinks []network.ChannelSink) (operator.Task, error) {
		t := &chainTask{}
		built := map[*node]any{}
		var chainOrder []*node
		var build func(n *node) (any, error)
		build = func(n *node) (any, error) {
			var outs []any
			var sides map[string]any
			var sideEvents []func(network.Event)
			for _, l := range n.outputs {
				if chained(l) {
					in, err := build(l.to)
					if err != nil {
						return nil, err
					}
					if m, ok := in.(multiInput); ok { // a two-input operator's chained input 1
						in.(interface{ chainInput1() }).chainInput1()
						in = m.input(l.input)
					}
					if l.side != "" {
						if sides == nil {
							sides = map[string]any{}
						}
						sides[l.side] = in
						emit := l.to.out.emit
						sideEvents = append(sideEvents, func(e network.Event) { emit(in, e) })
						continue
					}
					outs = append(outs, in)
					continue
				}
				ge := edgeOf[l]
				w, err := n.out.writer(sinks[ge.Index], info.Subpartitions[ge.Index], l, info)
				if err != nil {
					return nil, fmt.Errorf("output of %q: %w", n.name, err)
				}
				outs = append(outs, w)
				t.flushes = append(t.flushes, w.Flush)
				t.counts = append(t.counts, w.RecordsOut)
			}
			var out any
			if !n.isSink {
				out = n.out.output(outs, sideEvents)
			}
			opInfo := info
			opInfo.Name = n.name
			opInfo.SideOutputs = sides
			in, c, err := n.build(opInfo, out)
			if err != nil {
				return nil, fmt.Errorf("%q: %w", n.name, err)
			}
			if c != nil {
				t.closers = append(t.closers, c)
			}
			if s, ok := in.(operator.Snapshotter); ok {
				t.stateful = append(t.stateful, statefulOp{uid: n.uid, s: s})
			}
			if l, ok := in.(operator.CheckpointListener); ok {
				t.listeners = append(t.listeners, l)
			}
			if tk, ok := in.(operator.Ticker); ok {
				t.tickers = append(t.tickers, tk)
			}
			if w, ok := in.(operator.TimerWaker); ok {
				t.wakers = append(t.wakers, w)
			}
			if n == head && n.isSource {
				t.sourceOut = out
				t.emit = n.out.emit
			}
			built[n] = in
			chainOrder = append(chainOrder, n)
			return in, nil
		}
		in, err := build(head)
		if err != nil {
			t.Close()
			return nil, err
		}
		t.inputs = map[int]input{}
		// The network inputs of two-input operators inside the chain (their
		// input 2; input 1 is chained): read before the head's inputs.
		for _, n := range chainOrder {
			if n == head {
				continue
			}
			for _, l := range n.inputs {
				ge, ok := edgeOf[l]
				if !ok {
					continue
				}
				op := built[n]
				t.inputs[ge.Input] = input{p: l.from.out, target: op.(multiInput).input(l.input),
					ended: func() { op.(interface{ inputEnded(int) }).inputEnded(l.input) }}
				t.first = append(t.first, ge.Input)
			}
		}
		if head.isSource {
			t.source = in.(source)
			return t, nil
		}
		if ie, ok := in.(inputEnder); ok {
			t.inputEnded = ie.endInput
		}
		if head.secondFirst {
			t.first = append(t.first, 1)
		}
		for _, l := range head.inputs {
			target := in
			if m, ok := in.(multiInput); ok {
				target = m.input(l.input)
			}
			t.inputs[l.input] = input{p: l.from.out, target: target}
			if l.input == 0 || l.input == 1 {
				t.open = max(t.open, l.input+1)
			}
		}
		// Events reach a chain once, through its first input.
		t.events = t.inputs[0]
		return t, nil
	}
}

// chainTask is a operator.Task over a chain of nodes.
type chainTask struct {
	source    source
	stateful  []statefulOp
	listeners []operator.CheckpointListener
	tickers   []operator.Ticker
	wakers    []operator.TimerWaker
	sourceOut any
	emit      func(out any, e network.Event)
	inputs    map[int]input
	events    input
	open      int
	flushes   []func()
	counts    []func() int64
	closers   []closer
	// inputEnded, if set, hears of each input's end (batch.go).
	inputEnded func(int)
	// first are the inputs to read first (operator.InputOrderer).
	first []int
}

func (t *chainTask) Run(ctx context.Context, sc *operator.SourceContext) error {
	if t.source == nil {
		return nil
	}
	if err := t.source.run(sc); err != nil {
		return err
	}
	if ctx.Err() != nil {
		return nil
	}
	t.emit(t.sourceOut, network.Event{Kind: network.EndOfInput})
	return nil
}

func (t *chainTask) NewDecoder(input int) (network.Decoder, error) {
	in, ok := t.inputs[input]
	if !ok {
		return nil, fmt.Errorf("chain has no input %d", input)
	}
	return in.p.decoder(in.target)
}

func (t *chainTask) EndInput(i int) {
	if in := t.inputs[i]; in.ended != nil { // an input of an operator inside the chain
		in.ended()
		return
	}
	if t.inputEnded != nil {
		t.inputEnded(i)
	}
	t.open--
	if t.open == 0 {
		t.event(network.Event{Kind: network.EndOfInput})
	}
}

// FirstInputs are the inputs read to their end before the others in BATCH
// mode (operator.InputOrderer).
func (t *chainTask) FirstInputs() []int { return t.first }

// event sends e into the head of a chain with inputs.
func (t *chainTask) event(e network.Event) { t.events.p.emit(t.events.target, e) }

func (t *chainTask) Tick() {
	for _, tk := range t.tickers {
		tk.Tick()
	}
}

// NextTimer is the earliest processing-time timer of the chain's operators.
func (t *chainTask) NextTimer() int64 {
	next := int64(math.MaxInt64)
	for _, w := range t.wakers {
		next = min(next, w.NextTimer())
	}
	return next
}

func (t *chainTask) Flush() {
	for _, f := range t.flushes {
		f()
	}
}

// EmitWatermark sends the task's watermark into the head of the chain.
func (t *chainTask) EmitWatermark(wm int64) {
	t.event(network.Event{Kind: network.Watermark, Value: wm})
}

// EmitWatermarkStatus tells the chain that all its inputs went idle, or
// that one is active again.
func (t *chainTask) EmitWatermarkStatus(idle bool) {
	e := network.Event{Kind: network.WatermarkStatus}
	if idle {
		e.Value = 1
	}
	t.event(e)
}

func (t *chainTask) Close() error {
	var errs []error
	for i := len(t.closers) - 1; i >= 0; i-- {
		if err := t.closers[i](); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// RecordsSkipped is what the chain's file source skipped as malformed
// (operator.SkipCounter).
func (t *chainTask) RecordsSkipped() int64 {
	if s, ok := t.source.(interface{ recordsSkipped() int64 }); ok {
		return s.recordsSkipped()
	}
	return 0
}

func (t *chainTask) RecordsOut() int64 {
	var n int64
	for _, c := range t.counts {
		n += c()
	}
	return n
}

// input is one input of a chain: the plumbing of its type and the
// network.Output its records go to.
type input struct {
	p      plumbing
	target any
	ended  func() // an input of an operator inside the chain: its end
}

// multiInput is implemented by the operators of two-input nodes: their
// build returns it, and input(i) is the network.Output of input i.
type multiInput interface {
	input(i int) any
}

type statefulOp struct {
	uid string
	s   operator.Snapshotter
}

func (t *chainTask) SnapshotState(id int64) (map[string]operator.OperatorState, error) {
	out := make(map[string]operator.OperatorState, len(t.stateful))
	for _, op := range t.stateful {
		st, err := op.s.SnapshotState(id)
		if err != nil {
			// The views taken so far hold their stores open: release them.
			for _, taken := range out {
				if taken.Release != nil {
					taken.Release()
				}
			}
			return nil, fmt.Errorf("snapshot of %s: %w", op.uid, err)
		}
		out[op.uid] = st
	}
	return out, nil
}

func (t *chainTask) RestoreState(states map[string]operator.OperatorState) error {
	for _, op := range t.stateful {
		if st, ok := states[op.uid]; ok {
			if err := op.s.RestoreState(st); err != nil {
				return fmt.Errorf("restore of %s: %w", op.uid, err)
			}
		}
	}
	return nil
}

func (t *chainTask) EmitBarrier(id int64, dir string, unaligned bool) {
	e := network.Event{Kind: network.Barrier, Value: id, Text: dir, Priority: unaligned}
	if t.source != nil {
		t.emit(t.sourceOut, e)
		return
	}
	t.event(e)
}

func (t *chainTask) NotifyCheckpointComplete(id int64) error {
	for _, l := range t.listeners {
		if err := l.NotifyCheckpointComplete(id); err != nil {
			return err
		}
	}
	return nil
}

func (t *chainTask) NotifyCheckpointAborted(id int64) {
	for _, l := range t.listeners {
		l.NotifyCheckpointAborted(id)
	}
}
