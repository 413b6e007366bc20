package network

// Aligner tracks checkpoint barriers per input channel for one task. With
// exactly-once, a channel that delivered barrier n is held (its messages
// wait, its credits are not returned, so its producer stops) until every open
// channel has; with at-least-once nothing is held.
//
// An unaligned checkpoint holds nothing: the task snapshots at the first
// barrier (Unalign, or Announce for a priority barrier) and the gate records
// what the channels bring until their barriers (InputGate.Record): the
// input part of the checkpoint's channel state.
//
// It is a state machine without I/O: the consuming task's goroutine owns it
// and feeds it barriers and held deliveries; it is not safe for concurrent use.
type Aligner struct {
	exactlyOnce bool
	current     int64 // checkpoint being aligned, 0: none
	last        int64 // the last checkpoint taken or abandoned
	dir         string
	arrived     map[*InputChannel]bool
	held        map[*InputChannel][]Delivery
	unaligned   bool // the current checkpoint is taken unaligned
}

// NewAligner returns an aligner for exactly-once (barriers hold channels) or
// at-least-once checkpoints.
func NewAligner(exactlyOnce bool) *Aligner {
	return &Aligner{exactlyOnce: exactlyOnce, arrived: map[*InputChannel]bool{}, held: map[*InputChannel][]Delivery{}}
}

// Blocked reports whether deliveries from ch must wait (Hold them).
func (a *Aligner) Blocked(ch *InputChannel) bool {
	return a.exactlyOnce && a.current != 0 && !a.unaligned && a.arrived[ch]
}

// Unaligned reports whether the current checkpoint is taken unaligned.
func (a *Aligner) Unaligned() bool { return a.current != 0 && a.unaligned }

// Unalign switches the current checkpoint to unaligned (its snapshot is
// taken now): it returns the held deliveries, to process after the
// snapshot; the channels still missing the barrier are recorded.
func (a *Aligner) Unalign() []Delivery {
	if a.current == 0 || a.unaligned {
		return nil
	}
	a.unaligned = true
	var out []Delivery
	for ch, ds := range a.held {
		out = append(out, ds...)
		delete(a.held, ch)
	}
	return out
}

// Announce starts unaligned checkpoint id, whose priority barrier arrived
// (InputGate.TakePriority) ahead of messages still queued, when no
// checkpoint is in progress here and id is newer than the last one: it
// reports whether it did. The caller then snapshots (Unalign) and every
// channel records until its barrier id comes in order (Barrier). A
// checkpoint in progress is left alone: the barrier is handled in order.
func (a *Aligner) Announce(id int64, dir string) bool {
	if a.current != 0 || id <= a.last {
		return false
	}
	a.current, a.dir = id, dir
	clear(a.arrived)
	return true
}

// Hold keeps d until the alignment ends; its credit stays with the consumer.
func (a *Aligner) Hold(d Delivery) { a.held[d.Channel] = append(a.held[d.Channel], d) }

// Arrived reports whether ch delivered the current checkpoint's barrier.
func (a *Aligner) Arrived(ch *InputChannel) bool { return a.current != 0 && a.arrived[ch] }

// Current is the checkpoint being aligned (0: none) and the directory its barrier named.
func (a *Aligner) Current() (id int64, dir string) { return a.current, a.dir }

// Barrier records barrier id on ch; it returns true when every open channel
// has delivered it (the task then snapshots and releases held messages).
//
// A barrier newer than the one being aligned abandons the older checkpoint
// (its sources were triggered out of order, or it was aborted): the held
// messages are released, in order, and abandoned names the checkpoint this
// task must decline. Barriers older than the current one are ignored.
func (a *Aligner) Barrier(ch *InputChannel, id int64, dir string, open []*InputChannel) (complete bool, released []Delivery, abandoned int64) {
	if id <= a.last || id < a.current {
		return false, nil, 0 // a checkpoint already taken or abandoned here
	}
	if id > a.current {
		if a.current != 0 {
			abandoned = a.current
			released = a.Release()
		}
		a.current, a.dir = id, dir
		clear(a.arrived)
	}
	a.arrived[ch] = true
	return a.Complete(open), released, abandoned
}

// Complete reports whether every channel of open that has not ended has
// delivered the barrier being aligned.
func (a *Aligner) Complete(open []*InputChannel) bool {
	if a.current == 0 {
		return false
	}
	for _, ch := range open {
		if !ch.ended && !a.arrived[ch] {
			return false
		}
	}
	return true
}

// Release ends the alignment and returns the held deliveries, each
// channel's in order.
func (a *Aligner) Release() []Delivery {
	var out []Delivery
	for ch, ds := range a.held {
		out = append(out, ds...)
		delete(a.held, ch)
	}
	a.last = max(a.last, a.current)
	a.current = 0
	a.unaligned = false
	clear(a.arrived)
	return out
}
