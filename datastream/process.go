package datastream

import (
	"context"
	"fmt"
	"math"
	"slices"

	"floe/config"
	"floe/container/network"
	"floe/container/operator"
	"floe/internal/keygroup"
	"floe/internal/spill"
	"floe/internal/state"
)

// KeyedContext is what a keyed process function sees: the current key, its
// state, the operator's time and timers, and its side outputs.
type KeyedContext[K comparable] struct {
	key     K
	backend *state.Backend[K]
	timers  *timers[K]
	side    map[string]any
	tables  []namedTable // the state tables used so far, looked up by name
}

type namedTable struct {
	name  string
	table any // *state.Table[K, T]
}

// table returns the operator's state table called name. An operator uses a
// few states on every record: a short list compared by name is cheaper than
// the backend's map and its type check.
func table[K comparable, T any](c *KeyedContext[K], name string) *state.Table[K, T] {
	for _, e := range c.tables {
		if e.name == name {
			if t, ok := e.table.(*state.Table[K, T]); ok {
				return t
			}
			break // another type under this name: state.Value says so
		}
	}
	t, err := state.Value[K, T](c.backend, name)
	if err != nil {
		panic(err) // declared with another type: a programming error
	}
	c.tables = append(c.tables, namedTable{name, t})
	return t
}

// Key is the key of the record (or timer) being processed.
func (c *KeyedContext[K]) Key() K { return c.key }

// CurrentWatermark is the operator's event time in epoch milliseconds: no
// record with an earlier time should follow (math.MinInt64 before the first
// watermark).
func (c *KeyedContext[K]) CurrentWatermark() int64 { return c.timers.wm }

// ProcessingTime is the wall clock in epoch milliseconds.
func (c *KeyedContext[K]) ProcessingTime() int64 { return c.timers.now() }

// RegisterEventTimeTimer asks for a call of the function's OnTimer for the
// current key once the watermark reaches t (epoch milliseconds). A key has
// at most one timer per time and domain. Timers are kept in keyed state:
// they survive a failure and move with their key when a job is rescaled.
func (c *KeyedContext[K]) RegisterEventTimeTimer(t int64) { c.timers.register(c.key, t, false) }

// RegisterProcessingTimeTimer asks for OnTimer once the wall clock reaches t.
func (c *KeyedContext[K]) RegisterProcessingTimeTimer(t int64) { c.timers.register(c.key, t, true) }

// DeleteEventTimeTimer removes the current key's event-time timer at t.
func (c *KeyedContext[K]) DeleteEventTimeTimer(t int64) { c.timers.remove(c.key, t, false) }

// DeleteProcessingTimeTimer removes the current key's processing-time timer at t.
func (c *KeyedContext[K]) DeleteProcessingTimeTimer(t int64) { c.timers.remove(c.key, t, true) }

func (c *KeyedContext[K]) sideOutput(id string) any { return c.side[id] }

// StateDescriptor declares a keyed state of a process function.
type StateDescriptor[K comparable] interface {
	declare(b *state.Backend[K]) error
}

// ValueState is one value per key, kept in the operator's keyed state (it is
// checkpointed, and redistributed by key group when a job is restored at
// another parallelism). Declare it once, outside the function, and pass it to
// Process; it holds no data itself.
//
// A checkpoint keeps a view of the state that shares stored values, and
// encodes it while processing goes on: never change a stored value in place
// (for example an element of a slice inside it); Update with a new value.
type ValueState[K comparable, T any] struct {
	name string
	ttl  *StateTTL // WithTTL (ttl.go)
}

// NewValueState declares a value state called name (unique per operator).
func NewValueState[K comparable, T any](name string) ValueState[K, T] {
	return ValueState[K, T]{name: name}
}

func (s ValueState[K, T]) declare(b *state.Backend[K]) error {
	if s.ttl != nil {
		return declareTTL(b, s.name, s.ttl, state.NewTTLValue[K, T])
	}
	_, err := state.Value[K, T](b, s.name)
	return err
}

