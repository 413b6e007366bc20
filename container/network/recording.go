package network

import (
	"errors"
	"sync"

	"floe/internal/rpc/floepb"
)

// The input part of an unaligned checkpoint's channel state is recorded as
// the messages arrive, not as the task processes them: when the task
// snapshots, each channel's state is what it received and the task has not
// processed yet, up to the channel's barrier, and after that what arrives
// until the barrier does (or the end of the partition). It is complete as
// soon as every channel received its barrier (a priority barrier passes
// the queues), however many messages the task still has to process.

// pendingMsg is a message an input channel received that its task has not
// processed yet.
type pendingMsg struct {
	m *floepb.ProducerMessage
	// start: the first live data message of the channel (its stream's schema).
	start bool
}

// chanRecording is one channel's part of an InputRecording, while the
// channel has not received the barrier (guarded by the channel's mu).
type chanRecording struct {
	r    *InputRecording
	msgs []Message
}

// InputRecording is the input part of one unaligned checkpoint's channel
// state, recorded by the gate's channels (InputGate.Record). Safe for
// concurrent use.
type InputRecording struct {
	id       int64
	channels []*InputChannel

	mu     sync.Mutex
	states map[*InputChannel][]Message
	open   int // channels still recording
	err    error
	done   chan struct{}
}

// Record starts recording checkpoint id's input channel state, at the
// task's snapshot, from the task's goroutine. arrived reports the channels
// whose barrier id the task has processed already (nothing to record);
// ready are the deliveries the task holds to process next: its recovered
// ones (replayed channel state) come first in their channel's record. The
// others are in the channels' pending lists already.
func (g *InputGate) Record(id int64, arrived func(*InputChannel) bool, ready []Delivery) *InputRecording {
	r := &InputRecording{id: id, channels: g.channels, states: map[*InputChannel][]Message{}, done: make(chan struct{})}
	for _, ch := range g.channels {
		if arrived(ch) || ch.ended {
			continue
		}
		var msgs []Message
		for _, d := range ready {
			if d.Recovered && d.Channel == ch && recorded(EventKind(d.Msg.GetKind())) {
				msgs = append(msgs, Record(d, false))
			}
		}
		ch.mu.Lock()
		if old := ch.rec; old != nil { // an older checkpoint's (its task cancels it first)
			ch.rec = nil
			defer old.r.Cancel(errors.New("superseded by a newer checkpoint's recording"))
		}
		complete := false
		for _, p := range ch.pending {
			if ends(p.m, id) {
				complete = true
				break
			}
			if recorded(EventKind(p.m.GetKind())) {
				msgs = append(msgs, Record(Delivery{Channel: ch, Msg: p.m}, p.start))
			}
		}
		if complete {
			if len(msgs) > 0 {
				r.states[ch] = msgs
			}
		} else {
			r.open++
			ch.rec = &chanRecording{r: r, msgs: msgs}
		}
		ch.mu.Unlock()
	}
	r.mu.Lock()
	if r.open == 0 {
		close(r.done)
	}
	r.mu.Unlock()
	return r
}

// recorded reports whether messages of kind k belong to channel state:
// data and watermarks, not barriers or the end of the partition.
func recorded(k EventKind) bool { return k != Barrier && k != EndOfInput }

// ends reports whether m ends the recording of checkpoint id on its
// channel: its barrier (or a newer one), or the end of the partition.
func ends(m *floepb.ProducerMessage, id int64) bool {
	k := EventKind(m.GetKind())
	return k == EndOfInput || k == Barrier && m.GetValue() >= id
}

// add records m, received by ch (call with ch.mu held).
func (c *chanRecording) add(ch *InputChannel, m *floepb.ProducerMessage, start bool) {
	if ends(m, c.r.id) {
		ch.rec = nil
		c.r.finish(ch, c.msgs)
		return
	}
	if recorded(EventKind(m.GetKind())) {
		c.msgs = append(c.msgs, Record(Delivery{Channel: ch, Msg: m}, start))
	}
}

func (r *InputRecording) finish(ch *InputChannel, msgs []Message) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err != nil {
		return
	}
	if len(msgs) > 0 {
		r.states[ch] = msgs
	}
	if r.open--; r.open == 0 {
		close(r.done)
	}
}

// Cancel ends the recording without state (its checkpoint was abandoned,
// or the task ends): Wait returns err. After Wait returned it does nothing.
func (r *InputRecording) Cancel(err error) {
	if r == nil {
		return
	}
	r.mu.Lock()
	if r.err != nil || r.open == 0 {
		r.mu.Unlock()
		return
	}
	r.err = err
	r.open = 0
	close(r.done)
	r.mu.Unlock()
	for _, ch := range r.channels {
		ch.mu.Lock()
		if ch.rec != nil && ch.rec.r == r {
			ch.rec = nil
		}
		ch.mu.Unlock()
	}
}

// Done is closed when every channel received its barrier, or Cancel.
func (r *InputRecording) Done() <-chan struct{} { return r.done }

// Wait waits for Done and returns the state, channels in the gate's order.
func (r *InputRecording) Wait() ([]ChannelState, error) {
	<-r.done
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err != nil {
		return nil, r.err
	}
	var out []ChannelState
	for _, ch := range r.channels {
		if ms := r.states[ch]; len(ms) > 0 {
			out = append(out, ChannelState{Key: ChannelKey{Edge: ch.desc.GetEdge(), Index: ch.desc.GetProducer().GetSubtask()}, Messages: ms})
		}
	}
	return out, nil
}

// Processed tells ch that its task took m to process (not to hold): it is
// no longer pending. Task goroutine only, in the channel's order.
func (ch *InputChannel) Processed(m *floepb.ProducerMessage) {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	for i, p := range ch.pending {
		if p.m == m {
			clear(ch.pending[:i+1])
			ch.pending = ch.pending[i+1:]
			return
		}
	}
}

// received notes m, which ch's receive goroutine got, as pending and
// records it where a recording is on.
func (ch *InputChannel) received(m *floepb.ProducerMessage) {
	start := false
	if m.GetKind() == 0 && m.GetValue() == 0 && !ch.sawLive {
		start, ch.sawLive = true, true
	}
	ch.mu.Lock()
	ch.pending = append(ch.pending, pendingMsg{m: m, start: start})
	if ch.rec != nil {
		ch.rec.add(ch, m, start)
	}
	ch.mu.Unlock()
}
