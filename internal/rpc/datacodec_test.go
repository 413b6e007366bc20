package rpc

import (
	"bytes"
	"math"
	"testing"

	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"

	"floe/internal/bufpool"
	"floe/internal/rpc/floepb"
)

// split cuts b into a BufferSlice of pieces of at most size bytes, as gRPC
// hands a message over in frames.
func split(b []byte, size int) mem.BufferSlice {
	var s mem.BufferSlice
	for len(b) > size {
		s = append(s, mem.SliceBuffer(b[:size]))
		b = b[size:]
	}
	return append(s, mem.SliceBuffer(b))
}

func sameProducer(a, b *floepb.ProducerMessage) bool {
	return a.GetKind() == b.GetKind() && a.GetValue() == b.GetValue() && a.GetFlags() == b.GetFlags() &&
		a.GetRecords() == b.GetRecords() && bytes.Equal(a.GetPayload(), b.GetPayload())
}

// TestDataCodecIsProtobuf checks both directions against protobuf-go: what
// the data codec writes, proto.Unmarshal reads back the same, and what
// proto.Marshal writes, the data codec reads the same, whole or in pieces.
func TestDataCodecIsProtobuf(t *testing.T) {
	c := encoding.GetCodecV2(DataCodec)
	if c == nil {
		t.Fatal("data codec not registered")
	}
	payload := bytes.Repeat([]byte("arrow batch "), 10_000)
	msgs := []*floepb.ProducerMessage{
		{},
		{Payload: payload, Records: 1024},
		{Kind: floepb.EventKind_WATERMARK, Value: -5},
		{Kind: floepb.EventKind_BARRIER, Value: math.MaxInt64, Flags: -1, Records: -3, Payload: []byte("chk-dir")},
		{Kind: floepb.EventKind(-7), Records: math.MinInt32, Value: math.MinInt64},
	}
	for _, m := range msgs {
		out, err := c.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		var back floepb.ProducerMessage
		if err := proto.Unmarshal(out.Materialize(), &back); err != nil {
			t.Fatalf("%v: proto cannot read the data codec's bytes: %v", m, err)
		}
		if !sameProducer(m, &back) {
			t.Fatalf("data codec wrote %v, proto read %v", m, &back)
		}
		std, err := proto.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		for _, size := range []int{len(std) + 1, 1, 7, 16 << 10} {
			got := &floepb.ProducerMessage{Value: 99, Payload: []byte("stale")}
			if err := c.Unmarshal(split(bytes.Clone(std), max(size, 1)), got); err != nil {
				t.Fatalf("%v in pieces of %d: %v", m, size, err)
			}
			if !sameProducer(m, got) {
				t.Fatalf("proto wrote %v, the data codec read %v (pieces of %d)", m, got, size)
			}
		}
	}
	// Other messages go to the proto codec.
	cm := &floepb.ConsumerMessage{Credit: 4, Edge: 2}
	out, err := c.Marshal(cm)
	if err != nil {
		t.Fatal(err)
	}
	var back floepb.ConsumerMessage
	if err := c.Unmarshal(out, &back); err != nil || !proto.Equal(cm, &back) {
		t.Fatalf("consumer message %v came back as %v (%v)", cm, &back, err)
	}
}

// TestDataCodecPayloadOwned checks that a payload read from one buffer is a
// copy: gRPC recycles its buffers once Unmarshal returns.
func TestDataCodecPayloadOwned(t *testing.T) {
	std, _ := proto.Marshal(&floepb.ProducerMessage{Payload: []byte("abcdef"), Records: 1})
	var m floepb.ProducerMessage
	if err := encoding.GetCodecV2(DataCodec).Unmarshal(mem.BufferSlice{mem.SliceBuffer(std)}, &m); err != nil {
		t.Fatal(err)
	}
	clear(std)
	if string(m.GetPayload()) != "abcdef" {
		t.Fatalf("payload changed with gRPC's buffer: %q", m.GetPayload())
	}
}

