package network

import (
	"math/rand/v2"
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

// Drives the aligner as the task's input loop does (held deliveries wait,
// released ones go ahead of the queue, a complete alignment snapshots and
// releases), over random interleavings of channels whose producers skip
// some barriers, so that newer barriers abandon alignments that hold
// messages. Every snapshot must reflect exactly the data before its barrier
// on each channel, and each channel's data must be processed in order.
func TestAlignerAbandonmentModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 5))
	abandonedHolding := 0 // abandonments that released held messages
	defer func() {
		if !t.Failed() && abandonedHolding < 100 {
			t.Fatalf("only %d abandonments released held messages: the model does not exercise them", abandonedHolding)
		}
		t.Logf("%d abandonments released held messages", abandonedHolding)
	}()
	for round := range 2000 {
		nch := 2 + rng.IntN(3)
		chans := make([]*InputChannel, nch)
		streams := make([][]*floepb.ProducerMessage, nch)
		// before[c][n]: data messages before barrier n on channel c (-1: none).
		before := make([]map[int64]int, nch)
		total := make([]int, nch)
		const checkpoints = 6
		for c := range nch {
			chans[c] = &InputChannel{pos: c}
			before[c] = map[int64]int{}
			data := 0
			for n := int64(1); n <= checkpoints; n++ {
				for range rng.IntN(4) {
					streams[c] = append(streams[c], msg(int64(data), false))
					data++
				}
				if rng.IntN(5) > 0 { // this producer emits barrier n
					streams[c] = append(streams[c], msg(n, true))
					before[c][n] = data
				}
			}
			for range rng.IntN(3) {
				streams[c] = append(streams[c], msg(int64(data), false))
				data++
			}
			total[c] = data
			streams[c] = append(streams[c], &floepb.ProducerMessage{Kind: floepb.EventKind_END_OF_PARTITION})
		}
		// The gate's queue: a random interleaving of the channels.
		var queue []Delivery
		next := make([]int, nch)
		for left := true; left; {
			left = false
			c := rng.IntN(nch)
			for i := range nch {
				if k := (c + i) % nch; next[k] < len(streams[k]) {
					queue = append(queue, Delivery{Channel: chans[k], Msg: streams[k][next[k]]})
					next[k]++
					left = true
					break
				}
			}
		}
		a := NewAligner(true)
		processed := make([]int, nch) // data processed, by channel
		var ready []Delivery
		snapshot := func(n int64) {
			for c := range nch {
				want, ok := before[c][n]
				if !ok && chans[c].ended { // an ended channel counts as aligned
					want, ok = total[c], true
				}
				if !ok {
					t.Fatalf("round %d: checkpoint %d completed without channel %d's barrier", round, n, c)
				}
				if processed[c] != want {
					t.Fatalf("round %d: checkpoint %d: channel %d processed %d data messages at the snapshot, %d came before its barrier",
						round, n, c, processed[c], want)
				}
			}
			ready = append(ready, a.Release()...)
		}
		for len(ready) > 0 || len(queue) > 0 {
			var d Delivery
			if len(ready) > 0 {
				d, ready = ready[0], ready[1:]
			} else {
				d, queue = queue[0], queue[1:]
			}
			if a.Blocked(d.Channel) {
				a.Hold(d)
				continue
			}
			c := d.Channel.pos
			if d.Msg.GetKind() == 0 {
				if got := int(d.Msg.GetRecords()); got != processed[c] {
					t.Fatalf("round %d: channel %d: data %d processed after %d: out of order", round, c, got, processed[c]-1)
				}
				processed[c]++
				continue
			}
			if d.Msg.GetKind() == floepb.EventKind_END_OF_PARTITION {
				d.Channel.End()
				if a.Complete(chans) {
					id, _ := a.Current()
					snapshot(id)
				}
				continue
			}
			complete, released, abandoned := a.Barrier(d.Channel, d.Msg.GetValue(), "", chans)
			if abandoned != 0 && len(released) > 0 {
				abandonedHolding++
			}
			ready = append(ready, released...)
			if complete {
				snapshot(d.Msg.GetValue())
			}
		}
		for c := range nch {
			if processed[c] != total[c] {
				t.Fatalf("round %d: channel %d: %d data messages processed of %d", round, c, processed[c], total[c])
			}
		}
	}
}