func (s ValueState[K, T]) table(c *KeyedContext[K]) *state.Table[K, T] { return table[K, T](c, s.name) }

// Value returns the current key's value and whether it has one.
func (s ValueState[K, T]) Value(c *KeyedContext[K]) (T, bool) {
	if s.ttl != nil {
		return s.ttlTable(c).Get(c.key)
	}
	return s.table(c).Get(c.key)
}

// Update sets the current key's value.
func (s ValueState[K, T]) Update(c *KeyedContext[K], v T) {
	if s.ttl != nil {
		s.ttlTable(c).Put(c.key, v)
		return
	}
	s.table(c).Put(c.key, v)
}

// Clear removes the current key's value.
func (s ValueState[K, T]) Clear(c *KeyedContext[K]) {
	if s.ttl != nil {
		s.ttlTable(c).Delete(c.key)
		return
	}
	s.table(c).Delete(c.key)
}

// Timer is a timer that fired: its time in epoch milliseconds and domain.
type Timer struct {
	Time           int64
	ProcessingTime bool
}

// KeyedProcessFunction handles the records of a keyed stream one at a time,
// with keyed state and timers. OnTimer may be nil when no timer is used.
type KeyedProcessFunction[T any, K comparable, U any] struct {
	ProcessElement func(ctx *KeyedContext[K], v T, emit func(U))
	OnTimer        func(ctx *KeyedContext[K], t Timer, emit func(U))
}

// Process applies fn to every record of a keyed stream with access to the
// record's key and keyed state (declared in states); fn emits any number of
// results.
func Process[T any, K comparable, U any](ks KeyedStream[T, K], fn func(ctx *KeyedContext[K], v T, emit func(U)), states ...StateDescriptor[K]) Stream[U] {
	return KeyedProcess(ks, KeyedProcessFunction[T, K, U]{ProcessElement: fn}, states...).Name("Process")
}

// KeyedProcess is Process with timers: fn.OnTimer runs, for the key that
// registered it, when the watermark (event time) or the wall clock
// (processing time) reaches a timer. At the end of a bounded input every
// pending timer fires, processing-time ones included, so no result waits
// forever.
func KeyedProcess[T any, K comparable, U any](ks KeyedStream[T, K], fn KeyedProcessFunction[T, K, U], states ...StateDescriptor[K]) Stream[U] {
	env := ks.up.env
	if fn.ProcessElement == nil {
		env.fail(fmt.Errorf("%w: KeyedProcess after %q: ProcessElement is nil", ErrInvalidJob, ks.up.n.name))
	}
	s := oneInput(ks.up, "KeyedProcess", env.parallelism, ks.link(), func(info operator.TaskInfo, out network.Output[U]) (network.Output[T], closer, error) {
		k, err := newKeyedOp(info, out, fn.OnTimer, states)
		if err != nil {
			return nil, nil, err
		}
		return &processOp[T, K, U]{keyedOp: k, fn: fn.ProcessElement, key: ks.key}, k.close, nil
	})
	s.n.keyedState = true
	return s
}

// keyedOp is the part every keyed operator with state and timers shares:
// it moves time forward on watermarks and ticks, and snapshots and restores
// the keyed state (timers included).
type keyedOp[K comparable, U any] struct {
	ctx        *KeyedContext[K]
	out        network.Output[U]
	emit       func(U)
	onTimer    func(*KeyedContext[K], Timer, func(U))
	id         operator.Ident // for operator.Running
	run        *operator.Running
	start, end int // key groups owned
	// incremental: checkpoints of the pebble store send its new files (incremental.go)
	incremental bool
	taskCtx     context.Context
}

