package datastream

import (
	"bytes"
	"fmt"
	"math"
	"sync"
	"testing"

	"floe/internal/state"
)

// A checkpoint's view keeps the timer lists it was taken with while the
// task fires and removes timers after it, whatever the order they were
// registered in. A timer registered after later ones (an out-of-order
// record) is the last of its key's list and the first to fire: removing it
// copies the list, and that copy must not share the view's memory, or the
// next removal changes the view in place (a data race with the upload that
// encodes it, and a checkpoint holding other timers than the task had).
func TestTimerRemovalLeavesViewAlone(t *testing.T) {
	tests := []struct {
		name  string
		times []int64 // registered in this order, for one key
		wm    int64   // then the watermark fires those due
	}{
		{"in order", []int64{10, 20, 30, 40}, 25},
		{"last registered fires first", []int64{20, 30, 40, 10}, 25},
		{"descending", []int64{40, 30, 20, 10}, 25},
		{"all but one", []int64{40, 30, 20, 10}, 35},
		{"all", []int64{20, 30, 40, 10}, math.MaxInt64},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := state.NewBackend[int64](8)
			if err != nil {
				t.Fatal(err)
			}
			ts, err := newTimers(b)
			if err != nil {
				t.Fatal(err)
			}
			for _, at := range tt.times {
				ts.register(1, at, false)
			}
			before, err := b.Snapshot(0, 8)
			if err != nil {
				t.Fatal(err)
			}
			view := b.View()

			// The upload encodes the view on its own goroutine while the task
			// goes on (the race detector sees an in-place change).
			var wg sync.WaitGroup
			var during [][]byte
			var encErr error
			wg.Go(func() { during, encErr = view.Encode(0, 8) })
			var fired []int64
			ts.advance(tt.wm, false, func(_ int64, at int64) { fired = append(fired, at) })
			wg.Wait()
			if encErr != nil {
				t.Fatal(encErr)
			}
			after, err := view.Encode(0, 8)
			if err != nil {
				t.Fatal(err)
			}
			for g := range before {
				if !bytes.Equal(during[g], before[g]) || !bytes.Equal(after[g], before[g]) {
					t.Fatalf("key group %d: the view changed after firing %v: timers %v while encoded, %v after, %v when taken",
						g, fired, timersIn(t, during[g]), timersIn(t, after[g]), timersIn(t, before[g]))
				}
			}
			// The task's own state lost exactly the timers that fired.
			left := times(ts)
			for _, at := range tt.times {
				due := at <= tt.wm
				kept := false
				for _, x := range left {
					kept = kept || x == at
				}
				if kept == due {
					t.Fatalf("timer %d (watermark %d): kept %v, timers left %v", at, tt.wm, kept, left)
				}
			}
		})
	}
}

// timersIn restores one key group's block into a new backend and lists the
// times of key 1's timers, in their order.
func timersIn(t *testing.T, block []byte) []int64 {
	t.Helper()
	b, err := state.NewBackend[int64](8)
	if err != nil {
		t.Fatal(err)
	}
	ts, err := newTimers(b)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Restore(block, false); err != nil {
		t.Fatal(err)
	}
	return times(ts)
}

func times(ts *timers[int64]) []int64 {
	l, _ := ts.tab.Get(1)
	var out []int64
	for _, e := range l {
		out = append(out, e.T)
	}
	return out
}

// Lists restored in registration order (unsorted, as written before the
// lists were kept sorted) are sorted by rebuild: registering a timer the
// key has stays a no-op, and removal finds every timer.
func TestTimersRestoredUnsorted(t *testing.T) {
	b, err := state.NewBackend[int64](8)
	if err != nil {
		t.Fatal(err)
	}
	ts, err := newTimers(b)
	if err != nil {
		t.Fatal(err)
	}
	ts.tab.Put(1, []timerEntry{{T: 30}, {T: 5, Proc: true}, {T: 10}, {T: 20}})
	ts.rebuild()
	ts.register(1, 10, false) // present: no second timer
	ts.register(1, 5, true)
	if !ts.remove(1, 20, false) {
		t.Fatal("timer 20 not found after the restore")
	}
	var fired []int64
	ts.advance(math.MaxInt64, false, func(_ int64, at int64) { fired = append(fired, at) })
	ts.advance(math.MaxInt64, true, func(_ int64, at int64) { fired = append(fired, -at) })
	if fmt.Sprint(fired) != "[10 30 -5]" {
		t.Fatalf("fired %v, want [10 30 -5]", fired)
	}
}

// findTimer's scan of short lists and its binary search of long ones agree
// with a linear search for where a timer is, or goes.
func TestFindTimer(t *testing.T) {
	for n := range 20 {
		var l []timerEntry
		for i := range n {
			l = append(l, timerEntry{T: int64(i * 2), Proc: i >= n/2})
		}
		for _, proc := range []bool{false, true} {
			for at := int64(-1); at <= int64(2*n); at++ {
				e := timerEntry{T: at, Proc: proc}
				want := len(l)
				for i, x := range l {
					if cmpTimer(x, e) >= 0 {
						want = i
						break
					}
				}
				i, found := findTimer(l, e)
				if i != want || found != (want < len(l) && l[want] == e) {
					t.Fatalf("n=%d %+v: findTimer = %d %v, want %d", n, e, i, found, want)
				}
			}
		}
	}
}
