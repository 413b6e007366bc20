package container

import (
	"testing"

	"floe/config"
	"floe/internal/rpc/floepb"
)

func msg(v int64, barrier bool) *floepb.ProducerMessage {
	if barrier {
		return &floepb.ProducerMessage{Kind: floepb.EventKind_BARRIER, Value: v}
	}
	return &floepb.ProducerMessage{Records: int32(v)}
}

// Scripted: barriers in, holds, releases and completions out.
func TestAlignerExactlyOnce(t *testing.T) {
	a := newAligner(config.New(nil))
	c0, c1 := &inputChannel{}, &inputChannel{}
	open := []*inputChannel{c0, c1}

	if done, rel, ab := a.barrier(c0, 2, "d2", open); done || rel != nil || ab != 0 {
		t.Fatalf("first barrier: %v %v %v", done, rel, ab)
	}
	if !a.blocked(c0) || a.blocked(c1) {
		t.Fatal("the channel that delivered the barrier must be held, the other not")
	}
	a.held[c0] = append(a.held[c0], delivery{c0, msg(7, false)})
	// Barrier 3 on the other channel before its barrier 2: checkpoint 2 is abandoned.
	done, rel, ab := a.barrier(c1, 3, "d3", open)
	if done || ab != 2 || len(rel) != 1 || rel[0].msg.GetRecords() != 7 {
		t.Fatalf("newer barrier: done %v released %v abandoned %d", done, rel, ab)
	}
	if a.blocked(c0) || !a.blocked(c1) {
		t.Fatal("after abandoning, only the channel that delivered barrier 3 is held")
	}
	// The late barrier 2 is ignored; barrier 3 on c0 completes the alignment.
	if done, _, _ := a.barrier(c1, 2, "d2", open); done {
		t.Fatal("an abandoned barrier completed an alignment")
	}
	if done, _, _ := a.barrier(c0, 3, "d3", open); !done || a.dir != "d3" {
		t.Fatalf("barrier 3 on every channel: done %v dir %q", done, a.dir)
	}
	a.release()
	if a.blocked(c0) || a.blocked(c1) {
		t.Fatal("released channels still held")
	}
	if done, _, _ := a.barrier(c0, 3, "d3", open); done || a.current != 0 {
		t.Fatal("a barrier of a checkpoint already taken started a new alignment")
	}
}

func TestAlignerAtLeastOnceHoldsNothing(t *testing.T) {
	a := newAligner(config.New(map[string]string{"execution.checkpointing.mode": "AT_LEAST_ONCE"}))
	c0, c1 := &inputChannel{}, &inputChannel{}
	a.barrier(c0, 1, "d", []*inputChannel{c0, c1})
	if a.blocked(c0) {
		t.Fatal("at-least-once held a channel")
	}
	// A channel that ended counts as aligned.
	c1.ended = true
	if !a.complete([]*inputChannel{c0, c1}) {
		t.Fatal("an ended channel blocks the alignment")
	}
}