func newKeyedOp[K comparable, U any](info operator.TaskInfo, out network.Output[U], onTimer func(*KeyedContext[K], Timer, func(U)), states []StateDescriptor[K]) (*keyedOp[K, U], error) {
	opts, err := backendOptions(info)
	if err != nil {
		return nil, err
	}
	b, err := state.NewBackend[K](info.MaxParallelism, opts...)
	if err != nil {
		return nil, fmt.Errorf("%s (subtask %d): %w", info.Name, info.Subtask, err)
	}
	for _, d := range states {
		if err = d.declare(b); err != nil {
			break
		}
	}
	var ts *timers[K]
	if err == nil {
		ts, err = newTimers(b)
	}
	if err != nil {
		b.Close()
		return nil, err
	}
	start, end := keygroup.Range(info.MaxParallelism, info.Parallelism, info.Subtask)
	inc, err := incrementalCheckpoints(info)
	if err != nil {
		b.Close()
		return nil, err
	}
	return &keyedOp[K, U]{ctx: &KeyedContext[K]{backend: b, timers: ts, side: info.SideOutputs}, out: out, emit: out.Collect,
		onTimer: onTimer, id: ident(info), run: info.Runner(), start: start, end: end,
		incremental: inc, taskCtx: info.Context}, nil
}

// backendOptions chooses the state backend from state.backend.type.
func backendOptions(info operator.TaskInfo) ([]state.Option, error) {
	switch kind := info.Config.String(config.StateBackend, "hashmap"); kind {
	case "hashmap":
		return nil, nil
	case "pebble":
		dir := state.LocalDir(info.Config.LocalDirs(), info.Subtask)
		// The store's memory is its share of the slot's managed memory, as
		// Flink's RocksDB takes it (docs/state.md).
		var managed int64
		if t := spill.TaskFrom(info.Context); t != nil && t.Memory != nil {
			managed = t.Memory.Limit()
		}
		mem, err := state.MemoryFromConfig(info.Config, managed)
		if err != nil {
			return nil, err
		}
		mem = mem.Share(info.StateOperators)
		return []state.Option{state.WithLSM(dir), state.WithMemory(mem), state.WithLogger(info.Log)}, nil
	default:
		return nil, fmt.Errorf("%w: %s=%q: want hashmap or pebble", config.ErrInvalid, config.StateBackend, kind)
	}
}

// close releases the keyed state (a pebble store's files) when the task ends.
func (p *keyedOp[K, U]) close() error { return p.ctx.backend.Close() }

// Emit fires the event-time timers a watermark makes due, then forwards it.
// The end of input fires every timer left.
func (p *keyedOp[K, U]) Emit(e network.Event) {
	switch {
	case e.Kind == network.Watermark && e.Value > p.ctx.timers.wm:
		p.ctx.timers.wm = e.Value
		p.fire(e.Value, false)
	case e.Kind == network.EndOfInput:
		p.ctx.timers.wm = math.MaxInt64
		p.fire(math.MaxInt64, false)
		p.fire(math.MaxInt64, true)
	}
	p.out.Emit(e)
}

// NextTimer is when the earliest processing-time timer is due.
func (p *keyedOp[K, U]) NextTimer() int64 { return p.ctx.timers.nextProc() }

// Tick fires the processing-time timers that are due.
func (p *keyedOp[K, U]) Tick() {
	if p.ctx.timers.nextProc() == math.MaxInt64 {
		return
	}
	if now := p.ctx.timers.now(); now >= p.ctx.timers.nextProc() {
		p.fire(now, true)
	}
}

func (p *keyedOp[K, U]) fire(now int64, proc bool) {
	prev := p.run.Enter(&p.id)
	p.ctx.timers.advance(now, proc, func(k K, t int64) {
		if p.onTimer != nil {
			p.ctx.key = k
			p.onTimer(p.ctx, Timer{Time: t, ProcessingTime: proc}, p.emit)
		}
	})
	p.run.Leave(prev)
}

// SnapshotState takes a view of the state (heap: the maps are copied;
// pebble: a store snapshot, no copy) and leaves the encoding to the upload,
// so processing goes on while the checkpoint is written.
func (p *keyedOp[K, U]) SnapshotState(int64) (operator.OperatorState, error) {
	if p.incremental {
		return p.snapshotIncremental()
	}
	view, start, end := p.ctx.backend.View(), p.start, p.end
	// The upload releases the view whether it wrote it or not (a failed
	// checkpoint): a pebble store stays open while a view holds it.
	return operator.OperatorState{KeyGroupStart: start,
		WriteKeyGroups: func(emit func([]byte) error) error {
			// One key group at a time: a pebble store larger than memory
			// goes out as it is read.
			return view.EncodeTo(start, end, func(_ int, blk []byte) error { return emit(blk) })
		},
		Release: view.Release}, nil
}

