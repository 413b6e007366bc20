package datastream

import (
	"math"
	"slices"
	"time"

	"floe/internal/state"
)

// timerEntry is one timer of a key, as kept in keyed state.
type timerEntry struct {
	T    int64 // epoch milliseconds
	Proc bool  // processing time, else event time
}

// timers holds the event-time and processing-time timers of one keyed
// operator subtask. The timers live in the operator's keyed state (a list
// per key), so they are checkpointed, restored and redistributed by key
// group with the rest of it; two heaps index them by time, and a set holds
// every pending timer so that registering one that exists (a window's timer,
// registered again by each of its records) is one map lookup, whatever the
// key's number of timers, and reads no state. Deleting a timer removes it
// from state and the set: its heap entry is skipped when it surfaces.
// Driven by the task's goroutine only.
type timers[K comparable] struct {
	tab         *state.Table[K, []timerEntry]
	pending     map[timerID[K]]struct{}
	event, proc timerHeap[K]
	wm          int64        // the operator's watermark (event time)
	now         func() int64 // the processing time (tests set a clock)
}

const timersState = "_timers"

// timerID names one pending timer.
type timerID[K comparable] struct {
	key  K
	t    int64
	proc bool
}

func newTimers[K comparable](b *state.Backend[K]) (*timers[K], error) {
	tab, err := state.Value[K, []timerEntry](b, timersState)
	if err != nil {
		return nil, err
	}
	return &timers[K]{tab: tab, pending: map[timerID[K]]struct{}{}, wm: math.MinInt64, now: nowMillis}, nil
}

// register adds a timer for k at t (once: registering it again is a no-op).
func (ts *timers[K]) register(k K, t int64, proc bool) {
	id := timerID[K]{k, t, proc}
	if _, dup := ts.pending[id]; dup {
		return
	}
	ts.pending[id] = struct{}{}
	e := timerEntry{T: t, Proc: proc}
	l, _, owned := ts.tab.GetOwned(k)
	if !owned { // copy on write: a checkpoint's view holds the list
		l = append(make([]timerEntry, 0, len(l)+2), l...)
	}
	ts.tab.Put(k, append(l, e))
	h := &ts.event
	if proc {
		h = &ts.proc
	}
	h.push(heapTimer[K]{t: t, key: k})
}

// remove deletes k's timer at t, reporting whether it existed.
func (ts *timers[K]) remove(k K, t int64, proc bool) bool {
	id := timerID[K]{k, t, proc}
	if _, ok := ts.pending[id]; !ok {
		return false
	}
	delete(ts.pending, id)
	l, _, owned := ts.tab.GetOwned(k)
	i := slices.Index(l, timerEntry{T: t, Proc: proc})
	if i < 0 { // not in state: the set and state disagree (cannot happen)
		return false
	}
	switch {
	case len(l) == 1:
		ts.tab.Delete(k)
	case owned:
		ts.tab.Put(k, slices.Delete(l, i, i+1))
	default: // copy on write: a checkpoint's view holds the list
		// A new array always: append(slices.Clip(l[:i]), l[i+1:]...) gives
		// l's own array back when i is the last index, and the next removal,
		// seeing that list as owned, would change the view in place.
		c := make([]timerEntry, 0, len(l)-1)
		ts.tab.Put(k, append(append(c, l[:i]...), l[i+1:]...))
	}
	return true
}

// advance fires, in order of time, every timer of the domain due at now (a
// watermark, or the processing time). fire may register more timers; those
// that are due fire in the same call.
func (ts *timers[K]) advance(now int64, proc bool, fire func(k K, t int64)) {
	h := &ts.event
	if proc {
		h = &ts.proc
	}
	for h.Len() > 0 && (*h)[0].t <= now {
		top := h.pop()
		if ts.remove(top.key, top.t, proc) { // else deleted, or a duplicate entry
			fire(top.key, top.t)
		}
	}
}

// next is the time of the earliest processing-time timer (MaxInt64: none).
func (ts *timers[K]) nextProc() int64 {
	if ts.proc.Len() == 0 {
		return math.MaxInt64
	}
	return ts.proc[0].t
}

// rebuild fills the heaps from state, after a restore.
func (ts *timers[K]) rebuild() {
	ts.event, ts.proc = nil, nil
	clear(ts.pending)
	ts.tab.Range(func(k K, l []timerEntry) bool {
		for _, e := range l {
			ts.pending[timerID[K]{k, e.T, e.Proc}] = struct{}{}
			if e.Proc {
				ts.proc = append(ts.proc, heapTimer[K]{t: e.T, key: k})
			} else {
				ts.event = append(ts.event, heapTimer[K]{t: e.T, key: k})
			}
		}
		return true
	})
	ts.event.init()
	ts.proc.init()
}

type heapTimer[K comparable] struct {
	t   int64
	key K
}

// timerHeap is a min-heap by time, typed (container/heap would box every
// entry in an interface: an allocation per timer).
type timerHeap[K comparable] []heapTimer[K]

func (h timerHeap[K]) Len() int { return len(h) }

func (h *timerHeap[K]) push(x heapTimer[K]) {
	*h = append(*h, x)
	a := *h
	for i := len(a) - 1; i > 0; {
		p := (i - 1) / 2
		if a[p].t <= a[i].t {
			break
		}
		a[p], a[i] = a[i], a[p]
		i = p
	}
}

func (h *timerHeap[K]) pop() heapTimer[K] {
	a := *h
	top := a[0]
	n := len(a) - 1
	a[0] = a[n]
	a[n] = heapTimer[K]{} // drop the key's reference
	a = a[:n]
	a.down(0)
	*h = a
	return top
}

func (h timerHeap[K]) down(i int) {
	for {
		l := 2*i + 1
		if l >= len(h) {
			return
		}
		m := l
		if r := l + 1; r < len(h) && h[r].t < h[l].t {
			m = r
		}
		if h[i].t <= h[m].t {
			return
		}
		h[i], h[m] = h[m], h[i]
		i = m
	}
}

func (h timerHeap[K]) init() {
	for i := len(h)/2 - 1; i >= 0; i-- {
		h.down(i)
	}
}

// nowMillis is the processing time: the wall clock in epoch milliseconds.
func nowMillis() int64 { return time.Now().UnixMilli() }
