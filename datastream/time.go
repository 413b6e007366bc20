package datastream

import (
	"fmt"
	"math"
	"slices"
	"time"

	"floe/internal/keygroup"
	"floe/internal/runtime"
	"floe/internal/state"
)

// Event time, first cut: timestamps come from a function of the record,
// watermarks from a bounded-out-of-orderness generator, and they travel
// in-band; a task's watermark is the least of its inputs'. Idle inputs,
// sliding and session windows, timers and joins come with the rest of the
// event-time work.

// AssignTimestamps marks s's records with event time ts(v) and emits
// watermarks that trail the largest timestamp seen by outOfOrderness: the
// promise that no record older than that follows. Watermarks go out on the
// buffer-timeout tick and every 1024 records, and a final one at the end of
// a bounded input fires every remaining window.
func AssignTimestamps[T any](s Stream[T], ts func(T) time.Time, outOfOrderness time.Duration) Stream[T] {
	return oneInput(s, "Timestamps", s.env.parallelism, s.forward(), func(info runtime.TaskInfo, out runtime.Output[T]) (runtime.Output[T], closer, error) {
		return &watermarker[T]{ts: ts, bound: outOfOrderness.Milliseconds(), out: out,
			max: math.MinInt64, emitted: math.MinInt64, name: info.Name, subtask: info.Subtask}, nil, nil
	})
}

type watermarker[T any] struct {
	ts           func(T) time.Time
	bound        int64
	out          runtime.Output[T]
	max, emitted int64
	n            int
	name         string
	subtask      int
}

func (w *watermarker[T]) Collect(v T) {
	t := w.timestamp(v)
	if t > w.max {
		w.max = t
	}
	w.out.Collect(v)
	if w.n++; w.n%1024 == 0 {
		w.Tick()
	}
}

func (w *watermarker[T]) timestamp(v T) int64 {
	defer runtime.Guard(w.name, w.subtask)
	return w.ts(v).UnixMilli()
}

// Tick emits the watermark if it advanced.
func (w *watermarker[T]) Tick() {
	if w.max == math.MinInt64 {
		return
	}
	if wm := w.max - w.bound - 1; wm > w.emitted {
		w.emitted = wm
		w.out.Emit(runtime.Event{Kind: runtime.Watermark, Value: wm})
	}
}

func (w *watermarker[T]) Emit(e runtime.Event) {
	if e.Kind == runtime.EndOfInput && w.emitted < math.MaxInt64 {
		w.emitted = math.MaxInt64
		w.out.Emit(runtime.Event{Kind: runtime.Watermark, Value: math.MaxInt64})
	}
	w.out.Emit(e)
}

// Window is a window's result: its key, its bounds in epoch milliseconds
// ([Start, End)) and the reduced value.
type Window[K comparable, T any] struct {
	Key        K
	Start, End int64
	Value      T
}

// windowAcc is a window being accumulated, kept in keyed state.
type windowAcc[T any] struct {
	End int64
	Acc T
}

// TumblingWindowReduce groups a keyed stream into tumbling event-time
// windows of size (aligned to the epoch) and reduces each window's records;
// a window's result is emitted when the watermark passes its end. Records
// older than the watermark (late) are dropped. ts must agree with the one
// given to AssignTimestamps upstream. Window contents live in keyed state,
// so they are checkpointed and restored.
func TumblingWindowReduce[T any, K comparable](ks KeyedStream[T, K], size time.Duration, ts func(T) time.Time, reduce func(acc, v T) T) Stream[Window[K, T]] {
	return windowReduce(ks, "TumblingWindow", size, size, ts, reduce)
}

// SlidingWindowReduce is TumblingWindowReduce with windows of size starting
// every slide (aligned to the epoch): a record belongs to size/slide windows.
func SlidingWindowReduce[T any, K comparable](ks KeyedStream[T, K], size, slide time.Duration, ts func(T) time.Time, reduce func(acc, v T) T) Stream[Window[K, T]] {
	return windowReduce(ks, "SlidingWindow", size, slide, ts, reduce)
}

