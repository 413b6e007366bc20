package network

import (
	"bytes"
	"context"
	"errors"
	"reflect"
	"slices"
	"testing"

	"floe/internal/codec"
	"floe/internal/rpc/floepb"
)

func sampleState() []ChannelState {
	return []ChannelState{
		{Key: ChannelKey{Output: true, Edge: 2, Index: 1}, Messages: []Message{
			{Payload: []byte("batch-a"), Records: 3, Start: true},
			{Event: Watermark, Value: -5},
			{Event: Barrier, Value: 7, Payload: []byte("chk-7")}}},
		{Key: ChannelKey{Edge: 1, Index: 0}, Messages: []Message{{Payload: []byte{}, Records: 0}}},
		{Key: ChannelKey{Edge: 1, Index: 3}, Messages: nil},
	}
}

// Encode then decode gives the channels back sorted by key, every field of
// every message equal, and payloads that do not alias the file's bytes.
func TestChannelStateRoundTrip(t *testing.T) {
	in := sampleState()
	b := EncodeChannelState(in)
	got, err := DecodeChannelState(b)
	if err != nil {
		t.Fatal(err)
	}
	want := []ChannelState{in[1], in[2], in[0]} // inputs first, by edge and index
	if len(got) != len(want) {
		t.Fatalf("%d channels, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i].Key != want[i].Key || len(got[i].Messages) != len(want[i].Messages) {
			t.Fatalf("channel %d: %+v, want %+v", i, got[i], want[i])
		}
		for j, m := range want[i].Messages {
			g := got[i].Messages[j]
			if g.Event != m.Event || g.Value != m.Value || g.Records != m.Records || g.Start != m.Start || !bytes.Equal(g.Payload, m.Payload) {
				t.Fatalf("channel %d message %d: %+v, want %+v", i, j, g, m)
			}
		}
	}
	for i := range b {
		b[i] = 0
	}
	if string(got[2].Messages[0].Payload) != "batch-a" {
		t.Fatal("decoded payloads alias the file's bytes")
	}
}

// Every single-byte change and every truncation is refused with ErrChannelState.
func TestChannelStateCorrupt(t *testing.T) {
	b := EncodeChannelState(sampleState())
	for i := range b {
		c := bytes.Clone(b)
		c[i] ^= 0x40
		if _, err := DecodeChannelState(c); !errors.Is(err, ErrChannelState) {
			t.Fatalf("byte %d flipped: %v, want ErrChannelState", i, err)
		}
	}
	for n := range len(b) {
		if _, err := DecodeChannelState(b[:n]); !errors.Is(err, ErrChannelState) {
			t.Fatalf("truncated to %d: %v", n, err)
		}
	}
}

// The decoder reads bytes from the checkpoint storage: it must never panic
// and what it accepts must encode back to the same bytes.
func FuzzDecodeChannelState(f *testing.F) {
	f.Add(EncodeChannelState(sampleState()))
	f.Add(EncodeChannelState(nil))
	f.Add([]byte("FLOECHST"))
	f.Fuzz(func(t *testing.T, b []byte) {
		st, err := DecodeChannelState(b)
		if err != nil {
			return
		}
		if again := EncodeChannelState(st); !bytes.Equal(again, b) {
			t.Fatalf("accepted bytes do not encode back: %x vs %x", again, b)
		}
	})
}

// Messages from the middle of a stream decode on a resumed decoder, a
// stream start on a fresh one, in any sequence of the two (channel state
// that spans a restore holds the end of an old stream and a new one).
func TestReplayDecoderMidStream(t *testing.T) {
	c, err := codec.For[int64]()
	if err != nil {
		t.Fatal(err)
	}
	stream := func(batches ...[]int64) [][]byte {
		w := c.NewWriter(nil)
		defer w.Close()
		var out [][]byte
		for _, b := range batches {
			p, err := w.Append(b)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, bytes.Clone(p))
		}
		return out
	}
	old := stream([]int64{1, 2}, []int64{3}, []int64{4, 5})
	fresh := stream([]int64{10}, []int64{11, 12})
	var got []int64
	r := NewReplayDecoder(func() (Decoder, error) { return NewDecoder[int64](collect(&got)) })
	for _, step := range []struct {
		payload []byte
		start   bool
	}{{old[1], false}, {old[2], false}, {fresh[0], true}, {fresh[1], false}} {
		if _, err := r.Decode(step.payload, step.start); err != nil {
			t.Fatal(err)
		}
	}
	if want := []int64{3, 4, 5, 10, 11, 12}; !reflect.DeepEqual(got, want) {
		t.Fatalf("replayed %v, want %v", got, want)
	}
}

type collector struct{ got *[]int64 }

