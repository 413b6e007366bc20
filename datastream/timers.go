package datastream

import (
	"cmp"
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
// group with the rest of it; two heaps index them by time. A key's list is
// sorted (event time first, then by time), so finding a timer in it, to
// register one only once or to delete it, is a binary search. Deleting a
// timer removes it from state only: its heap entry is skipped when it
// surfaces. Driven by the task's goroutine only.
type timers[K comparable] struct {
	tab         *state.Table[K, []timerEntry]
	event, proc timerHeap[K]
	wm          int64        // the operator's watermark (event time)
	now         func() int64 // the processing time (tests set a clock)
	// derived: the operator's timers follow from its other state, from
	// which it sets them again after a restore (windowOp.RestoreState); they
	// live in the heaps only, registered and fired without a state lookup,
	// and none is ever deleted. A timer registered twice fires twice: the
	// operator must find nothing to do the second time (windowOp.onTimer
	// purges what it fires).
	derived bool
}

const timersState = "_timers"

func newTimers[K comparable](b *state.Backend[K]) (*timers[K], error) {
	tab, err := state.Value[K, []timerEntry](b, timersState)
	if err != nil {
		return nil, err
	}
	return &timers[K]{tab: tab, wm: math.MinInt64, now: nowMillis}, nil
}

// cmpTimer orders a key's timers: event time first, then by time.
func cmpTimer(a, b timerEntry) int {
	if a.Proc != b.Proc {
		if a.Proc {
			return 1
		}
		return -1
	}
	return cmp.Compare(a.T, b.T)
}

// findTimer returns where e is, or would be inserted, in a sorted list:
// a scan for short lists (most keys have a few timers; up to about 64 a
// scan beats the binary search), else a binary search.
func findTimer(l []timerEntry, e timerEntry) (int, bool) {
	if len(l) <= 64 {
		for i, x := range l {
			if x.Proc == e.Proc && x.T >= e.T || x.Proc && !e.Proc {
				return i, x == e
			}
		}
		return len(l), false
	}
	return slices.BinarySearchFunc(l, e, cmpTimer)
}

// register adds a timer for k at t (once: registering it again is a no-op).
func (ts *timers[K]) register(k K, t int64, proc bool) {
	if ts.derived {
		ts.push(k, t, proc)
		return
	}
	e := timerEntry{T: t, Proc: proc}
	l, _, owned := ts.tab.GetOwned(k)
	i, found := findTimer(l, e)
	if found {
		return
	}
	if owned {
		l = slices.Insert(l, i, e)
	} else { // copy on write: a checkpoint's view holds the list
		c := make([]timerEntry, 0, len(l)+2)
		l = append(append(append(c, l[:i]...), e), l[i:]...)
	}
	ts.tab.Put(k, l)
	ts.push(k, t, proc)
}

// push adds a heap entry only.
func (ts *timers[K]) push(k K, t int64, proc bool) {
	h := &ts.event
	if proc {
		h = &ts.proc
	}
	h.push(heapTimer[K]{t: t, key: k})
}

// remove deletes k's timer at t, reporting whether it existed.
func (ts *timers[K]) remove(k K, t int64, proc bool) bool {
	l, _, owned := ts.tab.GetOwned(k)
	i, found := findTimer(l, timerEntry{T: t, Proc: proc})
	if !found {
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
		if ts.derived || ts.remove(top.key, top.t, proc) { // else deleted, or a duplicate entry
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

// rebuild fills the heaps from state, after a restore, and sorts lists
// that are not.
func (ts *timers[K]) rebuild() {
	ts.event, ts.proc = nil, nil
	if ts.derived {
		// A checkpoint of a version that kept these timers in state: the
		// operator derives them again, so the lists go.
		var stale []K
		ts.tab.Range(func(k K, _ []timerEntry) bool { stale = append(stale, k); return true })
		for _, k := range stale {
			ts.tab.Delete(k)
		}
		return
	}
	ts.tab.Range(func(k K, l []timerEntry) bool {
		if !slices.IsSortedFunc(l, cmpTimer) {
			// Written in registration order (by a version before the lists
			// were sorted): sort a copy, the restored one may be shared.
			l = slices.SortedFunc(slices.Values(l), cmpTimer)
			ts.tab.Put(k, l)
		}
		for _, e := range l {
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
