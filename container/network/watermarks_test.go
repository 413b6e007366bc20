package network

import (
	"fmt"
	"math"
	"slices"
	"testing"
)

// emitted renders an update as the task would emit it, status first.
func emitted(u WatermarkUpdate) []string {
	var out []string
	if u.StatusChanged {
		out = append(out, map[bool]string{true: "idle", false: "active"}[u.Idle])
	}
	if u.Advanced {
		out = append(out, fmt.Sprint("wm ", u.Watermark))
	}
	return out
}

// Scripted: watermarks, idleness and ends of three channels in; the task's
// watermarks and status changes out.
func TestTaskWatermark(t *testing.T) {
	chs := []*InputChannel{{watermark: math.MinInt64}, {watermark: math.MinInt64}, {watermark: math.MinInt64}}
	w := NewWatermarks()
	step := func(do func(), want ...string) {
		t.Helper()
		do()
		out := emitted(w.Update(chs))
		if !slices.Equal(out, want) {
			t.Fatalf("emitted %q, want %q", out, want)
		}
	}
	step(func() { chs[0].watermark = 10 })                              // the others hold it back
	step(func() { chs[1].watermark = 5; chs[2].watermark = 7 }, "wm 5") // the least
	step(func() { chs[1].idle = true }, "wm 7")                         // an idle channel holds nobody back
	step(func() { chs[1].watermark = 100 })                             // nor moves anything while idle
	step(func() { chs[2].ended = true }, "wm 10")                       // nor does an ended one
	step(func() { chs[0].idle = true }, "idle")                         // every open channel idle: the task is idle
	step(func() { chs[0].watermark = 20 })                              // an idle task emits no watermark
	step(func() { chs[0].idle = false }, "active", "wm 20")             // back: active, and its watermark counts
	step(func() { chs[1].idle = false })                                // min(20, 100): no change
	step(func() { chs[0].watermark = 15 })                              // the watermark never goes back
	step(func() { chs[0].watermark = 30 }, "wm 30")
}