// FuzzDataCodecUnmarshal compares the data codec's decoder with
// proto.Unmarshal on arbitrary bytes: both fail, or both give the same
// fields.
func FuzzDataCodecUnmarshal(f *testing.F) {
	for _, m := range []*floepb.ProducerMessage{{}, {Kind: 2, Value: 7, Records: 3, Payload: []byte("xyz")}, {Flags: -1}} {
		b, _ := proto.Marshal(m)
		f.Add(b, uint8(3))
	}
	f.Add([]byte{0x12, 0x05, 'a'}, uint8(1))        // truncated payload
	f.Add([]byte{0x0a, 0x01, 'a'}, uint8(2))        // kind with the wrong wire type
	f.Add([]byte{0x2b, 0x08, 0x01, 0x2c}, uint8(2)) // a group
	f.Fuzz(func(t *testing.T, b []byte, piece uint8) {
		var want floepb.ProducerMessage
		werr := proto.Unmarshal(b, &want)
		var got floepb.ProducerMessage
		gerr := encoding.GetCodecV2(DataCodec).Unmarshal(split(bytes.Clone(b), int(piece)+1), &got)
		if (werr == nil) != (gerr == nil) {
			t.Fatalf("%x: proto says %v, the data codec %v", b, werr, gerr)
		}
		if werr == nil && !sameProducer(&want, &got) {
			t.Fatalf("%x: proto read %v, the data codec %v", b, &want, &got)
		}
	})
}

// BenchmarkProducerMessage marshals a ProducerMessage carrying a 100 KB
// batch and unmarshals it from 16 KB pieces (as gRPC's frames hand it
// over), with the proto codec and with the data codec: compare with
// benchstat -col /codec.
func BenchmarkProducerMessage(b *testing.B) {
	m := &floepb.ProducerMessage{Payload: bytes.Repeat([]byte{7}, 100<<10), Records: 1024}
	for _, name := range []string{"proto", DataCodec} {
		c := encoding.GetCodecV2(name)
		b.Run("codec="+name, func(b *testing.B) {
			b.SetBytes(int64(len(m.Payload)))
			var wire []byte
			for b.Loop() {
				out, err := c.Marshal(m)
				if err != nil {
					b.Fatal(err)
				}
				wire = out.Materialize() // what the transport copies into its frames
				out.Free()
				var back floepb.ProducerMessage
				if err := c.Unmarshal(split(wire, 16<<10), &back); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestDataCodecOwnedPayload checks a message sent as OwnedProducerMessage:
// protobuf reads it back the same, and the payload handed to gRPC as a pooled
// buffer (freed into bufpool.Messages once written), not as a plain slice
// the sender keeps.
func TestDataCodecOwnedPayload(t *testing.T) {
	c := encoding.GetCodecV2(DataCodec)
	p := *bufpool.Messages.Get(100 << 10)
	for i := range p {
		p[i] = byte(i)
	}
	m := &floepb.ProducerMessage{Payload: p, Records: 1024, Value: 3}
	want := &floepb.ProducerMessage{Payload: bytes.Clone(p), Records: 1024, Value: 3}
	out, err := c.Marshal((*OwnedProducerMessage)(m))
	if err != nil {
		t.Fatal(err)
	}
	var back floepb.ProducerMessage
	if err := proto.Unmarshal(out.Materialize(), &back); err != nil || !sameProducer(&back, want) {
		t.Fatalf("owned message read back by protobuf as %d bytes of payload, %d records (%v)", len(back.Payload), back.Records, err)
	}
	if len(out) != 2 {
		t.Fatalf("%d buffers, want header and payload", len(out))
	}
	if _, plain := out[1].(mem.SliceBuffer); plain {
		t.Fatal("payload handed over as a plain slice: it would never go back to the pool")
	}
	out.Free()
}

// TestDataCodecPayloadPooled checks that a received payload is a whole
// buffer of bufpool.Messages (so that the consumer can give it back).
func TestDataCodecPayloadPooled(t *testing.T) {
	std, _ := proto.Marshal(&floepb.ProducerMessage{Payload: bytes.Repeat([]byte{1}, 5000), Records: 1})
	var m floepb.ProducerMessage
	if err := encoding.GetCodecV2(DataCodec).Unmarshal(split(std, 1000), &m); err != nil {
		t.Fatal(err)
	}
	if len(m.Payload) != 5000 || cap(m.Payload) != 8192 {
		t.Fatalf("payload of %d bytes, capacity %d: not a buffer of the pool's 8 KB class", len(m.Payload), cap(m.Payload))
	}
}
