package rpc

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"floe/internal/rpc/floepb"
)

// frameStream is a sequence of every kind of frame, written by FrameWriter.
func frameStream(t testing.TB) ([]byte, []Frame) {
	var buf bytes.Buffer
	w := NewFrameWriter(&buf)
	want := []Frame{
		{Kind: FrameChallenge, Bytes: bytes.Repeat([]byte{7}, NonceLen)},
		{Kind: FrameProof, Bytes: DataProof("s", bytes.Repeat([]byte{7}, NonceLen))},
		{Kind: FrameConsumer, Consumer: &floepb.ConsumerMessage{Producer: &floepb.TaskRef{JobId: "j", Vertex: 3, Subtask: 1, Attempt: 2}, Edge: 1, Subpartition: 4, Credit: 8}},
		{Kind: FrameConsumer, Consumer: &floepb.ConsumerMessage{Credit: 1}},
		{Kind: FrameProducer, Producer: &floepb.ProducerMessage{Payload: bytes.Repeat([]byte("arrow"), 3000), Records: 1024}},
		{Kind: FrameProducer, Producer: &floepb.ProducerMessage{Kind: floepb.EventKind_BARRIER, Value: -5, Flags: 1, Payload: []byte("chk")}},
		{Kind: FrameProducer, Producer: &floepb.ProducerMessage{Kind: floepb.EventKind_END_OF_PARTITION}},
		{Kind: FrameError, Err: status.Error(codes.NotFound, "partition j/v1: not produced here")},
		{Kind: FrameEnd},
	}
	for _, f := range want {
		var err error
		switch f.Kind {
		case FrameChallenge, FrameProof:
			err = w.WriteBytes(f.Kind, f.Bytes)
		case FrameConsumer:
			err = w.WriteConsumer(f.Consumer)
		case FrameProducer:
			err = w.WriteProducer(f.Producer)
		case FrameError:
			err = w.WriteEnd(f.Err)
		case FrameEnd:
			err = w.WriteEnd(nil)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	return buf.Bytes(), want
}

func sameFrame(a, b Frame) bool {
	if a.Kind != b.Kind || !bytes.Equal(a.Bytes, b.Bytes) || !proto.Equal(a.Consumer, b.Consumer) || !proto.Equal(a.Producer, b.Producer) {
		return false
	}
	if (a.Err == nil) != (b.Err == nil) {
		return false
	}
	return a.Err == nil || (status.Code(a.Err) == status.Code(b.Err) && status.Convert(a.Err).Message() == status.Convert(b.Err).Message())
}

// Every frame reads back as written, whatever the reads' sizes; the stream
// ends with io.EOF between frames and io.ErrUnexpectedEOF inside one.
func TestFramesRoundTrip(t *testing.T) {
	b, want := frameStream(t)
	r := NewFrameReader(&oneByteReader{b})
	for i, w := range want {
		f, err := r.Read()
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if !sameFrame(f, w) {
			t.Fatalf("frame %d: got %+v, want %+v", i, f, w)
		}
	}
	if _, err := r.Read(); err != io.EOF {
		t.Fatalf("after the last frame: %v, want EOF", err)
	}
	for _, cut := range []int{3, FrameHeaderLen + 5, len(b) - 1} {
		r := NewFrameReader(bytes.NewReader(b[:cut]))
		var err error
		for err == nil {
			_, err = r.Read()
		}
		if !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("cut at %d: %v, want unexpected EOF", cut, err)
		}
	}
}

type oneByteReader struct{ b []byte }

func (r *oneByteReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	p[0] = r.b[0]
	r.b = r.b[1:]
	return 1, nil
}

// Lengths beyond the bounds are refused before anything is allocated.
func TestFrameBounds(t *testing.T) {
	hdr := func(n uint32, kind byte) []byte {
		b := make([]byte, FrameHeaderLen)
		binary.BigEndian.PutUint32(b, n)
		b[4] = kind
		return b
	}
	for _, tc := range []struct {
		name string
		b    []byte
	}{
		{"huge producer frame", hdr(producerFieldsLen+MaxPayload+1, FrameProducer)},
		{"short producer frame", hdr(producerFieldsLen-1, FrameProducer)},
		{"huge consumer frame", hdr(maxControlFrame+1, FrameConsumer)},
		{"unknown kind", hdr(0, 99)},
		{"reserved bytes", append(hdr(0, FrameEnd)[:5], 0, 1, 0)},
		{"end frame with a body", append(hdr(1, FrameEnd), 0)},
		{"short error frame", append(hdr(2, FrameError), 0, 0)},
		{"error frame without an error", append(hdr(4, FrameError), 0, 0, 0, 0)},
	} {
		if _, err := NewFrameReader(bytes.NewReader(tc.b)).Read(); !errors.Is(err, ErrFrame) {
			t.Errorf("%s: %v, want ErrFrame", tc.name, err)
		}
	}
}

// A payload goes out in one writev on a TCP connection, and in two writes
// (header, then the payload slice itself, not a copy) elsewhere.
func TestProducerFramePayloadNotCopied(t *testing.T) {
	var rec recordingWriter
	p := []byte("payload")
	if err := NewFrameWriter(&rec).WriteProducer(&floepb.ProducerMessage{Payload: p}); err != nil {
		t.Fatal(err)
	}
	if len(rec.writes) != 2 || &rec.writes[1][0] != &p[0] || len(rec.writes[0]) != FrameHeaderLen+producerFieldsLen {
		t.Fatalf("writes %q", rec.writes)
	}
}

type recordingWriter struct{ writes [][]byte }

func (w *recordingWriter) Write(p []byte) (int, error) {
	w.writes = append(w.writes, p)
	return len(p), nil
}

// A proof holds for its secret and nonce only.
func TestDataProof(t *testing.T) {
	n1, n2 := bytes.Repeat([]byte{1}, NonceLen), bytes.Repeat([]byte{2}, NonceLen)
	p := DataProof("secret", n1)
	if !CheckDataProof("secret", n1, p) {
		t.Fatal("the right proof refused")
	}
	if CheckDataProof("other", n1, p) || CheckDataProof("secret", n2, p) || CheckDataProof("secret", n1, p[:16]) {
		t.Fatal("a wrong proof accepted")
	}
}

// FuzzFrameReader: any bytes decode into frames or an error, never a panic
// or an allocation beyond the bounds; every frame decoded encodes back into
// one that decodes the same.
func FuzzFrameReader(f *testing.F) {
	b, _ := frameStream(f)
	f.Add(b)
	f.Add(b[:40])
	f.Add([]byte{0, 0, 0, 24, 2, 0, 0, 0})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		r := NewFrameReader(bytes.NewReader(data))
		for {
			fr, err := r.Read()
			if err != nil {
				return
			}
			var buf bytes.Buffer
			w := NewFrameWriter(&buf)
			switch fr.Kind {
			case FrameProducer:
				err = w.WriteProducer(fr.Producer)
			case FrameConsumer:
				err = w.WriteConsumer(fr.Consumer)
			case FrameChallenge, FrameProof:
				err = w.WriteBytes(fr.Kind, fr.Bytes)
			case FrameEnd:
				err = w.WriteEnd(nil)
			case FrameError:
				err = w.WriteEnd(fr.Err)
			default:
				t.Fatalf("decoded a frame of unknown kind %d", fr.Kind)
			}
			if err != nil {
				t.Fatalf("re-encoding %+v: %v", fr, err)
			}
			again, err := NewFrameReader(&buf).Read()
			if err != nil || !sameFrame(fr, again) {
				t.Fatalf("re-decoded %+v as %+v (%v)", fr, again, err)
			}
		}
	})
}

