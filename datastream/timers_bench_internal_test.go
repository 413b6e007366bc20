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
