package network

import (
	"testing"

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
	a := NewAligner(true)
	c0, c1 := &InputChannel{}, &InputChannel{}
	open := []*InputChannel{c0, c1}

	if done, rel, ab := a.Barrier(c0, 2, "d2", open); done || rel != nil || ab != 0 {
		t.Fatalf("first barrier: %v %v %v", done, rel, ab)
	}
	if !a.Blocked(c0) || a.Blocked(c1) {
		t.Fatal("the channel that delivered the barrier must be held, the other not")
	}
	a.Hold(Delivery{Channel: c0, Msg: msg(7, false)})
	// Barrier 3 on the other channel before its barrier 2: checkpoint 2 is abandoned.
	done, rel, ab := a.Barrier(c1, 3, "d3", open)
	if done || ab != 2 || len(rel) != 1 || rel[0].Msg.GetRecords() != 7 {
		t.Fatalf("newer barrier: done %v released %v abandoned %d", done, rel, ab)
	}
	if a.Blocked(c0) || !a.Blocked(c1) {
		t.Fatal("after abandoning, only the channel that delivered barrier 3 is held")
	}
	// The late barrier 2 is ignored; barrier 3 on c0 completes the alignment.
	if done, _, _ := a.Barrier(c1, 2, "d2", open); done {
		t.Fatal("an abandoned barrier completed an alignment")
	}
	if done, _, _ := a.Barrier(c0, 3, "d3", open); !done || a.dir != "d3" {
		t.Fatalf("barrier 3 on every channel: done %v dir %q", done, a.dir)
	}
	a.Release()
	if a.Blocked(c0) || a.Blocked(c1) {
		t.Fatal("released channels still held")
	}
	if done, _, _ := a.Barrier(c0, 3, "d3", open); done || a.current != 0 {
		t.Fatal("a barrier of a checkpoint already taken started a new alignment")
	}
}

func TestAlignerAtLeastOnceHoldsNothing(t *testing.T) {
	a := NewAligner(false)
	c0, c1 := &InputChannel{}, &InputChannel{}
	a.Barrier(c0, 1, "d", []*InputChannel{c0, c1})
	if a.Blocked(c0) {
		t.Fatal("at-least-once held a channel")
	}
	// A channel that ended counts as aligned.
	c1.ended = true
	if !a.Complete([]*InputChannel{c0, c1}) {
		t.Fatal("an ended channel blocks the alignment")
	}
}