// The Mux hands a connection that opens with DataMagic to the data plane
// and any other to its gRPC listener with every byte; one that stays silent
// is dropped after the timeout and holds up no other.
func TestMux(t *testing.T) {
	base, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m := NewMux(base, 200*time.Millisecond)
	data := make(chan string, 1)
	served := make(chan error, 1)
	go func() {
		served <- m.Serve(func(c net.Conn) {
			defer c.Close()
			b, _ := io.ReadAll(c)
			data <- string(b)
		})
	}()
	addr := base.Addr().String()
	silent, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()

	send := func(s string) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(c, s); err != nil {
			t.Fatal(err)
		}
		c.Close()
	}
	send(DataMagic + "after the magic")
	if got := <-data; got != "after the magic" {
		t.Fatalf("data plane got %q", got)
	}
	send("PRI * HTTP/2.0\r\n")
	c, err := m.GRPC().Accept()
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := io.ReadAll(c); string(b) != "PRI * HTTP/2.0\r\n" {
		t.Fatalf("gRPC got %q", b)
	}
	c.Close()
	send("PR") // shorter than the magic, then closed: still gRPC's
	c, err = m.GRPC().Accept()
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := io.ReadAll(c); string(b) != "PR" {
		t.Fatalf("gRPC got %q", b)
	}
	c.Close()
	// The silent client is dropped after the sniff timeout.
	_ = silent.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := silent.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("silent client: %v, want EOF (dropped)", err)
	}
	if err := m.GRPC().Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-served; err != nil {
		t.Fatalf("Serve after Close: %v", err)
	}
	if _, err := m.GRPC().Accept(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Accept after Close: %v", err)
	}
}
