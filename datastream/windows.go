package datastream

import (
	"fmt"
	"slices"
	"time"

	"floe/container/network"
	"floe/container/operator"
	"floe/internal/state"
)

// TimeWindow is a window's bounds in epoch milliseconds: [Start, End).
type TimeWindow struct {
	Start, End int64
}

// MaxTimestamp is the window's last millisecond: it fires when time reaches it.
func (w TimeWindow) MaxTimestamp() int64 { return w.End - 1 }

// Window is a window's result: its key, its bounds in epoch milliseconds
// ([Start, End)) and the reduced or aggregated value.
type Window[K comparable, T any] struct {
	Key        K
	Start, End int64
	Value      T
}

// Time is the result's event time, the window's last millisecond (as in
// Flink), for event-time operators downstream.
func (w Window[K, T]) Time() time.Time { return time.UnixMilli(w.End - 1) }

type windowKind int8

const (
	tumbling windowKind = iota
	sliding
	session
)

// Windows assigns records to windows: tumbling, sliding or session windows,
// in event time or processing time. Tumbling and sliding windows are
// aligned to the epoch.
type Windows struct {
	kind        windowKind
	size, slide int64 // milliseconds
	gap         int64
	proc        bool
	err         error
}

// TumblingEventTimeWindows are consecutive windows of size in event time.
func TumblingEventTimeWindows(size time.Duration) Windows { return slidingWindows(size, size, false) }

// SlidingEventTimeWindows are windows of size starting every slide in event
// time: a record belongs to size/slide of them.
func SlidingEventTimeWindows(size, slide time.Duration) Windows {
	return slidingWindows(size, slide, false)
}

// EventTimeSessionWindows group a key's records into sessions: a record at
// t spans [t, t+gap), and spans that overlap merge into one window.
func EventTimeSessionWindows(gap time.Duration) Windows { return sessionWindows(gap, false) }

// TumblingProcessingTimeWindows are tumbling windows by the wall clock at
// which records reach the operator.
func TumblingProcessingTimeWindows(size time.Duration) Windows {
	return slidingWindows(size, size, true)
}

// SlidingProcessingTimeWindows are sliding windows by the wall clock.
func SlidingProcessingTimeWindows(size, slide time.Duration) Windows {
	return slidingWindows(size, slide, true)
}

// ProcessingTimeSessionWindows are session windows by the wall clock.
func ProcessingTimeSessionWindows(gap time.Duration) Windows { return sessionWindows(gap, true) }

func slidingWindows(size, slide time.Duration, proc bool) Windows {
	w := Windows{kind: sliding, size: size.Milliseconds(), slide: slide.Milliseconds(), proc: proc}
	if size == slide {
		w.kind = tumbling
	}
	if w.size <= 0 || w.slide <= 0 || w.slide > w.size || w.size%w.slide != 0 {
		w.err = fmt.Errorf("window size %s and slide %s: want 0 < slide <= size, size a multiple of slide (in milliseconds)", size, slide)
	}
	return w
}

func sessionWindows(gap time.Duration, proc bool) Windows {
	w := Windows{kind: session, gap: gap.Milliseconds(), proc: proc}
	if w.gap <= 0 {
		w.err = fmt.Errorf("session gap %s: want at least 1ms", gap)
	}
	return w
}

// assign appends the windows holding time t to ws.
func (w Windows) assign(t int64, ws []TimeWindow) []TimeWindow {
	if w.kind == session {
		return append(ws, TimeWindow{t, t + w.gap})
	}
	// The windows holding t end at the first slide boundary after t, and at
	// every slide after it while they still start at or before t.
	for end := t - mod(t, w.slide) + w.slide; end-w.size <= t; end += w.slide {
		ws = append(ws, TimeWindow{end - w.size, end})
	}
	return ws
}

func mod(a, b int64) int64 {
	m := a % b
	if m < 0 {
		m += b
	}
	return m
}

// WindowedStream is a keyed stream cut into windows, waiting for a window
// function: Reduce, WindowAggregate or WindowProcess.
type WindowedStream[T any, K comparable] struct {
	ks       KeyedStream[T, K]
	w        Windows
	ts       func(T) time.Time
	lateness int64
	lateTag  string
	all      bool // WindowAll: parallelism 1
}

