package network

import "math"

// Watermarks tracks a task's event time: the least watermark of the channels
// that are neither ended nor idle. It only moves forward. When every open
// channel is idle the task is idle too and says so downstream, so that it
// holds no consumer back either.
//
// It is a state machine without I/O: the consuming task's goroutine owns it,
// calls Update after a channel's watermark, status or end changed, and emits
// what Update returns. It is not safe for concurrent use.
type Watermarks struct {
	task int64
	idle bool
}

// NewWatermarks returns a tracker that has emitted nothing yet.
func NewWatermarks() *Watermarks { return &Watermarks{task: math.MinInt64} }

// WatermarkUpdate is what the task must emit after an Update, status first.
type WatermarkUpdate struct {
	// StatusChanged: emit the task's watermark status, Idle.
	StatusChanged, Idle bool
	// Advanced: emit Watermark, the task's new watermark.
	Advanced  bool
	Watermark int64
}

// Update recomputes the task's event time over chs.
func (w *Watermarks) Update(chs []*InputChannel) WatermarkUpdate {
	wm, active := int64(math.MaxInt64), false
	for _, ch := range chs {
		if !ch.ended && !ch.idle {
			wm, active = min(wm, ch.watermark), true
		}
	}
	var u WatermarkUpdate
	if idle := !active; idle != w.idle {
		w.idle = idle
		u.StatusChanged, u.Idle = true, idle
	}
	if active && wm > w.task {
		w.task = wm
		u.Advanced, u.Watermark = true, wm
	}
	return u
}

// Task is the task's current watermark (math.MinInt64 before the first).
func (w *Watermarks) Task() int64 { return w.task }