func windowReduce[T any, K comparable](ks KeyedStream[T, K], name string, size, slide time.Duration, ts func(T) time.Time, reduce func(acc, v T) T) Stream[Window[K, T]] {
	env := ks.up.env
	if size <= 0 || slide <= 0 || slide > size || size.Milliseconds()%slide.Milliseconds() != 0 {
		env.fail(fmt.Errorf("%w: window size %s and slide %s: want 0 < slide <= size, size a multiple of slide (milliseconds)", ErrInvalidJob, size, slide))
	}
	return oneInput(ks.up, name, env.parallelism, ks.link(), func(info runtime.TaskInfo, out runtime.Output[Window[K, T]]) (runtime.Output[T], closer, error) {
		b, err := state.NewBackend[K](info.MaxParallelism)
		if err != nil {
			return nil, nil, err
		}
		tab, err := state.Value[K, []windowAcc[T]](b, "windows")
		if err != nil {
			return nil, nil, err
		}
		start, end := keygroup.Range(info.MaxParallelism, info.Parallelism, info.Subtask)
		return &windowOp[T, K]{key: ks.key, ts: ts, reduce: reduce, size: size.Milliseconds(), slide: slide.Milliseconds(), backend: b, tab: tab,
			out: out, wm: math.MinInt64, name: info.Name, subtask: info.Subtask, start: start, end: end}, nil, nil
	})
}

type windowOp[T any, K comparable] struct {
	key        func(T) K
	ts         func(T) time.Time
	reduce     func(T, T) T
	size       int64
	slide      int64 // = size for tumbling windows
	backend    *state.Backend[K]
	tab        *state.Table[K, []windowAcc[T]]
	out        runtime.Output[Window[K, T]]
	wm         int64
	late       int64
	name       string
	subtask    int
	start, end int
}

func (w *windowOp[T, K]) Collect(v T) {
	defer runtime.Guard(w.name, w.subtask)
	t := w.ts(v).UnixMilli()
	if t <= w.wm {
		w.late++
		return
	}
	k := w.key(v)
	accs, _ := w.tab.Get(k)
	accs = slices.Clone(accs) // the state's values are shared with checkpoint views
	// The windows holding t end at the first slide boundary after t, and
	// every slide after it while they still start at or before t.
	for end := t - mod(t, w.slide) + w.slide; end-w.size <= t; end += w.slide {
		found := false
		for i := range accs {
			if accs[i].End == end {
				accs[i].Acc = w.reduce(accs[i].Acc, v)
				found = true
				break
			}
		}
		if !found {
			accs = append(accs, windowAcc[T]{End: end, Acc: v})
		}
	}
	w.tab.Put(k, accs)
}

func mod(a, b int64) int64 {
	m := a % b
	if m < 0 {
		m += b
	}
	return m
}

func (w *windowOp[T, K]) Emit(e runtime.Event) {
	if e.Kind == runtime.Watermark && e.Value > w.wm {
		w.wm = e.Value
		w.fire(e.Value)
	}
	if e.Kind == runtime.EndOfInput {
		w.fire(math.MaxInt64)
	}
	w.out.Emit(e)
}

// fire emits, in order of their ends, the windows that end at or before wm.
func (w *windowOp[T, K]) fire(wm int64) {
	var fired []Window[K, T]
	var done []K
	changed := map[K][]windowAcc[T]{}
	w.tab.Range(func(k K, accs []windowAcc[T]) bool {
		var keep []windowAcc[T]
		for _, a := range accs {
			if a.End-1 <= wm {
				fired = append(fired, Window[K, T]{Key: k, Start: a.End - w.size, End: a.End, Value: a.Acc})
			} else {
				keep = append(keep, a)
			}
		}
		switch {
		case len(keep) == 0:
			done = append(done, k)
		case len(keep) != len(accs):
			changed[k] = keep
		}
		return true
	})
	for _, k := range done {
		w.tab.Delete(k)
	}
	for k, keep := range changed {
		w.tab.Put(k, keep)
	}
	slices.SortStableFunc(fired, func(a, b Window[K, T]) int {
		switch {
		case a.End < b.End:
			return -1
		case a.End > b.End:
			return 1
		}
		return 0
	})
	for _, f := range fired {
		w.out.Collect(f)
	}
}

func (w *windowOp[T, K]) SnapshotState(int64) (runtime.OperatorState, error) {
	view, start, end := w.backend.View(), w.start, w.end
	return runtime.OperatorState{KeyGroupStart: start, EncodeKeyGroups: func() ([][]byte, error) {
		return view.Encode(start, end)
	}}, nil
}

func (w *windowOp[T, K]) RestoreState(st runtime.OperatorState) error {
	for _, blk := range st.KeyGroups {
		if len(blk) > 0 {
			if err := w.backend.Restore(blk, false); err != nil {
				return err
			}
		}
	}
	return nil
}