// Window cuts ks into windows. Event-time windows take the records' event
// time from ts (the function given to AssignTimestamps upstream); ts is not
// used by processing-time windows and may be nil.
func (ks KeyedStream[T, K]) Window(w Windows, ts func(T) time.Time) WindowedStream[T, K] {
	env := ks.up.env
	if w.err != nil {
		env.fail(fmt.Errorf("%w: window after %q: %w", ErrInvalidJob, ks.up.n.name, w.err))
	}
	if w == (Windows{}) {
		env.fail(fmt.Errorf("%w: window after %q: no window assigner", ErrInvalidJob, ks.up.n.name))
	}
	if !w.proc && ts == nil {
		env.fail(fmt.Errorf("%w: event-time window after %q needs a timestamp function", ErrInvalidJob, ks.up.n.name))
	}
	return WindowedStream[T, K]{ks: ks, w: w, ts: ts}
}

// NoKey is the key of the windows of a non-keyed stream.
type NoKey struct{}

// WindowAll cuts a non-keyed stream into windows; the window function runs
// in one subtask (parallelism 1), as in Flink.
func WindowAll[T any](s Stream[T], w Windows, ts func(T) time.Time) WindowedStream[T, NoKey] {
	ws := KeyBy(s, func(T) NoKey { return NoKey{} }).Window(w, ts)
	ws.all = true
	return ws
}

// AllowedLateness keeps an event-time window's contents for d after it
// fired: a late record within d updates the window and fires it again
// (emitting an updated result); records later than that are dropped, or go
// to the late-data side output.
func (ws WindowedStream[T, K]) AllowedLateness(d time.Duration) WindowedStream[T, K] {
	if d < 0 {
		ws.ks.up.env.fail(fmt.Errorf("%w: allowed lateness %s is negative", ErrInvalidJob, d))
	}
	ws.lateness = d.Milliseconds()
	return ws
}

// SideOutputLateData sends records too late for all their windows to tag's
// side output (see SideOutput) instead of dropping them.
func (ws WindowedStream[T, K]) SideOutputLateData(tag OutputTag[T]) WindowedStream[T, K] {
	ws.lateTag = tag.id
	return ws
}

// Reduce reduces each window's records with fn, incrementally.
func (ws WindowedStream[T, K]) Reduce(fn func(acc, v T) T) Stream[Window[K, T]] {
	return windowed(ws, "WindowReduce", windowFuncs[T, K, T, Window[K, T]]{
		add: func(acc, v T, first bool) T {
			if first {
				return v
			}
			return fn(acc, v)
		},
		merge: fn,
		result: func(_ *WindowContext[K], k K, w TimeWindow, acc T, emit func(Window[K, T])) {
			emit(Window[K, T]{Key: k, Start: w.Start, End: w.End, Value: acc})
		},
	})
}

// AggregateFunction aggregates a window's records incrementally into an
// accumulator of type A, and the accumulator into a result R. Merge joins
// the accumulators of two session windows that merge (needed by session
// windows only).
type AggregateFunction[T, A, R any] struct {
	Create func() A
	Add    func(acc A, v T) A
	Result func(acc A) R
	Merge  func(a, b A) A
}

// WindowAggregate aggregates each window with agg.
func WindowAggregate[T any, K comparable, A, R any](ws WindowedStream[T, K], agg AggregateFunction[T, A, R]) Stream[Window[K, R]] {
	env := ws.ks.up.env
	if agg.Create == nil || agg.Add == nil || agg.Result == nil {
		env.fail(fmt.Errorf("%w: window aggregate after %q: Create, Add and Result must be set", ErrInvalidJob, ws.ks.up.n.name))
	}
	if ws.w.kind == session && agg.Merge == nil {
		env.fail(fmt.Errorf("%w: window aggregate after %q: session windows need Merge", ErrInvalidJob, ws.ks.up.n.name))
	}
	return windowed(ws, "WindowAggregate", windowFuncs[T, K, A, Window[K, R]]{
		add: func(acc A, v T, first bool) A {
			if first {
				acc = agg.Create()
			}
			return agg.Add(acc, v)
		},
		merge: agg.Merge,
		result: func(_ *WindowContext[K], k K, w TimeWindow, acc A, emit func(Window[K, R])) {
			emit(Window[K, R]{Key: k, Start: w.Start, End: w.End, Value: agg.Result(acc)})
		},
	})
}

