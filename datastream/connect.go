package datastream

import (
	"fmt"
	"slices"
	"time"

	"floe/container/network"
	"floe/container/operator"
)

// ConnectedStreams are two keyed streams with one key type, processed
// together by one operator that sees both and shares keyed state and timers
// between them: records with equal keys meet in the same subtask.
type ConnectedStreams[A, B any, K comparable] struct {
	a KeyedStream[A, K]
	b KeyedStream[B, K]
}

// Connect joins two keyed streams for CoProcess.
func Connect[A, B any, K comparable](a KeyedStream[A, K], b KeyedStream[B, K]) ConnectedStreams[A, B, K] {
	if a.up.env != b.up.env {
		a.up.env.fail(fmt.Errorf("%w: connect of streams from different environments", ErrInvalidJob))
	}
	return ConnectedStreams[A, B, K]{a: a, b: b}
}

// CoProcessFunction handles the records of two connected keyed streams.
// OnTimer may be nil when no timer is used.
type CoProcessFunction[A, B any, K comparable, U any] struct {
	Process1 func(ctx *KeyedContext[K], v A, emit func(U))
	Process2 func(ctx *KeyedContext[K], v B, emit func(U))
	OnTimer  func(ctx *KeyedContext[K], t Timer, emit func(U))
}

// CoProcess applies fn to both streams of cs. The operator's watermark is
// the least of its two inputs'. At the end of both inputs every pending timer
// fires.
func CoProcess[A, B any, K comparable, U any](cs ConnectedStreams[A, B, K], fn CoProcessFunction[A, B, K, U], states ...StateDescriptor[K]) Stream[U] {
	env := cs.a.up.env
	if fn.Process1 == nil || fn.Process2 == nil {
		env.fail(fmt.Errorf("%w: CoProcess of %q and %q: Process1 and Process2 must be set", ErrInvalidJob, cs.a.up.n.name, cs.b.up.n.name))
	}
	n := &node{name: "CoProcess", parallelism: env.parallelism, keyedState: true}
	n.build = func(info operator.TaskInfo, out any) (any, closer, error) {
		k, err := newKeyedOp(info, out.(network.Output[U]), fn.OnTimer, states)
		if err != nil {
			return nil, nil, err
		}
		return &coProcessOp[A, B, K, U]{keyedOp: k, fn1: fn.Process1, fn2: fn.Process2, key1: cs.a.key, key2: cs.b.key}, k.close, nil
	}
	l1, l2 := cs.a.link(), cs.b.link()
	l2.input = 1
	return newStream[U](env, n, l1, l2)
}

// coProcessOp is a two-input operator: input(0) takes A and every event of
// the task, input(1) takes B.
type coProcessOp[A, B any, K comparable, U any] struct {
	*keyedOp[K, U]
	fn1  func(*KeyedContext[K], A, func(U))
	fn2  func(*KeyedContext[K], B, func(U))
	key1 func(A) K
	key2 func(B) K
}

func (p *coProcessOp[A, B, K, U]) input(i int) any {
	if i == 0 {
		return network.Output[A](coInput1[A, B, K, U]{p})
	}
	return network.Output[B](coInput2[A, B, K, U]{p})
}

type coInput1[A, B any, K comparable, U any] struct{ p *coProcessOp[A, B, K, U] }

func (c coInput1[A, B, K, U]) Collect(v A) {
	p := c.p
	prev := p.run.Enter(&p.id)
	p.ctx.key = p.key1(v)
	p.fn1(p.ctx, v, p.emit)
	p.run.Leave(prev)
}

func (c coInput1[A, B, K, U]) Emit(e network.Event) { c.p.Emit(e) }

type coInput2[A, B any, K comparable, U any] struct{ p *coProcessOp[A, B, K, U] }

func (c coInput2[A, B, K, U]) Collect(v B) {
	p := c.p
	prev := p.run.Enter(&p.id)
	p.ctx.key = p.key2(v)
	p.fn2(p.ctx, v, p.emit)
	p.run.Leave(prev)
}

// Emit is never called: a task's events enter through its first input.
func (c coInput2[A, B, K, U]) Emit(network.Event) {}

// timed is a record with its event time, as buffered by joins.
type timed[T any] struct {
	T int64
	V T
}

