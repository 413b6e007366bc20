package network

import (
	"bytes"
	"context"
	"errors"
	"reflect"
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

// Unaligned: nothing held; channels missing the barrier are recorded until
// it comes; the record is handed out channel by channel.
func TestAlignerUnaligned(t *testing.T) {
	a := NewAligner(true)
	d := func(e int32, s int32) *InputChannel {
		return &InputChannel{desc: &floepb.InputChannelDescriptor{Edge: e, Producer: &floepb.TaskRef{Subtask: s}}}
	}
	c0, c1 := d(0, 0), d(0, 1)
	open := []*InputChannel{c0, c1}
	a.Barrier(c0, 4, "chk-4", open)
	a.Hold(Delivery{Channel: c0, Msg: msg(1, false)}) // held before the switch (an aligned start)
	if held := a.Unalign(); len(held) != 1 || !a.Unaligned() {
		t.Fatalf("Unalign returned %d held, unaligned %v", len(held), a.Unaligned())
	}
	if a.Blocked(c0) || a.Recording(c0) || !a.Recording(c1) {
		t.Fatal("after the switch: c0 neither blocked nor recorded, c1 recorded")
	}
	a.Record(c1, Message{Records: 5})
	if done, _, _ := a.Barrier(c1, 4, "chk-4", open); !done {
		t.Fatal("both barriers in, not complete")
	}
	if a.Recording(c1) {
		t.Fatal("c1 still recorded after its barrier")
	}
	rec := a.TakeRecorded(open)
	if len(rec) != 1 || rec[0].Key != (ChannelKey{Edge: 0, Index: 1}) || rec[0].Messages[0].Records != 5 {
		t.Fatalf("recorded %+v", rec)
	}
	a.Release()
	if a.Unaligned() {
		t.Fatal("still unaligned after Release")
	}
}