func (c collector) Collect(v int64)      { *c.got = append(*c.got, v) }
func (c collector) Emit(Event)           {}
func collect(got *[]int64) Output[int64] { return collector{got} }

// Recovered yields each input channel's messages in order, channel by
// channel in the gate's order, data marked for the replay decoder and
// payloads copied; an input channel the gate lacks is an error.
func TestRecoveredDeliveries(t *testing.T) {
	chs := []*InputChannel{
		{pos: 0, desc: &floepb.InputChannelDescriptor{Edge: 1, Producer: &floepb.TaskRef{Subtask: 0}}},
		{pos: 1, desc: &floepb.InputChannelDescriptor{Edge: 1, Producer: &floepb.TaskRef{Subtask: 1}}},
	}
	payload := []byte("p")
	states := []ChannelState{
		{Key: ChannelKey{Edge: 1, Index: 1}, Messages: []Message{{Payload: payload, Records: 1, Start: true}, {Event: Watermark, Value: 9}}},
		{Key: ChannelKey{Output: true, Edge: 5, Index: 0}, Messages: []Message{{Payload: []byte("out")}}},
		{Key: ChannelKey{Edge: 1, Index: 0}, Messages: []Message{{Payload: []byte("q"), Records: 2}}},
	}
	ds, err := Recovered(chs, states)
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		ch    int
		kind  floepb.EventKind
		value int64
	}
	var got []row
	for _, d := range ds {
		if !d.Recovered {
			t.Fatal("a recovered delivery not marked Recovered")
		}
		got = append(got, row{d.Channel.Index(), d.Msg.GetKind(), d.Msg.GetValue()})
	}
	want := []row{{0, 0, RecoveredData}, {1, 0, RecoveredStart}, {1, Watermark, 9}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("deliveries %v, want %v", got, want)
	}
	payload[0] = 'x'
	if string(ds[1].Msg.GetPayload()) != "p" {
		t.Fatal("recovered payload aliases the state's")
	}
	if _, err := Recovered(chs[:1], states); err == nil {
		t.Fatal("state of a channel the gate lacks accepted")
	}
}

// A priority barrier goes ahead of queued messages but behind earlier
// barriers, takes the writer's pending batch along, never waits for space,
// and returns what it overtook; the queue then sends in the new order.
func TestOvertake(t *testing.T) {
	var stats BufferStats
	p := NewResultPartition(PartitionKey{}, 1, 2, &stats)
	s := p.Sink(context.Background())
	for _, m := range []Message{{Payload: []byte("a"), Records: 1}, {Event: Barrier, Value: 1}} {
		if err := s.Send(0, m); err != nil {
			t.Fatal(err)
		}
	}
	p.subs[0].queue = append([]Message{{Event: Barrier, Value: 1}}, p.subs[0].queue[:1]...) // barrier 1 at the front, as a priority one
	err := s.(PrioritySink).SendPriority(0, Message{Event: Barrier, Value: 2}, []Message{{Payload: []byte("b"), Records: 1}})
	if err != nil {
		t.Fatal(err)
	}
	over := p.TakeOvertaken()[0]
	if len(over) != 2 || string(over[0].Payload) != "a" || !over[0].Start || string(over[1].Payload) != "b" || over[1].Start {
		t.Fatalf("overtaken %+v, want a (stream start) and b", over)
	}
	var order []string
	for {
		m, ok, _ := p.subs[0].pop()
		if !ok {
			break
		}
		if m.Event == Barrier {
			order = append(order, "B"+string(rune('0'+m.Value)))
		} else {
			order = append(order, string(m.Payload))
		}
	}
	if want := []string{"B1", "B2", "a", "b"}; !reflect.DeepEqual(order, want) {
		t.Fatalf("queue order %v, want %v", order, want)
	}
	if p.TakeOvertaken() != nil {
		t.Fatal("TakeOvertaken did not forget")
	}
}