// WindowContext is what a window process function sees: the key and window
// being fired, the time, and the operator's side outputs.
type WindowContext[K comparable] struct {
	key    K
	window TimeWindow
	op     *KeyedContext[K]
}

// Key is the fired window's key.
func (c *WindowContext[K]) Key() K { return c.key }

// Window is the fired window.
func (c *WindowContext[K]) Window() TimeWindow { return c.window }

// CurrentWatermark is the operator's event time.
func (c *WindowContext[K]) CurrentWatermark() int64 { return c.op.CurrentWatermark() }

func (c *WindowContext[K]) sideOutput(id string) any { return c.op.sideOutput(id) }

// WindowProcess calls fn with all the records of each window when it fires
// (they are kept in keyed state until then).
func WindowProcess[T any, K comparable, U any](ws WindowedStream[T, K], fn func(ctx *WindowContext[K], elems []T, emit func(U))) Stream[U] {
	return windowed(ws, "WindowProcess", windowFuncs[T, K, []T, U]{
		add: func(acc []T, v T, _ bool) []T {
			// Appending never changes what a checkpoint's view of the old
			// slice holds (its length is fixed), so no copy is needed.
			return append(acc, v)
		},
		merge: func(a, b []T) []T { return append(slices.Clip(a), b...) },
		result: func(ctx *WindowContext[K], _ K, _ TimeWindow, acc []T, emit func(U)) {
			fn(ctx, acc, emit)
		},
	})
}

// windowFuncs is a window function in the form the operator runs.
type windowFuncs[T any, K comparable, ACC, OUT any] struct {
	add    func(acc ACC, v T, first bool) ACC
	merge  func(a, b ACC) ACC
	result func(ctx *WindowContext[K], k K, w TimeWindow, acc ACC, emit func(OUT))
}

// winState is one open window of a key, kept in keyed state.
type winState[ACC any] struct {
	Start, End int64
	Acc        ACC
}

const windowsState = "_windows"

func windowed[T any, K comparable, ACC, OUT any](ws WindowedStream[T, K], name string, f windowFuncs[T, K, ACC, OUT]) Stream[OUT] {
	env := ws.ks.up.env
	p := env.parallelism
	if ws.all {
		p, name = 1, name+"All"
	}
	var ts func(T) int64
	if !ws.w.proc {
		ts = func(v T) int64 { return ws.ts(v).UnixMilli() }
	}
	s := oneInput(ws.ks.up, name, p, ws.ks.link(), func(info operator.TaskInfo, out network.Output[OUT]) (network.Output[T], closer, error) {
		k, err := newKeyedOp[K](info, out, nil, nil)
		if err != nil {
			return nil, nil, err
		}
		tab, err := state.Value[K, []winState[ACC]](k.ctx.backend, windowsState)
		if err != nil {
			k.close()
			return nil, nil, err
		}
		op := &windowOp[T, K, ACC, OUT]{keyedOp: k, key: ws.ks.key, ts: ts, w: ws.w, lateness: ws.lateness, f: f, tab: tab}
		if ws.lateTag != "" {
			op.lateOut, _ = info.SideOutputs[ws.lateTag].(network.Output[T])
		}
		if ws.w.proc {
			op.lateness = 0
		}
		k.onTimer = func(ctx *KeyedContext[K], t Timer, _ func(OUT)) { op.onTimer(ctx.key, t.Time) }
		// Without allowed lateness a window has one timer, at its last
		// millisecond, set when it opens and due when it is purged: the
		// timers follow from the windows in state and need none of their
		// own. (A session merged away leaves its timer in the heap: due, it
		// fires whatever session of the key ends then, which is right, and
		// purges it, so a second timer for the same time finds nothing.)
		k.ctx.timers.derived = deriveWindowTimers && op.lateness == 0
		return op, k.close, nil
	})
	s.n.keyedState = true
	return s
}

