package container

import (
	"math"
	"testing"
	"time"

	"floe/internal/rpc/floepb"
)

func TestAlignmentTime(t *testing.T) {
	m := newTaskMetrics(true)
	m.barrierSeen(3)
	time.Sleep(20 * time.Millisecond)
	m.barrierSeen(3) // the second input's barrier: alignment goes on
	m.aligned(3)
	if ms := m.takeAlignment(3); ms < 20 {
		t.Errorf("alignment of checkpoint 3: %d ms, want at least the 20 ms between its barriers", ms)
	}
	if ms := m.takeAlignment(3); ms != 0 {
		t.Errorf("alignment taken twice: %d", ms)
	}
	m.aligned(4) // never saw a barrier of 4
	if ms := m.takeAlignment(4); ms != 0 {
		t.Errorf("checkpoint 4 without barriers: %d ms", ms)
	}
}

// A task's sample: counters as they are, rates from the meters, busy time
// what is neither idle nor back-pressured, watermarks absent until set.
func TestTaskSample(t *testing.T) {
	tk := &task{dep: &floepb.TaskDeployment{Task: &floepb.TaskRef{JobId: "j"}}, m: newTaskMetrics(true)}
	start := time.Now()
	tk.m.started = start
	tk.sample(start)
	tk.m.recordsIn.Add(1000)
	tk.m.idleNs.Add(int64(500 * time.Millisecond))
	tk.m.backPressuredNs.Add(int64(250 * time.Millisecond))
	s := tk.sample(start.Add(time.Second))
	if s.GetRecordsIn() != 1000 || math.Abs(s.GetRecordsInPerSecond()-1000) > 1 {
		t.Errorf("records in %d at %.1f/s, want 1000 at 1000/s", s.GetRecordsIn(), s.GetRecordsInPerSecond())
	}
	if math.Abs(s.GetIdleMsPerSecond()-500) > 1 || math.Abs(s.GetBackPressuredMsPerSecond()-250) > 1 || math.Abs(s.GetBusyMsPerSecond()-250) > 1 {
		t.Errorf("idle/back-pressured/busy %.0f/%.0f/%.0f ms per second, want 500/250/250", s.GetIdleMsPerSecond(), s.GetBackPressuredMsPerSecond(), s.GetBusyMsPerSecond())
	}
	if s.GetInputWatermark() != math.MinInt64 || s.GetOutputWatermark() != math.MinInt64 {
		t.Errorf("watermarks %d %d before any", s.GetInputWatermark(), s.GetOutputWatermark())
	}
}
