package appmaster

import (
	"errors"
	"testing"
	"time"

	"floe/checkpoint"
)

// Checkpoint statistics from the coordinator's actions and the acks: sizes
// add up, the longest alignment wins, aborted ones count as failed, the
// latest completed is the last one that completed.
func TestCheckpointStats(t *testing.T) {
	var s cpStats
	t0 := time.UnixMilli(1_000_000)
	keyed := map[string]checkpoint.SubtaskState{"op": {Keyed: []checkpoint.KeyedHandle{{Size: 100}}}}
	inline := map[string]checkpoint.SubtaskState{"src": {Lists: []checkpoint.ListState{{Entries: []checkpoint.ListEntry{{Inline: []byte("12345")}, {Length: 7}}}}}}
	s.triggered(checkpoint.InjectBarrier{ID: 1, Timestamp: t0}, 2)
	s.acked(1, checkpoint.TaskID{Vertex: 0}, 0, inline, t0.Add(10*time.Millisecond))
	s.acked(1, checkpoint.TaskID{Vertex: 1}, 30, keyed, t0.Add(50*time.Millisecond))
	s.ended(1, nil, t0.Add(60*time.Millisecond))
	s.triggered(checkpoint.InjectBarrier{ID: 2, Timestamp: t0.Add(time.Second)}, 2)
	s.ended(2, errors.New("declined"), t0.Add(2*time.Second))
	s.ended(2, nil, t0.Add(3*time.Second)) // a second outcome changes nothing
	s.triggered(checkpoint.InjectBarrier{ID: 3, Timestamp: t0.Add(3 * time.Second)}, 2)

	if s.completed != 1 || s.failed != 1 {
		t.Fatalf("completed %d failed %d, want 1 and 1", s.completed, s.failed)
	}
	c := s.last()
	if c == nil || c.ID != 1 || c.StateSize != 112 || c.AlignmentMs != 30 || c.Duration != 60 || c.NumAcknowledged != 2 {
		t.Fatalf("latest completed %+v, want id 1, 112 bytes, 30 ms alignment, 60 ms, 2 acks", c)
	}
	if f := s.find(2); f.Status != "FAILED" || f.FailureMessage != "declined" {
		t.Errorf("checkpoint 2: %+v", f)
	}
	if p := s.find(3); p.Status != "IN_PROGRESS" {
		t.Errorf("checkpoint 3: %+v", p)
	}
	for i := 4; i < 4+maxHistory; i++ {
		s.triggered(checkpoint.InjectBarrier{ID: int64(i)}, 1)
	}
	if len(s.history) != maxHistory || s.find(1) != nil {
		t.Errorf("history keeps %d, with the oldest: %v", len(s.history), s.find(1) != nil)
	}
}