func (p *keyedOp[K, U]) RestoreState(st operator.OperatorState) error {
	if err := p.restoreIncremental(st.Incremental); err != nil {
		return err
	}
	restore := func(g int, blk []byte) error {
		if len(blk) == 0 {
			return nil
		}
		if g < p.start || g >= p.end {
			return fmt.Errorf("%s: restored key group %d is outside this subtask's %d..%d", p.id.Name, g, p.start, p.end-1)
		}
		return p.ctx.backend.Restore(blk, false)
	}
	for i, blk := range st.KeyGroups {
		if err := restore(st.KeyGroupStart+i, blk); err != nil {
			return err
		}
	}
	if st.ReadKeyGroups != nil { // read from the checkpoint one key group at a time
		if err := st.ReadKeyGroups(restore); err != nil {
			return err
		}
	}
	p.ctx.timers.rebuild()
	return nil
}

type processOp[T any, K comparable, U any] struct {
	*keyedOp[K, U]
	fn  func(*KeyedContext[K], T, func(U))
	key func(T) K
}

func (p *processOp[T, K, U]) Collect(v T) {
	prev := p.run.Enter(&p.id)
	p.ctx.key = p.key(v)
	p.fn(p.ctx, v, p.emit)
	p.run.Leave(prev)
}

// ListState is a list of values per key.
type ListState[K comparable, T any] struct {
	name string
	ttl  *StateTTL // WithTTL (ttl.go)
}

// NewListState declares a list state called name.
func NewListState[K comparable, T any](name string) ListState[K, T] {
	return ListState[K, T]{name: name}
}

func (s ListState[K, T]) declare(b *state.Backend[K]) error {
	if s.ttl != nil {
		return declareTTL(b, s.name, s.ttl, state.NewTTLList[K, T])
	}
	_, err := state.Value[K, []T](b, s.name)
	return err
}

func (s ListState[K, T]) table(c *KeyedContext[K]) *state.Table[K, []T] {
	return table[K, []T](c, s.name)
}

// Get returns the current key's list (nil when empty). Do not modify it.
func (s ListState[K, T]) Get(c *KeyedContext[K]) []T {
	if s.ttl != nil {
		return s.ttlTable(c).Get(c.key)
	}
	v, _ := s.table(c).Get(c.key)
	return v
}

// Add appends v to the current key's list.
func (s ListState[K, T]) Add(c *KeyedContext[K], v T) {
	if s.ttl != nil {
		s.ttlTable(c).Add(c.key, v)
		return
	}
	t := s.table(c)
	l, _ := t.Get(c.key)
	t.Put(c.key, append(l, v))
}

// Update replaces the current key's list.
func (s ListState[K, T]) Update(c *KeyedContext[K], vs []T) {
	if s.ttl != nil {
		s.ttlTable(c).Update(c.key, vs)
		return
	}
	s.table(c).Put(c.key, vs)
}

// Clear empties the current key's list.
func (s ListState[K, T]) Clear(c *KeyedContext[K]) {
	if s.ttl != nil {
		s.ttlTable(c).Clear(c.key)
		return
	}
	s.table(c).Delete(c.key)
}

// MapState is a map per key. Its entries are kept as a Go map and
// checkpointed as a list of pairs.
type MapState[K comparable, UK comparable, UV any] struct {
	name string
	ttl  *StateTTL // WithTTL (ttl.go)
}

// NewMapState declares a map state called name.
func NewMapState[K comparable, UK comparable, UV any](name string) MapState[K, UK, UV] {
	return MapState[K, UK, UV]{name: name}
}