// IntervalJoin joins a and b on their key where b's event time lies within
// [a's time + lower, a's time + upper] (both ends included; lower may be
// negative), calling fn for every such pair. Each side is buffered in keyed
// state until the watermark passes the last time a partner could have, and
// records later than the watermark are dropped, as in Flink.
func IntervalJoin[A, B any, K comparable, U any](a KeyedStream[A, K], b KeyedStream[B, K], tsA func(A) time.Time, tsB func(B) time.Time,
	lower, upper time.Duration, fn func(a A, b B, emit func(U))) Stream[U] {
	env := a.up.env
	lo, hi := lower.Milliseconds(), upper.Milliseconds()
	if lo > hi {
		env.fail(fmt.Errorf("%w: interval join: lower bound %s is above upper bound %s", ErrInvalidJob, lower, upper))
	}
	left := NewListState[K, timed[A]]("left")
	right := NewListState[K, timed[B]]("right")
	late := func(ctx *KeyedContext[K], t int64) bool { return t < ctx.CurrentWatermark() }
	return CoProcess(Connect(a, b), CoProcessFunction[A, B, K, U]{
		Process1: func(ctx *KeyedContext[K], v A, emit func(U)) {
			t := tsA(v).UnixMilli()
			if late(ctx, t) {
				return
			}
			for _, r := range right.Get(ctx) {
				if r.T >= t+lo && r.T <= t+hi {
					fn(v, r.V, emit)
				}
			}
			left.Add(ctx, timed[A]{T: t, V: v})
			ctx.RegisterEventTimeTimer(t + max(hi, 0)) // no b after this can match
		},
		Process2: func(ctx *KeyedContext[K], v B, emit func(U)) {
			t := tsB(v).UnixMilli()
			if late(ctx, t) {
				return
			}
			for _, l := range left.Get(ctx) {
				if t >= l.T+lo && t <= l.T+hi {
					fn(l.V, v, emit)
				}
			}
			right.Add(ctx, timed[B]{T: t, V: v})
			ctx.RegisterEventTimeTimer(t - min(lo, 0)) // no a after this can match
		},
		OnTimer: func(ctx *KeyedContext[K], tm Timer, _ func(U)) {
			wm := tm.Time
			prune(ctx, left, func(e timed[A]) bool { return e.T+max(hi, 0) <= wm })
			prune(ctx, right, func(e timed[B]) bool { return e.T-min(lo, 0) <= wm })
		},
	}, left, right).Name("IntervalJoin")
}

// prune drops the entries of a list state for which done is true.
func prune[K comparable, T any](ctx *KeyedContext[K], s ListState[K, T], done func(T) bool) {
	l := s.Get(ctx)
	if !slices.ContainsFunc(l, done) {
		return
	}
	keep := slices.DeleteFunc(slices.Clone(l), done)
	if len(keep) == 0 {
		s.Clear(ctx)
	} else {
		s.Update(ctx, keep)
	}
}

// either is a record of one of two streams, for operators that take both
// through one input (window joins).
type either[A, B any] struct {
	Right bool
	L     A
	R     B
}

// WindowCoGroup puts the records of a and b with equal keys into the same
// windows and calls fn with both sides' records of each window when it fires
// (either side may be empty). tsA and tsB give event times (nil for
// processing-time windows).
func WindowCoGroup[A, B any, K comparable, U any](a KeyedStream[A, K], b KeyedStream[B, K], w Windows, tsA func(A) time.Time, tsB func(B) time.Time,
	fn func(ctx *WindowContext[K], as []A, bs []B, emit func(U))) Stream[U] {
	type E = either[A, B]
	left := Map(a.up, func(v A) E { return E{L: v} }).Name("Left")
	right := Map(b.up, func(v B) E { return E{Right: true, R: v} }).Name("Right")
	ka, kb := a.key, b.key
	keyed := KeyBy(left.Union(right), func(e E) K {
		if e.Right {
			return kb(e.R)
		}
		return ka(e.L)
	})
	var ts func(E) time.Time
	if tsA != nil && tsB != nil {
		ts = func(e E) time.Time {
			if e.Right {
				return tsB(e.R)
			}
			return tsA(e.L)
		}
	}
	return WindowProcess(keyed.Window(w, ts), func(ctx *WindowContext[K], elems []E, emit func(U)) {
		var as []A
		var bs []B
		for _, e := range elems {
			if e.Right {
				bs = append(bs, e.R)
			} else {
				as = append(as, e.L)
			}
		}
		fn(ctx, as, bs, emit)
	}).Name("WindowCoGroup")
}

// WindowJoin calls fn for every pair of records of a and b with equal keys
// in the same window (an inner join per window, as Flink's window join).
func WindowJoin[A, B any, K comparable, U any](a KeyedStream[A, K], b KeyedStream[B, K], w Windows, tsA func(A) time.Time, tsB func(B) time.Time,
	fn func(a A, b B, emit func(U))) Stream[U] {
	return WindowCoGroup(a, b, w, tsA, tsB, func(_ *WindowContext[K], as []A, bs []B, emit func(U)) {
		for _, x := range as {
			for _, y := range bs {
				fn(x, y, emit)
			}
		}
	}).Name("WindowJoin")
}
