package datastream

import (
	"fmt"
	"math"
	"time"

	"floe/container/network"
	"floe/container/operator"
)

// AutoWatermarkInterval is the configuration key of how often watermark
// generators emit (as Flink's pipeline.auto-watermark-interval).
const AutoWatermarkInterval = "pipeline.auto-watermark-interval"

// WatermarkStrategy says how a stream's watermarks follow its timestamps.
type WatermarkStrategy struct {
	bound    time.Duration // out-of-orderness
	idleness time.Duration // 0: never idle
	interval time.Duration // 0: the job's AutoWatermarkInterval (200ms)
}

// ForBoundedOutOfOrderness trails the largest timestamp seen by d: records
// may arrive up to d out of order without being late.
func ForBoundedOutOfOrderness(d time.Duration) WatermarkStrategy {
	return WatermarkStrategy{bound: d}
}

// ForMonotonousTimestamps is for streams whose timestamps never decrease.
func ForMonotonousTimestamps() WatermarkStrategy { return WatermarkStrategy{} }

// WithIdleness marks a subtask's stream idle after d without records, so
// that it does not hold back the watermark of the operators it feeds while
// others go on; its next record makes it active again.
func (w WatermarkStrategy) WithIdleness(d time.Duration) WatermarkStrategy {
	w.idleness = d
	return w
}

// WithInterval sets how often watermarks are emitted (default: the job's
// pipeline.auto-watermark-interval, 200ms).
func (w WatermarkStrategy) WithInterval(d time.Duration) WatermarkStrategy {
	w.interval = d
	return w
}

// AssignTimestamps marks s's records with event time ts(v) and emits
// bounded-out-of-orderness watermarks; see AssignTimestampsAndWatermarks.
func AssignTimestamps[T any](s Stream[T], ts func(T) time.Time, outOfOrderness time.Duration) Stream[T] {
	return AssignTimestampsAndWatermarks(s, ts, ForBoundedOutOfOrderness(outOfOrderness))
}

// AssignTimestampsAndWatermarks marks s's records with event time ts(v) and
// emits watermarks by strategy: each the promise that no record at or before
// it follows. They go out periodically (on the task's tick, at most once per
// interval) and travel in-band; a final one at the end of a bounded input
// fires every remaining event-time window and timer. Operators downstream
// that need a record's event time take the same ts again.
func AssignTimestampsAndWatermarks[T any](s Stream[T], ts func(T) time.Time, strategy WatermarkStrategy) Stream[T] {
	return assignTimestamps(s, ts, nil, strategy)
}

// AssignTimestampsAndWatermarksRef is AssignTimestampsAndWatermarks for
// large records: ts reads the record through a pointer and returns its event
// time in epoch milliseconds, so that no copy of the record is made per call
// (a record of a few hundred bytes costs more to copy than its timestamp to
// read). ts reads *v during the call only: it must neither keep v nor change
// *v.
func AssignTimestampsAndWatermarksRef[T any](s Stream[T], ts func(v *T) int64, strategy WatermarkStrategy) Stream[T] {
	return assignTimestamps(s, nil, ts, strategy)
}

// assignTimestamps is the watermark assigner with one of ts and ref.
func assignTimestamps[T any](s Stream[T], ts func(T) time.Time, ref func(*T) int64, strategy WatermarkStrategy) Stream[T] {
	if strategy.bound < 0 || strategy.idleness < 0 || strategy.interval < 0 {
		s.env.fail(fmt.Errorf("%w: watermark strategy after %q: durations must not be negative", ErrInvalidJob, s.n.name))
	}
	return oneInput(s, "Timestamps", s.env.parallelism, s.forward(), func(info operator.TaskInfo, out network.Output[T]) (network.Output[T], closer, error) {
		interval := strategy.interval
		if interval == 0 {
			d, err := info.Config.Duration(AutoWatermarkInterval, 200*time.Millisecond)
			if err != nil {
				return nil, nil, err
			}
			interval = d
		}
		return &watermarker[T]{ts: ts, ref: ref, bound: strategy.bound.Milliseconds(), idleness: strategy.idleness, interval: interval, out: out, outPtr: network.PointerTo(out),
			max: math.MinInt64, emitted: math.MinInt64, id: ident(info), run: info.Runner(), now: time.Now, lastRecord: time.Now()}, nil, nil
	})
}

type watermarker[T any] struct {
	ts                 func(T) time.Time // or:
	ref                func(*T) int64    // the timestamp read through a pointer, in ms
	scratch            T                 // a record taken by value, for ref
	bound              int64
	idleness, interval time.Duration
	out                network.Output[T]
	outPtr             network.PointerOutput[T] // network.PointerTo(out)
	max, emitted       int64
	lastEmit           time.Time
	lastRecord         time.Time // wall clock, for idleness; only checked on ticks
	records            bool      // a record came since the last tick
	idle               bool
	now                func() time.Time // the wall clock (tests set their own)
	id                 operator.Ident
	run                *operator.Running
}

func (w *watermarker[T]) Collect(v T) {
	w.seen()
	if t := w.timestamp(v); t > w.max {
		w.max = t
	}
	w.out.Collect(v)
}

// CollectPtr is Collect of *p, passing the record on by pointer too.
func (w *watermarker[T]) CollectPtr(p *T) {
	w.seen()
	if t := w.timestampPtr(p); t > w.max {
		w.max = t
	}
	w.outPtr.CollectPtr(p)
}

// seen marks that a record came (and the stream active again).
func (w *watermarker[T]) seen() {
	if w.idle {
		w.idle = false
		w.out.Emit(network.Event{Kind: network.WatermarkStatus, Value: 0})
	}
	w.records = true
}

func (w *watermarker[T]) timestamp(v T) int64 {
	if w.ref != nil {
		w.scratch = v // ref's pointer must not make v escape
		return w.timestampPtr(&w.scratch)
	}
	prev := w.run.Enter(&w.id)
	t := w.ts(v).UnixMilli()
	w.run.Leave(prev)
	return t
}

func (w *watermarker[T]) timestampPtr(p *T) int64 {
	prev := w.run.Enter(&w.id)
	var t int64
	if w.ref != nil {
		t = w.ref(p)
	} else {
		t = w.ts(*p).UnixMilli()
	}
	w.run.Leave(prev)
	return t
}

// Tick emits the watermark if it advanced and the interval has passed, and
// marks the stream idle when records stopped coming for the idleness time.
func (w *watermarker[T]) Tick() {
	now := w.now()
	if w.records {
		w.records, w.lastRecord = false, now
	} else if w.idleness > 0 && !w.idle && now.Sub(w.lastRecord) >= w.idleness {
		w.idle = true
		w.out.Emit(network.Event{Kind: network.WatermarkStatus, Value: 1})
		return
	}
	if w.max == math.MinInt64 || now.Sub(w.lastEmit) < w.interval {
		return
	}
	if wm := w.max - w.bound - 1; wm > w.emitted {
		w.emitted, w.lastEmit = wm, now
		w.out.Emit(network.Event{Kind: network.Watermark, Value: wm})
	}
}

func (w *watermarker[T]) Emit(e network.Event) {
	switch e.Kind {
	case network.EndOfInput:
		if w.emitted < math.MaxInt64 {
			w.emitted = math.MaxInt64
			w.out.Emit(network.Event{Kind: network.Watermark, Value: math.MaxInt64})
		}
	case network.Watermark, network.WatermarkStatus:
		return // this operator makes the stream's watermarks afresh
	}
	w.out.Emit(e)
}
