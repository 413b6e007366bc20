package datastream

import (
	"fmt"
	"testing"

	"floe/internal/state"
)

// BenchmarkTimerRegister registers, per record, a timer its key already
// has, as a window operator does for every record of an open window, with
// 1, 16 and 256 timers per key (64 keys).
func BenchmarkTimerRegister(b *testing.B) {
	for _, per := range []int{1, 16, 256} {
		b.Run(fmt.Sprintf("timers=%d", per), func(b *testing.B) {
			be, err := state.NewBackend[int64](128)
			if err != nil {
				b.Fatal(err)
			}
			ts, err := newTimers(be)
			if err != nil {
				b.Fatal(err)
			}
			for k := range int64(64) {
				for t := range int64(per) {
					ts.register(k, t, false)
				}
			}
			var i int64
			for b.Loop() {
				ts.register(i&63, (i>>6)%int64(per), false)
				i++
			}
		})
	}
}

// BenchmarkTimerChurn registers a new timer per record and fires the due
// ones as the watermark moves, with about 8 timers pending per key (4096
// keys): the path of a sliding window operator.
func BenchmarkTimerChurn(b *testing.B) {
	be, err := state.NewBackend[int64](128)
	if err != nil {
		b.Fatal(err)
	}
	ts, err := newTimers(be)
	if err != nil {
		b.Fatal(err)
	}
	var i int64
	for b.Loop() {
		k := i & 4095
		ts.register(k, i>>12+8, false)
		if k == 4095 {
			ts.advance(i>>12, false, func(int64, int64) {})
		}
		i++
	}
}