// MapEntry is one entry of a MapState.
type MapEntry[UK comparable, UV any] struct {
	Key   UK
	Value UV
}

func (s MapState[K, UK, UV]) declare(b *state.Backend[K]) error {
	if s.ttl != nil {
		return declareTTL(b, s.name, s.ttl, state.NewTTLMap[K, UK, UV])
	}
	_, err := state.Value[K, []MapEntry[UK, UV]](b, s.name)
	return err
}

func (s MapState[K, UK, UV]) table(c *KeyedContext[K]) *state.Table[K, []MapEntry[UK, UV]] {
	return table[K, []MapEntry[UK, UV]](c, s.name)
}

// Get returns the value of uk under the current key.
func (s MapState[K, UK, UV]) Get(c *KeyedContext[K], uk UK) (UV, bool) {
	if s.ttl != nil {
		return s.ttlTable(c).Get(c.key, uk)
	}
	l, _ := s.table(c).Get(c.key)
	for _, e := range l {
		if e.Key == uk {
			return e.Value, true
		}
	}
	var zero UV
	return zero, false
}

// Put sets uk to v under the current key.
func (s MapState[K, UK, UV]) Put(c *KeyedContext[K], uk UK, v UV) {
	if s.ttl != nil {
		s.ttlTable(c).Put(c.key, uk, v)
		return
	}
	t := s.table(c)
	l, _ := t.Get(c.key)
	for i := range l {
		if l[i].Key == uk {
			// Copy on write: a checkpoint's view may hold the old slice.
			l = slices.Clone(l)
			l[i].Value = v
			t.Put(c.key, l)
			return
		}
	}
	t.Put(c.key, append(l, MapEntry[UK, UV]{uk, v}))
}

// Remove deletes uk under the current key.
func (s MapState[K, UK, UV]) Remove(c *KeyedContext[K], uk UK) {
	if s.ttl != nil {
		s.ttlTable(c).Remove(c.key, uk)
		return
	}
	t := s.table(c)
	l, _ := t.Get(c.key)
	for i := range l {
		if l[i].Key == uk {
			l = slices.Delete(slices.Clone(l), i, i+1) // copy on write, as Put
			if len(l) == 0 {
				t.Delete(c.key)
			} else {
				t.Put(c.key, l)
			}
			return
		}
	}
}

// Entries returns the current key's entries. Do not modify them.
func (s MapState[K, UK, UV]) Entries(c *KeyedContext[K]) []MapEntry[UK, UV] {
	if s.ttl != nil {
		return ttlEntries(s.ttlTable(c).Entries(c.key))
	}
	l, _ := s.table(c).Get(c.key)
	return l
}

// ReducingState keeps one value per key, folding every added value in with reduce.
type ReducingState[K comparable, T any] struct {
	name   string
	reduce func(acc, v T) T
	ttl    *StateTTL // WithTTL (ttl.go)
}

// NewReducingState declares a reducing state called name.
func NewReducingState[K comparable, T any](name string, reduce func(acc, v T) T) ReducingState[K, T] {
	return ReducingState[K, T]{name: name, reduce: reduce}
}

func (s ReducingState[K, T]) declare(b *state.Backend[K]) error {
	if s.ttl != nil {
		return declareTTL(b, s.name, s.ttl, state.NewTTLValue[K, T])
	}
	_, err := state.Value[K, T](b, s.name)
	return err
}

// Add folds v into the current key's value.
func (s ReducingState[K, T]) Add(c *KeyedContext[K], v T) {
	if s.ttl != nil {
		reduceTTL(s.ttlTable(c), c.key, v, s.reduce)
		return
	}
	t := table[K, T](c, s.name)
	if acc, ok := t.Get(c.key); ok {
		v = s.reduce(acc, v)
	}
	t.Put(c.key, v)
}

// Get returns the current key's reduced value.
func (s ReducingState[K, T]) Get(c *KeyedContext[K]) (T, bool) {
	if s.ttl != nil {
		return s.ttlTable(c).Get(c.key)
	}
	return table[K, T](c, s.name).Get(c.key)
}