// Unaligned: nothing held; the switch hands out what was held; Announce
// starts a checkpoint without an arrival, only when none is in progress.
func TestAlignerUnaligned(t *testing.T) {
	a := NewAligner(true)
	c0, c1 := &InputChannel{}, &InputChannel{}
	open := []*InputChannel{c0, c1}
	a.Barrier(c0, 4, "chk-4", open)
	a.Hold(Delivery{Channel: c0, Msg: msg(1, false)}) // held before the switch (an aligned start)
	if held := a.Unalign(); len(held) != 1 || !a.Unaligned() {
		t.Fatalf("Unalign returned %d held, unaligned %v", len(held), a.Unaligned())
	}
	if a.Blocked(c0) || !a.Arrived(c0) || a.Arrived(c1) {
		t.Fatal("after the switch: c0 arrived and not blocked, c1 not arrived")
	}
	if a.Announce(5, "chk-5") {
		t.Fatal("Announce started 5 while 4 is in progress")
	}
	if done, _, _ := a.Barrier(c1, 4, "chk-4", open); !done {
		t.Fatal("both barriers in, not complete")
	}
	a.Release()
	if a.Unaligned() {
		t.Fatal("still unaligned after Release")
	}
	if a.Announce(4, "chk-4") {
		t.Fatal("Announce restarted checkpoint 4")
	}
	if !a.Announce(6, "chk-6") || a.Arrived(c0) || a.Arrived(c1) {
		t.Fatal("Announce(6): not started, or with an arrival")
	}
	if done, _, ab := a.Barrier(c0, 6, "chk-6", open); done || ab != 0 {
		t.Fatalf("first in-order barrier 6: done %v abandoned %d", done, ab)
	}
	if done, _, _ := a.Barrier(c1, 6, "chk-6", open); !done {
		t.Fatal("both barriers 6 in, not complete")
	}
}

// The input part of channel state: at the snapshot, what each channel
// received and the task has not processed, up to the barrier; then what
// arrives until the barrier; complete when every channel received it,
// whatever the task still has to process.
func TestInputRecording(t *testing.T) {
	gate, err := NewInputGate([]*floepb.InputGateDescriptor{{Channels: []*floepb.InputChannelDescriptor{
		{Edge: 0, Producer: &floepb.TaskRef{Subtask: 0}}, {Edge: 0, Producer: &floepb.TaskRef{Subtask: 1}},
		{Edge: 0, Producer: &floepb.TaskRef{Subtask: 2}}}}}, func(string) (Subscriber, error) { return nil, nil }, 4, &BufferStats{})
	if err != nil {
		t.Fatal(err)
	}
	c := gate.Channels()
	data := func(v int64) *floepb.ProducerMessage {
		return &floepb.ProducerMessage{Records: int32(v), Payload: []byte{byte(v)}}
	}
	b7 := &floepb.ProducerMessage{Kind: floepb.EventKind_BARRIER, Value: 7, Flags: FlagPriority}
	// Channel 0: 1 processed, 2 and 3 pending, then its barrier, then 4 (after it).
	m1, m2 := data(1), data(2)
	c[0].received(m1)
	c[0].received(m2)
	c[0].received(data(3))
	c[0].received(b7)
	c[0].received(data(4))
	c[0].Processed(m1)
	// Channel 1: 10 pending; 11 and the barrier come after the snapshot, then 12.
	c[1].received(data(10))
	// Channel 2: its barrier 7 was processed already (arrived).
	recovered := []Delivery{{Channel: c[1], Recovered: true, Msg: &floepb.ProducerMessage{Value: RecoveredData, Records: 9}}}
	r := gate.Record(7, func(ch *InputChannel) bool { return ch == c[2] }, recovered)
	select {
	case <-r.Done():
		t.Fatal("complete before channel 1 received its barrier")
	default:
	}
	c[0].Processed(m2) // the task goes on: what it processes now is in the record already
	c[1].received(data(11))
	c[2].received(data(30)) // after its barrier
	c[1].received(&floepb.ProducerMessage{Kind: floepb.EventKind_BARRIER, Value: 7})
	c[1].received(data(12))
	<-r.Done()
	got, err := r.Wait()
	if err != nil {
		t.Fatal(err)
	}
	records := func(ms []Message) (out []int) {
		for _, m := range ms {
			out = append(out, m.Records)
		}
		return out
	}
	if len(got) != 2 || got[0].Key.Index != 0 || got[1].Key.Index != 1 ||
		!slices.Equal(records(got[0].Messages), []int{2, 3}) || !slices.Equal(records(got[1].Messages), []int{9, 10, 11}) {
		t.Fatalf("recorded %+v", got)
	}
	// Channel 0's stream started with 1 (processed); channel 1's with 10.
	if got[0].Messages[0].Start || got[0].Messages[1].Start || got[1].Messages[0].Start || !got[1].Messages[1].Start || got[1].Messages[2].Start {
		t.Fatalf("stream starts: %+v", got)
	}
	// A cancelled recording reports the error; a complete one stays complete.
	r.Cancel(errors.New("late"))
	if _, err := r.Wait(); err != nil {
		t.Fatalf("Cancel after completion: %v", err)
	}
	r2 := gate.Record(8, func(*InputChannel) bool { return false }, nil)
	r2.Cancel(errors.New("abandoned"))
	if _, err := r2.Wait(); err == nil {
		t.Fatal("a cancelled recording returned state")
	}
	c[0].received(data(5)) // nothing records any more
	for _, ch := range c {
		if ch.rec != nil {
			t.Fatal("a channel still records after Cancel")
		}
	}
}