// windowOp keeps each key's open windows in keyed state, one accumulator per
// window, and a timer per window: at its last millisecond it fires (emits
// the result) and, once the allowed lateness has passed too, it is purged.
type windowOp[T any, K comparable, ACC, OUT any] struct {
	*keyedOp[K, OUT]
	key      func(T) K
	ts       func(T) int64 // nil in processing time
	w        Windows
	lateness int64
	f        windowFuncs[T, K, ACC, OUT]
	tab      *state.Table[K, []winState[ACC]]
	lateOut  network.Output[T]
	late     int64 // records dropped as late
	assigned []TimeWindow
}

func (o *windowOp[T, K, ACC, OUT]) Collect(v T) {
	prev := o.run.Enter(&o.id)
	o.collect(v)
	o.run.Leave(prev)
}

func (o *windowOp[T, K, ACC, OUT]) collect(v T) {
	k := o.key(v)
	o.ctx.key = k
	var t, wm int64
	if o.ts != nil {
		t, wm = o.ts(v), o.ctx.timers.wm
	} else {
		t = o.ctx.timers.now()
		wm = t - 1 // a processing-time window is never late
	}
	o.assigned = o.w.assign(t, o.assigned[:0])
	list, _, owned := o.tab.GetOwned(k)
	if !owned { // copy on write: a checkpoint's view holds the list
		list = append(make([]winState[ACC], 0, len(list)+len(o.assigned)), list...)
	}
	n := len(list)
	added := false
	for _, w := range o.assigned {
		if o.w.kind == session {
			// A session is late only if what it merges into is.
			if merged, ok := o.mergeSession(k, list, w, v, wm); ok {
				list, added = merged, true
			}
			continue
		}
		if w.MaxTimestamp()+o.lateness <= wm {
			continue // late for this window
		}
		added = true
		i := -1
		for j := range list { // by index: an element is a window's whole accumulator
			if list[j].End == w.End {
				i = j
				break
			}
		}
		if i < 0 {
			var zero ACC
			list = append(list, winState[ACC]{Start: w.Start, End: w.End, Acc: o.f.add(zero, v, true)})
			i = len(list) - 1
			o.schedule(k, w)
		} else {
			list[i].Acc = o.f.add(list[i].Acc, v, false)
		}
		if w.MaxTimestamp() <= wm { // late, but within the allowed lateness: fire again
			o.fireWindow(k, list[i])
		}
	}
	if !added {
		o.late++
		if o.lateOut != nil {
			o.lateOut.Collect(v)
		}
		return
	}
	if owned && len(list) == n && o.w.kind != session {
		o.tab.Changed(k, list) // the table's own list, changed in place
		return
	}
	o.tab.Put(k, list)
}

// mergeSession adds v's window w to a key's sessions, merging every session
// it overlaps into one, unless the merged session is late (its end and the
// allowed lateness are behind the watermark wm): then it reports false and
// changes nothing.
func (o *windowOp[T, K, ACC, OUT]) mergeSession(k K, list []winState[ACC], w TimeWindow, v T, wm int64) ([]winState[ACC], bool) {
	span := w
	for _, s := range list {
		if s.Start < w.End && w.Start < s.End { // sessions do not overlap each other: one pass finds all
			span = TimeWindow{min(span.Start, s.Start), max(span.End, s.End)}
		}
	}
	if span.MaxTimestamp()+o.lateness <= wm {
		return nil, false
	}
	var zero ACC
	merged := winState[ACC]{Start: w.Start, End: w.End, Acc: o.f.add(zero, v, true)}
	keep := list[:0]
	var gone []TimeWindow
	for _, s := range list {
		if s.Start < merged.End && merged.Start < s.End {
			merged.Start, merged.End = min(merged.Start, s.Start), max(merged.End, s.End)
			merged.Acc = o.f.merge(s.Acc, merged.Acc)
			gone = append(gone, TimeWindow{s.Start, s.End})
		} else {
			keep = append(keep, s)
		}
	}
	keep = append(keep, merged)
	mw := TimeWindow{merged.Start, merged.End}
	if o.ctx.timers.derived {
		// The timers of the sessions merged away stay in the heap: due, they
		// find no session ending then (or the merged one, if it ends when
		// one of them did: then it needs no timer of its own).
		if !slices.ContainsFunc(gone, func(g TimeWindow) bool { return g.End == mw.End }) {
			o.schedule(k, mw)
		}
	} else {
		for _, g := range gone {
			o.unschedule(k, keep, g)
		}
		o.schedule(k, mw)
	}
	if mw.MaxTimestamp() <= wm { // merged into a fired session within lateness
		o.fireWindow(k, merged)
	}
	return keep, true
}

// schedule registers w's timers: its firing, and its purge after the
// allowed lateness.
func (o *windowOp[T, K, ACC, OUT]) schedule(k K, w TimeWindow) {
	o.ctx.timers.register(k, w.MaxTimestamp(), o.w.proc)
	if o.lateness > 0 {
		o.ctx.timers.register(k, w.MaxTimestamp()+o.lateness, o.w.proc)
	}
}

// unschedule removes the timers of a window merged away, unless a window
// still open needs the same time.
func (o *windowOp[T, K, ACC, OUT]) unschedule(k K, open []winState[ACC], w TimeWindow) {
	for _, t := range []int64{w.MaxTimestamp(), w.MaxTimestamp() + o.lateness} {
		needed := slices.ContainsFunc(open, func(s winState[ACC]) bool {
			m := s.End - 1
			return m == t || m+o.lateness == t
		})
		if !needed {
			o.ctx.timers.remove(k, t, o.w.proc)
		}
	}
}

// deriveWindowTimers is false only in tests that write checkpoints as
// versions before 2026-12-04 did, with each window's timer in keyed state.
var deriveWindowTimers = true

// RestoreState restores the keyed state and, where the timers are derived
// from the windows, sets each restored window's timer again.
func (o *windowOp[T, K, ACC, OUT]) RestoreState(st operator.OperatorState) error {
	if err := o.keyedOp.RestoreState(st); err != nil {
		return err
	}
	if ts := o.ctx.timers; ts.derived {
		o.tab.Range(func(k K, l []winState[ACC]) bool {
			for _, w := range l {
				ts.push(k, TimeWindow{w.Start, w.End}.MaxTimestamp(), o.w.proc)
			}
			return true
		})
	}
	return nil
}

// onTimer fires the key's windows whose last millisecond is t, and purges
// those whose lateness ends at t.
func (o *windowOp[T, K, ACC, OUT]) onTimer(k K, t int64) {
	cur, _, owned := o.tab.GetOwned(k)
	purged := 0
	for _, s := range cur {
		m := s.End - 1
		if m == t {
			o.fireWindow(k, s)
		}
		if m+o.lateness <= t {
			purged++
		}
	}
	switch {
	case purged == len(cur):
		o.tab.Delete(k)
	case purged > 0:
		keep := cur[:0]
		if !owned { // copy on write
			keep = make([]winState[ACC], 0, len(cur)-purged)
		}
		for _, s := range cur {
			if s.End-1+o.lateness > t {
				keep = append(keep, s)
			}
		}
		if owned {
			clear(cur[len(keep):]) // drop what the purged windows held
		}
		o.tab.Put(k, keep)
	}
}

func (o *windowOp[T, K, ACC, OUT]) fireWindow(k K, s winState[ACC]) {
	w := TimeWindow{s.Start, s.End}
	o.f.result(&WindowContext[K]{key: k, window: w, op: o.ctx}, k, w, s.Acc, o.emit)
}

// TumblingWindowReduce is ks.Window(TumblingEventTimeWindows(size), ts).Reduce(reduce).
func TumblingWindowReduce[T any, K comparable](ks KeyedStream[T, K], size time.Duration, ts func(T) time.Time, reduce func(acc, v T) T) Stream[Window[K, T]] {
	return ks.Window(TumblingEventTimeWindows(size), ts).Reduce(reduce).Name("TumblingWindow")
}

// SlidingWindowReduce is ks.Window(SlidingEventTimeWindows(size, slide), ts).Reduce(reduce).
func SlidingWindowReduce[T any, K comparable](ks KeyedStream[T, K], size, slide time.Duration, ts func(T) time.Time, reduce func(acc, v T) T) Stream[Window[K, T]] {
	return ks.Window(SlidingEventTimeWindows(size, slide), ts).Reduce(reduce).Name("SlidingWindow")
}
